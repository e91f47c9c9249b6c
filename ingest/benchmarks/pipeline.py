"""`make bench`: ingest throughput and dbt build time, printed and written to a results file.

A benchmark, not a test: it measures and reports, it does not pass or fail on a figure.
Steps, on a fresh data directory under data/bench:
1. generate a synthetic v.4a CSV of N lines (cached; not timed);
2. publish it to a fresh local broker (publish rate, events/s);
3. drain the topic into Bronze with the streaming ingester (drain rate; per-batch rates;
   the steady rate leaves out the first batch, which pays for JVM and Python worker warm-up);
4. `dbt build --target local` on that Bronze (full build), then again with nothing new
   (the incremental no-op cost);
5. Silver at two history sizes (1x and 4x days of Bronze at the same event rate, written
   straight into Delta): a full refresh, then an incremental run for a 5-minute slice of new
   events. The incremental cost must follow the new data, not the history.
"""

from __future__ import annotations

import json
import os
import platform
import resource
import statistics
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

from ingest import producer
from ingest.config import BronzeConfig, KafkaConfig, Settings
from ingest.generator import SyntheticSales, write_csv
from ingest.local import broker
from ingest.local.dbt import run_dbt
from ingest.local.run_options import DEFAULT_ORDER_RATE, FAST_LOOKBACK_HOURS, RunnerOptions
from ingest.paths import PROJECT_DIR, DataDir


def _median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def _dbt_seconds(data: DataDir, *args: str) -> tuple[float, float]:
    """(wall seconds, seconds dbt spent in the selected nodes) of one dbt call."""
    started = time.monotonic()
    run_dbt(*args, quiet=True, data=data)
    wall = time.monotonic() - started
    results = json.loads((PROJECT_DIR / "target" / "run_results.json").read_text())
    return wall, sum(r["execution_time"] for r in results["results"])


def silver_bench(history_events: int, figures: dict[str, str], base: DataDir) -> None:
    """Full refresh vs a 5-minute incremental slice of Silver, on 1x and 4x the history, each
    in a data directory of its own below `base`."""
    from ingest.benchmarks.bronze_writer import BronzeWriter, event
    from ingest.events import LINE_FIELDS

    per_minute = history_events / (24 * 60)  # the history is one day of events per 1x
    batch_minutes = 15
    slice_events = round(per_minute * 5)
    for multiple in (1, 4):
        data = base.below(f"bench-silver-{multiple}x")
        data.reset_lakehouse()
        writer = BronzeWriter(str(data.bronze_table))
        total = history_events * multiple
        rows = enumerate(SyntheticSales(total + slice_events, seed=7).rows())
        batch_size = round(per_minute * batch_minutes)
        minute = 0.0
        written = 0
        print(f"bench: writing {total:,} Bronze rows ({multiple}x history)", file=sys.stderr)
        while written < total:
            size = min(batch_size, total - written)
            batch = [event(f"h{i}", dict(zip(LINE_FIELDS, row, strict=True))) for i, row in _take(rows, size)]
            writer.append(batch, minutes_after_base=minute)
            written += size
            minute += batch_minutes
        run_dbt("seed", quiet=True, data=data)
        full_wall, full_nodes = _dbt_seconds(data, "run", "--select", "tag:silver")
        new = [
            event(f"n{i}", dict(zip(LINE_FIELDS, row, strict=True))) for i, row in _take(rows, slice_events)
        ]
        writer.append(new, minutes_after_base=minute + 5)
        inc_wall, inc_nodes = _dbt_seconds(data, "run", "--select", "tag:silver")
        figures[f"silver_full_{multiple}x"] = (
            f"{full_nodes:.1f} s in models ({full_wall:.1f} s wall), {total:,} Bronze rows"
        )
        figures[f"silver_incremental_{multiple}x"] = (
            f"{inc_nodes:.1f} s in models ({inc_wall:.1f} s wall), {slice_events:,} new events"
        )


def synthetic_csv(data: DataDir, lines: int) -> Path:
    """The benchmarks' input: a synthetic v.4a CSV of `lines` lines, generated once (not timed)."""
    csv_path = data.root / "bench-input" / f"synthetic-{lines}.csv"
    if not csv_path.exists():
        csv_path.parent.mkdir(parents=True, exist_ok=True)
        print(f"bench: generating {lines:,} lines into {csv_path} (once, not timed)", file=sys.stderr)
        write_csv(str(csv_path), lines, seed=42)
    return csv_path


def _take(iterator, n: int):
    for _ in range(n):
        yield next(iterator)


