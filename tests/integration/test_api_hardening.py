"""The analytics API under hostile callers (issue 20), on a small real Gold warehouse with planted
names: values that cannot be encoded are a 422 with the JSON `detail`, never a bare 500; CSV
answers neutralise the names a spreadsheet would evaluate, never the numbers."""

from __future__ import annotations

import csv
import io
import json

import pytest
from fastapi.testclient import TestClient

from ingest.api.config import ApiConfig
from ingest.api.server import build
from ingest.benchmarks.bronze_writer import BronzeWriter, event, line
from ingest.local import serving
from ingest.local.dbt import run_dbt
from ingest.paths import DataDir

from . import api_warehouse

pytestmark = pytest.mark.integration

SURROGATE = "\ud800"
# product names a spreadsheet would run as formulas, by product number; "-cmd" is only a return
PLANTED = {
    "91001": '=HYPERLINK("http://x","y")',
    "91002": "@SUM(1)",
    "91003": "+1+1",
    "91004": "-cmd",
}


def planted_events() -> list[dict]:
    events = [
        event(
            f"planted-{no}",
            line(transaction_no=f"5910{i}", date="6/15/2019", product_no=no, product_name=name),
        )
        for i, (no, name) in enumerate(PLANTED.items())
        if name != "-cmd"
    ]
    events.append(
        event(
            "planted-return",
            line(
                transaction_no="C591004",
                date="6/16/2019",
                product_no="91004",
                product_name="-cmd",
                price="12.50",
                quantity="-1",
            ),
        )
    )
    return events


@pytest.fixture(scope="module")
def warehouse(data_root):
    data = DataDir(data_root)
    BronzeWriter(str(data.bronze_table)).append(api_warehouse.synthetic_events() + planted_events())
    run_dbt("build", "--exclude", "resource_type:test", "resource_type:unit_test", data=data)
    serving.publish(data.warehouse)
    return data.warehouse


def client(warehouse, **overrides) -> TestClient:
    config = ApiConfig(warehouse=warehouse, semantic_manifest=api_warehouse.SEMANTIC_MANIFEST, **overrides)
    return TestClient(build(config), raise_server_exceptions=False)


@pytest.fixture(scope="module")
def api(warehouse):
    return client(warehouse, per_minute=100_000)


def post(api, body: dict, **headers):
    """POST a body as JSON with escapes (`\\ud800`): what a caller's JSON library sends."""
    return api.post(
        "/v1/query", content=json.dumps(body), headers={"content-type": "application/json", **headers}
    )


def refused(response, status: int) -> str:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    return response.json()["detail"]


# ---------------------------------------------------------------------------- errors are JSON
def test_a_lone_surrogate_in_a_posted_filter_value_is_422_json(api):
    body = {
        "metrics": ["net_revenue"],
        "filters": [{"dimension": "country__country_name", "op": "eq", "values": [SURROGATE]}],
    }
    assert "not valid Unicode" in refused(post(api, body), 422)


def test_a_lone_surrogate_in_a_get_filter_value_is_422_json(api):
    params = {"metrics": "net_revenue", "filter": 'country__country_name:eq:"\\ud800"'}
    assert "not valid Unicode" in refused(api.get("/v1/query", params=params), 422)


@pytest.mark.parametrize(
    "body",
    [
        pytest.param({"metrics": [SURROGATE]}, id="metric"),
        pytest.param({"metrics": ["net_revenue"], "group_by": ["country" + SURROGATE]}, id="dimension"),
        pytest.param({"metrics": ["net_revenue"], "order_by": [SURROGATE]}, id="order_by"),
        pytest.param(
            {"metrics": ["net_revenue"], "filters": [{"dimension": SURROGATE, "values": ["France"]}]},
            id="filter-dimension",
        ),
        pytest.param({"metrics": ["net_revenue"], SURROGATE: 1}, id="unknown-field-name"),
    ],
)
def test_a_lone_surrogate_in_any_other_string_field_is_422_json(api, body):
    refused(post(api, body), 422)


def test_a_lone_surrogate_in_get_names_is_422_json(api):
    refused(api.get("/v1/query", params={"metrics": "net_revenue", "group_by": "\\ud800"}), 422)
    refused(api.get("/v1/query?metrics=%ED%A0%80"), 422)


def test_an_order_number_that_is_not_utf8_is_422_json(api):
    refused(api.get("/v1/orders/%ED%A0%80"), 422)
    refused(api.get("/v1/orders/5770%ED%A0%80"), 422)


# ---------------------------------------------------------------------------- CSV injection
PLANTED_QUERY = {
    "metrics": ["net_revenue", "lines"],
    "group_by": ["product__product_name"],
    "filters": [{"dimension": "product__product_no", "op": "in", "values": list(PLANTED)}],
}


def test_csv_neutralises_planted_formulas_and_keeps_negative_numbers(api):
    response = post(api, {**PLANTED_QUERY, "format": "csv"})
    assert response.status_code == 200, response.text
    header, *rows = list(csv.reader(io.StringIO(response.text)))
    assert header == ["product__product_name", "net_revenue", "lines"]
    by_name = {name: (revenue, lines) for name, revenue, lines in rows}
    assert set(by_name) == {"'" + name for name in PLANTED.values()}
    assert by_name["'-cmd"] == ("-12.5", "1")  # the measure is a number, never neutralised
    lines = response.text.splitlines()
    assert "'-cmd,-12.5,1" in lines
    assert any(row.startswith('"\'=HYPERLINK(""http://x"",""y"")",') for row in lines)
    for row in lines[1:]:
        assert row[0] in "'\"", row  # every planted cell starts with the quote (or CSV's quoting)


def test_csv_through_the_get_form_and_accept_header_is_neutralised_too(api):
    params = {
        "metrics": "net_revenue",
        "group_by": "product__product_name",
        "filter": "product__product_no:in:" + json.dumps(list(PLANTED)),
    }
    for response in (
        api.get("/v1/query", params={**params, "format": "csv"}),
        api.get("/v1/query", params=params, headers={"Accept": "text/csv"}),
    ):
        assert response.status_code == 200, response.text
        names = [row[0] for row in csv.reader(io.StringIO(response.text))][1:]
        assert sorted(names) == sorted("'" + name for name in PLANTED.values())


def test_json_answers_keep_the_names_as_they_are(api):
    response = post(api, PLANTED_QUERY)
    assert response.status_code == 200, response.text
    rows = {row["product__product_name"]: row for row in response.json()["rows"]}
    assert set(rows) == set(PLANTED.values())
    assert rows["-cmd"]["net_revenue"] == pytest.approx(-12.5)
