"""The Bronze transform on Kafka-shaped rows, with a local SparkSession."""

from datetime import UTC, datetime

import orjson
import pytest
from pyspark.sql import Row
from pyspark.testing import assertDataFrameEqual

from ingest.bronze.transform import KAFKA_SCHEMA, parse_events, with_batch_metadata
from ingest.events import RECORD_COLUMNS, bronze_arrow_schema, bronze_spark_schema

GOOD = (
    b'{"event_id":"e1","event_type":"order_line","schema_version":1,'
    b'"occurred_at":"2026-11-25T10:00:00.000Z","line":{"TransactionNo":"C536379",'
    b'"Date":"12/9/2019","ProductNo":"D","ProductName":"Discount","Price":27.5,'
    b'"Quantity":-1,"CustomerNo":"14527.0","Country":"EIRE"}}'
)
TS = datetime(2026, 11, 25, 10, 0, 1, tzinfo=UTC)


def kafka_rows(spark, values, key=b"k"):
    rows = [(key, value, "sales-transactions-raw", 0, offset, TS, 0) for offset, value in enumerate(values)]
    return spark.createDataFrame(rows, KAFKA_SCHEMA)


def with_line(**fields) -> bytes:
    """GOOD with some fields replaced by raw JSON text (fields of `line`, or the envelope's)."""
    event = orjson.loads(GOOD)
    for name in fields:
        target = event if name in event else event["line"]
        target[name] = f"@{name}@"
    value = orjson.dumps(event)
    for name, raw in fields.items():
        value = value.replace(f'"@{name}@"'.encode(), raw.encode())
    return value


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
        raw_value_bytes=bytearray(GOOD),
        kafka_key="k",
        kafka_key_bytes=bytearray(b"k"),
        kafka_topic="sales-transactions-raw",
        kafka_partition=0,
        kafka_offset=0,
        kafka_timestamp=TS.replace(tzinfo=None),
        parse_error=None,
        invalid_utf8=None,
    )
    assertDataFrameEqual(bronze, [expected])
    assert tuple(bronze.columns) == RECORD_COLUMNS


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        (b"not json at all", "invalid JSON"),
        (b'{"event_id": "e2", "line": {"TransactionNo": ', "invalid JSON"),
        (b"", "empty payload"),
        (b"  \n\t ", "empty payload"),
        (None, "no value (tombstone)"),
        (b'{"event_type":"order_line","line":{"TransactionNo":"1"}}', "missing event_id"),
        (b'{"event_id":null,"line":{}}', "missing event_id"),
        (b'{"event_id":"e3","event_type":"order_line"}', "missing line object"),
        (b'{"event_id":"e3","line":null}', "missing line object"),
        (b"null", "payload is not a JSON object"),
        (b"[1, 2]", "payload is not a JSON object"),
        (b'"a string"', "payload is not a JSON object"),
        (b"42", "payload is not a JSON object"),
        (b'{"event_id":"e4","line":["536366"]}', "line is not a JSON object"),
        (b'{"event_id":"e4","line":"536366"}', "line is not a JSON object"),
        (b'{"event_id":17,"line":{}}', "event_id is not a JSON string"),
        (b'{"event_id":["e5"],"line":{}}', "event_id is not a JSON string"),
        (b'{"event_id":"a","event_id":"b","line":{}}', "invalid JSON: duplicate key"),
        (b'{"event_id":"a","line":{"Price":"1","Price":"2"}}', "invalid JSON: duplicate key"),
        (GOOD + b" trailing", "invalid JSON"),
        (GOOD + b"]", "invalid JSON"),
        (GOOD + b"}", "invalid JSON"),
        (GOOD + b"," + GOOD, "invalid JSON"),
        (GOOD + GOOD, "invalid JSON"),
        (b'{"event_id":"e6","line":{"Price":NaN}}', "invalid JSON"),
        (b'{"event_id":"e6","line":{"Price":Infinity}}', "invalid JSON"),
        (b'{"event_id":"e6\x00","line":{}}', "invalid JSON"),  # an unescaped control character
        (b'{"event_id":"e6","line":{"ProductName":"\ud800"}}', "invalid JSON"),  # a lone surrogate
        (with_line(Price='{"amount": 2.55}'), "line.Price is a JSON object, not text or a number"),
        (with_line(Quantity="[6]"), "line.Quantity is a JSON array, not text or a number"),
        (with_line(CustomerNo="true"), "line.CustomerNo is a JSON boolean, not text or a number"),
        (with_line(schema_version='{"v": 1}'), "schema_version is a JSON object, not text or a number"),
        (b"\xff\xfe{}", "payload is not valid UTF-8"),
    ],
)
def test_a_bad_payload_is_kept_raw_with_its_reason(spark, payload, reason):
    row = parse_events(kafka_rows(spark, [payload])).collect()[0]
    assert row.parse_error == reason
    assert row.raw_value_bytes == payload
    if payload is not None:
        assert row.raw_value == payload.decode("utf-8", "replace")
    assert row.kafka_offset == 0


