"""The Bronze streaming query: Kafka topic -> append-only Delta table.

One code path, locally and on Databricks: Spark's `kafka` source -> the Bronze transform ->
Spark's Delta writer in `foreachBatch`, idempotent per batch (`txnAppId`/`txnVersion`). Only
configuration differs: where the topic is, its auth (Event Hubs' SASL, with the `kafkashaded.`
login module on Databricks), and where the table and checkpoint live. Locally the session gets
the pinned jars (Spark's Kafka connector, Delta Lake) by path (ingest/jvm.py).
"""

from __future__ import annotations

import os
import shutil
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from pyspark.errors import StreamingQueryException
from pyspark.sql import DataFrame, SparkSession

from ingest import jvm
from ingest.bronze import sinks, transform
from ingest.config import BronzeConfig

# HotSpot does not JIT-compile a method over 8,000 bytes of bytecode, and Spark only gives up
# whole-stage code generation for methods over this limit (64 KB by default): the Bronze
# transform's one projection (every column plus the parse_error checks) lands in between and
# ran interpreted, at twice the transform's CPU. At 8,000 Spark falls back to its per-expression
# code for such a stage instead (measured: 10.4 -> 5.6 CPU-s per 200,000 events, old transform 1.8).
#
# Timestamps as parquet TIMESTAMP_MICROS, not Spark's legacy INT96: delta-rs and DuckDB then read
# Bronze's `*_at` columns as the contract's UTC microsecond timestamps (INT96 reads as nanoseconds
# without a zone, which dbt-duckdb's incremental filter cannot compare).
#
# Delta statistics only on the columns readers filter on (Silver's incremental window on
# `ingested_at`, batch ids, Kafka coordinates): by default Delta collects min/max of the first
# 32 columns, Bronze's long raw text among them, and that cost more than the write itself
# (measured: a 200,000-event append 18-28 s with them, 3-8 s without, plain parquet 2.8 s).
# The setting is the default of tables created by the session (Bronze's first batch).
STATS_COLUMNS = ("ingested_at", "bronze_batch_id", "kafka_partition", "kafka_offset", "kafka_timestamp")
SESSION_CONF = {
    "spark.sql.codegen.hugeMethodLimit": "8000",
    "spark.sql.parquet.outputTimestampType": "TIMESTAMP_MICROS",
    "spark.databricks.delta.properties.defaults.dataSkippingStatsColumns": ",".join(STATS_COLUMNS),
}


# Local only (a Databricks cluster keeps its own): Delta's state reconstruction, which every
# append with a txnAppId runs to read the table's last transaction per app, spreads the log
# over 50 partitions by default; on 2 cores one partition makes an append 4x cheaper (2.4 s ->
# 0.6 s median over 25 appends of 4,000 rows here), and a checkpoint every 100 commits instead
# of 10 takes the 2-4 s checkpoint out of one micro-batch in 10 (new tables; readers replay at
# most 100 small commit files).
LOCAL_DELTA_CONF = {
    "spark.databricks.delta.snapshotPartitions": "1",
    "spark.databricks.delta.properties.defaults.checkpointInterval": "100",
}

STREAMING_EXECUTION_LOGGER = "org.apache.spark.sql.execution.streaming.runtime"


def local_spark(app_name: str = "bronze-ingester") -> SparkSession:
    """A local SparkSession sized for a 2-core machine; on Databricks, the cluster's session."""
    if os.environ.get("DATABRICKS_RUNTIME_VERSION"):
        return SparkSession.builder.getOrCreate()
    # SPARK_LOCAL_IP (loopback only) is set by the entry points (jvm.LOCAL_SPARK_ENVIRONMENT):
    # Spark reads it when its JVM starts, and this module writes no environment.
    spark = (
        SparkSession.builder.master("local[2]")
        .appName(app_name)
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.sql.shuffle.partitions", "2")
        .config("spark.driver.host", "127.0.0.1")
        .config("spark.driver.bindAddress", "127.0.0.1")
        # Python workers (foreachBatch's own work stays in the JVM) use this interpreter, not PATH's
        .config("spark.pyspark.python", sys.executable)
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.driver.memory", "2g")
        .config("spark.sql.execution.arrow.pyspark.enabled", "true")
        .config(map=jvm.spark_conf())
        .config(map=SESSION_CONF)
        .config(map=LOCAL_DELTA_CONF)
        .getOrCreate()
    )
    spark.sparkContext.setLogLevel("ERROR")
    # A query that fails is reported by `run`, reason first, in one line; Spark's own ERROR log
    # of it (a JVM stack trace of a hundred lines) only buries that line.
    log4j = spark.sparkContext._jvm.org.apache.logging.log4j
    log4j.core.config.Configurator.setLevel(STREAMING_EXECUTION_LOGGER, log4j.Level.OFF)
    return spark


def read_kafka(spark: SparkSession, config: BronzeConfig) -> DataFrame:
    """The source: Spark's `kafka` source over the topic (a streaming DataFrame of its columns)."""
    options = {
        **config.kafka.spark_options(),
        "startingOffsets": config.starting_offsets,
        "maxOffsetsPerTrigger": str(config.max_events_per_batch),
        # Offsets that vanished (the broker's log lost, or retention passing unread events)
        # stop the query with Spark's reason instead of being skipped silently.
        "failOnDataLoss": "true",
    }
    return spark.readStream.format("kafka").options(**options).load()


