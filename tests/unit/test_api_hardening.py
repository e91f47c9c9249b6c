"""The analytics API's guards (issue 20), on the app with a fake semantic layer and backend: an
unexpected exception is a JSON 500 without internals, logged with its traceback."""

from __future__ import annotations

import json
import logging
from types import SimpleNamespace

import pytest
from fastapi.testclient import TestClient

from ingest.api import guards
from ingest.api.app import create_app
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
