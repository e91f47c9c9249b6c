"""What stands in front of the analytics API's routes (issue 20): every failure is a JSON
`{"detail": ...}`, never a bare 500; the key is checked before the body is read; bodies are
bounded; failed keys are slowed per client address; security headers on every answer.

`Guard` is a plain ASGI middleware, so it sees each request before FastAPI reads or parses its
body. In order:
- under /v1/, with keys configured: an address with `auth_failures` wrong keys in the current
  window is 429 (`Retry-After`) until the window ends, whatever key it sends now (so a guess
  that happens to be right tells it nothing); then a missing or wrong key is 401 from the
  headers alone (the body is never read; a wrong one counts against the address); the key
  found is left in the request's state for the routes;
- a body over `max_body_bytes` is 413: at once when its Content-Length says so, else (chunked)
  as soon as what was read passes the limit, without reading the rest; a body within the limit
  is read here and handed to the app;
- an exception nothing else handled is logged with its traceback and answered 500 with a fixed
  `detail` (no internals in the body);
- every answer says `X-Content-Type-Options: nosniff`; answers to keyed requests (keys
  configured, or a key presented) `Cache-Control: no-store`; the docs pages (/docs, /redoc,
  the OAuth2 redirect) `X-Frame-Options: DENY` and a Content-Security-Policy (`docs_policy`).
`error_response` renders every JSON error; its `detail` is always encodable (a lone surrogate a
caller sent is escaped, never a UnicodeEncodeError).
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import math
import re
import threading
import time
from collections import OrderedDict
from collections.abc import Iterable

from starlette.datastructures import MutableHeaders
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ingest.api.access import ApiKey
from ingest.api.auth import KeyRing, presented_key

log = logging.getLogger("ingest.api")

INTERNAL_ERROR = "internal error: the request could not be answered (the server's log has the details)"
GUARDED = "/v1/"  # paths that need a key; /healthz, /docs, /redoc and /openapi.json do not
MISSING_KEY = "missing API key (X-API-Key header)"
WRONG_KEY = "a valid API key is required (X-API-Key header)"
CHALLENGE = {"WWW-Authenticate": "Bearer"}


def caller_key(request: Request) -> ApiKey | None:
    """The key the Guard identified for this request (None in the keyless local mode)."""
    return request.scope.get("state", {}).get("api_key")


def error_body(detail: str) -> bytes:
    """`{"detail": ...}` as ASCII JSON: whatever a caller sent, it encodes."""
    return json.dumps({"detail": detail}).encode("ascii")


def error_response(status: int, detail: str, headers: dict[str, str] | None = None) -> Response:
    return Response(error_body(detail), status_code=status, headers=headers, media_type="application/json")


async def send_error(send: Send, status: int, detail: str, headers: dict[str, str] | None = None) -> None:
    body = error_body(detail)
    raw = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    raw += [
        (name.lower().encode("latin-1"), value.encode("latin-1")) for name, value in (headers or {}).items()
    ]
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": body})


# What FastAPI's docs pages load: Swagger UI and ReDoc from jsDelivr, ReDoc's fonts from Google
# Fonts, FastAPI's favicon; they fetch /openapi.json from this origin; ReDoc searches in a blob:
# worker and styles itself with inline <style>. Inline scripts are allowed by their hashes only.
DOCS_SOURCES = {
    "default-src": "'none'",
    "script-src": "https://cdn.jsdelivr.net",
    "style-src": "https://cdn.jsdelivr.net https://fonts.googleapis.com 'unsafe-inline'",
    "font-src": "https://fonts.gstatic.com",
    "img-src": "'self' data: https://fastapi.tiangolo.com",
    "connect-src": "'self'",
    "worker-src": "blob:",
    "base-uri": "'none'",
    "form-action": "'none'",
    "frame-ancestors": "'none'",
}
INLINE_SCRIPT = re.compile(rb"<script>(.*?)</script>", re.S)


def docs_policy(html: bytes) -> str:
    """The Content-Security-Policy of a docs page: `DOCS_SOURCES`, and each inline script of
    this very page by its SHA-256 (FastAPI writes the page's URLs into it)."""
    hashes = [
        "'sha256-" + base64.b64encode(hashlib.sha256(script).digest()).decode() + "'"
        for script in INLINE_SCRIPT.findall(html)
    ]
    sources = {**DOCS_SOURCES, "script-src": " ".join([DOCS_SOURCES["script-src"], *hashes])}
    return "; ".join(f"{name} {value}" for name, value in sources.items())


class FailedKeys:
    """Wrong keys per client address in fixed windows: after `limit` failures within `window_s`
    of an address's first one, the address waits until the window ends. At most `addresses`
    are remembered, the least recently failed forgotten first, so the table cannot grow without
    bound. A right key does not clear the count (it would let a caller with one key guess others)."""

    def __init__(self, limit: int, window_s: float, addresses: int) -> None:
        self.limit, self.window_s, self.addresses = limit, window_s, addresses
        self._table: OrderedDict[str, tuple[float, int]] = OrderedDict()  # address: (window start, failures)
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._table)

    def wait(self, address: str, now: float | None = None) -> float:
        """0 when the address may try a key, else the seconds until its window ends."""
        now = time.monotonic() if now is None else now
        with self._lock:
            start, failures = self._table.get(address, (now, 0))
            if now - start >= self.window_s:
                self._table.pop(address, None)
                return 0.0
            return start + self.window_s - now if failures >= self.limit else 0.0

    def failed(self, address: str, now: float | None = None) -> None:
        now = time.monotonic() if now is None else now
        with self._lock:
            start, failures = self._table.pop(address, (now, 0))
            if now - start >= self.window_s:
                start, failures = now, 0
            self._table[address] = (start, failures + 1)
            while len(self._table) > self.addresses:
                self._table.popitem(last=False)


