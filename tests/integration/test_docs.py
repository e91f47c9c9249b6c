"""`make docs`: the dbt docs site is generated offline and served on 127.0.0.1, with lineage
from the Bronze source to the dashboards and the API that read Gold."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import urllib.request

import pytest

from ingest.benchmarks.bronze_writer import BronzeWriter, event, line
from ingest.local.broker import free_port

from ..waiting import wait_for
from .helpers import PROJECT_DIR, bronze_path

pytestmark = pytest.mark.integration

BRONZE = "source.orders_lakehouse.bronze.sales_transactions"


@pytest.fixture(scope="module")
def docs_site(data_root):
    BronzeWriter(bronze_path(data_root)).append([event("docs-1", line())])
    port = free_port()
    server = subprocess.Popen(
        ["bash", "scripts/docs.sh"],
        cwd=PROJECT_DIR,
        env={**os.environ, "DOCS_PORT": str(port)},
        start_new_session=True,
    )
    base = f"http://127.0.0.1:{port}"

    def answers() -> bool:
        assert server.poll() is None, f"the docs server exited ({server.returncode})"
        try:
            urllib.request.urlopen(base, timeout=2).close()
            return True
        except OSError:
            return False

    wait_for(answers, "the docs server to answer", 180, interval_s=1)
    yield base
    os.killpg(server.pid, signal.SIGTERM)
    server.wait(timeout=30)


def fetch(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=10) as response:
        assert response.status == 200
        return response.read()


def test_the_site_is_served_on_localhost(docs_site):
    assert b"dbt" in fetch(docs_site + "/index.html")
    catalog = json.loads(fetch(docs_site + "/catalog.json"))
    assert catalog["errors"] is None


def test_lineage_runs_from_bronze_to_every_exposure(docs_site):
    manifest = json.loads(fetch(docs_site + "/manifest.json"))
    graph = {**manifest["nodes"], **manifest["exposures"]}

    def upstream(node_id: str) -> set[str]:
        found, todo = set(), [node_id]
        while todo:
            for parent in graph.get(todo.pop(), {}).get("depends_on", {}).get("nodes", []):
                if parent not in found:
                    found.add(parent)
                    todo.append(parent)
        return found

    exposures = manifest["exposures"]
    assert {e["type"] for e in exposures.values()} == {"dashboard", "application"}
    for exposure_id in exposures:
        assert BRONZE in upstream(exposure_id), exposure_id
