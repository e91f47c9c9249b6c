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
import csv
import io
import json
import math
from collections.abc import Callable
from datetime import UTC, date, datetime
from typing import Annotated, Any, Literal

from fastapi import Depends, FastAPI, Header, Path, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictStr, field_validator
from pydantic_core import to_json

from ingest import quality
from ingest.api import access, guards, lookups
from ingest.api.access import ApiKey
from ingest.api.auth import KeyRing, RateLimiter
from ingest.api.backends import NotReady, QueryTimeout, TooManyRows
from ingest.api.cache import Answer, Cache, encode_rows
from ingest.api.config import ApiConfig
from ingest.databricks import eventhubs_lag
from ingest.semantic import FILTER_OPS, GRAINS, Filter, MetricQuery, QueryError, SemanticLayer

NAME = r"^-?[a-z][a-z0-9_]{0,80}$"


class ApiError(Exception):
    def __init__(self, status: int, detail: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(detail)
        self.status, self.detail, self.headers = status, detail, headers or {}


# ---------------------------------------------------------------------------- schemas
class FilterIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    dimension: str = Field(pattern=NAME, description="A dimension from /v1/dimensions.")
    op: Literal["eq", "ne", "in", "not_in"] = "eq"
    values: list[StrictStr | StrictBool] = Field(
        min_length=1, max_length=100, description="Strings, or true/false for is_ dimensions."
    )

    @field_validator("values")
    @classmethod
    def _encodable(cls, values: list) -> list:
        """A lone surrogate (JSON `"\\ud800"`) is no text any engine can bind: refused here."""
        for value in values:
            if isinstance(value, str):
                try:
                    value.encode("utf-8")
                except UnicodeEncodeError:
                    raise ValueError("a value that is not valid Unicode (a lone surrogate)") from None
        return values


class QueryIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    metrics: list[Annotated[str, Field(pattern=NAME)]] = Field(min_length=1, max_length=20)
    group_by: list[Annotated[str, Field(pattern=NAME)]] = Field(default_factory=list, max_length=10)
    grain: Literal["day", "week", "month", "quarter", "year", "fiscal_year"] | None = None
    start: date | None = Field(None, description="First day, inclusive (metric_time).")
    end: date | None = Field(None, description="Last day, inclusive (metric_time).")
    filters: list[FilterIn] = Field(default_factory=list, max_length=20)
    order_by: list[Annotated[str, Field(pattern=NAME)]] = Field(
        default_factory=list, max_length=10, description="Names of the query; '-' first for descending."
    )
    limit: int = Field(1000, ge=1, le=10_000)
    offset: int = Field(0, ge=0, le=10_000_000)
    format: Literal["json", "csv"] = "json"


class MetricOut(BaseModel):
    name: str
    label: str
    description: str
    type: str


class DimensionOut(BaseModel):
    name: str
    description: str
    value_type: Literal["string", "boolean"]


class DimensionsOut(BaseModel):
    dimensions: list[DimensionOut]
    grains: list[str]
    filter_ops: list[str]


class QueryOut(BaseModel):
    columns: list[str]
    rows: list[dict[str, Any]]
    total: int
    limit: int
    offset: int
    next_offset: int | None
    gold_built_at: str
    cached: bool


class BronzeOut(BaseModel):
    topic: str | None
    partition: int | None
    offset: int | None
    source_event_at: str | None
    batch_id: int | None
    ingested_at: str | None


class OrderLineOut(BaseModel):
    event_id: str | None
    product_no: str | None
    product_name: str | None
    sale_date: str | None
    quantity: int | None
    unit_price: float | None
    customer_no: str | None
    country: str | None
    is_return: bool | None
    status: Literal["counted", "excluded", "quarantined", "failed", "pending"]
    reason: str | None
    warnings: list[str]
    net_amount: float | None
    bronze: BronzeOut


class OrderOut(BaseModel):
    transaction_no: str
    lines: list[OrderLineOut]
    summary: dict[str, int]


class BronzeLagPartitionOut(BaseModel):
    partition_id: str
    events_behind: int
    seconds_behind: float
    next_offset: int | None = Field(description="Bronze's next Kafka offset; null: nothing landed yet.")
    beginning_sequence_number: int
    last_enqueued_sequence_number: int
    last_enqueued_time_utc: str | None
    is_empty: bool
    expired_unread: int = Field(
        description="Events that left Event Hubs' retention before Bronze landed them."
    )


class BronzeLagOut(BaseModel):
    """Bronze against Event Hubs (ingest/databricks/eventhubs_lag.py); numbers null with `error`."""

    eventhub_name: str | None
    measured_at: str | None
    events_behind: int | None = Field(
        description="Sum over partitions of last enqueued sequence number + 1 - Bronze's next offset."
    )
    seconds_behind: float | None = Field(
        description="Largest over partitions of now - the last enqueued event's time where behind; "
        "0 when caught up."
    )
    is_caught_up: bool | None
    expired_unread: int | None
    partitions: list[BronzeLagPartitionOut]
    error: str | None = Field(description="Why there is no measurement (Event Hubs or the table not read).")


class HealthOut(BaseModel):
    status: Literal["ok"]
    engine: str
    gold_built_at: str | None
    gold_age_seconds: float | None
    gold_lines: int | None = Field(
        description="Lines in Gold (within the key's row scope); null for a key that may not read `lines`."
    )
    newest_source_event_at: str | None
    newest_bronze_ingested_at: str | None
    source_lag_seconds: float | None = Field(
        description="Now minus the newest outbox commit (Kafka record time) in Gold."
    )
    bronze_lag: BronzeLagOut | None = Field(
        None,
        description="Bronze's lag against Event Hubs, measured with Event Hubs' SDK: on Databricks with "
        "an Event Hubs connection string only; null otherwise (the local DuckDB backend).",
    )


class QualityRunOut(BaseModel):
    """One Silver run of the data-quality record (silver.int_data_quality_runs, docs/silver.md)."""

    run_id: str
    run_at: str
    bronze_events: int
    checked_lines: int
    new_checked_lines: int
    trusted_lines: int
    quarantined_lines: int
    failed_lines: int
    gold_lines: int = Field(description="Trusted lines the business counts: Gold's fact from its next build.")
    excluded_lines: int
    duplicates_removed: int
    unaccounted_events: int
    late_events: int
    is_balanced: bool
    newest_bronze_ingested_at: str | None
    newest_source_event_at: str | None
    bronze_age_seconds: int | None
    source_age_seconds: int | None
    quarantined_by_rule: dict[str, int]
    failed_by_rule: dict[str, int]
    excluded_by_reason: dict[str, int]


class QualityOut(BaseModel):
    runs: list[QualityRunOut] = Field(description="Newest first.")


class ErrorOut(BaseModel):
    detail: str


ERRORS = {code: {"model": ErrorOut} for code in (400, 401, 403, 404, 413, 422, 429, 500, 503)}


# ---------------------------------------------------------------------------- the app
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
    limiter = RateLimiter(config.per_minute)
    cache = Cache(config.cache_bytes)

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
    app.state.cache = cache
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

    def caller(
        request: Request,
        x_api_key: Annotated[str | None, Header(max_length=200)] = None,  # documented here,
        authorization: Annotated[str | None, Header(max_length=220)] = None,  # checked by the Guard
    ) -> ApiKey | None:
        if keys.open:
            key, name, per_minute = None, "local", None
        else:
            key = guards.caller_key(request)
            if key is None:  # only a route outside the Guard's /v1/ would get here
                raise ApiError(401, guards.MISSING_KEY, guards.CHALLENGE)
            name, per_minute = key.name, key.per_minute
        wait = limiter.take(name, per_minute)
        if wait > 0:
            raise ApiError(
                429,
                f"rate limit reached for {name}; retry in {wait:.1f} s",
                {"Retry-After": str(math.ceil(wait))},
            )
        return key

    Caller = Annotated[ApiKey | None, Depends(caller)]

    def allowed(scope: str) -> Callable[..., ApiKey | None]:
        """A dependency: the caller, who must have `scope` (ingest/api/access.py), else 403."""

        def check(key: Caller) -> ApiKey | None:
            try:
                access.require(key, scope)
            except access.Denied as exc:
                raise ApiError(403, str(exc)) from None
            return key

        return check

    def version() -> str:
        try:
            return backend.version()
        except NotReady as exc:
            raise ApiError(503, str(exc), {"Retry-After": "10"}) from None

    def run(sql: str, params: dict, max_rows: int):
        try:
            return backend.run(sql, params, max_rows, config.timeout_s)
        except NotReady as exc:
            raise ApiError(503, str(exc), {"Retry-After": "10"}) from None
        except QueryTimeout as exc:
            raise ApiError(
                503, f"{exc}; ask for less (filters, a coarser grain)", {"Retry-After": "5"}
            ) from None
        except TooManyRows as exc:
            raise ApiError(
                422, f"{exc} (the cap is {max_rows:,}): add filters, fewer dimensions or a coarser grain"
            ) from None

    @app.get("/healthz", include_in_schema=False)
    def healthz() -> dict:
        return {"status": "ok"}

    @app.get("/v1/metrics", response_model=list[MetricOut], responses=ERRORS, summary="List the metrics")
    def list_metrics(key: Caller):
        return [MetricOut(**m.__dict__) for m in layer.metrics.values() if access.may_read(key, m.name)]

    @app.get("/v1/dimensions", response_model=DimensionsOut, responses=ERRORS, summary="List the dimensions")
    def list_dimensions(key: Caller):
        return DimensionsOut(
            dimensions=[
                DimensionOut(**d.__dict__)
                for d in layer.dimensions.values()
                if access.may_use_dimension(key, d.name)
            ],
            grains=list(GRAINS),
            filter_ops=list(FILTER_OPS),
        )

    def answer(body: QueryIn, key: ApiKey | None, accept: str | None):
        try:
            access.check_query(key, body.metrics, body.group_by, [f.dimension for f in body.filters])
        except access.Denied as exc:
            raise ApiError(403, str(exc)) from None
        # the key's row scope: bound filters ANDed with the caller's own (and part of the cache key)
        rows = tuple(Filter(dimension, "in", values) for dimension, values in access.row_scope(key))
        query = MetricQuery(
            metrics=tuple(body.metrics),
            group_by=tuple(body.group_by),
            grain=body.grain,
            start=body.start,
            end=body.end,
            filters=tuple(Filter(f.dimension, f.op, tuple(f.values)) for f in body.filters) + rows,
            order_by=tuple(body.order_by) or _default_order(body),
        )
        current = version()
        as_csv = body.format == "csv" or (accept or "").startswith("text/csv")
        cache_key = f"{'csv' if as_csv else 'json'}|{query.key()}"  # the cache keeps a digest of it
        hit = cache.get(current, cache_key)
        cached = hit is not None
        if hit is None:
            try:
                compiled = layer.compile(query)
            except QueryError as exc:
                raise ApiError(400, str(exc)) from None
            result = run(compiled.sql, compiled.params, config.row_cap)
            hit = encode_answer(result.columns, result.rows, lookups.jsonable(backend.built_at()), as_csv)
            del result  # the rows as Python objects go now; only their encoding may be kept
            cache.put(current, cache_key, hit, hit.nbytes)
        content, media_type, headers = render_page(hit, body.offset, body.limit, as_csv, cached)
        return Response(content, media_type=media_type, headers=headers)

    @app.post(
        "/v1/query",
        response_model=QueryOut,
        responses={**ERRORS, 200: {"content": {"text/csv": {}}}},
        summary="Query metrics (JSON body)",
    )
    def query_post(body: QueryIn, key: Caller, accept: Annotated[str | None, Header()] = None):
        return answer(body, key, accept)

    @app.get(
        "/v1/query",
        response_model=QueryOut,
        responses={**ERRORS, 200: {"content": {"text/csv": {}}}},
        summary="Query metrics (query parameters)",
    )
    def query_get(
        key: Caller,
        metrics: Annotated[str, Query(max_length=1000, description="Comma-separated metric names.")],
        group_by: Annotated[str, Query(max_length=1000, description="Comma-separated dimensions.")] = "",
        grain: Annotated[
            Literal["day", "week", "month", "quarter", "year", "fiscal_year"] | None, Query()
        ] = None,
        start: date | None = None,
        end: date | None = None,
        filter: Annotated[
            list[str] | None,
            Query(
                max_length=2000,
                description='dimension:op:JSON value(s), e.g. country__country_name:in:["France","Germany"] '
                "or sales_line__is_return:eq:false",
            ),
        ] = None,
        order_by: Annotated[str, Query(max_length=1000)] = "",
        limit: Annotated[int, Query(ge=1, le=10_000)] = 1000,
        offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
        format: Literal["json", "csv"] = "json",
        accept: Annotated[str | None, Header()] = None,
    ):
        try:
            body = QueryIn(
                metrics=_names(metrics),
                group_by=_names(group_by),
                grain=grain,
                start=start,
                end=end,
                filters=[_parse_filter(text) for text in filter or []],
                order_by=_names(order_by),
                limit=limit,
                offset=offset,
                format=format,
            )
        except ValueError as exc:
            raise ApiError(422, _first_error(exc)) from None
        return answer(body, key, accept)

    @app.get(
        "/v1/orders/{transaction_no}",
        response_model=OrderOut,
        responses=ERRORS,
        summary="Trace one order: its lines, their Silver status and source events",
    )
    def order(
        key: Annotated[ApiKey | None, Depends(allowed(access.ORDERS_READ))],
        transaction_no: Annotated[str, Path(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,39}$")],
    ):
        current = version()
        scope = access.row_scope(key)
        cache_key = f"order:{access.row_scope_key(key)}:{transaction_no}"
        hit = cache.get(current, cache_key)
        if hit is None:  # lines outside the key's row scope are not read: such an order is 404
            sql, params = lookups.order_lines_sql(backend, scope)
            result = run(sql, {**params, "transaction_no": transaction_no}, 5000)
            hit = lookups.order_trace(transaction_no, result.columns, result.rows)
            cache.put(current, cache_key, hit)
        if not hit["lines"]:
            raise ApiError(404, f"no order line with TransactionNo {transaction_no!r} in Silver")
        return hit

    @app.get("/v1/health", response_model=HealthOut, responses=ERRORS, summary="Freshness of Gold")
    def health(key: Caller):
        """Gold's last build and age, the newest source event in Gold and its age.

        `bronze_lag`: on Databricks, when the API's environment gives an Event Hubs connection
        string (EVENTHUBS_CONNECTION_STRING), Bronze's lag against the event hub, per partition
        and in total: events behind (last enqueued sequence number + 1 - Bronze's next Kafka
        offset, from the Bronze table), seconds behind (now - the last enqueued event's time where
        behind, else 0), caught up or not. Measured at most every LAKEHOUSE_API_LAG_TTL_S seconds
        (30); when Event Hubs or the table cannot be read, the numbers are null and `error` says
        why. Null on the local DuckDB backend and without a connection string."""
        current = version()
        cache_key = "health:" + access.row_scope_key(key)
        hit = cache.get(current, cache_key)
        if hit is None:  # over the key's row scope only
            sql, params = lookups.freshness_sql(backend, access.row_scope(key))
            result = run(sql, params, 1)
            hit = (dict(zip(result.columns, result.rows[0], strict=True)), backend.built_at())
            cache.put(current, cache_key, hit)
        row, built = hit
        now = datetime.now(UTC)

        def age(moment) -> float | None:
            if moment is None:
                return None
            if moment.tzinfo is None:
                moment = moment.replace(tzinfo=UTC)
            return round((now - moment).total_seconds(), 3)

        return HealthOut(
            status="ok",
            engine=backend.engine,
            gold_built_at=lookups.jsonable(built),
            gold_age_seconds=age(built),
            gold_lines=int(row["gold_lines"] or 0) if access.may_read(key, "lines") else None,
            newest_source_event_at=lookups.jsonable(row["newest_source_event_at"]),
            newest_bronze_ingested_at=lookups.jsonable(row["newest_bronze_ingested_at"]),
            source_lag_seconds=age(row["newest_source_event_at"]),
            bronze_lag=lag.current().as_json() if lag is not None else None,
        )

    @app.get(
        "/v1/quality",
        response_model=QualityOut,
        responses=ERRORS,
        summary="Data quality of the last Silver runs",
    )
    def quality_runs(
        key: Annotated[ApiKey | None, Depends(allowed(access.QUALITY_READ))],
        runs: Annotated[
            int, Query(ge=1, le=quality.MAX_RUNS, description="How many runs, newest first.")
        ] = 10,
    ):
        current = version()
        # Silver runs between two Gold builds do not change Databricks' version: at most a minute old
        cache_key = f"quality:{runs}:{datetime.now(UTC):%Y%m%d%H%M}"
        hit = cache.get(current, cache_key)
        if hit is None:
            result = run(quality.runs_sql(backend), {"runs": runs}, quality.MAX_ROWS)
            hit = [quality.as_json(r) for r in quality.runs_from_rows(result.columns, result.rows)]
            cache.put(current, cache_key, hit)
        return QualityOut(runs=hit)

    return app


# A text cell starting with one of these is a formula to Excel, Sheets and LibreOffice (OWASP CSV injection)
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def csv_cell(value):
    """A CSV cell a spreadsheet will not evaluate: text starting like a formula gets a leading
    single quote (OWASP's rule); numbers, negative ones included, stay numbers. The writer then
    quotes the cell if CSV needs it."""
    if isinstance(value, str) and value.startswith(FORMULA_START):
        return "'" + value
    return value


def encode_answer(columns, rows, built, as_csv: bool) -> Answer:
    """A whole result encoded once, as the cache keeps it: each row a JSON object (as QueryOut
    renders it) followed by ',', or a CSV line; the Python rows are not kept."""
    columns = tuple(columns)
    periods = [i for i, c in enumerate(columns) if c.startswith("metric_time__")]
    if as_csv:
        head = _csv_lines([columns]).encode()
        body, starts = encode_rows(_csv_rows(_row(row, periods) for row in rows))
    else:
        head = b""
        body, starts = encode_rows(
            to_json(dict(zip(columns, _row(row, periods), strict=True)), inf_nan_mode="null") + b","
            for row in rows
        )
    return Answer(columns=columns, head=head, body=body, starts=starts, built=built)


def render_page(
    answer: Answer, offset: int, limit: int, as_csv: bool, cached: bool
) -> tuple[bytes, str, dict]:
    """One page of an encoded result: a slice of its bytes (QueryOut's JSON, or CSV)."""
    if as_csv:
        content = b"".join([answer.head, answer.rows_slice(offset, limit)])
        return content, "text/csv; charset=utf-8", {"X-Total-Count": str(answer.rows)}
    total = answer.rows
    following = offset + limit
    tail = {
        "total": total,
        "limit": limit,
        "offset": offset,
        "next_offset": following if following < total else None,
        "gold_built_at": answer.built,
        "cached": cached,
    }
    content = b"".join(
        [
            b'{"columns":',
            to_json(list(answer.columns)),
            b',"rows":[',
            answer.rows_slice(offset, limit, trim=1),  # without the last row's ','
            b"],",
            to_json(tail)[1:],
        ]
    )
    return content, "application/json", {}


def _render_page(columns, rows, built, offset: int, limit: int, as_csv: bool) -> tuple[bytes, str, dict]:
    """One page of a result given as rows (as the cache serves it: `cached` true)."""
    return render_page(encode_answer(columns, rows, built, as_csv), offset, limit, as_csv, True)


def _csv_rows(rows):
    """Each row as a CSV line (bytes) ending in \n, every cell through `csv_cell` (see _csv_lines)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    for row in rows:
        writer.writerow([csv_cell(value) for value in row])
        line = out.getvalue()
        out.seek(0)
        out.truncate()
        yield (line[:-2] + "\n").encode()


def _csv_lines(rows) -> str:
    """Rows as CSV lines ending in \\n, every cell through `csv_cell`. The writer's terminator is
    \\r\\n so that it quotes a cell holding a bare \\r too (it quotes only the terminator's
    characters); each line then ends in \\n as before."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    lines = []
    for row in rows:
        writer.writerow([csv_cell(value) for value in row])
        lines.append(out.getvalue()[:-2])
        out.seek(0)
        out.truncate()
    return "\n".join(lines) + "\n"


def _row(values: tuple, periods: list[int]) -> tuple:
    """JSON values; a time period as the date it starts on (MetricFlow gives a timestamp)."""
    out = [lookups.jsonable(v) for v in values]
    for i in periods:
        if isinstance(values[i], datetime):
            out[i] = values[i].date().isoformat()
    return tuple(out)


def _default_order(body: QueryIn) -> tuple[str, ...]:
    """Pages need a stable order: time first, then the dimensions, ascending."""
    return (("metric_time",) if body.grain else ()) + tuple(body.group_by)


def _names(text: str) -> list[str]:
    return [name.strip() for name in text.split(",") if name.strip()]


def _parse_filter(text: str) -> FilterIn:
    parts = text.split(":", 2)
    if len(parts) != 3:
        raise ValueError(f"filter {text[:80]!r} must be dimension:op:JSON value")
    dimension, op, raw = parts
    try:
        value = json.loads(raw)
    except ValueError:
        raise ValueError(
            f'filter on {dimension[:80]}: the value must be JSON, e.g. "France" or true'
        ) from None
    values = value if isinstance(value, list) else [value]
    return FilterIn(dimension=dimension, op=op, values=values)


def _first_error(exc: ValueError) -> str:
    errors = getattr(exc, "errors", None)
    if callable(errors):
        first = errors()[0]
        where = ".".join(str(p) for p in first.get("loc", ()))
        return f"{where}: {first.get('msg')}" if where else str(first.get("msg"))
    return str(exc)