def batch_writer(config: BronzeConfig) -> sinks.BatchWriter:
    """The sink: each micro-batch stamped, then appended to Delta idempotently."""
    write = sinks.delta_writer(config.table_path, config.checkpoint_path, config.query_name)

    def write_batch(batch_df: DataFrame, batch_id: int) -> None:
        # One file per micro-batch, not one per Kafka partition: a batch is small (at most
        # `max_events_per_batch` events, tens of MB), and every reader of Bronze opens each
        # live file's footer. Measured on 2 cores (20 appends of 4,000 rows over 4 partitions):
        # 0.74 s median and 1 file, against 0.96 s and 4 files uncoalesced, and 1.05 s with
        # Delta's optimized write (a shuffle).
        write(transform.with_batch_metadata(batch_df, batch_id).coalesce(1), batch_id)

    return write_batch


def start(spark: SparkSession, config: BronzeConfig, available_now: bool):
    for key, value in SESSION_CONF.items():  # also on a session this module did not build (Databricks)
        spark.conf.set(key, value)
    bronze = transform.parse_events(read_kafka(spark, config))
    writer = (
        bronze.writeStream.queryName(config.query_name)
        .option("checkpointLocation", config.checkpoint_path)
        .foreachBatch(batch_writer(config))
    )
    if available_now:
        writer = writer.trigger(availableNow=True)
    else:
        writer = writer.trigger(processingTime=config.trigger_interval)
    return writer.start()


def reset_checkpoint(config: BronzeConfig) -> None:
    path = Path(config.checkpoint_path)
    if path.exists():
        shutil.rmtree(path)
        print(f"removed checkpoint {path}", file=sys.stderr)


@dataclass
class BronzeRun:
    """What one run of the query did: rows landed, and (rows, seconds) per micro-batch."""

    landed: int = 0
    batches: list[tuple[int, float]] = field(default_factory=list)


def run(config: BronzeConfig, available_now: bool, spark: SparkSession | None = None) -> BronzeRun:
    """Run the query until drained (available-now) or stopped (Ctrl-C in continuous mode).

    A full disk does not end the run: the batch that could not be written is not committed
    (Delta and the checkpoint only ever point at whole files), so the ingester says so once,
    waits for space and restarts the query, which replays that batch.
    """
    spark = spark or local_spark()
    mode = "drain (available now)" if available_now else f"continuous, every {config.trigger_interval}"
    print(f"bronze: {mode} -> {config.table_path}", file=sys.stderr)
    stats = BronzeRun()
    started = time.monotonic()
    while True:
        query = start(spark, config, available_now)
        failure = _follow(query, stats, started)
        if failure is None:
            return stats
        if NO_SPACE not in failure:
            _raise(failure)
        _wait_for_space(config)


NO_SPACE = "No space left on device"
SPACE_NEEDED_BYTES = 8 * 1024 * 1024
SPACE_POLL_S = 2.0


def _follow(query, stats: BronzeRun, started: float) -> str | None:
    """Report each micro-batch until the query ends; its failure's text, or None."""
    seen_batch = -1
    try:
        while query.isActive:
            query.awaitTermination(2)
            for progress in query.recentProgress:
                if progress["batchId"] > seen_batch:
                    seen_batch = progress["batchId"]
                    _report_batch(progress, stats, started)
    except KeyboardInterrupt:
        print("bronze: stopping", file=sys.stderr)
        query.stop()
    except StreamingQueryException:
        pass  # reported by the caller, with the reason first
    failure = query.exception()
    return None if failure is None else str(failure)


def _report_batch(progress: dict, stats: BronzeRun, started: float) -> None:
    rows = progress["numInputRows"]
    if rows:
        stats.landed += rows
        stats.batches.append((rows, progress["durationMs"]["triggerExecution"] / 1000))
        elapsed = time.monotonic() - started
        print(
            f"bronze: batch {progress['batchId']}: {rows:,} events, {stats.landed:,} in total, "
            f"{stats.landed / elapsed:,.0f} events/s",
            file=sys.stderr,
        )


class OffsetMismatchError(RuntimeError):
    """The checkpoint does not describe the topic the broker now holds (e.g. a lost log)."""


# What Spark's Kafka source says when the checkpoint's offsets are not in the topic any more.
DATA_LOSS_SIGNS = ("data may have been lost", "data may have been missed", "KAFKA_DATA_LOSS", "were deleted")


def _raise(text: str) -> None:
    if any(sign in text for sign in DATA_LOSS_SIGNS):
        first = next((line.strip() for line in text.splitlines() if line.strip()), text)
        raise OffsetMismatchError(
            "the checkpoint's offsets are not in the topic the broker holds (its log was lost, or "
            f"retention removed events Bronze had not read): {first[:300]}. Nothing was written. "
            "To read the topic from its start: --reset-checkpoint (then `python -m ingest orders "
            "replay` publishes again what the lost log held)"
        ) from None
    raise RuntimeError(f"bronze query failed: {text}") from None


def _wait_for_space(config: BronzeConfig) -> None:
    """Say once that the disk is full and where, then wait until it has room again."""
    where = [p for p in (config.table_path, config.checkpoint_path) if "://" not in p]
    print(
        f"bronze: no space left on device for {' / '.join(where)}: the micro-batch was not "
        f"committed; waiting for {SPACE_NEEDED_BYTES // 2**20} MB free, then it is written again",
        file=sys.stderr,
    )
    waited = time.monotonic()
    while min((_free_bytes(p) for p in where), default=SPACE_NEEDED_BYTES) < SPACE_NEEDED_BYTES:
        time.sleep(SPACE_POLL_S)
    print(f"bronze: space freed after {time.monotonic() - waited:.0f} s; resuming", file=sys.stderr)


def _free_bytes(path: str) -> int:
    """Free bytes on the filesystem holding `path` (or its nearest existing parent)."""
    p = Path(path)
    while not p.exists() and p != p.parent:
        p = p.parent
    return shutil.disk_usage(p).free
