"""What stands in front of the analytics API's routes (issue 20): every failure is a JSON
`{"detail": ...}`, never a bare 500.

`Guard` is a plain ASGI middleware (it sees each request before FastAPI reads or parses its body):
an exception nothing else handled is logged with its traceback and answered 500 with a fixed
`detail` (no internals in the body). `error_response` renders every JSON error; its `detail`
is always encodable (a lone surrogate a caller sent is escaped, never a UnicodeEncodeError).
"""

from __future__ import annotations

import json
import logging

from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

log = logging.getLogger("ingest.api")

INTERNAL_ERROR = "internal error: the request could not be answered (the server's log has the details)"


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


class Guard:
    """The API's guards as one ASGI middleware, outermost but for Starlette's own error page."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
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
