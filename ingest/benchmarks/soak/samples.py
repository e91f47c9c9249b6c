"""What a soak records, and its summary over any stretch of time (a minute, a table row, a window).

Every sample carries `t`: seconds since the orders started (the runner's simulator), so the
first minute is the first minute of orders, not the runner's start-up. Records the runner
writes (data/run/status.jsonl, data/run/dbt-runs.jsonl) carry wall-clock UTC times, turned
into `t` against the wall-clock moment the orders started.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field
from datetime import datetime

# process classes, in the order they are printed (ingest.benchmarks.soak.procs assigns them)
PROCESS_CLASSES = ("broker", "spark", "bronze-py", "relay", "dbt", "postgres", "simulator", "runner")
# started for a few seconds now and then: their peaks depend on whether a sample caught them
TRANSIENT_CLASSES = ("compact",)
# folders of the data directory whose size is sampled (ingest.benchmarks.soak.disk)
DISK_DIRS = ("bronze", "checkpoints", "warehouse", "run", "postgres")


@dataclass(frozen=True)
class MemorySample:
    t: float
    mb: dict[str, float]  # PSS in MB per process class (the sum over the class's processes)


@dataclass(frozen=True)
class DiskSample:
    t: float
    live_files: int | None  # parquet files in Bronze's current Delta snapshot (None: not read)
    parquet_files: int  # parquet files in Bronze's folder: live, and replaced but not vacuumed yet
    log_entries: int  # files in Bronze's _delta_log
    mb: dict[str, float]  # MB per folder of DISK_DIRS

    @property
    def total_mb(self) -> float:
        return sum(self.mb.values())


@dataclass(frozen=True)
class StatusRecord:
    t: float
    orders_per_s: float | None


@dataclass(frozen=True)
class DbtRun:
    t: float  # when it ended
    seconds: float
    ok: bool
    gold_lines: int | None  # lines the run added to Gold (None: the fact table was not built)
    fresh_p50: float | None
    fresh_p95: float | None


@dataclass
class Samples:
    memory: list[MemorySample] = field(default_factory=list)
    disk: list[DiskSample] = field(default_factory=list)
    status: list[StatusRecord] = field(default_factory=list)
    dbt: list[DbtRun] = field(default_factory=list)


def _seconds_since(iso: str, t0_epoch: float) -> float:
    return datetime.fromisoformat(iso).timestamp() - t0_epoch


def status_record(record: dict, t0_epoch: float) -> StatusRecord:
    """One line of status.jsonl ({"at", "line", "orders_per_s", ...}; a number may be missing)."""
    return StatusRecord(t=_seconds_since(record["at"], t0_epoch), orders_per_s=record.get("orders_per_s"))


def dbt_run(record: dict, t0_epoch: float) -> DbtRun | None:
    """One line of dbt-runs.jsonl; None for a run without an end time."""
    if not record.get("ended_at"):
        return None
    return DbtRun(
        t=_seconds_since(record["ended_at"], t0_epoch),
        seconds=float(record["seconds"]),
        ok=bool(record.get("ok")),
        gold_lines=record.get("gold_lines_added"),
        fresh_p50=record.get("fresh_p50"),
        fresh_p95=record.get("fresh_p95"),
    )


def within(items: list, start: float, end: float) -> list:
    """The items with start <= t < end."""
    return [item for item in items if start <= item.t < end]


def gold_runs(runs: list[DbtRun]) -> list[DbtRun]:
    """The runs that added lines to Gold and measured their freshness."""
    return [run for run in runs if run.gold_lines and run.fresh_p95 is not None]


def weighted_median(values: list[float], weights: list[float]) -> float | None:
    """The smallest value at which the cumulated weight reaches half the total."""
    pairs = sorted((v, w) for v, w in zip(values, weights, strict=True) if w > 0)
    total = sum(w for _, w in pairs)
    if not pairs:
        return None
    cumulated = 0.0
    for value, weight in pairs:
        cumulated += weight
        if cumulated >= total / 2:
            return value
    return pairs[-1][0]


@dataclass(frozen=True)
class Summary:
    """A stretch [start, end) of a soak in figures (None: nothing measured in it)."""

    start: float
    end: float
    orders_per_s: float | None
    dbt_runs: int  # finished and successful
    dbt_failed: int
    dbt_median: float | None
    dbt_max: float | None
    gold_runs: int
    gold_lines: int
    fresh_p50: float | None  # the Gold runs' p50s, weighted by the lines each added
    fresh_p95: float | None  # the worst Gold run's p95
    mem_peak: dict[str, float]  # the highest sample per process class
    live_files: int | None  # the most seen
    parquet_files: int | None
    log_entries: int | None
    disk_mb: dict[str, float] | None  # the last sample's MB per folder

    @property
    def total_mb(self) -> float | None:
        return sum(self.disk_mb.values()) if self.disk_mb is not None else None


def summarise(samples: Samples, start: float, end: float) -> Summary:
    status = [s.orders_per_s for s in within(samples.status, start, end) if s.orders_per_s is not None]
    runs = within(samples.dbt, start, end)
    ok = [run.seconds for run in runs if run.ok]
    gold = gold_runs(runs)
    peaks: dict[str, float] = {}
    for sample in within(samples.memory, start, end):
        for name, mb in sample.mb.items():
            peaks[name] = max(peaks.get(name, 0.0), mb)
    disk = within(samples.disk, start, end)
    live = [d.live_files for d in disk if d.live_files is not None]
    return Summary(
        start=start,
        end=end,
        orders_per_s=statistics.fmean(status) if status else None,
        dbt_runs=len(ok),
        dbt_failed=sum(1 for run in runs if not run.ok),
        dbt_median=statistics.median(ok) if ok else None,
        dbt_max=max(ok) if ok else None,
        gold_runs=len(gold),
        gold_lines=sum(run.gold_lines for run in gold),
        fresh_p50=weighted_median([run.fresh_p50 for run in gold], [run.gold_lines for run in gold])
        if gold
        else None,
        fresh_p95=max(run.fresh_p95 for run in gold) if gold else None,
        mem_peak=peaks,
        live_files=max(live) if live else None,
        parquet_files=max(d.parquet_files for d in disk) if disk else None,
        log_entries=max(d.log_entries for d in disk) if disk else None,
        disk_mb=dict(disk[-1].mb) if disk else None,
    )
