"""Who may call the analytics API: API keys (kept only as SHA-256 hashes, compared in
constant time), the metrics each key may read, and a per-key rate limit.

Keys come from the environment (`LAKEHOUSE_API_KEYS`) or a Databricks secret scope, never from
a file. The value is a JSON list; each entry names a caller and holds the hash of its key:

    [{"name": "powerbi", "sha256": "<hex>", "metrics": ["net_revenue", "orders"], "per_minute": 600,
      "scopes": ["orders:read"], "rows": {"country__region": ["Europe"]}}]

`metrics` is optional (all metrics when absent), `per_minute` too (the default limit), and
`scopes` and `rows` (what else the key may read, and the rows it is limited to: see
ingest/api/access.py, which defines what every endpoint needs).
`python -m ingest api hash-key` prints the hash of a new random key.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import math
import secrets
import threading
import time
from dataclasses import dataclass, field

from ingest.api import access
from ingest.api.access import ApiKey


class AuthConfigError(ValueError):
    """The key configuration cannot be used; the message says why (never a key's value)."""


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def new_key() -> tuple[str, str]:
    """A fresh random key and its hash."""
    key = secrets.token_urlsafe(32)
    return key, hash_key(key)


def parse_keys(text: str | None) -> tuple[ApiKey, ...]:
    if not text or not text.strip():
        return ()
    try:
        entries = json.loads(text)
    except ValueError as exc:
        raise AuthConfigError(f"LAKEHOUSE_API_KEYS is not JSON ({exc.msg} at {exc.pos})") from None
    if not isinstance(entries, list):
        raise AuthConfigError(
            "LAKEHOUSE_API_KEYS must be a JSON list of {name, sha256, metrics?, per_minute?, scopes?, rows?}"
        )
    keys: list[ApiKey] = []
    for i, entry in enumerate(entries):
        if not isinstance(entry, dict) or not isinstance(entry.get("name"), str):
            raise AuthConfigError(f"LAKEHOUSE_API_KEYS entry {i} needs a name")
        digest = entry.get("sha256")
        if (
            not isinstance(digest, str)
            or len(digest) != 64
            or any(c not in "0123456789abcdef" for c in digest)
        ):
            raise AuthConfigError(
                f"LAKEHOUSE_API_KEYS entry {entry['name']!r}: sha256 must be 64 lowercase hex digits "
                "(the hash of the key, never the key itself)"
            )
        metrics = entry.get("metrics")
        if metrics is not None and not (
            isinstance(metrics, list) and all(isinstance(m, str) for m in metrics)
        ):
            raise AuthConfigError(
                f"LAKEHOUSE_API_KEYS entry {entry['name']!r}: metrics must be a list of names"
            )
        per_minute = entry.get("per_minute")
        if per_minute is not None and (
            not isinstance(per_minute, int) or isinstance(per_minute, bool) or per_minute < 1
        ):
            raise AuthConfigError(
                f"LAKEHOUSE_API_KEYS entry {entry['name']!r}: per_minute must be a positive integer"
            )
        try:
            rows = access.parse_rows(entry["name"], entry.get("rows"))
            scopes = access.parse_scopes(entry["name"], entry.get("scopes"), rows)
        except ValueError as exc:
            raise AuthConfigError(f"LAKEHOUSE_API_KEYS {exc}") from None
        unknown = set(entry) - {"name", "sha256", "metrics", "per_minute", "scopes", "rows"}
        if unknown:
            raise AuthConfigError(
                f"LAKEHOUSE_API_KEYS entry {entry['name']!r}: unknown field {sorted(unknown)[0]!r} "
                "(name, sha256, metrics, per_minute, scopes, rows)"
            )
        if any(key.name == entry["name"] for key in keys):
            raise AuthConfigError(f"LAKEHOUSE_API_KEYS: the name {entry['name']!r} is given twice")
        keys.append(
            ApiKey(
                entry["name"],
                digest,
                frozenset(metrics) if metrics is not None else None,
                per_minute,
                scopes,
                rows,
            )
        )
    return tuple(keys)


def presented_key(x_api_key: str | None, authorization: str | None) -> str | None:
    """The key a request presents: `X-API-Key`, else `Authorization: Bearer <key>`."""
    if x_api_key is not None:
        return x_api_key
    if authorization and authorization.lower().startswith("bearer "):
        return authorization[7:].strip()
    return None


@dataclass
class KeyRing:
    keys: tuple[ApiKey, ...]

    @property
    def open(self) -> bool:
        """No keys configured: the keyless local mode."""
        return not self.keys

    def identify(self, presented: str | None) -> ApiKey | None:
        """The key whose hash matches, comparing against every key in constant time."""
        if not presented:
            return None
        digest = hash_key(presented).encode()
        found = None
        for key in self.keys:
            if hmac.compare_digest(digest, key.sha256.encode()):
                found = key
        return found


@dataclass
class RateLimiter:
    """A token bucket per caller: `per_minute` requests a minute, bursts up to that many."""

    default_per_minute: int
    _buckets: dict[str, tuple[float, float]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def take(self, caller: str, per_minute: int | None = None, now: float | None = None) -> float:
        """0 when the request may go ahead, else the seconds to wait before the next one."""
        rate = (per_minute or self.default_per_minute) / 60.0
        capacity = float(per_minute or self.default_per_minute)
        now = time.monotonic() if now is None else now
        with self._lock:
            tokens, last = self._buckets.get(caller, (capacity, now))
            tokens = min(capacity, tokens + (now - last) * rate)
            if tokens >= 1.0:
                self._buckets[caller] = (tokens - 1.0, now)
                return 0.0
            self._buckets[caller] = (tokens, now)
            return max(math.ceil((1.0 - tokens) / rate * 1000) / 1000, 0.001)
