"""The pgoutput decoder, on byte strings built by hand from the protocol's message formats."""

from __future__ import annotations

import struct
from datetime import UTC, datetime

import pytest

from ingest.orders import pgoutput

COMMIT_AT = datetime(2026, 11, 25, 20, 30, 15, 123456, tzinfo=UTC)
COMMIT_TS = int((COMMIT_AT - pgoutput.PG_EPOCH).total_seconds()) * 1_000_000 + 123456


def cstr(text: str) -> bytes:
    return text.encode() + b"\x00"


def tuple_data(*values: str | None) -> bytes:
    out = struct.pack(">h", len(values))
    for value in values:
        if value is None:
            out += b"n"
        else:
            raw = value.encode()
            out += b"t" + struct.pack(">i", len(raw)) + raw
    return out


def test_begin_carries_the_final_lsn_commit_time_and_xid():
    data = b"B" + struct.pack(">QqI", 0x1_6A2B3C4D, COMMIT_TS, 4711)
    message = pgoutput.decode(data)
    assert message == pgoutput.Begin(final_lsn=0x1_6A2B3C4D, commit_ts=COMMIT_TS, xid=4711)
    assert pgoutput.pg_timestamp(message.commit_ts) == COMMIT_AT


def test_commit_time_becomes_unix_milliseconds_for_the_kafka_timestamp():
    assert pgoutput.pg_timestamp_unix_ms(COMMIT_TS) == int(COMMIT_AT.timestamp() * 1000)
    assert pgoutput.pg_timestamp_unix_ms(0) == 946_684_800_000  # 2000-01-01 UTC


def test_commit_carries_commit_and_end_lsn():
    data = b"C" + struct.pack(">bQQq", 0, 0x100, 0x128, COMMIT_TS)
    assert pgoutput.decode(data) == pgoutput.Commit(
        flags=0, commit_lsn=0x100, end_lsn=0x128, commit_ts=COMMIT_TS
    )


def test_relation_lists_columns_with_names_and_types():
    data = (
        b"R"
        + struct.pack(">I", 16390)
        + cstr("public")
        + cstr("outbox")
        + b"d"
        + struct.pack(">h", 2)
        + struct.pack(">b", 1)
        + cstr("id")
        + struct.pack(">Ii", 20, -1)
        + struct.pack(">b", 0)
        + cstr("payload")
        + struct.pack(">Ii", 25, -1)
    )
    message = pgoutput.decode(data)
    assert message.relation_id == 16390
    assert (message.namespace, message.name, message.replica_identity) == ("public", "outbox", "d")
    assert [(c.name, c.type_oid, c.flags) for c in message.columns] == [("id", 20, 1), ("payload", 25, 0)]


def test_insert_decodes_text_values_nulls_and_utf8():
    payload = '{"event_id":"e1","line":{"ProductName":"CRÈME BRÛLÉE SET"}}'
    data = b"I" + struct.pack(">I", 16390) + b"N" + tuple_data("42", "C536379", None, payload)
    message = pgoutput.decode(data)
    assert message == pgoutput.Insert(relation_id=16390, new=("42", "C536379", None, payload))


def test_update_with_old_key_and_unchanged_toast_value():
    new = struct.pack(">h", 2) + b"t" + struct.pack(">i", 1) + b"7" + b"u"
    data = b"U" + struct.pack(">I", 5) + b"K" + tuple_data("6") + b"N" + new
    message = pgoutput.decode(data)
    assert message.old == ("6",) and message.old_kind == "K"
    assert message.new[0] == "7" and message.new[1] is pgoutput.UNCHANGED_TOAST


def test_update_without_old_tuple():
    data = b"U" + struct.pack(">I", 5) + b"N" + tuple_data("x")
    assert pgoutput.decode(data) == pgoutput.Update(5, None, None, ("x",))


def test_delete_and_truncate():
    assert pgoutput.decode(b"D" + struct.pack(">I", 5) + b"K" + tuple_data("9")) == pgoutput.Delete(
        5, ("9",), "K"
    )
    assert pgoutput.decode(b"T" + struct.pack(">ibII", 2, 1, 5, 6)) == pgoutput.Truncate(1, (5, 6))


def test_type_and_origin():
    assert pgoutput.decode(b"Y" + struct.pack(">I", 600) + cstr("public") + cstr("mood")) == pgoutput.Type(
        600, "public", "mood"
    )
    assert pgoutput.decode(b"O" + struct.pack(">Q", 0x55) + cstr("node_a")) == pgoutput.Origin(0x55, "node_a")


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"", "empty"),
        (b"Z\x00", "unknown pgoutput message type"),
        (b"B" + struct.pack(">Q", 1), "truncated"),
        (b"I" + struct.pack(">I", 1) + b"X" + tuple_data("1"), "expected new tuple marker"),
        (
            b"I" + struct.pack(">I", 1) + b"N" + struct.pack(">h", 1) + b"t" + struct.pack(">i", 10) + b"abc",
            "overruns",
        ),
        (b"I" + struct.pack(">I", 1) + b"N" + struct.pack(">h", 1) + b"q", "unknown tuple value kind"),
        (b"Y" + struct.pack(">I", 1) + b"public", "unterminated string"),
        (b"C" + struct.pack(">bQQq", 0, 1, 2, 3) + b"!", "trailing bytes"),
    ],
)
def test_malformed_messages_are_refused_with_a_reason(data, reason):
    with pytest.raises(pgoutput.DecodeError, match=reason):
        pgoutput.decode(data)


def test_lsn_text_round_trip():
    assert pgoutput.lsn_text(0x1_6A2B3C4D) == "1/6A2B3C4D"
    assert pgoutput.parse_lsn("1/6A2B3C4D") == 0x1_6A2B3C4D
