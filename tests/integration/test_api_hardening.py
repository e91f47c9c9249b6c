"""The analytics API under hostile callers (issue 20), on a small real Gold warehouse with planted
names: values that cannot be encoded are a 422 with the JSON `detail`, never a bare 500."""

from __future__ import annotations

import json

import pytest
from fastapi.testclient import TestClient

from ingest import serving
from ingest.api.config import ApiConfig
from ingest.api.server import build
from ingest.dbt import run_dbt
from ingest.paths import DataDir
from ingest.testing.bronze_writer import BronzeWriter

from . import api_warehouse

pytestmark = pytest.mark.integration

SURROGATE = "\ud800"


@pytest.fixture(scope="module")
def warehouse(data_root):
    data = DataDir(data_root)
    BronzeWriter(str(data.bronze_table)).append(api_warehouse.synthetic_events())
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
