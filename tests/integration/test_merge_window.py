"""The merge window of `macros/incremental/lakehouse_merge_predicates.sql` on Spark's Delta, on a
model that merges every copy it reads: unlike Silver's checked log today (its `not exists` over
the whole table drops a copy of a checked event before the merge), nothing but the MERGE's
own ON condition keeps a redelivered copy from being inserted a second time. A small dbt
project beside the real one: the project's macros, the `spark` target of its profiles."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyarrow as pa
import pytest
from deltalake import DeltaTable, write_deltalake

from ingest.jvm import spark_conf
from ingest.local.dbt import dbt_executable
from ingest.paths import PROJECT_DIR

pytestmark = pytest.mark.integration

DAYS = 7
SLACK_MINUTES = 10
MACROS = (
    "incremental/lakehouse_merge_predicates.sql",
    "incremental/event_time_floor.sql",
    "incremental/timestamp_literal.sql",
)
BRONZE_SCHEMA = pa.schema(
    [
        ("event_key", pa.string()),
        ("occurred_at", pa.string()),
        ("kafka_timestamp", pa.timestamp("us", tz="UTC")),
        ("ingested_at", pa.timestamp("us", tz="UTC")),
    ]
)
# Silver's checked log without its lookup of the table: the new Bronze rows, merged by key
MODEL = """
{{
    config(
        materialized='incremental',
        unique_key='event_key',
        incremental_strategy='merge',
        file_format='delta',
        incremental_predicates=lakehouse_merge_predicates(
            'bronze_ingested_at', ['occurred_at', 'source_event_at']
        ),
    )
}}
select
    event_key,
    try_cast(occurred_at as timestamp) as occurred_at,
    kafka_timestamp as source_event_at,
    ingested_at as bronze_ingested_at
from delta.`{{ var('bronze') }}`
{% if is_incremental() %}
    where ingested_at > (select max(bronze_ingested_at) from {{ this }})
{% endif %}
"""


def text(instant: datetime) -> str:
    return instant.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def copy(
    event_key: str, occurred_at: datetime | None, landed: datetime, sent: datetime | None = None
) -> dict:
    """A Bronze row: the event's time in its payload, the Kafka timestamp (when sent) and landing."""
    return {
        "event_key": event_key,
        "occurred_at": text(occurred_at) if occurred_at else None,
        "kafka_timestamp": sent if sent is not None else occurred_at,
        "ingested_at": landed,
    }


class Project:
    def __init__(self, root: Path) -> None:
        self.root = root / "merge-window"
        self.bronze = str(root / "merge-window-bronze")
        (self.root / "models").mkdir(parents=True)
        (self.root / "macros").mkdir()
        for macro in MACROS:
            shutil.copy(PROJECT_DIR / "macros" / macro, self.root / "macros")
        (self.root / "models" / "events.sql").write_text(MODEL)
        (self.root / "dbt_project.yml").write_text(
            "name: merge_window\nversion: '1.0'\nconfig-version: 2\nprofile: orders_lakehouse\n"
            f"vars:\n  merge_predicate_days: {DAYS}\n  event_clock_slack_minutes: {SLACK_MINUTES}\n"
            f"  bronze: '{self.bronze}'\n"
        )
        self.runs = 0

    def land(self, rows: list[dict]) -> None:
        write_deltalake(self.bronze, pa.Table.from_pylist(rows, schema=BRONZE_SCHEMA), mode="append")

    def run(self) -> None:
        self.runs += 1
        completed = subprocess.run(
            [dbt_executable(), "run", "--project-dir", str(self.root), "--profiles-dir", str(PROJECT_DIR)]
            + ["--target", "spark", "--target-path", str(self.root / f"target-{self.runs}")],
            cwd=self.root,
            env={**os.environ, "SPARK_JARS": spark_conf()["spark.jars"]},
            capture_output=True,
            text=True,
            check=False,
        )
        assert completed.returncode == 0, completed.stdout[-3000:]

    def table(self) -> DeltaTable:
        return DeltaTable(
            str(Path(os.environ["LAKEHOUSE_DATA_DIR"]) / "spark-warehouse" / "lakehouse.db" / "events")
        )

    def keys(self) -> list[str]:
        return sorted(self.table().to_pyarrow_table()["event_key"].to_pylist())

    def last_merge_condition(self) -> str:
        merges = [c for c in self.table().history() if c["operation"] == "MERGE"]
        latest = max(merges, key=lambda commit: commit["version"])
        return json.loads(latest["operationParameters"]["predicate"])[0]


