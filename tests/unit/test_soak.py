"""The soak (`make soak`): its windows, its four targets on synthetic samples (each shown
passing and failing), the per-minute summary, the /proc tree classification on fake process
tables, and the chart written as a PNG. Times are seconds since the orders started; expected
figures are worked out by hand."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from ingest.benchmarks.soak import procs
from ingest.benchmarks.soak.chart import write_chart
from ingest.benchmarks.soak.report import markdown
from ingest.benchmarks.soak.samples import (
    DbtRun,
    DiskSample,
    MemorySample,
    Samples,
    dbt_run,
    status_record,
    summarise,
    weighted_median,
)
from ingest.benchmarks.soak.session import JsonLines
from ingest.benchmarks.soak.targets import (
    Windows,
    bronze_files,
    dbt_time,
    evaluate,
    freshness,
    memory_growth,
)

HOUR = Windows.for_duration(3600)


def run(
    t: float, seconds: float = 5.0, ok: bool = True, lines: int | None = 400, p50=6.0, p95=10.0
) -> DbtRun:
    return DbtRun(t=t, seconds=seconds, ok=ok, gold_lines=lines, fresh_p50=p50, fresh_p95=p95)


def every_10_s(start: float, end: float, **fields) -> list[DbtRun]:
    return [run(float(t), **fields) for t in range(int(start), int(end), 10)]


def disk(t: float, live: int | None) -> DiskSample:
    return DiskSample(t=t, live_files=live, parquet_files=live or 0, log_entries=0, mb={"bronze": 1.0})


# ---------------------------------------------------------------------------- windows


def test_an_hour_has_a_five_minute_warm_up_and_ten_minute_windows():
    assert HOUR.warmup_end == 300
    assert HOUR.first == (300, 900)
    assert HOUR.last == (3000, 3600)
    assert HOUR.middle_third == (1200, 2400)
    assert HOUR.last_third == (2400, 3600)
    assert not HOUR.scaled


def test_a_three_minute_run_scales_the_windows():
    w = Windows.for_duration(180)
    # warm-up 180/12 = 15 s, first window the next 180/6 = 30 s, last window the last 30 s
    assert w.warmup_end == pytest.approx(15)
    assert w.first == pytest.approx((15, 45))
    assert w.last == pytest.approx((150, 180))
    assert w.row_s == pytest.approx(30)
    assert w.scaled


def test_a_two_hour_run_keeps_the_hour_windows_and_moves_the_last_one():
    w = Windows.for_duration(7200)
    assert (w.warmup_end, w.first, w.last) == (300, (300, 900), (6600, 7200))


# ---------------------------------------------------------------------------- 1. dbt run time


def test_dbt_time_growing_1_2x_passes():
    runs = every_10_s(300, 900, seconds=5.0) + every_10_s(3000, 3600, seconds=6.0)
    result = dbt_time(runs, HOUR)
    assert result.passed
    assert "1.20x" in result.figures


def test_dbt_time_growing_1_3x_fails():
    runs = every_10_s(300, 900, seconds=5.0) + every_10_s(3000, 3600, seconds=6.5)
    assert not dbt_time(runs, HOUR).passed


def test_dbt_time_compares_medians_so_one_slow_run_does_not_fail_it():
    runs = every_10_s(300, 900, seconds=5.0) + every_10_s(3000, 3600, seconds=5.0) + [run(3300, seconds=60.0)]
    assert dbt_time(runs, HOUR).passed


def test_dbt_time_leaves_out_the_warm_up_and_failed_runs():
    warm_up = every_10_s(0, 300, seconds=30.0)  # slow first runs: not the baseline
    failed = [run(3100 + i, seconds=0.5, ok=False) for i in range(100)]  # fast failures: not counted
    runs = warm_up + every_10_s(300, 900, seconds=5.0) + every_10_s(3000, 3600, seconds=7.0) + failed
    assert not dbt_time(runs, HOUR).passed  # 7 / 5 = 1.4x


def test_dbt_time_without_runs_in_the_last_window_fails_as_no_data():
    result = dbt_time(every_10_s(300, 900), HOUR)
    assert not result.passed
    assert result.figures.startswith("no data")


# ---------------------------------------------------------------------------- 2. freshness


def test_freshness_under_10_s_in_every_minute_passes():
    assert freshness(every_10_s(300, 3600, p95=9.9), HOUR).passed


def test_one_minute_with_a_p95_of_10_2_fails_and_is_named():
    runs = every_10_s(300, 3600, p95=8.0) + [run(19 * 60 + 30, p95=10.2)]
    result = freshness(runs, HOUR)
    assert not result.passed
    assert "10.2 s in minute 20" in result.figures
    assert "1 of" in result.figures


def test_freshness_during_the_warm_up_and_the_catch_up_is_not_judged():
    runs = every_10_s(0, 300, p95=40.0) + every_10_s(300, 3600, p95=9.0) + [run(3650, p95=30.0)]
    assert freshness(runs, HOUR).passed


def test_freshness_ignores_runs_that_added_no_lines():
    runs = every_10_s(300, 3600, p95=9.0) + [run(1000, lines=0, p95=None, p50=None)]
    assert freshness(runs, HOUR).passed


# ---------------------------------------------------------------------------- 3. memory


def memory(first_mb: dict[str, float], last_mb: dict[str, float]) -> list[MemorySample]:
    """Samples every 5 s: `first_mb` up to minute 15, `last_mb` from minute 50 on, a linear
    ramp between (the peaks of the windows are the two dictionaries)."""
    samples = []
    for t in range(0, 3600, 5):
        share = min(max((t - 900) / (3000 - 900), 0.0), 1.0)
        samples.append(
            MemorySample(
                t, {name: first_mb[name] + share * (last_mb[name] - first_mb[name]) for name in first_mb}
            )
        )
    return samples


def test_memory_growing_9_percent_passes():
    assert memory_growth(memory({"spark": 1000, "relay": 60}, {"spark": 1090, "relay": 60}), HOUR).passed


def test_one_process_growing_11_percent_fails_and_is_named():
    result = memory_growth(memory({"spark": 1000, "relay": 60}, {"spark": 1000, "relay": 66.6}), HOUR)
    assert not result.passed
    assert result.figures.startswith("relay grew more")


def test_memory_compares_peaks_so_a_spike_in_the_first_window_is_the_baseline():
    samples = memory({"spark": 1000}, {"spark": 1150})
    samples.append(MemorySample(600, {"spark": 1200}))  # a peak in minutes 5-15
    assert memory_growth(sorted(samples, key=lambda s: s.t), HOUR).passed


def test_memory_leaves_out_the_transient_compaction():
    assert memory_growth(memory({"spark": 1000, "compact": 50}, {"spark": 1000, "compact": 400}), HOUR).passed


# ---------------------------------------------------------------------------- 4. Bronze files


def test_a_saw_tooth_of_compactions_is_bounded():
    # compaction every 10 minutes: the live count climbs one file per 2 s, then drops to 1
    samples = [disk(t, 1 + (t % 600) // 2) for t in range(0, 3600, 5)]
    assert bronze_files(samples, HOUR).passed


def test_a_file_count_that_only_grows_is_not_bounded():
    samples = [disk(t, 1 + t // 2) for t in range(0, 3600, 5)]
    result = bronze_files(samples, HOUR)
    assert not result.passed
    # most in the last third 1 + 3595 // 2 = 1798, in the middle third 1 + 2395 // 2 = 1198
    assert "1,798" in result.figures and "1,198" in result.figures


def test_bronze_files_allow_ten_percent_more_but_not_eleven():
    middle = [disk(1500, 300)]
    assert bronze_files([*middle, disk(3000, 330)], HOUR).passed
    assert not bronze_files([*middle, disk(3000, 333)], HOUR).passed


def test_every_target_fails_without_samples():
    results = evaluate(Samples(), HOUR)
    assert [r.passed for r in results] == [False, False, False, False]


# ---------------------------------------------------------------------------- a minute's summary


def test_weighted_median_follows_the_weights():
    assert weighted_median([1.0, 10.0], [1, 3]) == 10.0
    assert weighted_median([1.0, 10.0], [3, 1]) == 1.0
    assert weighted_median([5.0, 1.0, 3.0], [1, 1, 1]) == 3.0


def test_a_minute_takes_the_median_run_time_the_lines_weighted_p50_and_the_worst_p95():
    samples = Samples(
        dbt=[
            run(61, seconds=4.0, lines=100, p50=9.0, p95=12.0),
            run(71, seconds=6.0, lines=900, p50=5.0, p95=8.0),
            run(81, seconds=5.0, lines=0, p50=None, p95=None),
            run(91, seconds=1.0, ok=False, lines=None, p50=None, p95=None),
            run(121, seconds=50.0),  # the next minute
        ],
        memory=[MemorySample(65, {"spark": 900.0}), MemorySample(70, {"spark": 950.0})],
    )
    s = summarise(samples, 60, 120)
    assert (s.dbt_runs, s.dbt_failed, s.dbt_median, s.dbt_max) == (3, 1, 5.0, 6.0)
    assert (s.fresh_p50, s.fresh_p95, s.gold_lines) == (5.0, 12.0, 1000)
    assert s.mem_peak == {"spark": 950.0}


def test_records_are_placed_by_their_wall_clock_time_since_the_orders_started():
    t0 = datetime(2026, 11, 30, 1, 0, tzinfo=UTC)
    at = (t0 + timedelta(seconds=75.5)).isoformat()
    assert status_record({"at": at, "line": "x", "orders_per_s": 39.5}, t0.timestamp()).t == pytest.approx(
        75.5
    )
    parsed = dbt_run(
        {"ended_at": at, "layers": ["silver", "gold"], "seconds": 6.2, "ok": True}, t0.timestamp()
    )
    assert (parsed.t, parsed.seconds, parsed.gold_lines) == (pytest.approx(75.5), 6.2, None)
    assert dbt_run({"ended_at": None, "seconds": 1.0}, t0.timestamp()) is None


def test_json_lines_waits_for_a_line_still_being_written(tmp_path):
    path = tmp_path / "status.jsonl"
    follow = JsonLines(path)
    assert follow.read_new() == []
    path.write_text('{"a": 1}\n{"a": 2')
    assert follow.read_new() == [{"a": 1}]
    with path.open("a") as out:
        out.write("}\n")
    assert follow.read_new() == [{"a": 2}]
    assert follow.read_new() == []


# ---------------------------------------------------------------------------- the process tree


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (
            ["/usr/bin/java", "-Xmx1g", "-cp", "/repo/.jars/kafka/a.jar", "kafka.Kafka", "server.properties"],
            "broker",
        ),
        (
            [
                "/usr/lib/jvm/java-17-openjdk-amd64/bin/java",
                "-cp",
                "jars",
                "org.apache.spark.deploy.SparkSubmit",
            ],
            "spark",
        ),
        (["/usr/lib/postgresql/15/bin/postgres", "-D", "/data/postgres", "-p", "5432"], "postgres"),
        (["postgres: walsender postgres 127.0.0.1(45718) START_REPLICATION"], "postgres"),
        (["/venv/bin/python", "-m", "ingest", "orders", "relay", "--retention-minutes", "60"], "relay"),
        (["/venv/bin/python", "-m", "ingest", "orders", "simulate", "--rate", "40"], "simulator"),
        (["/venv/bin/python", "-m", "ingest", "bronze", "--trigger-interval", "2 seconds"], "bronze-py"),
        (["/venv/bin/python", "-m", "pyspark.daemon", "pyspark.worker"], "bronze-py"),
        (["/venv/bin/python", "-m", "pyspark.sql.streaming.python_streaming_source_runner"], "bronze-py"),
        (["/venv/bin/python", "-m", "ingest.local.dbt", "dbt-worker", "--target", "local"], "dbt"),
        (["/venv/bin/python", "-m", "ingest", "compact", "--retention-hours", "1"], "compact"),
        (["/venv/bin/python", "-m", "ingest", "run", "--fast", "--rate", "40"], "runner"),
        (["/venv/bin/python", "-B", "-c", "from multiprocessing.resource_tracker import main;main(4)"], None),
        (["/venv/bin/python", "-m", "ingest", "orders", "db", "start"], None),
        ([], None),
    ],
)
def test_a_command_line_names_its_class(argv, expected):
    assert procs.classify(argv) == expected


def fake_table() -> dict[int, procs.Proc]:
    """The runner (100) and its tree, PostgreSQL (200, started detached: a child of 1), and a
    process of someone else's (300)."""
    py = "/venv/bin/python"
    rows = [
        (1, 0, ["/sbin/init"]),
        (100, 50, [py, "-m", "ingest", "run", "--fast"]),
        (101, 100, ["/usr/bin/java", "-cp", "k.jar", "kafka.Kafka", "server.properties"]),
        (102, 100, [py, "-m", "ingest", "orders", "relay"]),
        (103, 100, [py, "-m", "ingest", "bronze"]),
        (104, 103, ["/usr/bin/java", "-cp", "x"]),
        (105, 104, [py, "-m", "pyspark.daemon", "pyspark.worker"]),
        (106, 105, [py, "-m", "pyspark.daemon", "pyspark.worker"]),
        (107, 104, []),  # a defunct shell: no command line
        (108, 100, [py, "-m", "ingest.local.dbt", "dbt-worker"]),
        (109, 108, [py, "-B", "-c", "from multiprocessing.resource_tracker import main"]),
        (110, 100, ["/bin/sh", "-c", "something"]),
        (200, 1, ["/usr/lib/postgresql/15/bin/postgres", "-D", "d"]),
        (201, 200, ["postgres: checkpointer "]),
        (202, 200, ["postgres: postgres orders 127.0.0.1(1) idle"]),
        (300, 1, [py, "-m", "ingest", "orders", "relay"]),
    ]
    return {pid: procs.Proc(pid, ppid, tuple(argv)) for pid, ppid, argv in rows}


