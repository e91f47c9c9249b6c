"""The data-quality record: each Silver run the runner starts (its dbt worker, `build --select
tag:silver` without tests) appends one row, whose counts equal what was written to Bronze,
counted here on its own; Gold runs add none; rules, exclusions, late events and freshness are
right; the books stop balancing when Silver holds an event Bronze never had. `python -m
ingest dq` prints the record, and `dbt source freshness` works on the local target."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb
import pyarrow as pa
import pytest
from deltalake import write_deltalake

from ingest.benchmarks.bronze_writer import (
    BASE_TIME,
    TOPIC,
    BronzeWriter,
    event,
    invalid,
    line,
    record_columns,
)
from ingest.local.dbt import DbtWorker, run_dbt
from ingest.local.schedule import DbtScheduler
from ingest.paths import PROJECT_DIR, DataDir

from ..waiting import wait_for

pytestmark = pytest.mark.integration


def sale(event_id: str, transaction_no: str, **fields: str) -> dict:
    return event(event_id, line(transaction_no=transaction_no, **fields))


# Run 1: Bronze batch 0, landed at 08:05.
BATCH_0 = [
    sale("s1", "540001", product_no="22001"),
    sale("s2", "540001", product_no="22002"),
    sale("s3", "540002", product_no="22003"),
    sale("s4", "540003", product_no="22004"),
    sale("s1", "540001", product_no="22001"),  # a redelivered copy of s1: removed
    sale("test-customer", "540004", customer_no="99990"),  # excluded: test_customer
    sale("twin-1", "540005", product_no="22005"),  # an exact duplicate line, first copy
    sale("twin-2", "540005", product_no="22005"),  # excluded: duplicate_line
    sale("price-0", "540006", price="0"),  # quarantined: non_positive_price
    sale("two-rules", "540007", price="abc", date="13/45/2019"),  # invalid_price, unparseable_date
    invalid("{oops"),  # quarantined: invalid_payload
]
# Run 2: batch 1 landed at 08:10; batch 2 landed late (08:02, before run 1's newest, 08:05);
# batch 3 landed at 08:10 with Kafka times of 08:01, older than run 1's newest (08:05).
BATCH_1 = [
    sale("s5", "540008", product_no="22006"),
    sale("s6", "540009", product_no="22007"),
    sale("s2", "540001", product_no="22002"),  # another copy of s2: removed
    sale("zero", "540010", quantity="0"),  # quarantined: zero_quantity
]
BATCH_2_LATE = [sale("late-1", "540011"), sale("late-2", "540012")]
BATCH_3_OUT_OF_ORDER = [sale("out-of-order", "540013")]

RUN_1 = {
    "bronze_events": 11,
    "checked_lines": 10,  # 11 rows, one of them a copy
    "new_checked_lines": 10,
    "trusted_lines": 7,  # s1-s4, test-customer, twin-1, twin-2
    "quarantined_lines": 3,
    "failed_lines": 0,
    "gold_lines": 5,  # s1-s4, twin-1
    "excluded_lines": 2,
    "duplicates_removed": 1,
    "unaccounted_events": 0,
    "late_events": 0,
    "is_balanced": True,
}
RUN_2 = {
    "bronze_events": 11 + 4 + 2 + 1,
    "checked_lines": 10 + 3 + 2 + 1,
    "new_checked_lines": 6,
    "trusted_lines": 7 + 2 + 2 + 1,
    "quarantined_lines": 4,
    "failed_lines": 0,
    "gold_lines": 5 + 2 + 2 + 1,
    "excluded_lines": 2,
    "duplicates_removed": 2,
    "unaccounted_events": 0,
    "late_events": 3,  # late-1, late-2 (landed late), out-of-order (older Kafka time)
    "is_balanced": True,
}
REASONS_1 = {
    ("quarantined", "non_positive_price"): 1,
    ("quarantined", "invalid_price"): 1,
    ("quarantined", "unparseable_date"): 1,
    ("quarantined", "invalid_payload"): 1,
    ("excluded", "test_customer"): 1,
    ("excluded", "duplicate_line"): 1,
}
REASONS_2 = {**REASONS_1, ("quarantined", "zero_quantity"): 1}


def append_with_kafka_time(
    writer: BronzeWriter, events: list[dict], landed: datetime, kafka: datetime
) -> None:
    """A Bronze batch whose Kafka record times differ from its landing time (BronzeWriter
    gives both the landing time)."""
    rows = []
    for item in events:
        offset = writer.next_offset.get(0, 0)
        writer.next_offset[0] = offset + 1
        rows.append(
            {
                **record_columns(item),
                "kafka_topic": TOPIC,
                "kafka_partition": 0,
                "kafka_offset": offset,
                "kafka_timestamp": kafka,
                "ingested_at": landed,
                "bronze_batch_id": writer.batch_id,
            }
        )
    write_deltalake(writer.path, pa.Table.from_pylist(rows, schema=writer.schema), mode="append")
    writer.batch_id += 1


class Runner:
    """The runner's dbt side: one worker process, builds launched by its scheduler."""

    def __init__(self, data: DataDir) -> None:
        data.run.mkdir(parents=True, exist_ok=True)
        data.warehouse.parent.mkdir(parents=True, exist_ok=True)
        self.worker = DbtWorker(data, {**os.environ, **data.env()})
        self.scheduler = DbtScheduler(self.worker, silver_every_s=300, gold_every_s=900)

    def start(self) -> None:
        self.worker.start()
        self.worker.run("seed")
        self.scheduler.start_clock(0.0)

    def build(self, *layers: str) -> None:
        self.scheduler.launch(layers, now=0.0)
        run = wait_for(self.scheduler.poll, "the dbt run to finish", 600)
        assert run.ok, f"dbt build of {layers} failed; see {self.worker.log_path}"


