"""Replay benchmark (`make bench-replay`): where the time of a full-year replay goes, CSV to Gold.

A year of lines (536,350, the real file's size; the synthetic CSV is generated once, not timed)
is published to a fresh local broker, drained into Bronze by the streaming ingester
(available-now), and built into Silver and Gold by dbt (the runner's build: models and
snapshots, no data tests). Each step is timed on its own; the drain is split into the
SparkSession start, the first micro-batch (JVM and Python-worker warm-up) and the rest.

Beside it, in the same run and on the same topic, the machine's ceiling for the drain: a plain
Python loop that consumes the topic, builds Arrow batches of the Kafka columns and appends
them to a Delta table with delta-rs, without Spark and without parsing the JSON (so it is an
upper bound, not the same work). Target (issue 13): the replay, CSV to Gold, in 20 s or less.
"""

from __future__ import annotations

import os
import shutil
import sys
import time
from dataclasses import dataclass
from datetime import UTC, datetime

from ingest import broker, producer
from ingest.config import BronzeConfig, KafkaConfig
from ingest.dbt import run_dbt
from ingest.paths import DataDir
from ingest.progress import Progress
from ingest.scaling_bench import YEAR_LINES, Build, timed_build

TARGET_S = 20.0
CEILING_COMMIT_ROWS = 100_000


@dataclass
class Replay:
    lines: int
    publish_s: float
    session_s: float
    drain_s: float
    landed: int
    batches: list[tuple[int, float]]
    ceiling_s: float
    ceiling_rows: int
    seed_s: float
    build: Build

    @property
    def total_s(self) -> float:
        return self.publish_s + self.session_s + self.drain_s + self.seed_s + self.build.wall_s


def ceiling(kafka: KafkaConfig, table: str, expected: int) -> tuple[int, float]:
    """consume -> Arrow -> delta-rs, every partition from its start: (rows, seconds)."""
    import pyarrow as pa
    from confluent_kafka import Consumer, KafkaError, TopicPartition
    from confluent_kafka.admin import AdminClient
    from deltalake import write_deltalake

    started = time.monotonic()
    conf = kafka.client_config()
    partitions = AdminClient(conf).list_topics(kafka.topic, timeout=10).topics[kafka.topic].partitions
    consumer = Consumer(
        {**conf, "group.id": "replay-ceiling", "enable.partition.eof": True, "fetch.queue.backoff.ms": 1}
    )
    consumer.assign([TopicPartition(kafka.topic, p, 0) for p in partitions])
    columns: dict[str, list] = {name: [] for name in ("key", "value", "partition", "offset", "timestamp")}
    rows, done, progress = 0, set(), Progress("bench: ceiling (consume -> Arrow -> delta-rs)", expected)

    def flush() -> None:
        if columns["value"]:
            write_deltalake(table, pa.table(columns), mode="append")
            for values in columns.values():
                values.clear()

    try:
        while len(done) < len(partitions):
            for msg in consumer.consume(num_messages=10_000, timeout=1.0):
                err = msg.error()
                if err is not None:
                    if err.code() == KafkaError._PARTITION_EOF:
                        done.add(msg.partition())
                        continue
                    raise RuntimeError(f"ceiling: {err}")
                columns["key"].append(msg.key())
                columns["value"].append(msg.value())
                columns["partition"].append(msg.partition())
                columns["offset"].append(msg.offset())
                columns["timestamp"].append(msg.timestamp()[1])
                rows += 1
            if len(columns["value"]) >= CEILING_COMMIT_ROWS:
                progress.update(len(columns["value"]))
                flush()
        progress.update(len(columns["value"]))
        flush()
    finally:
        consumer.close()
    progress.finish()
    return rows, time.monotonic() - started