@pytest.mark.parametrize(
    ("field", "raw", "text"),
    [
        ("Price", "2.55", "2.55"),
        ("Price", "17490.0", "17490.0"),
        ("Price", "-0", "0"),
        ("Price", "1e3", "1000.0"),
        ("Price", "1e400", '"Infinity"'),
        ("Price", "123456789012345678901234567890", "123456789012345678901234567890"),
        ("CustomerNo", "null", None),
        ("ProductName", '"a\\u0000b"', "a\x00b"),
    ],
)
def test_a_json_number_or_null_in_a_field_is_read_as_text(spark, field, raw, text):
    row = parse_events(kafka_rows(spark, [with_line(**{field: raw})])).collect()[0]
    assert row.parse_error is None
    column = {"Price": "price", "CustomerNo": "customer_no", "ProductName": "product_name"}[field]
    assert row[column] == text


def test_a_byte_order_mark_is_ignored_and_kept_in_the_raw_value(spark):
    row = parse_events(kafka_rows(spark, [b"\xef\xbb\xbf" + GOOD])).collect()[0]
    assert (row.parse_error, row.event_id, row.price) == (None, "e1", "27.5")
    assert row.raw_value == "\ufeff" + GOOD.decode()


def test_bytes_that_are_not_utf8_are_kept_as_received_and_their_text_is_repaired(spark):
    value = GOOD.replace(b"Discount", b"Disc\xffount")
    row = parse_events(kafka_rows(spark, [value], key=b"C536\xc0379")).collect()[0]
    assert row.parse_error == "payload is not valid UTF-8"
    assert row.invalid_utf8 == "key,value"
    assert (row.raw_value_bytes, row.kafka_key_bytes) == (value, b"C536\xc0379")
    assert row.raw_value == value.decode("utf-8", "replace")
    assert row.kafka_key == "C536\ufffd379"
    assert row.product_name == "Disc\ufffdount"


def test_only_a_bad_key_leaves_the_event_usable(spark):
    row = parse_events(kafka_rows(spark, [GOOD], key=b"\x80")).collect()[0]
    assert (row.parse_error, row.invalid_utf8, row.kafka_key) == (None, "key", "\ufffd")


def test_every_text_column_is_valid_utf8_whatever_the_bytes(spark):
    values = [bytes(range(256)), b"\xc3\x28", b"\xed\xa0\x80", GOOD[:40] + b"\xf0\x28\x8c\x28" + GOOD[40:]]
    table = parse_events(kafka_rows(spark, values, key=bytes(range(128, 256)))).toArrow()
    for name in table.column_names:
        if table.schema.field(name).type == "string":
            for text in table[name].to_pylist():
                assert text is None or text.encode("utf-8").decode("utf-8") == text


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


def test_the_bronze_session_falls_back_from_methods_the_jvm_would_not_compile(spark):
    """Whole-stage code over 8,000 bytes runs interpreted (twice the transform's CPU, measured)."""
    from ingest.bronze.job import SESSION_CONF

    assert SESSION_CONF["spark.sql.codegen.hugeMethodLimit"] == "8000"
    assert spark.conf.get("spark.sql.codegen.hugeMethodLimit") == "8000"
