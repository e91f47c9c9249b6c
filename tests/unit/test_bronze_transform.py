"""The Bronze transform on Kafka-shaped rows, with a local SparkSession."""

from datetime import UTC, datetime

import pytest
from pyspark.sql import Row
from pyspark.testing import assertDataFrameEqual

from ingest.bronze.kafka_source import KAFKA_SCHEMA
from ingest.bronze.transform import parse_events, with_batch_metadata
from ingest.events import RECORD_COLUMNS, bronze_arrow_schema, bronze_spark_schema

GOOD = (
    b'{"event_id":"e1","event_type":"order_line","schema_version":1,'
    b'"occurred_at":"2026-11-25T10:00:00.000Z","line":{"TransactionNo":"C536379",'
    b'"Date":"12/9/2019","ProductNo":"D","ProductName":"Discount","Price":27.5,'
    b'"Quantity":-1,"CustomerNo":"14527.0","Country":"EIRE"}}'
)
TS = datetime(2026, 11, 25, 10, 0, 1, tzinfo=UTC)


def kafka_rows(spark, values):
    rows = [(b"k", value, "sales-transactions-raw", 0, offset, TS, 0) for offset, value in enumerate(values)]
    return spark.createDataFrame(rows, KAFKA_SCHEMA)


def test_a_valid_event_keeps_every_field_as_text_and_its_coordinates(spark):
    bronze = parse_events(kafka_rows(spark, [GOOD]))
    expected = Row(
        event_id="e1",
        event_type="order_line",
        schema_version="1",
        occurred_at="2026-11-25T10:00:00.000Z",
        transaction_no="C536379",
        line_date="12/9/2019",
        product_no="D",
        product_name="Discount",
        price="27.5",
        quantity="-1",
        customer_no="14527.0",
        country="EIRE",
        raw_value=GOOD.decode(),
        kafka_key="k",
        kafka_topic="sales-transactions-raw",
        kafka_partition=0,
        kafka_offset=0,
        kafka_timestamp=TS.replace(tzinfo=None),
        parse_error=None,
    )
    assertDataFrameEqual(bronze, [expected])
    assert tuple(bronze.columns) == RECORD_COLUMNS


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        (b"not json at all", "invalid JSON"),
        (b'{"event_id": "e2", "line": {"TransactionNo": ', "invalid JSON"),
        (b"", "empty payload"),
        (None, "empty payload"),
        (b'{"event_type":"order_line","line":{"TransactionNo":"1"}}', "missing event_id"),
        (b'{"event_id":"e3","event_type":"order_line"}', "missing line object"),
    ],
)
def test_a_bad_payload_is_kept_raw_with_its_reason(spark, payload, reason):
    row = parse_events(kafka_rows(spark, [payload])).collect()[0]
    assert row.parse_error == reason
    assert row.raw_value == (payload.decode() if payload is not None else None)
    assert row.kafka_offset == 0


def test_nothing_is_dropped(spark):
    values = [GOOD, b"{broken", None, GOOD]
    assert parse_events(kafka_rows(spark, values)).count() == len(values)


def test_batch_metadata_stamps_every_row(spark):
    bronze = with_batch_metadata(parse_events(kafka_rows(spark, [GOOD, b"x"])), 7)
    rows = bronze.select("bronze_batch_id", "ingested_at").collect()
    assert [row.bronze_batch_id for row in rows] == [7, 7]
    assert all(row.ingested_at is not None for row in rows)


def test_a_stamped_batch_has_the_contracts_bronze_schema(spark):
    bronze = with_batch_metadata(parse_events(kafka_rows(spark, [GOOD, b"x"])), 7)
    assert bronze.schema == bronze_spark_schema()
    assert bronze.toArrow().schema == bronze_arrow_schema()
