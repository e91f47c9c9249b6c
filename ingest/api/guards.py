"""What stands in front of the analytics API's routes (issue 20): every failure is a JSON
`{"detail": ...}`, never a bare 500; the key is checked before the body is read; bodies are
bounded.

`Guard` is a plain ASGI middleware, so it sees each request before FastAPI reads or parses its
body. In order:
- under /v1/, with keys configured, a missing or wrong key is 401 from the headers alone (the
  body is never read); the key found is left in the request's state for the routes;
- a body over `max_body_bytes` is 413: at once when its Content-Length says so, else (chunked)
  as soon as what was read passes the limit, without reading the rest; a body within the limit
  is read here and handed to the app;
- an exception nothing else handled is logged with its traceback and answered 500 with a fixed
  `detail` (no internals in the body).
`error_response` renders every JSON error; its `detail` is always encodable (a lone surrogate a
caller sent is escaped, never a UnicodeEncodeError).
"""

from __future__ import annotations

import json
import logging

from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ingest.api.auth import ApiKey, KeyRing, presented_key

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


class TooLarge(Exception):
    pass


class Guard:
    """The API's guards as one ASGI middleware, outermost but for Starlette's own error page."""

    def __init__(self, app: ASGIApp, keys: KeyRing, max_body_bytes: int) -> None:
        self.app, self.keys, self.max_body_bytes = app, keys, max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {
            name.decode("latin-1").lower(): value.decode("latin-1") for name, value in scope["headers"]
        }
        if not self.keys.open and scope["path"].startswith(GUARDED):
            presented = presented_key(headers.get("x-api-key"), headers.get("authorization"))
            key = self.keys.identify(presented)
            if key is None:
                await send_error(send, 401, WRONG_KEY if presented else MISSING_KEY, CHALLENGE)
                return
            scope.setdefault("state", {})["api_key"] = key
        try:
            receive = await self.bounded_body(headers, receive)
        except TooLarge:
            await send_error(send, 413, f"request body over {self.max_body_bytes:,} bytes")
            return
        except ValueError:
            await send_error(send, 400, "Content-Length is not a number")
            return
        if receive is None:  # the caller left while sending
            return
        started = False

        async def sending(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

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