def floor_of(condition: str) -> datetime | None:
    """The instant the MERGE's condition bounds the landing time by (Delta folds the literal)."""
    found = re.search(r"bronze_ingested_at#\d+ >= (\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(?:\.\d+)?)", condition)
    return datetime.fromisoformat(found.group(1)).replace(tzinfo=UTC) if found else None


@pytest.fixture
def project(tmp_path, monkeypatch) -> Project:
    """A dbt-spark project and a Spark warehouse of this test's own."""
    monkeypatch.setenv("LAKEHOUSE_DATA_DIR", str(tmp_path))
    return Project(tmp_path)


def with_a_table(project: Project) -> None:
    """A first run: the incremental model's table exists (it was created, not merged)."""
    earlier = datetime.now(UTC) - timedelta(days=1)
    project.land([copy("old", earlier, earlier)])
    project.run()


def test_a_copy_redelivered_after_the_window_is_merged_into_its_first_copy(project):
    now = datetime.now(UTC)
    long_ago, earlier = now - timedelta(days=3 * DAYS), now - timedelta(days=2)
    project.land(
        [copy("late", long_ago, long_ago + timedelta(minutes=1)), copy("republished", earlier, earlier)]
        + [copy("old", long_ago, long_ago + timedelta(minutes=2))]
    )
    project.run()
    # the second run: a copy of `late` (the same occurred_at) landing 3 windows after its first
    # copy, and `republished` sent again with a fresh occurred_at (as the CSV producer stamps a
    # file it publishes again) within the window
    landed = datetime.now(UTC)
    project.land(
        [copy("late", long_ago, landed), copy("republished", landed, landed), copy("new", landed, landed)]
    )
    project.run()
    assert project.keys() == ["late", "new", "old", "republished"]
    # the floor: the late copy's event time less the slack, not now less the window
    in_milliseconds = long_ago.replace(microsecond=long_ago.microsecond // 1000 * 1000)
    assert floor_of(project.last_merge_condition()) == in_milliseconds - timedelta(minutes=SLACK_MINUTES)


def test_a_slice_of_new_events_merges_within_the_window_from_now(project):
    with_a_table(project)
    before = datetime.now(UTC)
    project.land([copy("fresh", before, before)])
    project.run()
    floor = floor_of(project.last_merge_condition())
    assert floor is not None
    assert before - timedelta(days=DAYS) <= floor <= datetime.now(UTC) - timedelta(days=DAYS)
    assert project.keys() == ["fresh", "old"]


def test_a_slice_with_an_event_without_a_time_merges_with_the_whole_table(project):
    with_a_table(project)
    landed = datetime.now(UTC)
    project.land([copy("untimed", None, landed), copy("old", None, landed)])
    project.run()
    assert "bronze_ingested_at" not in project.last_merge_condition()
    assert project.keys() == ["old", "untimed"]  # the untimed copy of `old` merged into it


def test_dbt_databricks_merges_through_the_projects_get_merge_sql(tmp_path):
    """On Databricks the window is resolved only if dbt-databricks' merge calls get_merge_sql
    (the project's takes its place at run time): its merge strategy is dbt's default, which
    does. Checked on the Databricks target's manifest, so an upgrade that changes it fails."""
    env = {
        **os.environ,
        "DATABRICKS_HOST": "adb-0000000000000000.0.azuredatabricks.net",
        "DATABRICKS_HTTP_PATH": "/sql/1.0/warehouses/0000000000000000",
        "DATABRICKS_TOKEN": "placeholder-not-a-token",
        "LAKEHOUSE_DATA_DIR": str(tmp_path),
    }
    completed = subprocess.run(
        [dbt_executable(), "parse", "--target", "databricks", "--profiles-dir", str(PROJECT_DIR)]
        + ["--target-path", str(tmp_path), "--no-partial-parse"],
        cwd=PROJECT_DIR,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert completed.returncode == 0, completed.stdout[-2000:]
    macros = json.loads((tmp_path / "manifest.json").read_text())["macros"]
    assert "macro.orders_lakehouse.get_merge_sql" in macros
    assert not [name for name in macros if name.endswith("databricks__get_incremental_merge_sql")]
    default = macros["macro.dbt.default__get_incremental_merge_sql"]["macro_sql"]
    assert "return(get_merge_sql(" in default.replace(" ", "")
