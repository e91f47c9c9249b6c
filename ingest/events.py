"""The event on `sales-transactions-raw`: an envelope around one order line.

Key: `TransactionNo` (one order's lines stay ordered within a partition).
Value (JSON):
    {"event_id": "...", "event_type": "order_line", "schema_version": 1,
     "occurred_at": "2026-11-25T17:30:00.123Z",
     "line": {"TransactionNo": "536366", "Date": "12/2/2018", ... all as the source has them}}

`event_id` is a UUID derived from the source and the line's position in it, so replaying
the same file publishes the same events again (at-least-once) and Silver dedupes them.
"""

from __future__ import annotations

import functools
import uuid
from datetime import UTC, datetime

import orjson

from ingest.generator import HEADER

EVENT_TYPE = "order_line"
SCHEMA_VERSION = 1
_NAMESPACE = uuid.UUID("6f1c2a52-8d0e-4f39-9a57-0b7f4c3e2d10")

LINE_FIELDS = HEADER


@functools.lru_cache(maxsize=64)
def _source_prefix(source_id: str) -> str:
    return str(uuid.uuid5(_NAMESPACE, source_id))[:23]


def event_id(source_id: str, position: int) -> str:
    """A UUID-shaped id: 80 bits naming the source, 48 bits for the line's position in it."""
    return f"{_source_prefix(source_id)}-{position:012x}"


def utc_now_text() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def encode(row: tuple[str, ...], event_id_: str, occurred_at: str) -> tuple[bytes, bytes]:
    """Return (key, value) bytes for one v.4a row."""
    value = orjson.dumps(
        {
            "event_id": event_id_,
            "event_type": EVENT_TYPE,
            "schema_version": SCHEMA_VERSION,
            "occurred_at": occurred_at,
            "line": dict(zip(LINE_FIELDS, row, strict=True)),
        }
    )
    return row[0].encode(), value
