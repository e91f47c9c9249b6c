"""The dbt scheduler's clock: when Silver and Gold are due, and what a launch moves on.

Silver every 10 s and Gold every 30 s throughout; times are plain seconds, as from
time.monotonic(), and the expected next times are worked out by hand."""

from __future__ import annotations

import pytest

from ingest.local.schedule import DbtScheduler

# a build of both layers without the data tests and without JSON artifacts
FULL_BUILD = (
    "build",
    "--no-write-json",
    "--select",
    "tag:silver",
    "tag:gold",
    "--exclude",
    "resource_type:test",
    "resource_type:unit_test",
)


class FakeWorker:
    """Records the commands sent and answers with whatever the test queues."""

    log_path = "dbt.log"

    def __init__(self) -> None:
        self.sent: list[tuple[str, ...]] = []
        self.queued: list[dict] = []

    def send(self, *args: str) -> None:
        self.sent.append(args)

    def answer_now(self) -> dict | None:
        return self.queued.pop(0) if self.queued else None

    def stop(self, command_running: bool) -> None:
        pass


@pytest.fixture
def worker() -> FakeWorker:
    return FakeWorker()


@pytest.fixture
def scheduler(worker: FakeWorker) -> DbtScheduler:
    return DbtScheduler(worker, silver_every_s=10.0, gold_every_s=30.0)


def test_nothing_is_due_before_the_clock_starts(scheduler):
    assert not scheduler.clock_started
    assert scheduler.due(1_000_000.0) == ()


def test_start_clock_makes_each_layer_due_one_interval_later(scheduler):
    scheduler.start_clock(100.0)

    assert scheduler.clock_started
    assert scheduler.next_due == {"silver": 110.0, "gold": 130.0}
    assert scheduler.due(109.9) == ()
    assert scheduler.due(110.0) == ("silver",)


def test_both_layers_due_together_are_one_run_silver_first(scheduler, worker):
    scheduler.start_clock(0.0)

    assert scheduler.due(30.0) == ("silver", "gold")
    scheduler.launch(("silver", "gold"), 30.0)

    assert worker.sent == [FULL_BUILD]
    assert scheduler.busy


def test_a_launch_on_time_moves_the_layer_on_by_its_interval_only(scheduler):
    scheduler.start_clock(0.0)

    scheduler.launch(("silver",), 10.0)

    assert scheduler.next_due == {"silver": 20.0, "gold": 30.0}


def test_a_launch_a_little_late_keeps_the_cadence(scheduler):
    scheduler.start_clock(0.0)

    scheduler.launch(("silver",), 14.0)  # due at 10, launched at 14: next still at 20

    assert scheduler.next_due["silver"] == 20.0


def test_after_a_stall_the_missed_runs_are_not_made_up_one_by_one(scheduler):
    scheduler.start_clock(0.0)
    # Silver was due at 10; nothing ran until 110, ten intervals later.
    scheduler.launch(("silver",), 110.0)
    assert scheduler.next_due["silver"] == 110.0  # max(10 + 10, 110): one catch-up run now
    scheduler.launch(("silver",), 110.0)
    assert scheduler.next_due["silver"] == 120.0  # max(110 + 10, 110): then the cadence again

    assert scheduler.due(119.9) == ("gold",)  # Gold, never launched here, is still due since 30


def test_a_finished_run_is_reported_once_and_remembered_per_layer(scheduler, worker):
    scheduler.start_clock(0.0)
    scheduler.launch(("silver", "gold"), 30.0)
    assert scheduler.poll() is None  # no answer yet

    worker.queued.append({"ok": True, "nodes": {"fct_sales_lines": "success"}})
    run = scheduler.poll()

    assert run is not None and run.ok and run.fct_built
    assert run.layers == ("silver", "gold")
    assert scheduler.last == {"silver": run, "gold": run}
    assert (scheduler.finished, scheduler.failures, scheduler.busy) == (1, 0, False)
    assert scheduler.poll() is None


