"""The analytics API's answer cache (issue 20): bounded in bytes, not in entries.

Entries are kept by (Gold version, key) until the next Gold build (a new version empties the
cache), least recently used evicted first once their sizes pass `max_bytes`. Each entry's size
is measured when it is put: `nbytes` for an `Answer` (the encoded bytes it holds), an estimate
of the Python objects (`sizeof`) for anything else, plus `ENTRY_OVERHEAD` for its key and
bookkeeping. An entry larger than `max_entry_bytes` (by default `ENTRY_FRACTION` of the
budget) is not kept: it is answered and forgotten. Keys are stored as a 16-byte BLAKE2b digest
of the text given, so a caller's long filter values are never held by the cache.

Query answers are kept compactly as `Answer`s: one page-able encoding of the whole result
(JSON objects or CSV lines, joined) with the offset where each row starts, never as Python rows.
"""

from __future__ import annotations

import hashlib
import os
import sys
import threading
from array import array
from collections import OrderedDict
from dataclasses import dataclass

MiB = 1024 * 1024
DEFAULT_FRACTION = 0.02  # of physical memory ...
DEFAULT_CAP_BYTES = 256 * MiB  # ... but at most this
DEFAULT_FLOOR_BYTES = 16 * MiB  # ... and at least this (a machine whose memory cannot be read)
ENTRY_FRACTION = 0.125  # an answer larger than this part of the budget is not kept
ENTRY_OVERHEAD = 256  # bytes per entry for its key digest and the LRU's node, counted with it


def physical_memory() -> int | None:
    """The machine's physical memory in bytes (None where the OS does not say)."""
    try:
        return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (AttributeError, ValueError, OSError):
        return None


def default_budget(memory: int | None = None) -> int:
    """2% of physical memory, at most 256 MiB, at least 16 MiB."""
    memory = physical_memory() if memory is None else memory
    if not memory:
        return DEFAULT_FLOOR_BYTES
    return int(min(DEFAULT_CAP_BYTES, max(DEFAULT_FLOOR_BYTES, memory * DEFAULT_FRACTION)))


def digest(key: str) -> bytes:
    """What the cache keeps of a key: 16 bytes, whatever the length of the text."""
    return hashlib.blake2b(key.encode("utf-8", "surrogatepass"), digest_size=16).digest()


def sizeof(value, _seen: set[int] | None = None) -> int:
    """An estimate of the memory `value` holds: `sys.getsizeof` over containers (dict, list,
    tuple, set), their items and the attributes of dataclasses and plain objects; each object
    once; `nbytes` where an object states it."""
    seen = set() if _seen is None else _seen
    if id(value) in seen:
        return 0
    seen.add(id(value))
    stated = getattr(value, "nbytes", None)
    if isinstance(stated, int):
        return stated
    size = sys.getsizeof(value)
    if isinstance(value, dict):
        size += sum(sizeof(k, seen) + sizeof(v, seen) for k, v in value.items())
    elif isinstance(value, list | tuple | set | frozenset):
        size += sum(sizeof(item, seen) for item in value)
    elif hasattr(value, "__dict__"):
        size += sizeof(vars(value), seen)
    elif hasattr(value, "__slots__"):
        size += sum(sizeof(getattr(value, name, None), seen) for name in value.__slots__)
    return size


@dataclass(frozen=True)
class Answer:
    """A whole query result, encoded once: `head` (the CSV header line; empty for JSON), `body`
    the rows encoded and joined (a JSON row ends in ',', a CSV row in '\\n'), `starts[i]` the
    offset in `body` where row i starts (`starts[rows]` is len(body)), `built` Gold's build time
    (JSON) and `columns`. A page is a slice of `body`: one copy, no Python rows."""

    columns: tuple[str, ...]
    head: bytes
    body: bytes
    starts: array
    built: str | None

    @property
    def rows(self) -> int:
        return len(self.starts) - 1

    @property
    def nbytes(self) -> int:
        return (
            len(self.head)
            + len(self.body)
            + self.starts.itemsize * len(self.starts)
            + sizeof(self.columns)
            + 400  # the objects themselves
        )

    def rows_slice(self, offset: int, limit: int, trim: int = 0) -> memoryview:
        """Rows offset..offset+limit of `body` (without their last `trim` bytes), no copy."""
        first = min(offset, self.rows)
        last = min(offset + limit, self.rows)
        start, end = self.starts[first], self.starts[last]
        if end > start:
            end -= trim
        return memoryview(self.body)[start:end]


def encode_rows(encoded_rows) -> tuple[bytes, array]:
    """Encoded rows (an iterable of bytes) joined, with the offset each starts at."""
    starts = array("q", [0])
    parts = []
    total = 0
    for part in encoded_rows:
        parts.append(part)
        total += len(part)
        starts.append(total)
    return b"".join(parts), starts


class Cache:
    """Entries by (Gold version, key), at most `max_bytes` in all, least recently used evicted
    first; an entry over `max_entry_bytes` is not kept. `max_bytes` 0: nothing is kept."""

    def __init__(self, max_bytes: int, max_entry_bytes: int | None = None) -> None:
        if max_bytes < 0:
            raise ValueError("the cache budget cannot be negative")
        self.max_bytes = max_bytes
        self.max_entry_bytes = int(max_bytes * ENTRY_FRACTION) if max_entry_bytes is None else max_entry_bytes
        self.version: str | None = None
        self.items: OrderedDict[bytes, tuple[object, int]] = OrderedDict()
        self.bytes = 0
        self.lock = threading.Lock()
        self.hits = self.misses = self.refused = self.evicted = 0

    def __len__(self) -> int:
        return len(self.items)

    def _switch(self, version: str) -> None:
        if version != self.version:
            self.version, self.items, self.bytes = version, OrderedDict(), 0

    def get(self, version: str, key: str):
        """The value kept for `key` under `version`, else None (a new version empties the cache)."""
        name = digest(key)
        with self.lock:
            self._switch(version)
            found = self.items.get(name)
            if found is None:
                self.misses += 1
                return None
            self.items.move_to_end(name)
            self.hits += 1
            return found[0]

    def put(self, version: str, key: str, value, size: int | None = None) -> bool:
        """Keep `value` (its size measured unless given); False if it was not kept: too large,
        or a build landed meanwhile (no answer from the old one is kept)."""
        size = (sizeof(value) if size is None else size) + ENTRY_OVERHEAD
        name = digest(key)
        with self.lock:
            if version != self.version:
                return False
            if size > self.max_entry_bytes or size > self.max_bytes:
                self.refused += 1
                return False
            old = self.items.pop(name, None)
            if old is not None:
                self.bytes -= old[1]
            self.items[name] = (value, size)
            self.bytes += size
            while self.bytes > self.max_bytes:
                _, (_, dropped) = self.items.popitem(last=False)
                self.bytes -= dropped
                self.evicted += 1
            return True

    def stats(self) -> dict[str, int]:
        with self.lock:
            return {
                "entries": len(self.items),
                "bytes": self.bytes,
                "max_bytes": self.max_bytes,
                "max_entry_bytes": self.max_entry_bytes,
                "hits": self.hits,
                "misses": self.misses,
                "refused": self.refused,
                "evicted": self.evicted,
            }
