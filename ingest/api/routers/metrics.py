"""/v1/metrics, /v1/dimensions and /v1/query: the semantic layer's metrics."""

import json
from datetime import date
from typing import Annotated, Literal

from fastapi import APIRouter, Header, Query
from fastapi.responses import Response

from ingest.api import access, lookups
from ingest.api.access import ApiKey
from ingest.api.dependencies import ApiError, App, Caller, Services
from ingest.api.rendering import encode_answer, render_page
from ingest.api.schemas import (
    ERRORS,
    DimensionOut,
    DimensionsOut,
    FilterIn,
    Grain,
    MetricOut,
    QueryIn,
    QueryOut,
)
from ingest.semantic import FILTER_OPS, GRAINS, Filter, MetricQuery, QueryError

router = APIRouter()


@router.get("/v1/metrics", response_model=list[MetricOut], responses=ERRORS, summary="List the metrics")
def list_metrics(key: Caller, app: App):
    return [MetricOut(**m.__dict__) for m in app.layer.metrics.values() if access.may_read(key, m.name)]


@router.get("/v1/dimensions", response_model=DimensionsOut, responses=ERRORS, summary="List the dimensions")
def list_dimensions(key: Caller, app: App):
    return DimensionsOut(
        dimensions=[
            DimensionOut(**d.__dict__)
            for d in app.layer.dimensions.values()
            if access.may_use_dimension(key, d.name)
        ],
        grains=list(GRAINS),
        filter_ops=list(FILTER_OPS),
    )


def answer(app: Services, body: QueryIn, key: ApiKey | None, accept: str | None):
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
    current = app.version()
    as_csv = body.format == "csv" or (accept or "").startswith("text/csv")
    cache_key = f"{'csv' if as_csv else 'json'}|{query.key()}"  # the cache keeps a digest of it
    hit = app.cache.get(current, cache_key)
    cached = hit is not None
    if hit is None:
        try:
            compiled = app.layer.compile(query)
        except QueryError as exc:
            raise ApiError(400, str(exc)) from None
        result = app.run(compiled.sql, compiled.params, app.config.row_cap)
        hit = encode_answer(result.columns, result.rows, lookups.jsonable(app.backend.built_at()), as_csv)
        del result  # the rows as Python objects go now; only their encoding may be kept
        app.cache.put(current, cache_key, hit, hit.nbytes)
    content, media_type, headers = render_page(hit, body.offset, body.limit, as_csv, cached)
    return Response(content, media_type=media_type, headers=headers)


@router.post(
    "/v1/query",
    response_model=QueryOut,
    responses={**ERRORS, 200: {"content": {"text/csv": {}}}},
    summary="Query metrics (JSON body)",
)
def query_post(body: QueryIn, key: Caller, app: App, accept: Annotated[str | None, Header()] = None):
    return answer(app, body, key, accept)


@router.get(
    "/v1/query",
    response_model=QueryOut,
    responses={**ERRORS, 200: {"content": {"text/csv": {}}}},
    summary="Query metrics (query parameters)",
)
def query_get(
    key: Caller,
    app: App,
    metrics: Annotated[str, Query(max_length=1000, description="Comma-separated metric names.")],
    group_by: Annotated[str, Query(max_length=1000, description="Comma-separated dimensions.")] = "",
    grain: Annotated[Grain | None, Query()] = None,
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
    return answer(app, body, key, accept)


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
