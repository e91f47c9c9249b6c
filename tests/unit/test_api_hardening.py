"""The analytics API's guards (issue 20), on the app with a fake semantic layer and backend: an
unexpected exception is a JSON 500 without internals, logged with its traceback; a missing or
wrong key is 401 before the body is read; a body over the limit is 413 before it is parsed; CSV
cells a spreadsheet would evaluate are neutralised; every answer says nosniff, keyed ones
no-store, the docs pages carry a CSP and may not be framed; failed keys are slowed per address."""

from __future__ import annotations

import asyncio
import base64
import csv
import hashlib
import io
import itertools
import json
import logging
import re
import urllib.parse
from types import SimpleNamespace

import pytest
from fastapi.testclient import TestClient

from ingest.api import guards, rendering
from ingest.api.access import ApiKey
from ingest.api.app import create_app
from ingest.api.auth import hash_key
from ingest.api.config import ApiConfig

SECRET = "password=hunter2-internal"


class FakeBackend:
    """Answers nothing: every query fails the way `fail` says (None: an empty answer)."""

    engine = "duckdb"

    def __init__(self, fail: Exception | None = None) -> None:
        self.fail = fail

    def version(self) -> str:
        if self.fail is not None:
            raise self.fail
        return "v1"

    def built_at(self):
        return None

    def run(self, sql, params, max_rows, timeout_s):
        return SimpleNamespace(columns=["gold_lines"], rows=[])


LAYER = SimpleNamespace(metrics={}, dimensions={})


def app(config: ApiConfig | None = None, backend: FakeBackend | None = None) -> TestClient:
    return TestClient(
        create_app(config or ApiConfig(), LAYER, backend or FakeBackend()), raise_server_exceptions=False
    )


# ---------------------------------------------------------------------------- errors are JSON
def test_an_unexpected_exception_is_a_json_500_without_internals_and_logged(caplog):
    client = app(backend=FakeBackend(RuntimeError(SECRET)))
    with caplog.at_level(logging.ERROR, logger="ingest.api"):
        response = client.get("/v1/health")
    assert response.status_code == 500
    assert response.headers["content-type"] == "application/json"
    assert response.json() == {"detail": guards.INTERNAL_ERROR}
    assert SECRET not in response.text
    logged = [r for r in caplog.records if r.name == "ingest.api" and r.exc_info]
    assert logged and SECRET in str(logged[0].exc_info[1])
    assert "GET /v1/health" in logged[0].getMessage()


def test_an_error_detail_with_a_lone_surrogate_still_encodes():
    body = guards.error_body("unknown field '\ud800'")
    assert json.loads(body) == {"detail": "unknown field '\ud800'"}
    assert guards.error_response(422, "x \udfff").body.decode("ascii")


@pytest.mark.parametrize("path", ["/v1/metrics", "/healthz"])
def test_working_routes_still_answer(path):
    assert app().get(path).status_code == 200


# ---------------------------------------------------------------------------- 401 first, bounded bodies
KEY = "k-hardening-0123456789"
KEYED = ApiConfig(keys=(ApiKey("caller", hash_key(KEY)),), per_minute=100_000)
MALFORMED = b'{"metrics": ["net_revenue"'


@pytest.mark.parametrize("headers", [{}, {"X-API-Key": "wrong"}, {"Authorization": "Bearer wrong"}])
def test_malformed_json_without_a_valid_key_is_401_not_422(headers):
    response = app(KEYED).post(
        "/v1/query", content=MALFORMED, headers={"content-type": "application/json", **headers}
    )
    assert response.status_code == 401, response.text
    assert response.headers["www-authenticate"] == "Bearer"
    assert "API key" in response.json()["detail"]


def test_malformed_json_with_a_valid_key_is_still_422():
    response = app(KEYED).post(
        "/v1/query", content=MALFORMED, headers={"content-type": "application/json", "X-API-Key": KEY}
    )
    assert response.status_code == 422, response.text


def test_a_body_over_the_limit_is_413_json_from_its_content_length():
    limit = ApiConfig().max_body_bytes
    body = b" " * limit + b"{}"
    for config, headers in ((ApiConfig(), {}), (KEYED, {"X-API-Key": KEY})):
        response = app(config).post(
            "/v1/query", content=body, headers={"content-type": "application/json", **headers}
        )
        assert response.status_code == 413, response.text
        assert f"{limit:,} bytes" in response.json()["detail"]


def test_a_body_at_the_limit_is_read_and_parsed():
    limit = ApiConfig().max_body_bytes
    body = b" " * (limit - 2) + b"{}"
    response = app().post("/v1/query", content=body, headers={"content-type": "application/json"})
    assert response.status_code == 422  # parsed: `metrics` is missing
    assert "metrics" in response.json()["detail"]


def test_the_body_limit_is_a_setting():
    assert ApiConfig.from_env(None, None, environ={}).max_body_bytes == 64 * 1024
    config = ApiConfig.from_env(None, None, environ={"LAKEHOUSE_API_MAX_BODY_BYTES": "100"})
    assert config.max_body_bytes == 100
    response = app(config).post("/v1/query", content=b" " * 101, headers={"content-type": "application/json"})
    assert response.status_code == 413


