"""`make bench`: ingest throughput and dbt build time, printed and written to a results file.

A benchmark, not a test: it measures and reports, it does not pass or fail on a figure.
Steps, on a fresh data directory under data/bench:
1. generate a synthetic v.4a CSV of N lines (cached; not timed);
2. publish it to a fresh local broker (publish rate, events/s);
3. drain the topic into Bronze with the streaming ingester (drain rate; per-batch rates;
   the steady rate leaves out the first batch, which pays for JVM and Python worker warm-up);
4. `dbt build --target local` on that Bronze (full build), then again with nothing new
   (the incremental no-op cost).
"""

from __future__ import annotations

import os
import platform
import resource
import statistics
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

from ingest import broker, producer
from ingest.config import BronzeConfig, KafkaConfig, data_dir
from ingest.generator import write_csv


def _median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def main(events: int = 1_000_000, out: str = "bench/results.md") -> int:
    root = data_dir()
    csv_path = root / "bench-input" / f"synthetic-{events}.csv"
    if not csv_path.exists():
        csv_path.parent.mkdir(parents=True, exist_ok=True)
        print(f"bench: generating {events:,} lines into {csv_path} (once, not timed)", file=sys.stderr)
        write_csv(str(csv_path), events, seed=42)

    run_root = root / "bench"
    os.environ["LAKEHOUSE_DATA_DIR"] = str(run_root)
    from ingest import demo  # reads LAKEHOUSE_DATA_DIR at call time

    demo.reset_local_state()
    figures: dict[str, str] = {}
    with broker.running() as running:
        os.environ["KAFKA_BOOTSTRAP_SERVERS"] = running.bootstrap_servers
        kafka = KafkaConfig.from_env()
        result = producer.publish_csv(str(csv_path), kafka)
        figures["publish"] = (
            f"{result.published:,} events in {result.seconds:.1f} s = {result.rate:,.0f} events/s"
        )

        from ingest.bronze import job

        config = BronzeConfig.from_env()
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
    demo.run_dbt("build")
    figures["dbt_full"] = (
        f"{time.monotonic() - started:.1f} s (dbt build --target local, {landed:,} Bronze rows)"
    )
    started = time.monotonic()
    demo.run_dbt("build")
    figures["dbt_noop"] = f"{time.monotonic() - started:.1f} s (same build again, no new events)"

    peak_mb = (
        resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        + resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    ) / 1024
    report = render(events, figures, peak_mb)
    print(report)
    out_path = Path(out)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    with out_path.open("a") as handle:
        handle.write(report + "\n")
    print(f"bench: appended to {out_path}", file=sys.stderr)
    return 0 if landed == result.published else 1


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
        f"| peak RSS (python + waited children) | {peak_mb:,.0f} MB |",
        "",
    ]
    return "\n".join(lines)
