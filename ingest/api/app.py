"""The analytics API: the semantic layer's metrics over HTTP, read-only, JSON (CSV on
request), OpenAPI at /docs.

    GET  /v1/metrics                      the metrics, with descriptions
    GET  /v1/dimensions                   the dimensions and time grains to group and filter by
    POST /v1/query                        metrics by dimensions at a grain (typed JSON body)
    GET  /v1/query?metrics=...            the same as query parameters
    GET  /v1/orders/{transaction_no}      one order's lines, their Silver status and source events
    GET  /v1/health                       last Gold build, newest outbox commit in Gold, lag;
                                          on Databricks with Event Hubs, Bronze's lag too
    GET  /v1/quality?runs=N               the data-quality record of the last Silver runs
    GET  /healthz                         liveness, no key needed

Results are cached until the next Gold build (the backend's version changes).
"""

import contextlib
from collections.abc import Callable

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError

from ingest.api import guards
from ingest.api.auth import KeyRing, RateLimiter
from ingest.api.cache import Cache
from ingest.api.config import ApiConfig
from ingest.api.dependencies import ApiError, Services
from ingest.api.routers import health, metrics, orders, quality
from ingest.databricks import eventhubs_lag
from ingest.semantic import SemanticLayer


def bronze_lag_reader(config: ApiConfig, backend) -> Callable[[], eventhubs_lag.LagReport]:
    """Bronze's lag as the API measures it: Bronze's next offset per partition from the Bronze
    table through the backend (the topic a bind parameter), the event hub's partitions through
    Event Hubs' SDK (a client per measurement, few retries: health must answer)."""
    settings = config.eventhubs
    table = (
        eventhubs_lag.quote_table(settings.bronze_table)
        if settings.bronze_table
        else backend.relation("bronze", "sales_transactions")
    )
    sql = eventhubs_lag.positions_sql(table, backend.placeholder("topic"))

    def read() -> eventhubs_lag.LagReport:
        result = backend.run(sql, {"topic": settings.eventhub_name}, 100_000, settings.timeout_s)
        return eventhubs_lag.read_lag(
            settings.connection_string,
            settings.eventhub_name,
            eventhubs_lag.positions_from_rows(result.rows),
            consumer_group=settings.consumer_group,
            client_options={"retry_total": 1, "auth_timeout": max(1, int(settings.timeout_s))},
        )

    return read


def create_app(
    config: ApiConfig,
    layer: SemanticLayer,
    backend,
    lag_reader: Callable[[], eventhubs_lag.LagReport] | None = None,
) -> FastAPI:
    """The app. On Databricks with `config.eventhubs`, /v1/health reports Bronze's lag, read by
    `lag_reader` (default: `bronze_lag_reader`; tests give a fake one)."""
    config.check()
    lag = None
    if config.engine == "databricks" and config.eventhubs is not None:
        lag = eventhubs_lag.LagMonitor(
            lag_reader or bronze_lag_reader(config, backend),
            ttl_s=config.eventhubs.ttl_s,
            timeout_s=config.eventhubs.timeout_s,
            secrets=[config.eventhubs.connection_string],
        )
    keys = KeyRing(config.keys)
    services = Services(
        config, layer, backend, keys, RateLimiter(config.per_minute), Cache(config.cache_bytes), lag
    )

    @contextlib.asynccontextmanager
    async def lifespan(_app):
        yield
        if hasattr(backend, "close"):  # the backend's connections end with the server
            backend.close()

    app = FastAPI(
        lifespan=lifespan,
        title="Orders lakehouse analytics API",
        version="1",
        description="Metrics defined once in the dbt semantic layer, compiled by MetricFlow; "
        "read-only. Send the key as `X-API-Key` (or `Authorization: Bearer`).",
    )
    app.state.services = services
    app.state.cache = services.cache
    app.add_middleware(
        guards.Guard,
        keys=keys,
        max_body_bytes=config.max_body_bytes,
        failed_keys=guards.FailedKeys(config.auth_failures, config.auth_window_s, config.auth_addresses),
        docs_paths=(app.docs_url, app.redoc_url, app.swagger_ui_oauth2_redirect_url),
    )

    @app.exception_handler(ApiError)
    async def api_error(request: Request, exc: ApiError):
        return guards.error_response(exc.status, exc.detail, exc.headers)

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError):
        parts = []
        for err in exc.errors():
            where = ".".join(str(p) for p in err.get("loc", ()) if p != "body")
            parts.append(f"{where}: {err.get('msg')}")
        return guards.error_response(422, "; ".join(parts) or "invalid request")

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception):  # only if the Guard itself failed
        return guards.error_response(500, guards.INTERNAL_ERROR)

    @app.get("/healthz", include_in_schema=False)
    def healthz() -> dict:
        return {"status": "ok"}

    for router in (metrics.router, orders.router, health.router, quality.router):
        app.include_router(router)
    return app