def main(
    data: DataDir,
    events: int = 1_000_000,
    out: str = "bench/results.md",
    silver_history: int = 500_000,
) -> int:
    """The bench in data directories of its own below `data`."""
    csv_path = synthetic_csv(data, events)

    bench = data.below("bench")
    bench.reset_lakehouse()
    figures: dict[str, str] = {}
    with broker.running(data=bench) as running:
        kafka = KafkaConfig(bootstrap_servers=running.bootstrap_servers)
        result = producer.publish_csv(str(csv_path), kafka)
        figures["publish"] = (
            f"{result.published:,} events in {result.seconds:.1f} s = {result.rate:,.0f} events/s"
        )

        from ingest.bronze import job

        config = BronzeConfig.at(bench, kafka)
        started = time.monotonic()
        spark = job.local_spark("bench")
        session_s = time.monotonic() - started
        query_started = time.monotonic()
        bronze_run = job.run(config, available_now=True, spark=spark)
        drain_s = time.monotonic() - query_started
        spark.stop()
    landed = bronze_run.landed
    batch_rates = [rows / secs for rows, secs in bronze_run.batches if secs]
    figures["drain"] = (
        f"{landed:,} events in {drain_s:.1f} s = {landed / drain_s:,.0f} events/s "
        f"(plus {session_s:.1f} s SparkSession start)"
    )
    figures["batches"] = f"{len(bronze_run.batches)} micro-batches of <= {config.max_events_per_batch:,}"
    if batch_rates:
        figures["steady"] = (
            f"median {_median(batch_rates[1:] or batch_rates):,.0f} events/s per batch after the first"
        )

    started = time.monotonic()
    run_dbt("build", data=bench)
    figures["dbt_full"] = (
        f"{time.monotonic() - started:.1f} s (dbt build --target local, {landed:,} Bronze rows)"
    )
    started = time.monotonic()
    run_dbt("build", data=bench)
    figures["dbt_noop"] = f"{time.monotonic() - started:.1f} s (same build again, no new events)"

    silver_bench(silver_history, figures, data)

    peak_mb = (
        resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        + resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    ) / 1024
    _print_and_append(render(events, figures, peak_mb), out)
    return 0 if landed == result.published else 1


def _print_and_append(text: str, out: str) -> None:
    print(text)
    out_path = Path(out)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    with out_path.open("a") as handle:
        handle.write(text + "\n")
    print(f"bench: appended to {out_path}", file=sys.stderr)


def render(events: int, figures: dict[str, str], peak_mb: float) -> str:
    when = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    lines = [
        f"## {when}: {events:,} events, {os.cpu_count()} cores, Python {platform.python_version()}",
        "",
        "| step | figure |",
        "|---|---|",
        f"| publish (CSV -> topic, idempotent, acks=all) | {figures['publish']} |",
        f"| drain (topic -> Bronze Delta, Spark local[2]) | {figures['drain']} |",
        f"| micro-batches | {figures['batches']} |",
    ]
    if "steady" in figures:
        lines.append(f"| drain, steady state | {figures['steady']} |")
    lines += [
        f"| dbt build, full | {figures['dbt_full']} |",
        f"| dbt build, incremental no-op | {figures['dbt_noop']} |",
        f"| Silver full refresh, 1x history | {figures['silver_full_1x']} |",
        f"| Silver incremental 5-min slice, 1x history | {figures['silver_incremental_1x']} |",
        f"| Silver full refresh, 4x history | {figures['silver_full_4x']} |",
        f"| Silver incremental 5-min slice, 4x history | {figures['silver_incremental_4x']} |",
        f"| peak RSS (python + waited children) | {peak_mb:,.0f} MB |",
        "",
    ]
    return "\n".join(lines)


def freshness_bench(
    data: DataDir,
    rate: float = DEFAULT_ORDER_RATE,
    duration_s: float = 180.0,
    out: str = "bench/results.md",
) -> int:
    """End-to-end freshness on the local runner in fast mode: outbox commit -> visible in Gold.

    Per line: the end time of the first Gold run in which it appears in gold.fct_sales_lines,
    minus its Kafka record timestamp (set by the relay to the transaction's commit time).
    The runner places `rate` orders/s for `duration_s` seconds, then catches up and stops, in
    a data directory of its own below `data`.
    """
    from ingest.local.runner import Runner

    options = RunnerOptions.fast(rate=rate, duration_s=duration_s)
    started = time.monotonic()
    report = Runner(options, Settings.defaults(data.below("bench-freshness"))).run()
    wall = time.monotonic() - started

    def pct(p50: float | None, p95: float | None, n: int) -> str:
        return f"p50 {p50:.1f} s, p95 {p95:.1f} s ({n:,} lines)" if p50 is not None else "not measured"

    gold_s = [seconds for seconds, _ in report.gold_runs]
    when = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    lines = [
        f"## {when}: end-to-end freshness, runner --fast, {rate:g} orders/s for {duration_s:.0f} s, "
        f"{os.cpu_count()} cores",
        "",
        "Outbox commit -> visible in gold.fct_sales_lines (end of the first Gold run holding the line "
        "minus its Kafka record timestamp = commit time). Bronze every 2 s, Silver + Gold whenever "
        "Bronze commits.",
        "",
        "| figure | value |",
        "|---|---|",
        f"| orders placed | {report.orders:,} orders, {report.lines:,} lines, "
        f"{report.orders_per_s:.1f} orders/s held ({report.lines / max(duration_s, 1):,.0f} lines/s) |",
        f"| topic / Bronze / Gold fct_sales_lines | {report.topic_events:,} / {report.bronze_rows:,} / "
        f"{report.gold_lines:,} |",
        "| freshness, all lines | "
        f"{pct(report.freshness_p50, report.freshness_p95, report.freshness_samples)} |",
        f"| freshness, steady state (after the first Gold run) | "
        f"{pct(report.steady_p50, report.steady_p95, report.steady_samples)} |",
        f"| Silver + Gold dbt run | median {_median(gold_s):.1f} s over {len(gold_s)} runs; first five "
        f"{_median(gold_s[:5]):.1f} s, last five {_median(gold_s[-5:]):.1f} s (Silver lookback "
        f"{FAST_LOOKBACK_HOURS * 60:g} min) |",
        f"| wall time | {wall:.0f} s (start, orders, catch-up, stop) |",
        "",
    ]
    _print_and_append("\n".join(lines), out)
    return 0 if report.gold_lines and report.dbt_failures == 0 else 1
