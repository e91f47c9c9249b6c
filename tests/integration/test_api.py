"""The analytics API on a real (small) Gold warehouse: every metric equals an independent SQL
computation on gold.fct_sales_lines, bad requests get a 4xx that says what was wrong, keys,
rate limits and the cache behave, and the order lookup traces each line to its event."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import duckdb
import pytest
from fastapi.testclient import TestClient

from ingest.api.access import ApiKey
from ingest.api.auth import hash_key, parse_keys
from ingest.api.config import ApiConfig
from ingest.api.server import build
from ingest.local import serving
from ingest.paths import DataDir

from . import api_warehouse

pytestmark = pytest.mark.integration

KEY, LIMITED_KEY, SLOW_KEY = "k-full-0123456789", "k-limited-0123456789", "k-slow-0123456789"


@pytest.fixture(scope="module")
def warehouse(data_root):
    return api_warehouse.build(DataDir(data_root))


@pytest.fixture(scope="module")
def gold(warehouse):
    with duckdb.connect(str(warehouse), read_only=True) as con:
        yield con


def client(warehouse, **overrides) -> TestClient:
    config = ApiConfig(warehouse=warehouse, semantic_manifest=api_warehouse.SEMANTIC_MANIFEST, **overrides)
    return TestClient(build(config))


@pytest.fixture(scope="module")
def api(warehouse):
    return client(warehouse, per_minute=100_000)


def query(api, **body) -> dict:
    response = api.post("/v1/query", json=body)
    assert response.status_code == 200, response.text
    return response.json()


# ---------------------------------------------------------------------------- metrics equal SQL
INDEPENDENT = """
select
    strftime(sales.sale_date, '%Y-%m-01') as month,
    country.country_name,
    sum(sales.net_amount) as net_revenue,
    sum(sales.gross_amount) as gross_revenue,
    sum(sales.return_amount) as returns_value,
    sum(sales.return_amount) / nullif(sum(sales.gross_amount), 0) as return_rate,
    sum(case when sales.line_class = 'sale' then sales.quantity else 0 end) as units_sold,
    sum(case when sales.line_class = 'return' then -sales.quantity else 0 end) as units_returned,
    count(distinct case when sales.line_class = 'sale' then sales.transaction_no end) as orders,
    count(distinct case when sales.line_class in ('sale', 'return') then sales.customer_key end)
        as distinct_customers,
    sum(sales.gross_amount)
        / nullif(count(distinct case when sales.line_class = 'sale' then sales.transaction_no end), 0)
        as average_order_value,
    count(*) as lines,
    sum(sales.adjustments_and_fees_amount) as adjustments_and_fees