def test_the_runner_tree_and_the_detached_database_are_classified():
    classes = procs.assign(fake_table(), roots=[100, 200, 101])
    assert classes == {
        100: "runner",
        101: "broker",
        102: "relay",
        103: "bronze-py",
        104: "spark",
        105: "bronze-py",
        106: "bronze-py",
        107: "spark",  # no command line: its parent's class
        108: "dbt",
        109: "dbt",
        110: "runner",
        200: "postgres",
        201: "postgres",
        202: "postgres",
    }  # 1 and 300 are not below a root


def test_a_root_that_is_gone_is_skipped():
    assert procs.assign(fake_table(), roots=[999]) == {}


def write_proc(root, pid: int, ppid: int, comm: str, argv: list[str], pss_kb=None, rss_kb=None) -> None:
    folder = root / str(pid)
    folder.mkdir()
    (folder / "stat").write_text(f"{pid} ({comm}) S {ppid} {pid} {pid} 0 -1\n")
    (folder / "cmdline").write_bytes(b"\0".join(a.encode() for a in argv) + b"\0")
    if pss_kb is not None:
        (folder / "smaps_rollup").write_text(
            f"00400000-7ff rw-p 0 0:0 0 [rollup]\nRss: 1 kB\nPss: {pss_kb} kB\n"
        )
    if rss_kb is not None:
        (folder / "status").write_text(f"Name:\t{comm}\nVmRSS:\t{rss_kb} kB\n")


