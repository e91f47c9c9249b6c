"""A decoder for PostgreSQL's built-in logical replication output plugin, `pgoutput`
(protocol version 1), as received with psycopg2's `start_replication(decode=False)`.

Message formats: https://www.postgresql.org/docs/15/protocol-logicalrep-message-formats.html
Integers are big-endian; strings are NUL-terminated; timestamps are microseconds since
2000-01-01 00:00 UTC; column values in tuple data are text (or binary, protocol 2+).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

PG_EPOCH = datetime(2000, 1, 1, tzinfo=UTC)
PG_EPOCH_UNIX_US = 946_684_800_000_000


class DecodeError(ValueError):
    """The bytes are not a pgoutput message this decoder understands."""


def pg_timestamp(micros: int) -> datetime:
    return PG_EPOCH + timedelta(microseconds=micros)


def pg_timestamp_unix_ms(micros: int) -> int:
    """A PostgreSQL timestamp as Unix epoch milliseconds (a Kafka record timestamp)."""
    return (micros + PG_EPOCH_UNIX_US) // 1000


def lsn_text(lsn: int) -> str:
    return f"{lsn >> 32:X}/{lsn & 0xFFFFFFFF:X}"


def parse_lsn(text: str) -> int:
    high, low = text.split("/")
    return (int(high, 16) << 32) | int(low, 16)


@dataclass(frozen=True)
class Begin:
    final_lsn: int
    commit_ts: int  # microseconds since 2000-01-01 UTC
    xid: int


@dataclass(frozen=True)
class Commit:
    flags: int
    commit_lsn: int
    end_lsn: int
    commit_ts: int


@dataclass(frozen=True)
class Origin:
    commit_lsn: int
    name: str


@dataclass(frozen=True)
class Column:
    flags: int  # 1 = part of the key
    name: str
    type_oid: int
    type_modifier: int


@dataclass(frozen=True)
class Relation:
    relation_id: int
    namespace: str
    name: str
    replica_identity: str
    columns: tuple[Column, ...]


@dataclass(frozen=True)
class Type:
    type_oid: int
    namespace: str
    name: str


UNCHANGED_TOAST = object()  # a TOASTed value the update did not change (not sent)

Value = str | bytes | None | object
Tuple = tuple[Value, ...]


@dataclass(frozen=True)
class Insert:
    relation_id: int
    new: Tuple


@dataclass(frozen=True)
class Update:
    relation_id: int
    old: Tuple | None  # with REPLICA IDENTITY FULL ('O') or a changed key ('K')
    old_kind: str | None
    new: Tuple


@dataclass(frozen=True)
class Delete:
    relation_id: int
    old: Tuple
    old_kind: str


@dataclass(frozen=True)
class Truncate:
    options: int  # 1 = CASCADE, 2 = RESTART IDENTITY
    relation_ids: tuple[int, ...]


Message = Begin | Commit | Origin | Relation | Type | Insert | Update | Delete | Truncate


class _Reader:
    __slots__ = ("data", "pos")

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0

    def _take(self, fmt: str, size: int):
        if self.pos + size > len(self.data):
            raise DecodeError(f"message truncated at byte {self.pos} (needs {size} more)")
        (value,) = struct.unpack_from(fmt, self.data, self.pos)
        self.pos += size
        return value

    def int8(self) -> int:
        return self._take(">b", 1)

    def byte(self) -> str:
        return chr(self._take(">B", 1))

    def int16(self) -> int:
        return self._take(">h", 2)

    def int32(self) -> int:
        return self._take(">i", 4)

    def uint32(self) -> int:
        return self._take(">I", 4)

    def int64(self) -> int:
        return self._take(">q", 8)

    def uint64(self) -> int:
        return self._take(">Q", 8)

    def string(self) -> str:
        end = self.data.find(b"\x00", self.pos)
        if end < 0:
            raise DecodeError(f"unterminated string at byte {self.pos}")
        text = self.data[self.pos : end].decode("utf-8")
        self.pos = end + 1
        return text

    def raw(self, size: int) -> bytes:
        if size < 0 or self.pos + size > len(self.data):
            raise DecodeError(f"value of {size} bytes overruns the message at byte {self.pos}")
        chunk = self.data[self.pos : self.pos + size]
        self.pos += size
        return chunk

    def tuple_data(self) -> Tuple:
        values: list[Value] = []
        for _ in range(self.int16()):
            kind = self.byte()
            if kind == "n":
                values.append(None)
            elif kind == "u":
                values.append(UNCHANGED_TOAST)
            elif kind == "t":
                values.append(self.raw(self.int32()).decode("utf-8"))
            elif kind == "b":
                values.append(self.raw(self.int32()))
            else:
                raise DecodeError(f"unknown tuple value kind {kind!r}")
        return tuple(values)

    def done(self) -> None:
        if self.pos != len(self.data):
            raise DecodeError(f"{len(self.data) - self.pos} unexpected trailing bytes")


def decode(data: bytes) -> Message:
    """Decode one pgoutput message (the payload of one XLogData)."""
    if not data:
        raise DecodeError("empty message")
    r = _Reader(bytes(data))
    kind = r.byte()
    message: Message
    if kind == "B":
        message = Begin(final_lsn=r.uint64(), commit_ts=r.int64(), xid=r.uint32())
    elif kind == "C":
        message = Commit(flags=r.int8(), commit_lsn=r.uint64(), end_lsn=r.uint64(), commit_ts=r.int64())
    elif kind == "O":
        message = Origin(commit_lsn=r.uint64(), name=r.string())
    elif kind == "R":
        relation_id, namespace, name = r.uint32(), r.string(), r.string()
        identity = r.byte()
        columns = tuple(
            Column(flags=r.int8(), name=r.string(), type_oid=r.uint32(), type_modifier=r.int32())
            for _ in range(r.int16())
        )
        message = Relation(relation_id, namespace, name, identity, columns)
    elif kind == "Y":
        message = Type(type_oid=r.uint32(), namespace=r.string(), name=r.string())
    elif kind == "I":
        relation_id = r.uint32()
        if (marker := r.byte()) != "N":
            raise DecodeError(f"insert: expected new tuple marker 'N', found {marker!r}")
        message = Insert(relation_id, r.tuple_data())
    elif kind == "U":
        relation_id = r.uint32()
        marker = r.byte()
        old, old_kind = None, None
        if marker in ("K", "O"):
            old, old_kind = r.tuple_data(), marker
            marker = r.byte()
        if marker != "N":
            raise DecodeError(f"update: expected new tuple marker 'N', found {marker!r}")
        message = Update(relation_id, old, old_kind, r.tuple_data())
    elif kind == "D":
        relation_id = r.uint32()
        marker = r.byte()
        if marker not in ("K", "O"):
            raise DecodeError(f"delete: expected old tuple marker 'K' or 'O', found {marker!r}")
        message = Delete(relation_id, r.tuple_data(), marker)
    elif kind == "T":
        count, options = r.int32(), r.int8()
        message = Truncate(options, tuple(r.uint32() for _ in range(count)))
    else:
        raise DecodeError(f"unknown pgoutput message type {kind!r}")
    r.done()
    return message
