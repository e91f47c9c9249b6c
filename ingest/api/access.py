"""What a key may reach, defined once for every endpoint of the analytics API (issue 20).

A key (ingest/api/auth.py) has three limits, all optional:

- `metrics`: the metrics it may query (absent: every metric). `/v1/metrics` lists only these.
- `scopes`: what it may read besides metrics (absent: every scope for a key without a metric
  list, none for a key with one):
    `orders:read`   GET /v1/orders/{TransactionNo}: one order's lines (customer, quantity,
                    price, amount), row scopes applied;
    `quality:read`  GET /v1/quality: Silver's data-quality record. The record counts every
                    line of every run and cannot be split by country, so a key with a row
                    scope may not have it.
- `rows`: a row scope, as Cube's security context or Databricks' row filters: the values of a
  country dimension the key may see, e.g. `{"country__region": ["Europe"]}` or
  `{"country__country_name": ["France", "Germany"]}` (several dimensions: all must hold). It is
  a filter bound into every query the key runs (metrics, CSV, order lookup, health), ANDed with
  the caller's own filters; an order outside it is 404, as a missing one.

Identifier dimensions, whose groups are the things a metric counts, are closed to keys that may
not read that metric: the number of groups (`total`) of any query grouped by
`sales_line__transaction_no` is the `orders` metric, by `customer__customer_no` the number of
customers. A key may group or filter by one only when it may read the metric it reveals; it is
not listed in that key's `/v1/dimensions`.

`/v1/health` answers every key, from its rows only; `gold_lines` (the `lines` metric) is null
for a key that may not read `lines`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

ORDERS_READ = "orders:read"
QUALITY_READ = "quality:read"
SCOPES = (ORDERS_READ, QUALITY_READ)

# The dimensions a row scope may limit, and dim_country's column each is (fixed names: no
# configured or requested text ever becomes SQL).
ROW_DIMENSIONS = {
    "country__country_name": "country_name",
    "country__region": "region",
    "country__iso_code": "iso_code",
}
MAX_ROW_VALUES = 100

# Identifier dimensions and the metric whose value their number of groups is.
IDENTIFIERS = {
    "sales_line__transaction_no": "orders",
    "customer__customer_no": "distinct_customers",
}


@dataclass(frozen=True)
class ApiKey:
    name: str
    sha256: str
    metrics: frozenset[str] | None = None  # None: every metric
    per_minute: int | None = None
    scopes: frozenset[str] | None = None  # None: access.scopes' default
    rows: tuple[tuple[str, tuple[str, ...]], ...] = ()  # row scope: (dimension, values) pairs

    def may_read(self, metric: str) -> bool:
        return may_read(self, metric)


class Denied(Exception):
    """The key may not do this; the message says what (403)."""


def may_read(key: ApiKey | None, metric: str) -> bool:
    return key is None or key.metrics is None or metric in key.metrics


def scopes(key: ApiKey | None) -> frozenset[str]:
    """The scopes a key has: those configured, else all (no metric list) or none (a metric list);
    never quality:read with a row scope."""
    if key is None:
        return frozenset(SCOPES)
    if key.scopes is not None:
        granted = key.scopes
    else:
        granted = frozenset(SCOPES) if key.metrics is None else frozenset()
    if key.rows:
        granted = granted - {QUALITY_READ}
    return granted


def require(key: ApiKey | None, scope: str) -> None:
    if scope not in scopes(key):
        raise Denied(f"this key may not read {_what(scope)} (scope {scope})")


def _what(scope: str) -> str:
    return {ORDERS_READ: "order lines", QUALITY_READ: "the data-quality record"}[scope]


def may_use_dimension(key: ApiKey | None, dimension: str) -> bool:
    revealed = IDENTIFIERS.get(dimension)
    return revealed is None or may_read(key, revealed)


def check_query(key: ApiKey | None, metrics, group_by, filter_dimensions) -> None:
    """Denied when the query names a metric the key may not read, or groups or filters by an
    identifier whose groups are a metric it may not read."""
    denied = [m for m in metrics if not may_read(key, m)]
    if denied:
        raise Denied(f"this key may not read {', '.join(denied)}")
    for dimension in (*group_by, *filter_dimensions):
        if not may_use_dimension(key, dimension):
            raise Denied(
                f"this key may not group or filter by {dimension}: its groups are the "
                f"{IDENTIFIERS[dimension]} metric, which this key may not read"
            )


def row_scope(key: ApiKey | None) -> tuple[tuple[str, tuple[str, ...]], ...]:
    """(dimension, values) pairs every query of the key is limited to; () for none."""
    return () if key is None else key.rows


def row_scope_key(key: ApiKey | None) -> str:
    """The row scope as text for cache keys: answers for different scopes never mix."""
    return json.dumps(row_scope(key))


def row_scope_sql(rows, column_of, placeholder) -> tuple[list[str], dict[str, object]]:
    """SQL conditions and their bind parameters for a row scope on a relation of dim_country's
    columns: `column_of(column)` gives the qualified column, `placeholder(name)` the engine's
    bind parameter. The values are only ever bound."""
    conditions: list[str] = []
    params: dict[str, object] = {}
    for dimension, values in rows:
        names = []
        for value in values:
            name = f"row_scope_{len(params)}"
            params[name] = value
            names.append(placeholder(name))
        conditions.append(f"{column_of(ROW_DIMENSIONS[dimension])} in ({', '.join(names)})")
    return conditions, params


def parse_rows(name: str, rows) -> tuple[tuple[str, tuple[str, ...]], ...]:
    """A key entry's `rows` as (dimension, values) pairs; ValueError says what is wrong."""
    if rows is None:
        return ()
    if not isinstance(rows, dict) or not rows:
        raise ValueError(
            f"entry {name!r}: rows must be an object of dimension to value(s), "
            'e.g. {"country__region": ["Europe"]}'
        )
    parsed = []
    for dimension, values in sorted(rows.items()):
        if dimension not in ROW_DIMENSIONS:
            raise ValueError(f"entry {name!r}: rows may limit {', '.join(ROW_DIMENSIONS)}, not {dimension!r}")
        if isinstance(values, str):
            values = [values]
        if (
            not isinstance(values, list)
            or not values
            or len(values) > MAX_ROW_VALUES
            or not all(isinstance(v, str) and v.strip() for v in values)
        ):
            raise ValueError(
                f"entry {name!r}: rows {dimension} must be a name or a list of 1 to "
                f"{MAX_ROW_VALUES} non-empty names"
            )
        parsed.append((dimension, tuple(dict.fromkeys(values))))
    return tuple(parsed)


def parse_scopes(name: str, value, rows) -> frozenset[str] | None:
    if value is None:
        return None
    if not isinstance(value, list) or not all(isinstance(s, str) for s in value):
        raise ValueError(f"entry {name!r}: scopes must be a list of {', '.join(SCOPES)}")
    unknown = [s for s in value if s not in SCOPES]
    if unknown:
        raise ValueError(f"entry {name!r}: unknown scope {unknown[0]!r}; known: {', '.join(SCOPES)}")
    if rows and QUALITY_READ in value:
        raise ValueError(
            f"entry {name!r}: {QUALITY_READ} counts every line and cannot be limited by rows; "
            "a key with rows may not have it"
        )
    return frozenset(value)
