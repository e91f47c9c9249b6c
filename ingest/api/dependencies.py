"""What every route of the analytics API depends on: the app's services (the semantic layer,
the backend, the cache, the keys and their rate limit), the caller (a key, rate-limited), a
scope the caller must have, and the backend's answers with its failures as HTTP errors."""

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Header, Request

from ingest.api import access, guards
from ingest.api.access import ApiKey
from ingest.api.auth import KeyRing, RateLimiter
from ingest.api.backends import NotReady, QueryTimeout, TooManyRows
from ingest.api.cache import Cache
from ingest.api.config import ApiConfig
from ingest.databricks import eventhubs_lag
from ingest.semantic import SemanticLayer


class ApiError(Exception):
    def __init__(self, status: int, detail: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(detail)
        self.status, self.detail, self.headers = status, detail, headers or {}


@dataclass(frozen=True)
class Services:
    """Built once by create_app, kept on app.state."""

    config: ApiConfig
    layer: SemanticLayer
    backend: object
    keys: KeyRing
    limiter: RateLimiter
    cache: Cache
    lag: eventhubs_lag.LagMonitor | None

    def version(self) -> str:
        """The backend's build version (the cache's key); 503 before the first Gold build."""
        try:
            return self.backend.version()
        except NotReady as exc:
            raise ApiError(503, str(exc), {"Retry-After": "10"}) from None

    def run(self, sql: str, params: dict, max_rows: int):
        try:
            return self.backend.run(sql, params, max_rows, self.config.timeout_s)
        except NotReady as exc:
            raise ApiError(503, str(exc), {"Retry-After": "10"}) from None
        except QueryTimeout as exc:
            detail = f"{exc}; ask for less (filters, a coarser grain)"
            raise ApiError(503, detail, {"Retry-After": "5"}) from None
        except TooManyRows as exc:
            raise ApiError(
                422, f"{exc} (the cap is {max_rows:,}): add filters, fewer dimensions or a coarser grain"
            ) from None


def services(request: Request) -> Services:
    return request.app.state.services


def caller(
    request: Request,
    app: Annotated[Services, Depends(services)],
    x_api_key: Annotated[str | None, Header(max_length=200)] = None,  # documented here,
    authorization: Annotated[str | None, Header(max_length=220)] = None,  # checked by the Guard
) -> ApiKey | None:
    if app.keys.open:
        key, name, per_minute = None, "local", None
    else:
        key = guards.caller_key(request)
        if key is None:  # only a route outside the Guard's /v1/ would get here
            raise ApiError(401, guards.MISSING_KEY, guards.CHALLENGE)
        name, per_minute = key.name, key.per_minute
    wait = app.limiter.take(name, per_minute)
    if wait > 0:
        raise ApiError(
            429,
            f"rate limit reached for {name}; retry in {wait:.1f} s",
            {"Retry-After": str(math.ceil(wait))},
        )
    return key


Caller = Annotated[ApiKey | None, Depends(caller)]
App = Annotated[Services, Depends(services)]


def allowed(scope: str) -> Callable[..., ApiKey | None]:
    """A dependency: the caller, who must have `scope` (ingest/api/access.py), else 403."""

    def check(key: Caller) -> ApiKey | None:
        try:
            access.require(key, scope)
        except access.Denied as exc:
            raise ApiError(403, str(exc)) from None
        return key

    return check
