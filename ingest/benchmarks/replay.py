"""Replay benchmark (`make bench-replay`): where the time of a full-year replay goes, CSV to Gold.

A year of lines (536,350, the real file's size; the synthetic CSV is generated once, not timed)
is published to a fresh local broker, drained into Bronze by the streaming ingester
(available-now), and built into Silver and Gold by dbt (the runner's build: models and
snapshots, no data tests). Each step is timed on its own; the drain is split into the
SparkSession start, the first micro-batch (JVM and Python-worker warm-up) and the rest.

Beside it, in the same run and on the same topic, a reference for the drain: a single-threaded
plain-Python loop that consumes the topic, parses each value with orjson into the envelope and
line fields, builds Arrow columns and appends them to a Delta table with delta-rs every 100,000
rows (less than Bronze's checks: no strict-JSON or UTF-8 reasons). Targets (issue 18): the drain
at 100,000 events/s or more and at least the loop's rate (Spark has both cores); the replay,
CSV to Gold, in 20 s or less.
"""

from __future__ import annotations

import os
import shutil
import sys
import time
from dataclasses import dataclass
from datetime import UTC, datetime

from ingest import producer
from ingest.benchmarks.scaling import YEAR_LINES, Build, timed_build
from ingest.config import BronzeConfig, KafkaConfig
from ingest.events import ENVELOPE_FIELDS, LINE_FIELDS
from ingest.local import broker, services
from ingest.local.dbt import run_dbt
from ingest.paths import DataDir
from ingest.progress import Progress

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
    broker_start_s: float = 0.0
    broker_rss_mb: float = 0.0

    @property
    def total_s(self) -> float:
        return self.publish_s + self.session_s + self.drain_s + self.seed_s + self.build.wall_s


def ceiling(kafka: KafkaConfig, table: str, expected: int) -> tuple[int, float]:
    """consume -> orjson -> Arrow -> delta-rs, every partition from its start: (rows, seconds)."""
    import orjson
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
    fields = [*ENVELOPE_FIELDS, *LINE_FIELDS]
    kafka_columns = ("key", "value", "partition", "offset", "timestamp")
    columns: dict[str, list] = {name: [] for name in (*kafka_columns, *fields, "parse_error")}
    label = "bench: reference loop (consume -> orjson -> Arrow -> delta-rs)"
    rows, done, progress = 0, set(), Progress(label, expected)

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
                try:
                    event = orjson.loads(msg.value())
                    line = event.get("line") or {}
                    error = None
                except (orjson.JSONDecodeError, AttributeError, TypeError):
                    event, line, error = {}, {}, "invalid JSON"
                for name in ENVELOPE_FIELDS:
                    value = event.get(name)
                    columns[name].append(None if value is None else str(value))
                for name in LINE_FIELDS:
                    value = line.get(name) if isinstance(line, dict) else None
                    columns[name].append(None if value is None else str(value))
                columns["parse_error"].append(error)
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
    from ingest.benchmarks.pipeline import synthetic_csv
    from ingest.bronze import job

    csv_path = synthetic_csv(data, lines)
    run = data.below("bench-replay")
    run.reset_lakehouse()
    broker.remove_log(run)
    started = time.monotonic()
    with broker.running(data=run) as running:
        broker_start_s = time.monotonic() - started
        kafka = KafkaConfig(bootstrap_servers=running.bootstrap_servers)
        published = producer.publish_csv(str(csv_path), kafka)
        ceiling_table = run.root / "ceiling"
        shutil.rmtree(ceiling_table, ignore_errors=True)
        ceiling_rows, ceiling_s = ceiling(kafka, str(ceiling_table), published.published)
        config = BronzeConfig.at(run, kafka)
        started = time.monotonic()
        spark = job.local_spark("bench-replay")
        session_s = time.monotonic() - started
        started = time.monotonic()
        try:
            bronze = job.run(config, available_now=True, spark=spark)
        finally:
            spark.stop()
        drain_s = time.monotonic() - started
        broker_rss_mb = services.rss_mb(running.pid)
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
        broker_start_s=broker_start_s,
        broker_rss_mb=broker_rss_mb,
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
        f"Bronze drain (Spark's kafka source -> transform -> Delta through Spark) {drain_rate:,.0f} "
        f"events/s ({r.landed:,} events in {r.drain_s:.1f} s, without the session start; target "
        f">= 100,000: {'met' if drain_rate >= 100_000 else 'not met'}); the reference on the same "
        f"topic, a single-threaded plain-Python loop consume -> orjson -> Arrow -> delta-rs: "
        f"{ceiling_rate:,.0f} events/s ({r.ceiling_rows:,} in {r.ceiling_s:.1f} s), "
        f"{ceiling_rate / max(drain_rate, 1e-9):.2f}x the drain.",
        "",
        f"Broker (Apache Kafka, KRaft, one node): ready with its topic in {r.broker_start_s:.1f} s "
        f"(target <= 10 s); resident memory {r.broker_rss_mb:,.0f} MB holding the year's topic on disk.",
        "",
    ]
    return "\n".join(lines)


def main(out: str, data: DataDir, lines: int = YEAR_LINES) -> int:
    from ingest.benchmarks.pipeline import _print_and_append

    replay = measure(data, lines)
    _print_and_append(render(replay), out)
    return 0 if replay.landed == replay.lines == replay.ceiling_rows else 1