def test_memory_sums_each_class_over_a_fake_proc(tmp_path):
    py = "/venv/bin/python"
    write_proc(tmp_path, 10, 1, "python", [py, "-m", "ingest", "run"], pss_kb=20 * 1024)
    write_proc(tmp_path, 11, 10, "java", ["/usr/bin/java", "-cp", "x"], pss_kb=1000 * 1024)
    write_proc(tmp_path, 12, 11, "python (worker) x", [py, "-m", "pyspark.daemon"], pss_kb=100 * 1024)
    write_proc(
        tmp_path, 13, 10, "python", [py, "-m", "ingest", "bronze"], rss_kb=50 * 1024
    )  # no smaps_rollup
    write_proc(tmp_path, 20, 1, "postgres", ["/usr/lib/postgresql/15/bin/postgres"], pss_kb=30 * 1024)
    write_proc(tmp_path, 21, 20, "postgres", ["postgres: walwriter "], pss_kb=5 * 1024)
    write_proc(tmp_path, 30, 1, "python", [py, "-m", "ingest", "orders", "relay"], pss_kb=999 * 1024)
    (tmp_path / "self").mkdir()  # not a PID

    assert procs.memory_by_class([10, 20], proc_root=tmp_path) == {
        "runner": 20.0,
        "spark": 1000.0,
        "bronze-py": 150.0,  # a worker's PSS plus the driver's VmRSS
        "postgres": 35.0,
    }


