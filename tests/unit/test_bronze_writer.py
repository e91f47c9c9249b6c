"""The direct Bronze writer (test and benchmark scaffolding) lands what the ingester would:
the producer's encoding as the raw value, and the columns the Bronze transform parses from it."""

import pytest
from deltalake import DeltaTable

from ingest.benchmarks.bronze_writer import DEFAULT_OCCURRED_AT, BronzeWriter, event, invalid, line
from ingest.bronze.transform import KAFKA_SCHEMA, parse_events
from ingest.events import RECORD_COLUMNS, bronze_arrow_schema, encode

ITEMS = [
    event("e1", line()),
    event("e2", line(transaction_no="C536379", quantity="-6", customer_no="")),
    event("e3", line(transaction_no="536999"), schema_version=2),
    invalid("{not json"),
    invalid('{"line": {}}', "missing event_id"),
    invalid("", "empty payload"),
    invalid(None, "no value (tombstone)"),
    invalid(b"\xff\xfe{}", "payload is not valid UTF-8"),
]


@pytest.fixture(scope="module")
def landed(tmp_path_factory):
    path = str(tmp_path_factory.mktemp("bronze") / "sales_transactions")
    BronzeWriter(path).append(ITEMS, partition=3)
    return DeltaTable(path).to_pyarrow_table()


def test_the_table_has_the_contracts_bronze_schema(landed):
    assert landed.schema == bronze_arrow_schema()


def test_an_events_raw_value_is_the_producers_encoding(landed):
    key, value = encode(tuple(line().values()), "e1", DEFAULT_OCCURRED_AT)
    first = landed.to_pylist()[0]
    assert (first["kafka_key"], first["raw_value"]) == (key.decode(), value.decode())


def test_its_columns_are_what_the_bronze_transform_parses_from_the_same_records(landed, spark):
    records = [
        (
            row["kafka_key_bytes"],
            row["raw_value_bytes"],
            row["kafka_topic"],
            row["kafka_partition"],
            row["kafka_offset"],
            row["kafka_timestamp"],
            0,
        )
        for row in landed.to_pylist()
    ]
    parsed = parse_events(spark.createDataFrame(records, KAFKA_SCHEMA)).toArrow()
    assert parsed.to_pylist() == landed.select(list(RECORD_COLUMNS)).to_pylist()


def test_a_non_utf8_payload_keeps_its_bytes_beside_a_repaired_text(landed):
    row = landed.to_pylist()[-1]
    assert (row["raw_value_bytes"], row["raw_value"]) == (b"\xff\xfe{}", "\ufffd\ufffd{}")
    assert (row["parse_error"], row["invalid_utf8"]) == ("payload is not valid UTF-8", "value")


def test_append_parsed_lands_what_the_transform_parses_with_the_writers_coordinates(tmp_path, spark):
    writer = BronzeWriter(str(tmp_path / "sales_transactions"))
    writer.append([event("e1", line())])
    rows = writer.append_parsed(spark, [(b"k", b"{oops"), (None, None)], partition=0)
    table = DeltaTable(writer.path).to_pyarrow_table()
    assert table.schema == bronze_arrow_schema()
    assert sorted(
        (r["kafka_offset"], r["bronze_batch_id"], r["parse_error"] or "") for r in table.to_pylist()
    ) == [
        (0, 0, ""),
        (1, 1, "invalid JSON"),
        (2, 1, "no value (tombstone)"),
    ]
    assert [r["parse_error"] for r in rows] == ["invalid JSON", "no value (tombstone)"]
