"""What the runner measures: orders placed, events in the topic, rows in Bronze, lines in Gold,
and end-to-end freshness (outbox commit -> visible in gold.fct_sales_lines)."""

from __future__ import annotations

import bisect
import logging
import statistics
from collections import Counter
from datetime import datetime
from pathlib import Path

from ingest.config import KafkaConfig
from ingest.local.schedule import DbtRun
from ingest.paths import delta_table_exists


class Distribution:
    """Many values in bounded memory: a count per millisecond (freshness over hours of lines
    would otherwise be a list that grows by 800 floats a second), with the same percentiles as
    `Freshness.percentiles` gives for the list of values rounded to the millisecond."""

    def __init__(self) -> None:
        self.counts: Counter[float] = Counter()
        self.n = 0

    def add(self, values: list[float]) -> None:
        self.counts.update(round(value, 3) for value in values)
        self.n += len(values)

    def __len__(self) -> int:
        return self.n

    def percentiles(self) -> tuple[float, float] | None:
        """(p50, p95), interpolated between the nearest values; None without values."""
        if not self.n:
            return None
        keys = sorted(self.counts)
        ends = []  # ends[i]: how many values are <= keys[i]
        total = 0
        for key in keys:
            total += self.counts[key]
            ends.append(total)

        def value_at(index: int) -> float:  # the index-th smallest value, from 0
            return keys[bisect.bisect_right(ends, index)]

        def cut(fraction: float) -> float:
            position = (self.n - 1) * fraction
            low = int(position)
            below = value_at(low)
            if low + 1 >= self.n:
                return below
            return below + (position - low) * (value_at(low + 1) - below)

        return cut(0.50), cut(0.95)


class Freshness:
    """Per Gold run: the lines it added (Bronze ingested after the previous run's newest) and,
    for each, run end time minus its Kafka record timestamp (the outbox commit). `all` and
    `steady` (all but the first Gold run that added lines: JVM, Spark and dbt warm-up) keep
    every line's value in bounded memory."""

    def __init__(self, warehouse: Path) -> None:
        self.warehouse = warehouse
        self.watermark: datetime | None = None
        self.last: list[float] = []
        self.all = Distribution()
        self.steady = Distribution()
        self.runs_with_lines = 0
        self.error: str | None = None

    def add_run(self, values: list[float]) -> None:
        """One Gold run's values (the lines it added)."""
        self.last = values
        self.all.add(values)
        if values:
            if self.runs_with_lines:
                self.steady.add(values)
            self.runs_with_lines += 1

    def record(self, run: DbtRun) -> None:
        import duckdb

        try:
            con = duckdb.connect(str(self.warehouse), read_only=True)
        except duckdb.Error as exc:
            self.error = str(exc).splitlines()[0]
            return
        try:
            where = "where bronze_ingested_at > ?" if self.watermark else ""
            params = [self.watermark] if self.watermark else []
            rows = con.execute(
                f"""select epoch_ms(source_event_at), bronze_ingested_at
                    from gold.fct_sales_lines {where}""",
                params,
            ).fetchall()
        except duckdb.Error as exc:
            self.error = str(exc).splitlines()[0]
            return
        finally:
            con.close()
        end_ms = run.ended_at.timestamp() * 1000
        self.add_run([(end_ms - ms) / 1000 for ms, _ in rows if ms is not None])
        if rows:
            self.watermark = max(ingested for _, ingested in rows)

    @staticmethod
    def percentiles(values: list[float]) -> tuple[float, float] | None:
        """(p50, p95), interpolated between the nearest values; None without values."""
        if not values:
            return None
        if len(values) == 1:
            return values[0], values[0]
        cuts = statistics.quantiles(values, n=100, method="inclusive")
        return cuts[49], cuts[94]


def bronze_rows(table_path: Path) -> int:
    """Rows in the Bronze Delta table, from its log (0 before its first commit)."""
    from deltalake import DeltaTable

    if not delta_table_exists(table_path):
        return 0
    actions = DeltaTable(str(table_path)).get_add_actions(flatten=True)
    return int(sum(v for v in actions.column("num_records").to_pylist() if v is not None))


def gold_lines(warehouse: Path) -> int:
    import duckdb

    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        return con.execute("select count(*) from gold.fct_sales_lines").fetchone()[0]
    finally:
        con.close()


def count_orders(dsn: str) -> tuple[int, int]:
    """(orders, order lines) in the orders database."""
    import psycopg2

    conn = psycopg2.connect(dsn)
    try:
        with conn, conn.cursor() as cur:
            cur.execute("select (select count(*) from orders), (select count(*) from order_lines)")
            orders, lines = cur.fetchone()
    finally:
        conn.close()
    return int(orders), int(lines)


class TopicUnreachable(RuntimeError):
    """The topic's end could not be read (the broker down, restarting, or too slow)."""


class TopicEnd:
    """The topic's end offsets (high watermarks) summed: how many events it has ever held.

    With `log`, the clients are quiet: librdkafka's own lines (a broker down gives one
    "Connection refused" a second per connection) and its errors go to that logger, never to
    the console; `total()` then fails with a one-line TopicUnreachable."""

    def __init__(self, kafka: KafkaConfig, log: logging.Logger | None = None, timeout_s: float = 5.0) -> None:
        from confluent_kafka import Consumer

        self.topic = kafka.topic
        self.bootstrap_servers = kafka.bootstrap_servers
        self.timeout_s = timeout_s
        quiet: dict[str, object] = {}
        if log is not None:
            quiet = {"logger": log, "error_cb": lambda err: log.warning("error: %s", err)}
        self.consumer = Consumer(
            {
                **kafka.client_config(),
                **quiet,
                "group.id": "runner-status",
                "enable.auto.commit": False,
            }
        )

    def total(self) -> int:
        from confluent_kafka import TopicPartition

        try:
            partitions = (
                self.consumer.list_topics(self.topic, timeout=self.timeout_s).topics[self.topic].partitions
            )
            if not partitions:
                raise RuntimeError(f"topic {self.topic} has no partitions")
            return sum(
                self.consumer.get_watermark_offsets(
                    TopicPartition(self.topic, part), timeout=self.timeout_s, cached=False
                )[1]
                for part in partitions
            )
        except Exception as exc:
            text = str(exc).strip()
            reason = text.splitlines()[0] if text else type(exc).__name__
            where = f"{self.topic} at {self.bootstrap_servers}"
            raise TopicUnreachable(f"{where} unreachable ({reason})") from exc

    def close(self) -> None:
        self.consumer.close()