def asgi_call(app_, scope: dict, chunks) -> tuple[list[dict], int]:
    """Call an ASGI app with a chunked body (an endless one if `chunks` is a generator): the
    messages it sent and how many chunks it read."""
    sent, read = [], 0

    async def receive():
        nonlocal read
        read += 1
        try:
            return {"type": "http.request", "body": next(chunks), "more_body": True}
        except StopIteration:
            return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message):
        sent.append(message)

    asyncio.run(app_(scope, receive, send))
    return sent, read


def test_a_chunked_body_is_refused_once_it_passes_the_limit_without_reading_the_rest():
    config = ApiConfig(max_body_bytes=64 * 1024)
    endless = (b"x" * 4096 for _ in itertools.count())
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/v1/query",
        "raw_path": b"/v1/query",
        "query_string": b"",
        "root_path": "",
        "headers": [(b"content-type", b"application/json"), (b"transfer-encoding", b"chunked")],
        "client": ("127.0.0.1", 5000),
        "server": ("127.0.0.1", 8300),
    }
    sent, read = asgi_call(create_app(config, LAYER, FakeBackend()), scope, endless)
    assert sent[0]["status"] == 413
    assert json.loads(sent[1]["body"])["detail"].startswith("request body over")
    assert read == 64 * 1024 // 4096 + 1


# ---------------------------------------------------------------------------- CSV injection
@pytest.mark.parametrize(
    ("cell", "written"),
    [
        ('=HYPERLINK("http://x","y")', '"\'=HYPERLINK(""http://x"",""y"")"'),
        ("@SUM(1)", "'@SUM(1)"),
        ("+1+1", "'+1+1"),
        ("-cmd", "'-cmd"),
        ("-12.5", "'-12.5"),  # text that looks like a number is still text
        ("\tTab", "'\tTab"),
        ("\rCR", '"\'\rCR"'),
        ("a=b", "a=b"),
        ("Cream Hanging Heart", "Cream Hanging Heart"),
        ("line\rbreak", '"line\rbreak"'),
        ("line\nbreak", '"line\nbreak"'),
        ("", ""),
        (-12.5, "-12.5"),
        (-3, "-3"),
        (0.0, "0.0"),
        (None, ""),
        (True, "True"),
    ],
)
def test_a_csv_text_cell_a_spreadsheet_would_evaluate_gets_a_quote_and_numbers_stay(cell, written):
    content, media_type, _ = rendering.render_rows(["name", "net_revenue"], [(cell, -1.5)], None, 0, 10, True)
    assert media_type.startswith("text/csv")
    header, row = content.decode().split("\n", 1)
    assert header == "name,net_revenue"
    assert row == f"{written},-1.5\n"
    assert next(csv.reader(io.StringIO(row)))[0] == ("" if cell is None else str(rendering.csv_cell(cell)))


def test_json_pages_keep_text_as_it_is():
    content, media_type, _ = rendering.render_rows(["name", "v"], [("=1+1", -2.0)], "2019", 0, 10, False)
    assert media_type == "application/json"
    assert json.loads(content)["rows"] == [{"name": "=1+1", "v": -2.0}]


# ---------------------------------------------------------------------------- headers
def keyed_client(config: ApiConfig = KEYED, address: str = "10.0.0.1") -> TestClient:
    return TestClient(
        create_app(config, LAYER, FakeBackend()), raise_server_exceptions=False, client=(address, 5000)
    )


@pytest.mark.parametrize(
    ("method", "path", "headers", "content", "status"),
    [
        ("GET", "/v1/metrics", {"X-API-Key": KEY}, None, 200),
        ("GET", "/v1/metrics", {}, None, 401),
        ("POST", "/v1/query", {"X-API-Key": KEY}, b" " * (65 * 1024), 413),
        ("POST", "/v1/query", {"X-API-Key": KEY}, MALFORMED, 422),
        ("GET", "/v1/health", {"X-API-Key": KEY}, None, 500),
        ("GET", "/v1/orders/x'y", {"X-API-Key": KEY}, None, 422),
        ("GET", "/healthz", {}, None, 200),
        ("GET", "/openapi.json", {}, None, 200),
        ("GET", "/docs", {}, None, 200),
        ("GET", "/nowhere", {}, None, 404),
    ],
)
def test_every_answer_says_nosniff_and_keyed_ones_no_store(method, path, headers, content, status):
    response = keyed_client().request(method, path, headers=headers, content=content)
    assert response.status_code == status, response.text
    assert response.headers["x-content-type-options"] == "nosniff"
    if path.startswith("/v1/"):
        assert response.headers["cache-control"] == "no-store"


def test_keyless_answers_say_nosniff_and_a_presented_key_gets_no_store():
    client = app()
    assert client.get("/v1/metrics").headers["x-content-type-options"] == "nosniff"
    assert client.get("/v1/metrics", headers={"X-API-Key": "any"}).headers["cache-control"] == "no-store"


def sources(csp: str) -> dict[str, list[str]]:
    return {part.split()[0]: part.split()[1:] for part in csp.split(";") if part.strip()}


