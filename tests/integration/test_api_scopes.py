"""A key's scope holds on every endpoint of the analytics API (issue 20, failure 3), on a real
(small) Gold warehouse: a key limited to some metrics reaches nothing else (order lines, the
quality record, identifier dimensions whose number of groups is another metric, metadata), and a
row-scoped key sees only its countries' rows everywhere (metrics, CSV, order lookup, health),
whatever filters it adds. Expectations are computed here from the warehouse's own tables."""

from __future__ import annotations

import json

import duckdb
import pytest
from fastapi.testclient import TestClient

from ingest.api.auth import hash_key, parse_keys
from ingest.api.config import ApiConfig
from ingest.api.server import build
from ingest.paths import DataDir

from . import api_warehouse

pytestmark = pytest.mark.integration

FULL, REVENUE, ROWS, ROWS_ORDERS = (
    "k-full-scopes-0123456789",
    "k-revenue-scopes-0123456789",
    "k-rows-scopes-0123456789",
    "k-rows-orders-scopes-0123456789",
)
MINE = ("France", "Germany")  # the row-scoped keys' countries; United Kingdom, EIRE, Spain are not
KEYS = [
    {"name": "full", "sha256": hash_key(FULL)},
    {"name": "revenue", "sha256": hash_key(REVENUE), "metrics": ["net_revenue"]},
    {"name": "rows", "sha256": hash_key(ROWS), "rows": {"country__country_name": list(MINE)}},
    {
        "name": "rows-orders",
        "sha256": hash_key(ROWS_ORDERS),
        "metrics": ["net_revenue", "orders", "lines"],
        "scopes": ["orders:read"],
        "rows": {"country__country_name": list(MINE)},
    },
]


@pytest.fixture(scope="module")
def warehouse(data_root):
    return api_warehouse.build(DataDir(data_root))


@pytest.fixture(scope="module")
def gold(warehouse):
    with duckdb.connect(str(warehouse), read_only=True) as con:
        yield con


@pytest.fixture(scope="module")
def api(warehouse):
    config = ApiConfig(
        warehouse=warehouse,
        semantic_manifest=api_warehouse.SEMANTIC_MANIFEST,
        keys=parse_keys(json.dumps(KEYS)),
        per_minute=100_000,
    )
    return TestClient(build(config))


def post(api, key: str, **body):
    return api.post("/v1/query", json=body, headers={"X-API-Key": key})


def get(api, key: str, path: str, **params):
    return api.get(path, params=params, headers={"X-API-Key": key})


def ok(response) -> dict:
    assert response.status_code == 200, response.text
    return response.json()


def one(gold, sql: str, *params):
    return gold.execute(sql, list(params)).fetchone()


LINES_WITH_COUNTRY = """
from gold.fct_sales_lines as sales
inner join gold.dim_country as country on sales.country_key = country.country_key
"""
IN_MINE = "country.country_name in ('France', 'Germany')"


def order_of(gold, country: str) -> str:
    """A sale order whose lines are all in `country` (from Silver, as the lookup reads it)."""
    return one(
        gold,
        "select transaction_no from silver.stg_bronze__order_lines_checked group by transaction_no "
        "having min(source_country) = ? and max(source_country) = ? and transaction_no not like 'C%' "
        "order by transaction_no limit 1",
        country,
        country,
    )[0]


# ---------------------------------------------------------------------------- metric-limited keys
def test_the_issues_probe_no_longer_reveals_the_number_of_orders(api, gold):
    """net_revenue grouped by transaction number, limit 1: `total` was the orders metric."""
    orders = one(gold, "select count(distinct transaction_no) from gold.fct_sales_lines")[0]
    probe = post(api, REVENUE, metrics=["net_revenue"], group_by=["sales_line__transaction_no"], limit=1)
    assert probe.status_code == 403, probe.text
    assert "sales_line__transaction_no" in probe.json()["detail"]
    assert str(orders) not in probe.text
    by_get = get(
        api, REVENUE, "/v1/query", metrics="net_revenue", group_by="sales_line__transaction_no", limit=1
    )
    assert by_get.status_code == 403, by_get.text


@pytest.mark.parametrize(
    "body",
    [
        pytest.param({"group_by": ["customer__customer_no"]}, id="group-by-customer"),
        pytest.param(
            {"filters": [{"dimension": "sales_line__transaction_no", "op": "eq", "values": ["577001"]}]},
            id="filter-one-order",
        ),
        pytest.param(
            {"filters": [{"dimension": "customer__customer_no", "op": "ne", "values": ["x"]}]},
            id="filter-customers",
        ),
    ],
)
def test_identifier_dimensions_are_closed_to_a_key_without_the_metric_they_count(api, body):
    response = post(api, REVENUE, metrics=["net_revenue"], format="csv", **body)
    assert response.status_code == 403, response.text