def test_a_failed_run_counts_as_a_failure_and_is_not_the_last_good_run(scheduler, worker):
    scheduler.start_clock(0.0)
    scheduler.launch(("silver",), 10.0)
    worker.queued.append({"ok": False, "nodes": {"stg_bronze__order_lines": "error"}, "error": "boom"})

    run = scheduler.poll()

    assert run is not None and not run.ok
    assert scheduler.last == {}
    assert (scheduler.finished, scheduler.failures) == (1, 1)


def test_a_worker_that_exited_stops_the_run(scheduler, worker):
    scheduler.start_clock(0.0)
    scheduler.launch(("silver",), 10.0)
    worker.queued.append({"ok": False, "error": "the dbt worker exited", "exited": True})

    with pytest.raises(RuntimeError, match="dbt worker exited"):
        scheduler.poll()


# ---------------------------------------------------------------- fast mode: when data lands
class Bronze:
    """Bronze's commit version as the scheduler reads it: the test moves it."""

    def __init__(self) -> None:
        self.version = 3

    def __call__(self) -> int:
        return self.version


def test_when_data_lands_a_run_starts_on_a_new_commit_and_not_before(worker):
    bronze = Bronze()
    scheduler = DbtScheduler(worker, silver_every_s=10.0, gold_every_s=10.0, landed=bronze)
    assert scheduler.due(0.0) == ()  # no clock yet
    scheduler.start_clock(0.0)
    assert scheduler.due(0.0) == ("silver", "gold")  # version 3 has not been run on
    scheduler.launch(("silver", "gold"), 0.0)
    bronze.version = 4  # lands while the run goes on
    worker.queued.append({"ok": True, "nodes": {}})
    assert scheduler.poll().ok
    assert scheduler.due(0.1) == ("silver", "gold")  # at once, no cadence to wait for
    scheduler.launch(("silver", "gold"), 0.1)
    worker.queued.append({"ok": True, "nodes": {}})
    scheduler.poll()
    assert scheduler.due(1_000.0) == ()  # nothing new: no run, however long


def test_a_layer_built_once_by_the_worker_then_builds_what_bronze_feeds_less_views(worker):
    scheduler = DbtScheduler(worker, silver_every_s=10.0, gold_every_s=10.0, landed=Bronze())
    scheduler.start_clock(0.0)
    scheduler.launch(("silver", "gold"), 0.0)
    worker.queued.append({"ok": False, "nodes": {}})
    scheduler.poll()
    scheduler.launch(("silver", "gold"), 1.0)  # the first run failed: everything again
    worker.queued.append({"ok": True, "nodes": {}})
    scheduler.poll()
    scheduler.launch(("silver", "gold"), 2.0)

    lean = (
        "build",
        "--no-write-json",
        "--select",
        "source:bronze.sales_transactions+,tag:silver,config.materialized:incremental",
        "source:bronze.sales_transactions+,tag:silver,config.materialized:table",
        "source:bronze.sales_transactions+,tag:silver,resource_type:snapshot",
        "source:bronze.sales_transactions+,tag:gold,config.materialized:incremental",
        "source:bronze.sales_transactions+,tag:gold,config.materialized:table",
        "source:bronze.sales_transactions+,tag:gold,resource_type:snapshot",
        "tag:every_run,tag:silver",
        "tag:every_run,tag:gold",
        "--exclude",
        "resource_type:test",
        "resource_type:unit_test",
    )
    assert worker.sent == [FULL_BUILD, FULL_BUILD, lean]


def test_delta_commits_reads_the_newest_version_and_follows_new_commits(tmp_path):
    from ingest.paths import DeltaCommits

    commits = DeltaCommits(tmp_path / "table")
    assert commits() == -1  # no table yet
    log = tmp_path / "table" / "_delta_log"
    log.mkdir(parents=True)
    for version in (0, 1, 2):
        (log / f"{version:020d}.json").write_text("{}")
    (log / "00000000000000000002.checkpoint.parquet").write_text("")
    assert commits() == 2
    (log / f"{3:020d}.json").write_text("{}")
    (log / f"{4:020d}.json").write_text("{}")
    assert commits() == 4
    assert DeltaCommits(tmp_path / "table")() == 4  # a table from an earlier run
