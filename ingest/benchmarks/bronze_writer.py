"""Write Bronze rows straight into the Delta table, without the broker or Spark: for dbt tests
that need exact control over payloads, micro-batches and arrival times, and for benchmarks
of Silver (ingest/benchmarks/pipeline.py) that need millions of Bronze rows quickly.

An event's raw value is the producer's own encoding (`events.encode`), its row has the
contract's Bronze schema, and its columns are what the ingester's transform parses from that
value (tests/unit/test_bronze_writer.py holds the two side by side). For payloads of any
shape (hostile ones, generated ones), `append_parsed` runs the ingester's own transform on a
local SparkSession and writes what it returns: no broker, but the real parse.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

import pyarrow as pa
from deltalake import write_deltalake

from ingest.events import EVENT_TYPE, LINE_FIELDS, SCHEMA_VERSION, bronze_arrow_schema, encode

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

BASE_TIME = datetime(2026, 11, 25, 8, 0, tzinfo=UTC)
DEFAULT_OCCURRED_AT = "2026-11-25T08:00:00.000Z"
TOPIC = "sales-transactions-raw"


def line(
    transaction_no: str = "536366",
    date: str = "12/9/2019",
    product_no: str = "85123A",
    product_name: str = "Cream Hanging Heart",
    price: str = "2.55",
    quantity: str = "6",
    customer_no: str = "17850",
    country: str = "United Kingdom",
) -> dict[str, str]:
    """A line item, keyed by the source's field names."""
    return dict(
        zip(
            LINE_FIELDS,
            (transaction_no, date, product_no, product_name, price, quantity, customer_no, country),
            strict=True,
        )
    )


def event(
    event_id: str,
    fields: dict[str, str],
    schema_version: int = SCHEMA_VERSION,
    occurred_at: str = DEFAULT_OCCURRED_AT,
) -> dict:
    """A well-formed event, as the producer would publish it."""
    return {
        "event_id": event_id,
        "schema_version": schema_version,
        "occurred_at": occurred_at,
        "line": fields,
    }


def invalid(raw: str | bytes | None, reason: str = "invalid JSON") -> dict:
    """A record whose value is not a usable event, with the reason Bronze gives for it."""
    return {"raw": raw, "parse_error": reason}


def _text(raw: str | bytes | None) -> tuple[str | None, bytes | None, bool]:
    """(UTF-8 text copy, bytes as received, whether they were valid UTF-8), as Bronze keeps
    them: each invalid sequence replaced by U+FFFD, exactly as Spark's make_valid_utf8 does."""
    if raw is None:
        return None, None, True
    data = raw.encode() if isinstance(raw, str) else raw
    try:
        return data.decode(), data, True
    except UnicodeDecodeError:
        return data.decode("utf-8", "replace"), data, False


def record_columns(item: dict) -> dict:
    """The Bronze columns one `event(...)` or `invalid(...)` fills, Kafka coordinates aside."""
    if "raw" in item:
        text, data, valid = _text(item["raw"])
        return {
            "raw_value": text,
            "raw_value_bytes": data,
            "parse_error": item["parse_error"],
            "invalid_utf8": None if valid else "value",
        }
    fields = item["line"]
    key, value = encode(
        tuple(fields[source] for source in LINE_FIELDS),
        item["event_id"],
        item["occurred_at"],
        schema_version=item["schema_version"],
    )
    return {
        "event_id": item["event_id"],
        "event_type": EVENT_TYPE,
        "schema_version": str(item["schema_version"]),  # Bronze keeps every field as text
        "occurred_at": item["occurred_at"],
        **{column: fields[source] for source, column in LINE_FIELDS.items()},
        "raw_value": value.decode(),
        "raw_value_bytes": value,
        "kafka_key": key.decode(),
        "kafka_key_bytes": key,
        "parse_error": None,
        "invalid_utf8": None,
    }


class BronzeWriter:
    """Appends batches to a Bronze table; offsets grow per partition like a real topic."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.next_offset: dict[int, int] = {}
        self.batch_id = 0
        self.schema = bronze_arrow_schema()

    def _ingested_at(self, minutes_after_base: float | None) -> datetime:
        return BASE_TIME + timedelta(
            minutes=self.batch_id * 5 if minutes_after_base is None else minutes_after_base
        )

    def _coordinates(self, partition: int, ingested_at: datetime) -> dict:
        offset = self.next_offset.get(partition, 0)
        self.next_offset[partition] = offset + 1
        return {
            "kafka_topic": TOPIC,
            "kafka_partition": partition,
            "kafka_offset": offset,
            "kafka_timestamp": ingested_at,
        }

    def _write(self, rows: list[dict], ingested_at: datetime) -> None:
        stamped = [{**row, "ingested_at": ingested_at, "bronze_batch_id": self.batch_id} for row in rows]
        write_deltalake(self.path, pa.Table.from_pylist(stamped, schema=self.schema), mode="append")
        self.batch_id += 1

    def append(self, events: list[dict], minutes_after_base: float | None = None, partition: int = 0) -> None:
        ingested_at = self._ingested_at(minutes_after_base)
        self._write(
            [{**record_columns(item), **self._coordinates(partition, ingested_at)} for item in events],
            ingested_at,
        )

    def append_parsed(
        self,
        spark: SparkSession,
        records: list[tuple[bytes | None, bytes | None]],
        minutes_after_base: float | None = None,
        partition: int = 0,
    ) -> list[dict]:
        """Land Kafka records (key, value) as the ingester would: the Bronze transform
        (`parse_events`) on a local SparkSession, then one batch. Returns the rows written."""
        from ingest.bronze.transform import KAFKA_SCHEMA, parse_events

        ingested_at = self._ingested_at(minutes_after_base)
        kafka_rows = []
        for key, value in records:
            where = self._coordinates(partition, ingested_at)
            kafka_rows.append(
                (key, value, where["kafka_topic"], partition, where["kafka_offset"], ingested_at, 0)
            )
        if not kafka_rows:
            return []
        rows = parse_events(spark.createDataFrame(kafka_rows, KAFKA_SCHEMA)).toArrow().to_pylist()
        self._write(rows, ingested_at)
        return rows
