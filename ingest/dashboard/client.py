"""The dashboard's only door to the data: the analytics API over HTTP (docs/api.md).

Every figure the dashboard shows is an answer of the API, so it is the API's number. The key
comes from LAKEHOUSE_API_KEY when set (sent as X-API-Key); without it the API must be in its
keyless local mode.
"""

from __future__ import annotations

import json
import os
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from datetime import date
from typing import Any

DEFAULT_API = "http://127.0.0.1:8300"
API_ENV = "LAKEHOUSE_DASHBOARD_API"
KEY_ENV = "LAKEHOUSE_API_KEY"


class ApiUnavailable(Exception):
    """The API cannot answer yet: unreachable, or no Gold build published (503)."""


class ApiError(Exception):
    """The API answered with an error (4xx/5xx other than 503); `status` and the API's detail."""

    def __init__(self, status: int, detail: str) -> None:
        super().__init__(f"{status}: {detail}")
        self.status = status
        self.detail = detail


@dataclass(frozen=True)
class ApiClient:
    base_url: str = DEFAULT_API
    key: str | None = None
    timeout_s: float = 30.0

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None) -> ApiClient:
        env = os.environ if environ is None else environ
        return cls(base_url=env.get(API_ENV, DEFAULT_API).rstrip("/"), key=env.get(KEY_ENV) or None)

    # ------------------------------------------------------------------ endpoints
    def query(
        self,
        metrics: list[str],
        group_by: list[str] | None = None,
        grain: str | None = None,
        filters: list[dict] | None = None,
        order_by: list[str] | None = None,
        limit: int = 1000,
        start: date | None = None,
        end: date | None = None,
    ) -> list[dict[str, Any]]:
        """POST /v1/query: the rows (one dict per row); `start`/`end` are inclusive days of metric_time."""
        body: dict[str, Any] = {"metrics": metrics, "limit": limit}
        if group_by:
            body["group_by"] = group_by
        if grain:
            body["grain"] = grain
        if start:
            body["start"] = start.isoformat()
        if end:
            body["end"] = end.isoformat()
        if filters:
            body["filters"] = filters
        if order_by:
            body["order_by"] = order_by
        return self._request("POST", "/v1/query", body)["rows"]

    def health(self) -> dict[str, Any]:
        return self._request("GET", "/v1/health")

    def quality(self, runs: int = 10) -> list[dict[str, Any]]:
        return self._request("GET", f"/v1/quality?runs={int(runs)}")["runs"]

    def order(self, transaction_no: str) -> dict[str, Any] | None:
        """GET /v1/orders/{TransactionNo}; None when the API knows no such order (404)."""
        try:
            return self._request("GET", "/v1/orders/" + urllib.parse.quote(transaction_no, safe=""))
        except ApiError as exc:
            if exc.status == 404:
                return None
            raise

    # ------------------------------------------------------------------ HTTP
    def _request(self, method: str, path: str, body: dict | None = None) -> Any:
        headers = {"Accept": "application/json"}
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        if self.key:
            headers["X-API-Key"] = self.key
        request = urllib.request.Request(self.base_url + path, data=data, headers=headers, method=method)
        try:
            with _open(request, self.timeout_s) as response:
                return json.loads(response.read())
        except urllib.error.HTTPError as exc:
            detail = _detail(exc)
            if exc.code == 503:
                raise ApiUnavailable(f"the API has no Gold build to read yet ({detail})") from None
            raise ApiError(exc.code, detail) from None
        except (urllib.error.URLError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            raise ApiUnavailable(f"the API at {self.base_url} is unreachable ({reason})") from None


LOOPBACK = ("127.0.0.1", "localhost", "::1")


def _open(request: urllib.request.Request, timeout_s: float):
    """Straight to an API on this machine, whatever proxy the environment names; elsewhere as usual."""
    host = urllib.parse.urlsplit(request.full_url).hostname
    handlers = [urllib.request.ProxyHandler({})] if host in LOOPBACK else []
    return urllib.request.build_opener(*handlers).open(request, timeout=timeout_s)


def _detail(exc: urllib.error.HTTPError) -> str:
    try:
        return str(json.loads(exc.read()).get("detail", exc.reason))
    except (ValueError, AttributeError, OSError):
        return str(exc.reason)
