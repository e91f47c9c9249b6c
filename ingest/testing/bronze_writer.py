"""Write Bronze rows straight into the Delta table, in the ingester's schema, without the
broker or Spark: for dbt tests that need exact control over payloads, micro-batches and
arrival times, and for benchmarks of Silver that need millions of Bronze rows quickly."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import orjson
import pyarrow as pa
from deltalake import write_deltalake

from ingest.bronze.transform import LINE_FIELDS

SCHEMA = pa.schema(
    [
        *[
            pa.field(name, pa.string())
            for name in ("event_id", "event_type", "schema_version", "occurred_at", *LINE_FIELDS.values())
        ],
        pa.field("raw_value", pa.string()),
        pa.field("kafka_key", pa.string()),
        pa.field("kafka_topic", pa.string()),
        pa.field("kafka_partition", pa.int32()),
        pa.field("kafka_offset", pa.int64()),
        pa.field("kafka_timestamp", pa.timestamp("us", tz="UTC")),
        pa.field("parse_error", pa.string()),
        pa.field("ingested_at", pa.timestamp("us", tz="UTC"), nullable=False),
        pa.field("bronze_batch_id", pa.int64(), nullable=False),
    ]
)

BASE_TIME = datetime(2026, 11, 25, 8, 0, tzinfo=UTC)


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
    return dict(
        zip(
            LINE_FIELDS,
            (transaction_no, date, product_no, product_name, price, quantity, customer_no, country),
            strict=True,
        )
    )


DEFAULT_OCCURRED_AT = "2026-11-25T08:00:00.000Z"


def event(
    event_id: str, fields: dict[str, str], schema_version: str = "1", occurred_at: str = DEFAULT_OCCURRED_AT
) -> dict:
    """A parsed, well-formed event."""
    return {
        "event_id": event_id,
        "schema_version": schema_version,
        "occurred_at": occurred_at,
        "line": fields,
    }


def invalid(raw: str, reason: str = "invalid JSON") -> dict:
    return {"raw": raw, "parse_error": reason}


class BronzeWriter:
    """Appends batches to a Bronze table; offsets grow per partition like a real topic."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.next_offset: dict[int, int] = {}
        self.batch_id = 0

    def append(self, events: list[dict], minutes_after_base: float | None = None, partition: int = 0) -> None:
        ingested_at = BASE_TIME + timedelta(
            minutes=self.batch_id * 5 if minutes_after_base is None else minutes_after_base
        )
        rows = []
        for item in events:
            offset = self.next_offset.get(partition, 0)
            self.next_offset[partition] = offset + 1
            fields = item.get("line") or {}
            raw = item.get("raw")
            if raw is None:
                raw = orjson.dumps(
                    {
                        "event_id": item["event_id"],
                        "event_type": "order_line",
                        "schema_version": item.get("schema_version", "1"),
                        "occurred_at": item.get("occurred_at", DEFAULT_OCCURRED_AT),
                        "line": {source: fields.get(source) for source in LINE_FIELDS},
                    }
                ).decode()
            row = {
                "event_id": item.get("event_id"),
                "event_type": "order_line" if "event_id" in item else None,
                "schema_version": item.get("schema_version", "1") if "event_id" in item else None,
                "occurred_at": item.get("occurred_at", DEFAULT_OCCURRED_AT) if "event_id" in item else None,
                **{target: fields.get(source) for source, target in LINE_FIELDS.items()},
                "raw_value": raw,
                "kafka_key": fields.get("TransactionNo"),
                "kafka_topic": "sales-transactions-raw",
                "kafka_partition": partition,
                "kafka_offset": offset,
                "kafka_timestamp": ingested_at,
                "parse_error": item.get("parse_error"),
                "ingested_at": ingested_at,
                "bronze_batch_id": self.batch_id,
            }
            rows.append(row)
        write_deltalake(self.path, pa.Table.from_pylist(rows, schema=SCHEMA), mode="append")
        self.batch_id += 1
