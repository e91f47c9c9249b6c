"""The contract: the event on `sales-transactions-raw` and the Bronze row it lands as.

The one definition of both, imported everywhere else (producer, outbox simulator, Bronze
transform, the direct Bronze writer, tests).

Key: `TransactionNo` (one order's lines stay ordered within a partition).
Value (JSON):
    {"event_id": "...", "event_type": "order_line", "schema_version": 1,
     "occurred_at": "2026-11-25T17:30:00.123Z",
     "line": {"TransactionNo": "536366", "Date": "12/2/2018", ... all as the source has them}}

`event_id` is a UUID derived from the source and the line's position in it, so replaying
the same file publishes the same events again (at-least-once) and Silver dedupes them. Silver
trusts an id only when it matches `EVENT_ID_PATTERN` (1 to 64 ASCII letters, digits, `-`, `_`
or `.`, starting with a letter or digit: the producers' lowercase UUIDs, and the readable ids
of tests); any other id (blank, whitespace, too long, other characters) is quarantined and
never used as a dedupe key. The same pattern is written in SQL in
macros/bronze/is_valid_event_id.sql (a unit test keeps the two equal).

Bronze keeps one row per Kafka record: the envelope and line fields as text, the value and key
exactly as received (bytes) and as UTF-8 text, the Kafka coordinates, `parse_error` and
`invalid_utf8`, then what its micro-batch stamps on it. Every text column holds valid UTF-8:
a value or key that is not valid UTF-8 keeps its bytes in `raw_value_bytes`/`kafka_key_bytes`,
its text copy gets U+FFFD in place of each invalid sequence, and `invalid_utf8` says which.
The schema is declared once here (`BRONZE_SCHEMA`); `bronze_spark_schema()` and
`bronze_arrow_schema()` are its Spark and Arrow forms.
"""

from __future__ import annotations

import functools
import re
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pyarrow as pa
    from pyspark.sql.types import StructType

# -- the event -----------------------------------------------------------------------------
EVENT_TYPE = "order_line"
SCHEMA_VERSION = 1
ENVELOPE_FIELDS = ("event_id", "event_type", "schema_version", "occurred_at")

# The line item's fields as the source names them, in the source's column order, and the
# Bronze column each lands in.
LINE_FIELDS = {
    "TransactionNo": "transaction_no",
    "Date": "line_date",
    "ProductNo": "product_no",
    "ProductName": "product_name",
    "Price": "price",
    "Quantity": "quantity",
    "CustomerNo": "customer_no",
    "Country": "country",
}

# The form of an event id Silver trusts (see the module's docstring). No `:`, so an id can
# never look like the `bronze:<topic>:<partition>:<offset>` key of an event without one.
EVENT_ID_MAX_LENGTH = 64
EVENT_ID_PATTERN = f"[A-Za-z0-9][A-Za-z0-9_.-]{{0,{EVENT_ID_MAX_LENGTH - 1}}}"
_EVENT_ID = re.compile(EVENT_ID_PATTERN)


def is_valid_event_id(value: object) -> bool:
    """True when `value` is an event id Silver trusts as a dedupe key."""
    return isinstance(value, str) and _EVENT_ID.fullmatch(value) is not None


_NAMESPACE = uuid.UUID("6f1c2a52-8d0e-4f39-9a57-0b7f4c3e2d10")


@functools.lru_cache(maxsize=64)
def _source_prefix(source_id: str) -> str:
    return str(uuid.uuid5(_NAMESPACE, source_id))[:23]


def event_id(source_id: str, position: int) -> str:
    """A UUID-shaped id: 80 bits naming the source, 48 bits for the line's position in it."""
    return f"{_source_prefix(source_id)}-{position:012x}"


def utc_now_text() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def encode(
    row: tuple[str, ...], event_id_: str, occurred_at: str, schema_version: int = SCHEMA_VERSION
) -> tuple[bytes, bytes]:
    """Return (key, value) bytes for one v.4a row (its fields in `LINE_FIELDS` order)."""
    # Imported here: Bronze on Databricks imports this module for the contract, never encodes,
    # and the Databricks Runtime does not ship orjson (tests/unit/test_databricks_runtime.py).
    import orjson

    value = orjson.dumps(
        {
            "event_id": event_id_,
            "event_type": EVENT_TYPE,
            "schema_version": schema_version,
            "occurred_at": occurred_at,
            "line": dict(zip(LINE_FIELDS, row, strict=True)),
        }
    )
    return row[0].encode(), value


# -- the Bronze row ------------------------------------------------------------------------
@dataclass(frozen=True)
class BronzeColumn:
    name: str
    type: str  # "string", "binary", "int", "long" or "timestamp" (UTC, microseconds)
    nullable: bool = True


BRONZE_SCHEMA: tuple[BronzeColumn, ...] = (
    # parsed from the record's value, every field as text ("17490.0" stays "17490.0")
    *(BronzeColumn(name, "string") for name in ENVELOPE_FIELDS),
    *(BronzeColumn(column, "string") for column in LINE_FIELDS.values()),
    # the record as received: its value and key as UTF-8 text, and exactly as received
    BronzeColumn("raw_value", "string"),
    BronzeColumn("raw_value_bytes", "binary"),
    BronzeColumn("kafka_key", "string"),
    BronzeColumn("kafka_key_bytes", "binary"),
    BronzeColumn("kafka_topic", "string"),
    BronzeColumn("kafka_partition", "int"),
    BronzeColumn("kafka_offset", "long"),
    BronzeColumn("kafka_timestamp", "timestamp"),
    BronzeColumn("parse_error", "string"),
    # "value", "key" or "key,value": which was not valid UTF-8 (its text copy is repaired)
    BronzeColumn("invalid_utf8", "string"),
    # stamped on every row of a micro-batch
    BronzeColumn("ingested_at", "timestamp", nullable=False),
    BronzeColumn("bronze_batch_id", "long", nullable=False),
)

BRONZE_COLUMNS = tuple(column.name for column in BRONZE_SCHEMA)
BATCH_COLUMNS = ("ingested_at", "bronze_batch_id")
# What one Kafka record becomes, before its micro-batch stamps it.
RECORD_COLUMNS = tuple(name for name in BRONZE_COLUMNS if name not in BATCH_COLUMNS)


def bronze_spark_schema(columns: tuple[str, ...] = BRONZE_COLUMNS) -> StructType:
    """The Bronze schema (or the named columns of it) as a Spark StructType."""
    from pyspark.sql import types as T

    spark_types = {
        "string": T.StringType(),
        "binary": T.BinaryType(),
        "int": T.IntegerType(),
        "long": T.LongType(),
        "timestamp": T.TimestampType(),
    }
    by_name = {column.name: column for column in BRONZE_SCHEMA}
    return T.StructType(
        [T.StructField(name, spark_types[by_name[name].type], by_name[name].nullable) for name in columns]
    )


def bronze_arrow_schema() -> pa.Schema:
    """The Bronze schema as a pyarrow schema: the Delta table's, as the ingester writes it."""
    import pyarrow as pa

    arrow_types = {
        "string": pa.string(),
        "binary": pa.binary(),
        "int": pa.int32(),
        "long": pa.int64(),
        "timestamp": pa.timestamp("us", tz="UTC"),
    }
    return pa.schema([pa.field(c.name, arrow_types[c.type], nullable=c.nullable) for c in BRONZE_SCHEMA])
