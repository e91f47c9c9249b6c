"""GET /v1/quality on a real (small) warehouse: the data-quality record of the last Silver runs,
newest first, equal to the record's tables and to what api_warehouse wrote to Bronze; the
number of runs is bounded and bound, never put into SQL."""

from __future__ import annotations

import duckdb
import pytest
from fastapi.testclient import TestClient

from ingest.api.config import ApiConfig
from ingest.api.server import build
from ingest.local import serving
from ingest.local.dbt import run_dbt
from ingest.paths import DataDir

from . import api_warehouse

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def warehouse(data_root):
    """api_warehouse's build (all of dbt: one Silver run), then a second Silver run as the
    runner starts it (Silver only, no tests), published."""
    data = DataDir(data_root)
    path = api_warehouse.build(data)
    run_dbt(
        "build",
        "--select",
        "tag:silver",
        "--exclude",
        "resource_type:test",
        "resource_type:unit_test",
        data=data,
    )
    serving.publish(path)
    return path


@pytest.fixture(scope="module")
def api(warehouse):
    config = ApiConfig(
        warehouse=warehouse, semantic_manifest=api_warehouse.SEMANTIC_MANIFEST, per_minute=100_000
    )
    return TestClient(build(config))


@pytest.fixture(scope="module")
def record(warehouse):
    with duckdb.connect(str(warehouse), read_only=True) as con:
        cursor = con.execute("select * from silver.int_data_quality_runs order by run_at desc")
        columns = [d[0] for d in cursor.description]
        runs = [dict(zip(columns, row, strict=True)) for row in cursor.fetchall()]
        reasons = con.execute(
            "select run_id, outcome, reason, line_count from silver.int_data_quality_run_reasons"
        ).fetchall()
        gold_lines = con.execute("select count(*) from gold.fct_sales_lines").fetchone()[0]
        excluded = dict(
            con.execute(
                "select exclusion_reason, count(*) from silver.int_excluded_lines group by all"
            ).fetchall()
        )
    return runs, reasons, gold_lines, excluded


def quality(api, **params) -> dict:
    response = api.get("/v1/quality", params=params)
    assert response.status_code == 200, response.text
    return response.json()


def test_the_last_runs_newest_first_equal_the_record(api, record):
    runs, reasons, _, _ = record
    answer = quality(api)["runs"]
    assert [run["run_id"] for run in answer] == [run["run_id"] for run in runs]
    assert len(answer) == 2
    for got, row in zip(answer, runs, strict=True):
        for column in ("bronze_events", "checked_lines", "trusted_lines", "quarantined_lines", "gold_lines"):
            assert got[column] == row[column], column
        assert got["is_balanced"] is row["is_balanced"] is True
        assert got["run_at"].startswith(row["run_at"].isoformat()[:19])
        assert got["run_at"].endswith("Z")
        expected = {
            (outcome, reason): lines for run_id, outcome, reason, lines in reasons if run_id == row["run_id"]
        }
        assert {("quarantined", rule): n for rule, n in got["quarantined_by_rule"].items()} | {
            ("excluded", reason): n for reason, n in got["excluded_by_reason"].items()
        } == expected


def test_the_counts_are_what_bronze_received(api, record):
    _, _, gold_lines, excluded = record
    newest = quality(api, runs=1)["runs"][0]
    events = api_warehouse.synthetic_events()
    assert newest["bronze_events"] == newest["checked_lines"] == len(events)  # no copies, no invalid payload
    assert newest["quarantined_by_rule"] == {"non_positive_price": 1}  # trace-4, price 0
    assert newest["quarantined_lines"] == 1
    assert newest["failed_lines"] == newest["duplicates_removed"] == newest["unaccounted_events"] == 0
    assert newest["excluded_by_reason"] == excluded
    assert excluded["duplicate_line"] >= 1  # trace-3 repeats trace-2
    assert newest["gold_lines"] == gold_lines == len(events) - 1 - sum(excluded.values())
    assert newest["new_checked_lines"] == newest["late_events"] == 0  # the second run found nothing new


def test_freshness_is_the_newest_bronze_event_and_its_age(api, record):
    runs, _, _, _ = record
    newest = quality(api, runs=1)["runs"][0]
    assert newest["newest_bronze_ingested_at"].startswith(
        runs[0]["newest_bronze_ingested_at"].isoformat()[:19]
    )
    assert newest["bronze_age_seconds"] == runs[0]["bronze_age_seconds"] > 0


def test_runs_asks_for_that_many_runs(api, record):
    runs, _, _, _ = record
    assert [run["run_id"] for run in quality(api, runs=1)["runs"]] == [runs[0]["run_id"]]
    assert len(quality(api, runs=100)["runs"]) == 2


@pytest.mark.parametrize("runs", ["0", "101", "-1", "two", "1; drop table x"])
def test_a_bad_number_of_runs_is_422(api, runs):
    response = api.get("/v1/quality", params={"runs": runs})
    assert response.status_code == 422
    assert "runs" in response.json()["detail"]