@pytest.mark.parametrize("path", ["/docs", "/redoc", "/docs/oauth2-redirect"])
def test_the_docs_pages_have_a_csp_that_allows_exactly_what_they_load_and_no_framing(path):
    response = app().get(path)
    assert response.status_code == 200
    assert response.headers["x-frame-options"] == "DENY"
    policy = sources(response.headers["content-security-policy"])
    assert policy["frame-ancestors"] == ["'none'"]
    assert policy["default-src"] == ["'none'"]
    html = response.text
    # every inline script is allowed by its hash, and nothing else inline
    inline = re.findall(r"<script>(.*?)</script>", html, re.S)
    hashes = [
        "'sha256-" + base64.b64encode(hashlib.sha256(s.encode()).digest()).decode() + "'" for s in inline
    ]
    assert sorted(s for s in policy["script-src"] if s.startswith("'sha256-")) == sorted(hashes)
    assert "'unsafe-inline'" not in policy["script-src"] and "'unsafe-eval'" not in policy["script-src"]
    # every script and stylesheet the page loads comes from an origin the policy names for it
    for url in re.findall(r'<script src="([^"]+)"', html):
        assert origin(url) in policy["script-src"], url
    for url in re.findall(r'<link[^>]*rel="stylesheet"[^>]*>', html):
        assert origin(re.search(r'href="([^"]+)"', url).group(1)) in policy["style-src"], url
    for url in re.findall(r'<link rel="shortcut icon" href="([^"]+)"', html):
        assert origin(url) in policy["img-src"], url
    assert "'self'" in policy["connect-src"]  # the page fetches /openapi.json


def origin(url: str) -> str:
    parts = urllib.parse.urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def test_the_swagger_page_loads_swagger_ui_from_jsdelivr_only():
    html = app().get("/docs").text
    assert {origin(u) for u in re.findall(r'(?:src|href)="(https?://[^"]+)"', html)} == {
        "https://cdn.jsdelivr.net",
        "https://fastapi.tiangolo.com",
    }


def test_api_answers_carry_no_docs_policy():
    assert (
        "content-security-policy" not in keyed_client().get("/v1/metrics", headers={"X-API-Key": KEY}).headers
    )


# ---------------------------------------------------------------------------- failed keys slowed
def test_failed_keys_from_one_address_get_429_with_retry_after_even_for_a_good_key():
    config = ApiConfig(keys=KEYED.keys, auth_failures=3, auth_window_s=60.0)
    client = keyed_client(config)
    codes = [client.get("/v1/metrics", headers={"X-API-Key": f"guess-{i}"}).status_code for i in range(3)]
    assert codes == [401, 401, 401]
    refused = client.get("/v1/metrics", headers={"X-API-Key": "guess-3"})
    assert refused.status_code == 429
    assert refused.headers["content-type"] == "application/json"
    assert "failed API key attempts" in refused.json()["detail"]
    assert 1 <= int(refused.headers["retry-after"]) <= 60
    assert client.get("/v1/metrics", headers={"X-API-Key": KEY}).status_code == 429  # no oracle
    other = TestClient(client.app, client=("10.0.0.2", 5000))
    assert other.get("/v1/metrics", headers={"X-API-Key": KEY}).status_code == 200


def test_good_keys_and_keyless_mode_are_never_slowed():
    config = ApiConfig(keys=KEYED.keys, auth_failures=2, per_minute=100_000)
    client = keyed_client(config)
    assert {client.get("/v1/metrics", headers={"X-API-Key": KEY}).status_code for _ in range(20)} == {200}
    assert {app().get("/v1/metrics", headers={"X-API-Key": "x"}).status_code for _ in range(20)} == {200}


def test_the_failure_window_ends_and_the_address_may_try_again():
    failed = guards.FailedKeys(limit=2, window_s=60.0, addresses=100)
    failed.failed("a", now=0.0)
    failed.failed("a", now=1.0)
    assert failed.wait("a", now=30.0) == pytest.approx(30.0)
    assert failed.wait("b", now=30.0) == 0.0
    assert failed.wait("a", now=60.0) == 0.0
    failed.failed("a", now=61.0)
    assert failed.wait("a", now=61.0) == 0.0


def test_the_table_of_addresses_is_bounded():
    failed = guards.FailedKeys(limit=2, window_s=60.0, addresses=3)
    for i in range(1000):
        failed.failed(f"10.0.{i // 256}.{i % 256}", now=float(i) / 1000)
    assert len(failed) == 3
    failed.failed("10.0.3.231", now=1.0)  # the newest ones are the ones kept
    assert failed.wait("10.0.3.231", now=1.0) > 0


def test_the_failed_key_limits_are_settings():
    config = ApiConfig.from_env(
        None, None, environ={"LAKEHOUSE_API_AUTH_FAILURES": "5", "LAKEHOUSE_API_AUTH_WINDOW_S": "30"}
    )
    assert (config.auth_failures, config.auth_window_s) == (5, 30.0)
    assert ApiConfig.from_env(None, None, environ={}).auth_failures == 10