def record(warehouse: Path) -> tuple[list[dict], dict[str, dict]]:
    with duckdb.connect(str(warehouse), read_only=True) as con:
        cursor = con.execute("select * from silver.int_data_quality_runs order by run_at")
        columns = [d[0] for d in cursor.description]
        runs = [dict(zip(columns, row, strict=True)) for row in cursor.fetchall()]
        reasons: dict[str, dict] = {run["run_id"]: {} for run in runs}
        for run_id, outcome, reason, lines in con.execute(
            "select run_id, outcome, reason, line_count from silver.int_data_quality_run_reasons"
        ).fetchall():
            reasons[run_id][(outcome, reason)] = lines
    return runs, reasons


@pytest.fixture(scope="module")
def history(data_root):
    data = DataDir(data_root)
    writer = BronzeWriter(str(data.bronze_table))
    runner = Runner(data)
    runner.start()
    stamps = {}
    try:
        writer.append(BATCH_0, minutes_after_base=5)
        runner.build("silver")
        stamps["after_run_1"] = record(data.warehouse)
        writer.append(BATCH_1, minutes_after_base=10, partition=1)
        writer.append(BATCH_2_LATE, minutes_after_base=2, partition=2)
        append_with_kafka_time(
            writer,
            BATCH_3_OUT_OF_ORDER,
            landed=BASE_TIME + timedelta(minutes=10),
            kafka=BASE_TIME + timedelta(minutes=1),
        )
        runner.build("silver")
        stamps["after_run_2"] = record(data.warehouse)
        runner.build("gold")
        stamps["after_gold"] = record(data.warehouse)
        with duckdb.connect(str(data.warehouse)) as con:
            stamps["gold_fact_lines"] = con.execute("select count(*) from gold.fct_sales_lines").fetchone()[0]
            # a test-only break of the books: Silver now holds an event Bronze never had
            con.execute(
                "insert into silver.stg_bronze__order_lines_checked select * replace ("
                "'invented' as event_key, 'invented' as event_id, 999999 as kafka_offset)"
                " from silver.stg_bronze__order_lines_checked where event_id = 's3'"
            )
        runner.build("silver")
        stamps["after_break"] = record(data.warehouse)
    finally:
        runner.scheduler.stop()
    return stamps


def counts(run: dict) -> dict:
    return {key: run[key] for key in RUN_1}


def test_each_silver_run_appends_one_row_with_the_counts_written_to_bronze(history):
    runs, reasons = history["after_run_1"]
    assert [counts(run) for run in runs] == [RUN_1]
    assert reasons[runs[0]["run_id"]] == REASONS_1
    runs, reasons = history["after_run_2"]
    assert [counts(run) for run in runs] == [RUN_1, RUN_2]
    assert [reasons[run["run_id"]] for run in runs] == [REASONS_1, REASONS_2]
    assert runs[0]["run_id"] != runs[1]["run_id"]
    assert runs[0]["run_at"] < runs[1]["run_at"]


def test_a_run_never_rewrites_the_rows_before_it(history):
    first, _ = history["after_run_1"]
    runs, _ = history["after_break"]
    assert runs[0] == first[0]
    assert runs[:2] == history["after_run_2"][0]


def test_a_gold_run_adds_no_row(history):
    assert history["after_gold"] == history["after_run_2"]


def test_gold_lines_are_the_lines_the_gold_fact_holds_after_its_build(history):
    runs, _ = history["after_gold"]
    assert runs[-1]["gold_lines"] == history["gold_fact_lines"] == RUN_2["gold_lines"]


def test_source_freshness_is_the_newest_event_and_its_age_at_run_time(history):
    runs, _ = history["after_run_2"]
    first, second = runs
    assert first["newest_bronze_ingested_at"] == (BASE_TIME + timedelta(minutes=5)).replace(tzinfo=None)
    assert second["newest_bronze_ingested_at"] == (BASE_TIME + timedelta(minutes=10)).replace(tzinfo=None)
    assert second["newest_source_event_at"] == (BASE_TIME + timedelta(minutes=10)).replace(tzinfo=None)
    for run in runs:
        expected = (run["run_at"] - run["newest_bronze_ingested_at"]).total_seconds()
        assert abs(run["bronze_age_seconds"] - expected) <= 1
        assert abs(run["source_age_seconds"] - expected) <= 1


