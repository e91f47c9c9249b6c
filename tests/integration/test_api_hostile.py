"""Hostile callers against a running API (issue 20): a real `python -m ingest api` process on
127.0.0.1 with keys, over a small Gold warehouse with planted names, driven over HTTP as an
outside system would drive it. Each probe is one of the five failures the issue found, and
none may come back: a bare 500, a body read and parsed before the key is checked, a key
reading past its scope (the order lookup and the `total` side channel), a CSV cell a
spreadsheet would run, an answer without its security headers."""

from __future__ import annotations

import contextlib
import csv
import http.client
import io
import json
import os

import pytest

from ingest.api.auth import hash_key
from ingest.api.server import free_port, spawn
from ingest.benchmarks.bronze_writer import BronzeWriter
from ingest.local import serving
from ingest.local.dbt import run_dbt
from ingest.paths import DataDir

from . import api_warehouse
from .test_api_hardening import PLANTED, PLANTED_QUERY, planted_events

pytestmark = pytest.mark.integration

FULL_KEY, REVENUE_KEY = "hostile-full-key-0123456789", "hostile-revenue-key-0123456789"
KEYS = [
    {"name": "full", "sha256": hash_key(FULL_KEY), "per_minute": 100_000},
    {
        "name": "revenue-only",
        "sha256": hash_key(REVENUE_KEY),
        "metrics": ["net_revenue"],
        "per_minute": 100_000,
    },
]


@pytest.fixture(scope="module")
def api_env(data_root) -> dict:
    data = DataDir(data_root)
    BronzeWriter(str(data.bronze_table)).append(api_warehouse.synthetic_events() + planted_events())
    run_dbt("build", "--exclude", "resource_type:test", "resource_type:unit_test", data=data)
    serving.publish(data.warehouse)
    return {
        **os.environ,
        **data.env(),
        "LAKEHOUSE_API_KEYS": json.dumps(KEYS),
        "LAKEHOUSE_SEMANTIC_MANIFEST": str(api_warehouse.SEMANTIC_MANIFEST),
    }


@contextlib.contextmanager
def running_api(env: dict):
    """`python -m ingest api` on a free port of 127.0.0.1, stopped afterwards."""
    port = free_port()
    server = spawn(env, port)
    try:
        yield port
    finally:
        server.terminate()
        server.wait(timeout=30)


@pytest.fixture(scope="module")
def port(api_env):
    with running_api(api_env) as port:
        yield port


def call(port: int, method: str, path: str, body: bytes | None = None, key: str | None = None, **headers):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    try:
        sent = {"content-type": "application/json", **headers}
        if key:
            sent["X-API-Key"] = key
        conn.request(method, path, body=body, headers=sent)
        response = conn.getresponse()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()
    finally:
        conn.close()


def json_error(status: int, headers: dict, body: bytes, expected: int) -> str:
    assert status == expected, (status, body[:300])
    assert headers["content-type"].startswith("application/json"), headers
    return json.loads(body)["detail"]


def test_a_lone_surrogate_is_a_json_422_not_a_bare_500(port):
    # JSON's escape for a lone surrogate, as a caller's JSON library writes it
    body = (
        b'{"metrics":["net_revenue"],"filters":'
        b'[{"dimension":"country__country_name","op":"eq","values":["\\ud800"]}]}'
    )
    json_error(*call(port, "POST", "/v1/query", body, key=FULL_KEY), expected=422)
    get = "/v1/query?metrics=net_revenue&filter=country__country_name:eq:%ED%A0%80"
    status, headers, answer = call(port, "GET", get, key=FULL_KEY)
    assert status == 422 and headers["content-type"].startswith("application/json"), (status, answer)


def test_the_key_is_checked_before_the_body_and_big_bodies_are_refused(port):
    json_error(*call(port, "POST", "/v1/query", b"{not json"), expected=401)
    big = b'{"metrics":["net_revenue"],"pad":"' + b"x" * (5 * 1024 * 1024) + b'"}'
    json_error(*call(port, "POST", "/v1/query", big, key=FULL_KEY), expected=413)


def test_a_revenue_key_reads_no_orders_by_any_route(port):
    json_error(*call(port, "GET", "/v1/orders/59100", key=REVENUE_KEY), expected=403)
    probe = {"metrics": ["net_revenue"], "group_by": ["sales_line__transaction_no"], "limit": 1}
    json_error(*call(port, "POST", "/v1/query", json.dumps(probe).encode(), key=REVENUE_KEY), expected=403)
    json_error(*call(port, "GET", "/v1/quality", key=REVENUE_KEY), expected=403)
    # the same probe with the full key answers: the refusal above is the scope, not the question
    status, _, answer = call(port, "POST", "/v1/query", json.dumps(probe).encode(), key=FULL_KEY)
    assert status == 200 and json.loads(answer)["total"] > 1, answer[:300]


def test_csv_cells_a_spreadsheet_would_run_are_neutralised(port):
    body = json.dumps({**PLANTED_QUERY, "format": "csv"}).encode()
    status, _, answer = call(port, "POST", "/v1/query", body, key=FULL_KEY)
    assert status == 200, answer[:300]
    names = [row[0] for row in csv.reader(io.StringIO(answer.decode()))][1:]
    assert sorted(names) == sorted("'" + name for name in PLANTED.values())


def test_every_answer_carries_its_security_headers(port):
    for status, headers, _ in (
        call(port, "GET", "/v1/metrics", key=FULL_KEY),
        call(port, "GET", "/v1/metrics"),
        call(port, "GET", "/v1/nothing-here", key=FULL_KEY),
    ):
        assert headers.get("x-content-type-options") == "nosniff", (status, headers)
    _, keyed, _ = call(port, "GET", "/v1/metrics", key=FULL_KEY)
    assert "no-store" in keyed.get("cache-control", "")
    _, docs, _ = call(port, "GET", "/docs")
    assert "frame-ancestors 'none'" in docs.get("content-security-policy", "")


def test_failed_keys_are_slowed_per_address(api_env):
    with running_api(api_env) as port:  # its own server: the address stays slowed for a while
        statuses = [call(port, "GET", "/v1/metrics", key=f"wrong-{i}")[0] for i in range(12)]
        assert statuses[0] == 401 and statuses[-1] == 429, statuses
        assert call(port, "GET", "/v1/metrics", key=FULL_KEY)[0] == 429  # a lucky guess learns nothing