def test_a_metric_limited_key_still_groups_by_ordinary_dimensions(api, gold):
    expected = one(gold, f"select count(distinct country.country_name) {LINES_WITH_COUNTRY}")[0]
    answer = ok(post(api, REVENUE, metrics=["net_revenue"], group_by=["country__country_name"]))
    assert answer["total"] == expected


def test_a_full_key_may_group_by_transaction_number(api, gold):
    orders = one(gold, "select count(distinct transaction_no) from gold.fct_sales_lines")[0]
    answer = ok(post(api, FULL, metrics=["net_revenue"], group_by=["sales_line__transaction_no"], limit=1))
    assert answer["total"] == orders


def test_order_lookup_needs_the_orders_read_scope(api):
    refused = get(api, REVENUE, "/v1/orders/577001")
    assert refused.status_code == 403, refused.text
    assert "orders:read" in refused.json()["detail"]
    assert ok(get(api, FULL, "/v1/orders/577001"))["lines"]


def test_quality_needs_the_quality_read_scope_which_a_row_scoped_key_never_has(api):
    for key in (REVENUE, ROWS, ROWS_ORDERS):
        refused = get(api, key, "/v1/quality", runs=1)
        assert refused.status_code == 403, (key, refused.text)
    assert ok(get(api, FULL, "/v1/quality", runs=1))["runs"]


def test_metadata_lists_only_what_the_key_may_use(api):
    metrics = [m["name"] for m in ok(get(api, REVENUE, "/v1/metrics"))]
    assert metrics == ["net_revenue"]
    dimensions = {d["name"] for d in ok(get(api, REVENUE, "/v1/dimensions"))["dimensions"]}
    assert "country__country_name" in dimensions
    assert "sales_line__transaction_no" not in dimensions
    assert "customer__customer_no" not in dimensions
    every = {d["name"] for d in ok(get(api, FULL, "/v1/dimensions"))["dimensions"]}
    assert {"sales_line__transaction_no", "customer__customer_no"} <= every


def test_health_hides_the_line_count_from_a_key_that_may_not_read_lines(api, gold):
    health = ok(get(api, REVENUE, "/v1/health"))
    assert health["gold_lines"] is None
    assert health["gold_built_at"]
    assert (
        ok(get(api, FULL, "/v1/health"))["gold_lines"]
        == one(gold, "select count(*) from gold.fct_sales_lines")[0]
    )


# ---------------------------------------------------------------------------- row-scoped keys
INDEPENDENT = f"""
select
    strftime(sales.sale_date, '%Y-%m-01') as month,
    country.country_name,
    sum(sales.net_amount),
    count(distinct case when sales.line_class = 'sale' then sales.transaction_no end),
    count(distinct case when sales.line_class in ('sale', 'return') then sales.customer_key end),
    count(*)
{LINES_WITH_COUNTRY}
where {IN_MINE}
group by all
"""
ROW_METRICS = ["net_revenue", "orders", "distinct_customers", "lines"]


def test_a_row_scoped_keys_metrics_equal_sql_over_its_rows_only(api, gold):
    expected = {(month, country): values for month, country, *values in gold.execute(INDEPENDENT).fetchall()}
    answer = ok(post(api, ROWS, metrics=ROW_METRICS, group_by=["country__country_name"], grain="month"))
    got = {
        (row["metric_time__month"], row["country__country_name"]): [row[m] for m in ROW_METRICS]
        for row in answer["rows"]
    }
    assert set(got) == set(expected)
    assert answer["total"] == len(expected) >= 6
    for cell, values in expected.items():
        assert got[cell] == pytest.approx([float(v) for v in values]), cell
    totals = ok(post(api, ROWS, metrics=ROW_METRICS))["rows"][0]
    whole = one(
        gold,
        "select sum(sales.net_amount), count(distinct case when sales.line_class = 'sale' then "
        "sales.transaction_no end), count(distinct case when sales.line_class in ('sale', 'return') "
        f"then sales.customer_key end), count(*) {LINES_WITH_COUNTRY} where {IN_MINE}",
    )
    assert [totals[m] for m in ROW_METRICS] == pytest.approx([float(v) for v in whole])
    everyone = ok(post(api, FULL, metrics=["lines"]))["rows"][0]["lines"]
    assert totals["lines"] < everyone