def test_the_books_stop_balancing_when_silver_holds_an_event_bronze_never_had(history):
    runs, _ = history["after_break"]
    assert [run["is_balanced"] for run in runs] == [True, True, False]
    broken = runs[-1]
    assert broken["checked_lines"] == RUN_2["checked_lines"] + 1
    assert broken["bronze_events"] == RUN_2["bronze_events"]
    assert broken["new_checked_lines"] == 1


def test_python_m_ingest_dq_prints_the_record_newest_first(history, data_root):
    completed = subprocess.run(
        [sys.executable, "-m", "ingest", "dq", "--runs", "2"],
        cwd=PROJECT_DIR,
        env={**os.environ, **DataDir(data_root).env()},
        capture_output=True,
        text=True,
        check=True,
    )
    lines = completed.stdout.splitlines()
    assert lines[0].split() == [
        "run", "at", "(UTC)", "Bronze", "checked", "new", "trusted", "quarantined", "failed",
        "Gold", "excluded", "dupes", "late", "books", "Bronze", "age",
    ]  # fmt: skip
    newest, previous = lines[1].split(), lines[2].split()
    # the invented event is a copy of s3's line under a new id: trusted, excluded as a duplicate
    # line, and late (it appeared in Silver with a landing time before the previous run's newest)
    assert newest[2:13] == ["18", "17", "1", "13", "4", "0", "10", "3", "2", "1", "UNBALANCED"]
    assert previous[2:13] == ["18", "16", "6", "12", "4", "0", "10", "2", "2", "3", "balanced"]
    assert (
        "  quarantined by rule  invalid_payload 1, invalid_price 1, non_positive_price 1," in completed.stdout
    )
    assert "  excluded by reason   duplicate_line 2, test_customer 1" in completed.stdout


# ---------------------------------------------------------------------------- dbt source freshness
def source_freshness(data: DataDir, fails: bool) -> dict:
    """`dbt source freshness` on the local target (the command fails on a stale source, as a
    scheduled check should): the Bronze source's result."""
    out = data.root / "sources.json"
    args = ("source", "freshness", "--output", str(out), "--target-path", str(data.root / "target"))
    if fails:
        with pytest.raises(RuntimeError, match="source freshness"):
            run_dbt(*args, data=data)
    else:
        run_dbt(*args, data=data)
    (result,) = json.loads(out.read_text())["results"]
    return result


def test_dbt_source_freshness_reads_bronze_on_the_local_target(tmp_path):
    data = DataDir(tmp_path)
    writer = BronzeWriter(str(data.bronze_table))
    two_hours_ago = datetime.now(UTC) - timedelta(hours=2)
    writer.append(
        [sale("old", "550001")], minutes_after_base=(two_hours_ago - BASE_TIME).total_seconds() / 60
    )
    stale = source_freshness(data, fails=True)
    assert stale["status"] == "error"  # error_after 60 minutes
    assert abs((datetime.fromisoformat(stale["max_loaded_at"]) - two_hours_ago).total_seconds()) < 1
    now = datetime.now(UTC)
    writer.append([sale("new", "550002")], minutes_after_base=(now - BASE_TIME).total_seconds() / 60)
    fresh = source_freshness(data, fails=False)
    assert fresh["status"] == "pass"
    assert abs((datetime.fromisoformat(fresh["max_loaded_at"]) - now).total_seconds()) < 1


def test_reasons_of_a_run_killed_before_its_record_are_dropped_by_the_next_run(tmp_path):
    """dbt killed after a run wrote its reasons but before its int_data_quality_runs row: the
    reasons name a run that does not exist (the chaos suite found it: the relationship test
    then failed on every later build). The next run deletes them."""
    data = DataDir(tmp_path)
    data.warehouse.parent.mkdir(parents=True)
    BronzeWriter(str(data.bronze_table)).append(BATCH_0, minutes_after_base=5)
    run_dbt("build", data=data)
    with duckdb.connect(str(data.warehouse)) as con:
        recorded = con.execute("select count(*) from silver.int_data_quality_run_reasons").fetchone()[0]
        con.execute(
            "insert into silver.int_data_quality_run_reasons "
            "select * replace ('killed-run' as run_id) from silver.int_data_quality_run_reasons"
        )
    assert recorded > 0, "the first run recorded no reason: nothing to copy into a killed run"
    run_dbt("build", data=data)  # its relationship test fails if a reason names no run
    runs, reasons = record(data.warehouse)
    assert "killed-run" not in reasons and len(runs) == 2
    assert sum(len(by_reason) for by_reason in reasons.values()) >= recorded

    # the very first run killed before its record: no int_data_quality_runs table at all
    with duckdb.connect(str(data.warehouse)) as con:
        con.execute("drop table silver.int_data_quality_runs")
    run_dbt("build", data=data)
    runs, reasons = record(data.warehouse)  # KeyError if a reason names a run not recorded
    assert len(runs) == 1 and set(reasons) == {runs[0]["run_id"]}
