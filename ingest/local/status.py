"""What the local runner says: the status line it prints every interval, the JSON records it
writes beside it (data/run/status.jsonl, dbt-runs.jsonl: what tools that follow a run read),
and the report it ends a timed run with."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from ingest.errors import first_line
from ingest.local.measure import Freshness, bronze_rows, count_orders
from ingest.local.pipeline import Pipeline
from ingest.local.schedule import LAYERS, DbtRun, DbtScheduler
from ingest.orders.outbox import lag

# JSON lines in data/run: each status line's numbers, each finished dbt run
RECORDS = ("status.jsonl", "dbt-runs.jsonl")


@dataclass
class RunReport:
    orders: int = 0
    lines: int = 0
    topic_events: int = 0
    bronze_rows: int = 0
    gold_lines: int = 0
    freshness_p50: float | None = None
    freshness_p95: float | None = None
    freshness_samples: int = 0
    # the same without the first Gold run that added lines (JVM, Spark and dbt warm-up)
    steady_p50: float | None = None
    steady_p95: float | None = None
    steady_samples: int = 0
    gold_runs: list[tuple[float, int]] = field(default_factory=list)  # (seconds, lines added)
    orders_per_s: float = 0.0
    seconds: float = 0.0
    dbt_failures: int = 0
    status_lines: list[str] = field(default_factory=list)
    # broker restarts: how many; of those, logs lost (then Bronze's rows from the lost topics and
    # the outbox events replayed)
    broker_restarts: int = 0
    logs_lost: int = 0
    bronze_before_loss: int = 0
    replayed: int = 0

    def summary(self) -> str:
        """The last line of a timed run: what went through, how fresh Gold was."""
        pct = "no Gold lines measured"
        if self.freshness_p50 is not None:
            pct = (
                f"p50 {self.freshness_p50:.1f}s, p95 {self.freshness_p95:.1f}s "
                f"over {self.freshness_samples:,} lines"
            )
        topic = f"topic {self.topic_events:,} events"
        if self.broker_restarts > self.logs_lost:
            n = self.broker_restarts - self.logs_lost
            topic += f" (the broker restarted on its log {n} time{'s' if n > 1 else ''}, nothing lost)"
        if self.logs_lost:
            n = self.logs_lost
            losses = "1 lost broker log" if n == 1 else f"{n} lost broker logs"
            topic += (
                f" in the new topic (after {losses}: {self.replayed:,} outbox events replayed into it, "
                f"{self.bronze_before_loss:,} Bronze rows from the lost one)"
            )
        return (
            f"run: {self.orders:,} orders ({self.lines:,} lines) at {self.orders_per_s:.1f} orders/s; "
            f"{topic}, Bronze {self.bronze_rows:,}, "
            f"Gold fct_sales_lines {self.gold_lines:,}; freshness {pct}; {self.seconds:.0f}s in all"
        )


class Status:
    """The status line and the records, over one data directory's run folder."""

    def __init__(self, run_dir: Path, bronze_table: Path, fresh: Freshness, report: RunReport, say) -> None:
        self.run_dir = run_dir
        self.bronze_table = bronze_table
        self.fresh = fresh
        self.report = report
        self.say = say
        self.last_orders = 0
        self.last_orders_at = time.monotonic()
        self.numbers: dict[str, object] = {}  # the last status line, as numbers

    def clear_records(self) -> None:
        for record in RECORDS:  # this run's records only
            (self.run_dir / record).unlink(missing_ok=True)

    def print_line(self, p: Pipeline) -> None:
        now = time.monotonic()
        self.numbers = {}
        parts = [
            datetime.now(UTC).strftime("%H:%M:%S"),
            *self._orders(p.dsn, now),
            self._bronze(p),
            *(self._run(p.dbt, layer) for layer in LAYERS),
            self._freshness(),
        ]
        self.last_orders_at = now
        line = " | ".join(parts)
        self.report.status_lines.append(line)
        self.say(line)
        self.record("status.jsonl", at=datetime.now(UTC).isoformat(), line=line, **self.numbers)

    def record_run(self, finished: DbtRun) -> None:
        """A finished dbt run: its Gold lines' freshness measured, then one record of it."""
        fresh = None
        if finished.fct_built:
            self.fresh.record(finished)
            self.report.gold_runs.append((finished.seconds, len(self.fresh.last)))
            fresh = Freshness.percentiles(self.fresh.last)
        self.record(
            "dbt-runs.jsonl",
            ended_at=finished.ended_at.isoformat() if finished.ended_at else None,
            layers=list(finished.layers),
            seconds=round(finished.seconds, 3),
            ok=finished.ok,
            gold_lines_added=len(self.fresh.last) if finished.fct_built else None,
            fresh_p50=fresh[0] if fresh else None,
            fresh_p95=fresh[1] if fresh else None,
        )

    def record(self, name: str, **fields: object) -> None:
        """One JSON line in data/run/<name>. A write that fails never stops the run."""
        try:
            with open(self.run_dir / name, "a") as out:
                out.write(json.dumps(fields) + "\n")
        except OSError:
            pass

    def report_freshness(self) -> None:
        pct = self.fresh.all.percentiles()
        if pct:
            self.report.freshness_p50, self.report.freshness_p95 = pct
        self.report.freshness_samples = len(self.fresh.all)
        pct = self.fresh.steady.percentiles()
        if pct:
            self.report.steady_p50, self.report.steady_p95 = pct
        self.report.steady_samples = len(self.fresh.steady)

    def _orders(self, dsn: str, now: float) -> list[str]:
        parts = []
        try:
            orders, lines = count_orders(dsn)
            rate = (orders - self.last_orders) / max(now - self.last_orders_at, 1e-9)
            self.last_orders = orders
            self.numbers.update(orders=orders, lines=lines, orders_per_s=round(rate, 2))
            parts.append(f"orders {rate:5.1f}/s ({orders:,} / {lines:,} lines)")
            relay_lag = lag(dsn)
            self.numbers.update(relay_lag_rows=relay_lag.rows, relay_lag_s=round(relay_lag.seconds, 2))
            parts.append(f"relay lag {relay_lag.rows:,} rows {relay_lag.seconds:.1f}s")
        except Exception as exc:  # the status line reports, it never stops the run
            parts.append(f"orders db: {first_line(exc)}")
        return parts

    def _bronze(self, p: Pipeline) -> str:
        try:
            in_topic, landed = p.topic_end.total(), bronze_rows(self.bronze_table)
        except Exception as exc:
            return f"bronze: {first_line(exc)[:80]}"
        behind = max(in_topic - (landed - p.bronze_base), 0)
        self.numbers.update(topic_events=in_topic, bronze_landed=landed, bronze_lag=behind)
        return f"bronze lag {behind:,} ev ({landed:,} landed)"

    @staticmethod
    def _run(dbt: DbtScheduler, layer: str) -> str:
        last = dbt.last.get(layer)
        return f"{layer} {_hms(last.ended_at)} ({last.seconds:.1f}s)" if last else f"{layer} -"

    def _freshness(self) -> str:
        pct = Freshness.percentiles(self.fresh.last)
        if pct:
            return f"fresh p50 {pct[0]:.1f}s p95 {pct[1]:.1f}s ({len(self.fresh.last):,} lines)"
        if self.fresh.error:
            return f"fresh n/a ({self.fresh.error[:60]})"
        return "fresh -"


def _hms(moment: datetime | None) -> str:
    return moment.strftime("%H:%M:%S") if moment else "-"