@pytest.mark.parametrize(
    ("filters", "countries"),
    [
        pytest.param(
            [{"dimension": "country__country_name", "op": "eq", "values": ["Spain"]}], set(), id="eq-other"
        ),
        pytest.param(
            [
                {
                    "dimension": "country__country_name",
                    "op": "in",
                    "values": ["France", "Spain", "United Kingdom"],
                }
            ],
            {"France"},
            id="in-mixed",
        ),
        pytest.param(
            [{"dimension": "country__country_name", "op": "ne", "values": ["France"]}], {"Germany"}, id="ne"
        ),
        pytest.param(
            [{"dimension": "country__country_name", "op": "not_in", "values": ["Nowhere"]}],
            set(MINE),
            id="not-in",
        ),
        pytest.param(
            [{"dimension": "country__region", "op": "eq", "values": ["Europe"]}], set(MINE), id="region"
        ),
    ],
)
def test_a_row_scoped_key_cannot_widen_its_rows_with_its_own_filters(api, gold, filters, countries):
    answer = ok(
        post(api, ROWS, metrics=["net_revenue", "lines"], group_by=["country__country_name"], filters=filters)
    )
    assert {row["country__country_name"] for row in answer["rows"]} == countries
    for row in answer["rows"]:
        expected = one(
            gold,
            f"select sum(sales.net_amount), count(*) {LINES_WITH_COUNTRY} where country.country_name = ?",
            row["country__country_name"],
        )
        assert [row["net_revenue"], row["lines"]] == pytest.approx([float(v) for v in expected])


def test_a_row_scoped_keys_csv_holds_only_its_rows(api, gold):
    response = get(
        api, ROWS, "/v1/query", metrics="net_revenue", group_by="country__country_name", format="csv"
    )
    assert response.status_code == 200, response.text
    header, *lines = response.text.strip().splitlines()
    assert header == "country__country_name,net_revenue"
    assert sorted(line.split(",")[0] for line in lines) == sorted(MINE)
    assert response.headers["x-total-count"] == "2"
    accept = api.post(
        "/v1/query",
        json={"metrics": ["lines"], "group_by": ["country__country_name"]},
        headers={"X-API-Key": ROWS, "Accept": "text/csv"},
    )
    assert sorted(line.split(",")[0] for line in accept.text.strip().splitlines()[1:]) == sorted(MINE)


def test_a_row_scoped_key_looks_up_its_orders_and_others_are_404_like_missing_ones(api, gold):
    french, british = order_of(gold, "France"), order_of(gold, "United Kingdom")
    mine = ok(get(api, ROWS_ORDERS, f"/v1/orders/{french}"))
    assert mine["lines"] and {line["country"] for line in mine["lines"]} == {"France"}
    assert ok(get(api, FULL, f"/v1/orders/{british}"))["lines"]  # cached for the full key first
    other = get(api, ROWS_ORDERS, f"/v1/orders/{british}")
    missing = get(api, ROWS_ORDERS, "/v1/orders/999999999")
    assert (other.status_code, missing.status_code) == (404, 404), other.text
    assert other.json()["detail"].replace(british, "N") == missing.json()["detail"].replace("999999999", "N")
    assert get(api, ROWS, "/v1/orders/577001").status_code == 404  # the traced order is British


def test_a_row_scoped_keys_health_counts_only_its_rows(api, gold):
    lines, newest = one(
        gold, f"select count(*), max(sales.source_event_at) {LINES_WITH_COUNTRY} where {IN_MINE}"
    )
    health = ok(get(api, ROWS, "/v1/health"))
    assert health["gold_lines"] == lines
    assert health["gold_lines"] < one(gold, "select count(*) from gold.fct_sales_lines")[0]
    assert health["newest_source_event_at"].startswith(newest.isoformat()[:19])


def test_answers_cached_for_one_scope_are_never_served_to_another(api, gold):
    question = {"metrics": ["lines"], "group_by": ["country__country_name"], "grain": "year"}
    everyone = ok(post(api, FULL, **question))
    assert len({row["country__country_name"] for row in everyone["rows"]}) > 2
    scoped = ok(post(api, ROWS, **question))
    assert {row["country__country_name"] for row in scoped["rows"]} == set(MINE)
    assert scoped["cached"] is False
    health_full = ok(get(api, FULL, "/v1/health"))["gold_lines"]
    assert ok(get(api, ROWS_ORDERS, "/v1/health"))["gold_lines"] < health_full