from gold.fct_sales_lines as sales
inner join gold.dim_country as country on sales.country_key = country.country_key
group by all
"""
METRICS = (
    "net_revenue",
    "gross_revenue",
    "returns_value",
    "return_rate",
    "units_sold",
    "units_returned",
    "orders",
    "distinct_customers",
    "average_order_value",
    "lines",
    "adjustments_and_fees",
)


def test_every_metric_by_month_and_country_equals_sql_on_the_fact(api, gold):
    expected = {
        (month, country): dict(zip(METRICS, values, strict=True))
        for month, country, *values in gold.execute(INDEPENDENT).fetchall()
    }
    answer = query(api, metrics=list(METRICS), group_by=["country__country_name"], grain="month")
    got = {(row["metric_time__month"], row["country__country_name"]): row for row in answer["rows"]}
    assert set(got) == set(expected)
    assert answer["total"] == len(expected) > 20
    for cell, values in expected.items():
        for metric, value in values.items():
            assert got[cell][metric] == pytest.approx(float(value) if value is not None else None), (
                cell,
                metric,
            )


def test_distinct_customers_per_month_is_not_the_sum_of_daily_counts(api):
    march = {"start": "2019-03-01", "end": "2019-03-31"}
    only_him = [{"dimension": "customer__customer_no", "op": "eq", "values": ["20001"]}]
    monthly = query(api, metrics=["distinct_customers"], grain="month", filters=only_him, **march)
    daily = query(api, metrics=["distinct_customers"], grain="day", filters=only_him, **march)
    assert [row["distinct_customers"] for row in monthly["rows"]] == [1]
    assert sum(row["distinct_customers"] for row in daily["rows"]) == 3


def test_ratios_are_ratios_of_sums_at_a_coarse_grain(api, gold):
    expected = gold.execute(
        "select sum(return_amount) / sum(gross_amount), sum(gross_amount) / count(distinct case when "
        "line_class = 'sale' then transaction_no end) from gold.fct_sales_lines where year(sale_date) = 2019"
    ).fetchone()
    row = query(api, metrics=["return_rate", "average_order_value"], grain="year")["rows"][0]
    assert row["metric_time__year"] == "2019-01-01"
    assert row["return_rate"] == pytest.approx(float(expected[0]))
    assert row["average_order_value"] == pytest.approx(float(expected[1]))


def test_fiscal_year_splits_at_april(api, gold):
    expected = dict(
        gold.execute(
            "select case when month(sale_date) >= 4 then year(sale_date) else year(sale_date) - 1 end, "
            "sum(net_amount) from gold.fct_sales_lines group by 1"
        ).fetchall()
    )
    rows = query(api, metrics=["net_revenue"], grain="fiscal_year")["rows"]
    assert {row["metric_time__fiscal_year"]: row["net_revenue"] for row in rows} == pytest.approx(
        {year: float(value) for year, value in expected.items()}
    )
    assert set(expected) == {2018, 2019}


def test_date_range_and_typed_filters(api, gold):
    expected = gold.execute(
        "select sum(sales.net_amount) from gold.fct_sales_lines as sales "
        "inner join gold.dim_country as country on sales.country_key = country.country_key "
        "where sales.sale_date between '2019-02-10' and '2019-05-20' "
        "and country.country_name in ('France', 'Germany') and not sales.is_return"
    ).fetchone()[0]
    filters = [
        {"dimension": "country__country_name", "op": "in", "values": ["France", "Germany"]},
        {"dimension": "sales_line__is_return", "op": "eq", "values": [False]},
    ]
    answer = query(api, metrics=["net_revenue"], start="2019-02-10", end="2019-05-20", filters=filters)
    assert answer["rows"][0]["net_revenue"] == pytest.approx(float(expected))


def test_get_form_equals_post_form_and_pages_add_up(api):
    posted = query(api, metrics=["net_revenue", "orders"], group_by=["country__country_name"], grain="month")
    pages, offset = [], 0
    while offset is not None:
        response = api.get(
            "/v1/query",
            params={
                "metrics": "net_revenue,orders",
                "group_by": "country__country_name",
                "grain": "month",
                "limit": 7,
                "offset": offset,
            },
        )
        assert response.status_code == 200, response.text
        page = response.json()
        assert page["total"] == posted["total"]
        pages += page["rows"]
        offset = page["next_offset"]
    assert pages == posted["rows"]


def test_csv_on_request(api):
    response = api.get(
        "/v1/query", params={"metrics": "net_revenue,orders", "grain": "quarter", "format": "csv"}
    )
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/csv")
    header, *rows = response.text.strip().splitlines()
    assert header == "metric_time__quarter,net_revenue,orders"
    assert len(rows) == int(response.headers["x-total-count"]) >= 2


def test_equals_the_demo_gold_report(api, warehouse, gold):
    from ingest.summary import collect_gold_report

    report = collect_gold_report(countries=3, data=DataDir(warehouse.parent.parent))
    rows = query(api, metrics=["net_revenue"], group_by=["country__country_name"], grain="month")["rows"]
    for (month, country), revenue in report.revenue.items():
        if country == "Other":
            continue
        match = [
            r for r in rows if r["metric_time__month"][:7] == month and r["country__country_name"] == country
        ]
        assert match and match[0]["net_revenue"] == pytest.approx(revenue), (month, country)
    # the report's totals are the semantic layer's (as the API's): both against the fact's own sums
    gross, returns, net, orders = gold.execute(
        "select sum(gross_amount), sum(return_amount), sum(net_amount),"
        " count(distinct case when line_class = 'sale' then transaction_no end) from gold.fct_sales_lines"
    ).fetchone()
    totals = query(api, metrics=["net_revenue", "orders", "return_rate"])["rows"][0]
    for answer in (
        totals,
        {"net_revenue": report.net_revenue, "orders": report.orders, "return_rate": report.return_rate},
    ):
        assert answer["net_revenue"] == pytest.approx(float(net))
        assert answer["orders"] == orders
        assert answer["return_rate"] == pytest.approx(float(returns) / float(gross))


# ---------------------------------------------------------------------------- bad requests
@pytest.mark.parametrize(
    ("params", "status", "says"),
    [
        ({"metrics": "revenue_of_mars"}, 400, "unknown metric 'revenue_of_mars'"),
        (
            {"metrics": "net_revenue", "group_by": "country__planet"},
            400,
            "unknown dimension 'country__planet'",
        ),
        ({"metrics": "net_revenue", "grain": "decade"}, 422, "grain"),
        ({"metrics": "net_revenue", "start": "2019-02-30"}, 422, "start"),
        ({"metrics": "net_revenue", "start": "2019-05-01", "end": "2019-04-01"}, 400, "after end"),
        ({"metrics": "net_revenue", "limit": "100000000"}, 422, "limit"),
        ({"metrics": "net_revenue", "limit": "ten"}, 422, "limit"),
        ({"metrics": "net_revenue", "filter": 'sales_line__is_return:eq:"yes"'}, 400, "boolean"),
        ({"metrics": "net_revenue", "filter": 'country__country_name:like:"F%"'}, 422, "op"),
        ({"metrics": "net_revenue", "filter": "country__country_name:eq:France"}, 422, "JSON"),
        ({"metrics": "net_revenue", "order_by": "orders"}, 400, "not among the query"),
        ({"metrics": "net_revenue; drop table gold.fct_sales_lines"}, 422, "metrics"),
    ],
)
def test_bad_requests_get_a_4xx_that_says_what_was_wrong(api, params, status, says):
    response = api.get("/v1/query", params=params)
    assert response.status_code == status, response.text
    assert says in response.json()["detail"]


def test_sql_in_a_filter_value_is_only_a_value(api, gold):
    hostile = "x' or 1=1 --"
    filters = [{"dimension": "country__country_name", "op": "eq", "values": [hostile]}]
    answer = query(api, metrics=["lines"], filters=filters)
    assert answer["rows"][0]["lines"] in (None, 0)
    assert gold.execute("select count(*) from gold.fct_sales_lines").fetchone()[0] > 0


def test_wrong_type_in_the_body(api):
    response = api.post("/v1/query", json={"metrics": "net_revenue"})
    assert response.status_code == 422
    assert "metrics" in response.json()["detail"]


def test_result_over_the_row_cap_is_refused_with_advice(warehouse):
    capped = client(warehouse, row_cap=5)
    response = capped.get("/v1/query", params={"metrics": "lines", "grain": "day"})
    assert response.status_code == 422
    assert "more than 5 rows" in response.json()["detail"]


# ---------------------------------------------------------------------------- keys, limits, cache
def test_keys_are_checked_and_may_be_limited_to_some_metrics(warehouse):
    entries = [
        {"name": "full", "sha256": hash_key(KEY)},
        {"name": "limited", "sha256": hash_key(LIMITED_KEY), "metrics": ["orders"]},
    ]
    guarded = client(warehouse, keys=parse_keys(json.dumps(entries)))
    assert guarded.get("/v1/metrics").status_code == 401
    assert guarded.get("/v1/metrics", headers={"X-API-Key": "wrong"}).status_code == 401
    assert guarded.get("/v1/metrics", headers={"X-API-Key": KEY}).status_code == 200
    assert guarded.get("/v1/metrics", headers={"Authorization": f"Bearer {KEY}"}).status_code == 200
    limited = {"X-API-Key": LIMITED_KEY}
    assert [m["name"] for m in guarded.get("/v1/metrics", headers=limited).json()] == ["orders"]
    assert guarded.get("/v1/query", params={"metrics": "orders"}, headers=limited).status_code == 200
    denied = guarded.get("/v1/query", params={"metrics": "orders,net_revenue"}, headers=limited)
    assert denied.status_code == 403
    assert "net_revenue" in denied.json()["detail"]


def test_rate_limit_answers_429_with_retry_after(warehouse):
    slow = client(warehouse, keys=(ApiKey("slow", hash_key(SLOW_KEY), None, 3),))
    codes = [slow.get("/v1/metrics", headers={"X-API-Key": SLOW_KEY}).status_code for _ in range(4)]
    assert codes == [200, 200, 200, 429]
    response = slow.get("/v1/metrics", headers={"X-API-Key": SLOW_KEY})
    assert int(response.headers["retry-after"]) >= 1


def test_keyless_mode_only_on_loopback(warehouse):
    from ingest.api.auth import AuthConfigError

    with pytest.raises(AuthConfigError, match="without API keys"):
        client(warehouse, host="0.0.0.0")


def test_cached_until_the_next_gold_build(warehouse):
    fresh = client(warehouse)
    params = {"metrics": "lines", "grain": "year"}
    first = fresh.get("/v1/query", params=params).json()
    second = fresh.get("/v1/query", params=params).json()
    assert (first["cached"], second["cached"]) == (False, True)
    serving.publish(warehouse)  # a new Gold build
    third = fresh.get("/v1/query", params=params).json()
    assert third["cached"] is False
    assert third["gold_built_at"] > first["gold_built_at"]
    assert third["rows"] == first["rows"]


# ---------------------------------------------------------------------------- order lookup, health
def test_order_lookup_traces_every_line_to_its_event(api, gold):
    response = api.get("/v1/orders/577001")
    assert response.status_code == 200, response.text
    order = response.json()
    by_event = {line["event_id"]: line for line in order["lines"]}
    assert set(by_event) == {"trace-1", "trace-2", "trace-3", "trace-4"}
    assert by_event["trace-1"]["status"] == "counted"
    statuses = sorted((by_event["trace-2"]["status"], by_event["trace-3"]["status"]))
    assert statuses == ["counted", "excluded"]
    excluded = by_event["trace-2"] if by_event["trace-2"]["status"] == "excluded" else by_event["trace-3"]
    assert excluded["reason"] == "duplicate_line"
    assert by_event["trace-4"]["status"] == "quarantined"
    assert "non_positive_price" in by_event["trace-4"]["reason"]
    partition, offset = gold.execute(
        "select kafka_partition, kafka_offset from silver.stg_bronze__order_lines_checked "
        "where event_id = 'trace-1'"
    ).fetchone()
    assert by_event["trace-1"]["bronze"]["partition"] == partition
    assert by_event["trace-1"]["bronze"]["offset"] == offset
    assert by_event["trace-1"]["bronze"]["source_event_at"]
    assert order["summary"] == {"counted": 2, "excluded": 1, "quarantined": 1}


def test_unknown_order_is_404_and_bad_number_is_422(api):
    assert api.get("/v1/orders/999999999").status_code == 404
    assert api.get("/v1/orders/1'or'1").status_code == 422


def test_health_reports_gold_freshness(api, gold, warehouse):
    published = serving.current(warehouse).published_at  # the build the API serves
    before = datetime.now(UTC)
    health = api.get("/v1/health").json()
    after = datetime.now(UTC)
    lines, newest = gold.execute("select count(*), max(source_event_at) from gold.fct_sales_lines").fetchone()
    assert health["gold_lines"] == lines
    assert health["newest_source_event_at"].startswith(newest.isoformat()[:19])
    assert datetime.fromisoformat(health["gold_built_at"]) == published
    # its age: now minus that build's end, measured while the request was answered (ms rounding)
    earliest, latest = (before - published).total_seconds(), (after - published).total_seconds()
    assert earliest - 0.001 <= health["gold_age_seconds"] <= latest + 0.001


def test_nothing_published_yet_is_503_with_what_to_run(tmp_path):
    empty = DataDir(tmp_path).warehouse
    response = client(empty).get("/v1/query", params={"metrics": "lines"})
    assert response.status_code == 503
    assert "make demo" in response.json()["detail"]


def test_a_date_range_cuts_partial_periods_at_its_days(api, gold):
    expected = dict(
        gold.execute(
            "select strftime(sale_date, '%Y-%m-01'), sum(net_amount) from gold.fct_sales_lines "
            "where sale_date between '2019-02-10' and '2019-05-20' group by 1"
        ).fetchall()
    )
    rows = query(api, metrics=["net_revenue"], grain="month", start="2019-02-10", end="2019-05-20")["rows"]
    assert {row["metric_time__month"]: row["net_revenue"] for row in rows} == pytest.approx(
        {month: float(value) for month, value in expected.items()}
    )
    assert len(expected) == 4


def test_service_lines_are_adjustments_and_fees_never_revenue_or_units(api, gold):
    classes = dict(
        gold.execute(
            "select line_class, sum(adjustments_and_fees_amount) from gold.fct_sales_lines group by 1"
        ).fetchall()
    )
    assert {"postage", "adjustment"} <= set(classes), classes
    rows = query(
        api,
        metrics=["adjustments_and_fees", "units_sold", "net_revenue"],
        group_by=["sales_line__line_class"],
    )
    by_class = {row["sales_line__line_class"]: row for row in rows["rows"]}
    assert by_class["postage"]["adjustments_and_fees"] == pytest.approx(54.0)  # 18 x 3; the 0 x 1000 adds 0
    assert by_class["adjustment"]["adjustments_and_fees"] == pytest.approx(-1100.44)
    for service in ("postage", "adjustment"):
        assert by_class[service]["units_sold"] == 0 and by_class[service]["net_revenue"] == 0