class TooLarge(Exception):
    pass


class Guard:
    """The API's guards as one ASGI middleware, outermost but for Starlette's own error page."""

    def __init__(
        self,
        app: ASGIApp,
        keys: KeyRing,
        max_body_bytes: int,
        failed_keys: FailedKeys,
        docs_paths: Iterable[str | None] = (),
    ) -> None:
        self.app, self.keys, self.max_body_bytes, self.failed_keys = app, keys, max_body_bytes, failed_keys
        self.docs_paths = frozenset(path for path in docs_paths if path)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {
            name.decode("latin-1").lower(): value.decode("latin-1") for name, value in scope["headers"]
        }
        presented = presented_key(headers.get("x-api-key"), headers.get("authorization"))
        guarded = not self.keys.open and scope["path"].startswith(GUARDED)
        keyed = guarded or presented is not None
        docs = scope["path"] in self.docs_paths
        started, held, parts = False, None, []

        async def sending(message: Message) -> None:
            nonlocal started, held
            if message["type"] == "http.response.start":
                started = True
                added = MutableHeaders(scope=message)
                added["X-Content-Type-Options"] = "nosniff"
                if keyed:
                    added["Cache-Control"] = "no-store"
                if docs:  # its policy names the page's inline scripts: wait for the page
                    added["X-Frame-Options"] = "DENY"
                    held = message
                    return
            elif held is not None and message["type"] == "http.response.body":
                parts.append(message.get("body", b""))
                if message.get("more_body", False):
                    return
                page = b"".join(parts)
                MutableHeaders(scope=held)["Content-Security-Policy"] = docs_policy(page)
                await send(held)
                await send({"type": "http.response.body", "body": page})
                return
            await send(message)

        if guarded:
            address = scope["client"][0] if scope.get("client") else "unknown"
            wait = self.failed_keys.wait(address)
            if wait > 0:
                retry = str(math.ceil(wait))
                detail = f"too many failed API key attempts from this address; retry in {retry} s"
                await send_error(sending, 429, detail, {"Retry-After": retry})
                return
            key = self.keys.identify(presented)
            if key is None:
                if presented:
                    self.failed_keys.failed(address)
                await send_error(sending, 401, WRONG_KEY if presented else MISSING_KEY, CHALLENGE)
                return
            scope.setdefault("state", {})["api_key"] = key
        try:
            receive = await self.bounded_body(headers, receive)
        except TooLarge:
            await send_error(sending, 413, f"request body over {self.max_body_bytes:,} bytes")
            return
        except ValueError:
            await send_error(sending, 400, "Content-Length is not a number")
            return
        if receive is None:  # the caller left while sending
            return
        try:
            await self.app(scope, receive, sending)
        except Exception:
            log.exception("api: %s %s failed", scope.get("method"), scope.get("path"))
            if started:  # part of an answer is out: the server can only cut the connection
                raise
            await send_error(sending, 500, INTERNAL_ERROR)

    async def bounded_body(self, headers: dict[str, str], receive: Receive) -> Receive | None:
        """The body read here, at most `max_body_bytes` of it, and a `receive` that hands it on;
        TooLarge past the limit (before reading, when Content-Length says so); None if the
        caller disconnected."""
        length = headers.get("content-length")
        if length is not None and int(length) > self.max_body_bytes:
            raise TooLarge
        if not (length and int(length)) and "chunked" not in headers.get("transfer-encoding", "").lower():
            return receive  # no body
        chunks, size = [], 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return None
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_body_bytes:
                raise TooLarge
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        body, handed = b"".join(chunks), False

        async def replay() -> Message:
            nonlocal handed
            if handed:
                return await receive()
            handed = True
            return {"type": "http.request", "body": body, "more_body": False}

        return replay