def measure(data: DataDir, lines: int) -> Replay:
    from ingest.bench import synthetic_csv
    from ingest.bronze import job

    csv_path = synthetic_csv(data, lines)
    run = data.below("bench-replay")
    run.reset_lakehouse()
    with broker.running(data=run) as running:
        kafka = KafkaConfig.from_env(bootstrap_servers=running.bootstrap_servers)
        published = producer.publish_csv(str(csv_path), kafka)
        ceiling_table = run.root / "ceiling"
        shutil.rmtree(ceiling_table, ignore_errors=True)
        ceiling_rows, ceiling_s = ceiling(kafka, str(ceiling_table), published.published)
        config = BronzeConfig.from_env(run, kafka=kafka)
        started = time.monotonic()
        spark = job.local_spark("bench-replay")
        session_s = time.monotonic() - started
        started = time.monotonic()
        try:
            bronze = job.run(config, available_now=True, spark=spark)
        finally:
            spark.stop()
        drain_s = time.monotonic() - started
    print("bench: dbt seed, then the build of Silver and Gold (the runner's, one thread)", file=sys.stderr)
    started = time.monotonic()
    run_dbt("seed", quiet=True, data=run)
    seed_s = time.monotonic() - started
    build = timed_build(run, "replay")
    return Replay(
        lines=published.published,
        publish_s=published.seconds,
        session_s=session_s,
        drain_s=drain_s,
        landed=bronze.landed,
        batches=bronze.batches,
        ceiling_s=ceiling_s,
        ceiling_rows=ceiling_rows,
        seed_s=seed_s,
        build=build,
    )


def render(r: Replay) -> str:
    when = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    first = r.batches[0] if r.batches else (0, 0.0)
    rest_rows = sum(rows for rows, _ in r.batches[1:])
    rest_s = sum(secs for _, secs in r.batches[1:])
    between_s = max(r.drain_s - first[1] - rest_s, 0.0)  # query start and stop, planning
    drain_rate = r.landed / r.drain_s if r.drain_s else 0.0
    ceiling_rate = r.ceiling_rows / r.ceiling_s if r.ceiling_s else 0.0
    slowest = ", ".join(f"{name} {secs:.1f}" for name, secs in r.build.slowest)
    met = "met" if r.total_s <= TARGET_S else "not met"

    def share(seconds: float) -> str:
        return f"{100 * seconds / r.total_s:.0f}%"

    lines = [
        f"## {when}: replay of a year, {r.lines:,} lines, CSV to Gold, {os.cpu_count()} cores",
        "",
        "| step | seconds | share | figure |",
        "|---|---|---|---|",
        f"| publish (CSV -> topic) | {r.publish_s:.1f} | {share(r.publish_s)} | "
        f"{r.lines / r.publish_s:,.0f} events/s |",
        f"| SparkSession start | {r.session_s:.1f} | {share(r.session_s)} | |",
        f"| Bronze: first micro-batch | {first[1]:.1f} | {share(first[1])} | {first[0]:,} events "
        "(JVM and Python-worker warm-up) |",
        f"| Bronze: other micro-batches | {rest_s:.1f} | {share(rest_s)} | {rest_rows:,} events in "
        f"{len(r.batches) - 1} batches, {rest_rows / rest_s if rest_s else 0:,.0f} events/s |",
        f"| Bronze: query start and stop | {between_s:.1f} | {share(between_s)} | |",
        f"| dbt seed (reference data) | {r.seed_s:.1f} | {share(r.seed_s)} | |",
        f"| dbt build, Silver + Gold | {r.build.wall_s:.1f} | {share(r.build.wall_s)} | "
        f"{r.build.nodes_s:.1f} s in nodes; slowest: {slowest} |",
        f"| **total** | **{r.total_s:.1f}** | | target <= {TARGET_S:.0f} s: {met} |",
        "",
        f"Bronze drain {drain_rate:,.0f} events/s ({r.landed:,} events in {r.drain_s:.1f} s, without "
        f"the session start); the ceiling on the same topic, plain Python consume -> Arrow -> "
        f"delta-rs without Spark and without parsing: {ceiling_rate:,.0f} events/s "
        f"({r.ceiling_rows:,} in {r.ceiling_s:.1f} s), {ceiling_rate / max(drain_rate, 1e-9):.1f}x.",
        "",
    ]
    return "\n".join(lines)


def main(out: str, data: DataDir, lines: int = YEAR_LINES) -> int:
    from ingest.bench import _print_and_append

    replay = measure(data, lines)
    _print_and_append(render(replay), out)
    return 0 if replay.landed == replay.lines == replay.ceiling_rows else 1