def test_a_pid_file_gives_its_pid(tmp_path):
    (tmp_path / "postgres.pid").write_text("4242 56565\n")
    assert procs.recorded_pid(tmp_path / "postgres.pid") == 4242
    assert procs.recorded_pid(tmp_path / "broker.pid") is None


# ---------------------------------------------------------------------------- chart and results


def synthetic_hour() -> Samples:
    return Samples(
        memory=memory(
            {"spark": 1000, "relay": 60, "postgres": 90}, {"spark": 1050, "relay": 61, "postgres": 95}
        ),
        disk=[disk(t, 1 + (t % 600) // 2) for t in range(0, 3600, 5)],
        dbt=every_10_s(0, 3600, seconds=5.0, p95=8.0) + [run(700, ok=False, lines=None, p50=None, p95=None)],
    )


def test_the_chart_is_a_png(tmp_path):
    path = write_chart(synthetic_hour(), HOUR, tmp_path / "bench" / "soak-test.png", title="test")
    data = path.read_bytes()
    assert data.startswith(b"\x89PNG\r\n\x1a\n")
    assert len(data) > 10_000


def test_the_chart_is_drawn_with_nothing_measured(tmp_path):
    path = write_chart(Samples(), Windows.for_duration(180), tmp_path / "empty.png")
    assert path.read_bytes().startswith(b"\x89PNG")


def test_the_results_section_has_a_row_per_table_slice_the_chart_and_each_target():
    samples = synthetic_hour()
    rows = [(f"{m}-{m + 10}", summarise(samples, m * 60, (m + 10) * 60)) for m in range(0, 60, 10)]
    results = evaluate(samples, HOUR)
    text = markdown(
        when="2026-11-30 01:00 UTC",
        windows=HOUR,
        rate=40,
        requested_s=3600,
        machine="2 cores",
        startup_s=40,
        rows=rows,
        chart="soak-x.png",
        results=results,
        runner="exit code 0",
    )
    assert [r.passed for r in results] == [True, True, True, True]
    assert "![soak chart" in text and "(soak-x.png)" in text
    assert sum(line.startswith("| 0-10 |") or line.startswith("| 50-60 |") for line in text.splitlines()) == 2
    assert text.count("| PASS |") == 4


def test_the_equality_check_finds_a_row_only_one_build_has_and_ignores_run_times(tmp_path):
    import duckdb

    from ingest.benchmarks.soak import equality
    from ingest.paths import DataDir

    builds = {name: DataDir(tmp_path / name) for name in ("increments", "full")}
    for name, data in builds.items():
        data.warehouse.parent.mkdir(parents=True)
        with duckdb.connect(str(data.warehouse)) as con:
            con.execute("create schema gold; create schema silver")
            con.execute("create table gold.fct (k int, v int, silver_recomputed_at int)")
            con.execute(f"insert into gold.fct values (1, 10, {len(name)}), (2, 20, {len(name)})")
            con.execute("create table silver.int_data_quality_runs (run_id varchar)")  # per run
            con.execute(f"insert into silver.int_data_quality_runs values ('{name}')")
            con.execute("create table silver.lines (k int)")
            con.execute(
                "insert into silver.lines values (1), (1)"
                if name == "full"
                else "insert into silver.lines values (1)"
            )

    results = {r.table: r for r in equality.compare(builds["increments"], builds["full"])}

    assert set(results) == {"gold.fct", "silver.lines"}
    assert results["gold.fct"].equal  # the run-time column differs, the rows do not
    lines = results["silver.lines"]
    assert not lines.equal and (lines.rows, lines.rows_full, lines.only_incremental, lines.only_full) == (
        1,
        2,
        0,
        1,
    )
    assert equality.markdown(list(results.values()), 1.0).startswith("Incremental = full refresh: FAIL")
