"""The soak's chart: four panels over the minutes since the orders started (PNG, no display)."""

from __future__ import annotations

import math
from pathlib import Path

from ingest.benchmarks.soak.samples import PROCESS_CLASSES, Samples, gold_runs, summarise
from ingest.benchmarks.soak.targets import FRESHNESS_LIMIT_S, Windows

# right of each panel (clear of the twin axis's labels), never over the lines
LEGEND = {"loc": "upper left", "bbox_to_anchor": (1.07, 1.0), "fontsize": "small"}


def write_chart(
    samples: Samples,
    windows: Windows,
    path: Path,
    title: str = "",
    freshness_limit_s: float = FRESHNESS_LIMIT_S,
) -> Path:
    """dbt run time per run and per-minute median; freshness p50/p95 per minute with the
    target; PSS per process class; Bronze files with the disk use on a twin axis. The warm-up
    is grey, the first and last windows blue, the end of the orders a dotted line."""
    from matplotlib.figure import Figure  # the object API: no pyplot, no display, Agg for PNG
    from matplotlib.ticker import LogFormatter

    end = max([windows.duration] + [s.t for s in (*samples.memory, *samples.disk, *samples.dbt)])
    per_minute = [summarise(samples, m * 60.0, min((m + 1) * 60.0, end)) for m in range(math.ceil(end / 60))]
    mid = [(s.start + s.end) / 120 for s in per_minute]

    fig = Figure(figsize=(13, 13), layout="constrained")
    dbt_ax, fresh_ax, mem_ax, files_ax = fig.subplots(4, 1, sharex=True)
    if title:
        fig.suptitle(title)

    runs = [run for run in samples.dbt if run.ok]
    dbt_ax.scatter([r.t / 60 for r in runs], [r.seconds for r in runs], s=8, alpha=0.4, label="each run")
    dbt_ax.plot(*_present(mid, [s.dbt_median for s in per_minute]), "o-", ms=3, label="median per minute")
    failed = [run for run in samples.dbt if not run.ok]
    if failed:
        dbt_ax.scatter([r.t / 60 for r in failed], [r.seconds for r in failed], marker="x", label="failed")
    dbt_ax.set_ylabel("dbt run, s")
    dbt_ax.set_ylim(bottom=0)

    gold = gold_runs(samples.dbt)
    fresh_ax.scatter(
        [r.t / 60 for r in gold], [r.fresh_p95 for r in gold], s=6, alpha=0.3, label="p95 per run"
    )
    fresh_ax.plot(*_present(mid, [s.fresh_p50 for s in per_minute]), "o-", ms=3, label="p50 per minute")
    fresh_ax.plot(*_present(mid, [s.fresh_p95 for s in per_minute]), "o-", ms=3, label="p95 per minute")
    fresh_ax.axhline(freshness_limit_s, ls="--", color="red", lw=1, label=f"target {freshness_limit_s:g} s")
    fresh_ax.set_ylabel("freshness, s")
    fresh_ax.set_ylim(bottom=0)

    names = {name for sample in samples.memory for name in sample.mb}
    for name in [n for n in PROCESS_CLASSES if n in names] + sorted(names - set(PROCESS_CLASSES)):
        points = [(s.t / 60, s.mb[name]) for s in samples.memory if name in s.mb]
        mem_ax.plot([x for x, _ in points], [y for _, y in points], lw=1, label=name)
    if names:
        mem_ax.set_yscale("log")
        mem_ax.yaxis.set_major_formatter(LogFormatter())  # 600, not 6x10^2
        mem_ax.yaxis.set_minor_formatter(LogFormatter(minor_thresholds=(2, 0.5)))
    mem_ax.set_ylabel("PSS, MB (log)")

    disk = samples.disk
    live = [(d.t / 60, d.live_files) for d in disk if d.live_files is not None]
    files_ax.plot([x for x, _ in live], [y for _, y in live], lw=1, label="live files")
    files_ax.plot(
        [d.t / 60 for d in disk], [d.parquet_files for d in disk], lw=1, label="parquet files on disk"
    )
    files_ax.set_ylabel("Bronze files")
    files_ax.set_xlabel("minutes since the orders started")
    mb_ax = files_ax.twinx()
    mb_ax.plot(
        [d.t / 60 for d in disk],
        [d.mb.get("bronze", 0.0) for d in disk],
        "--",
        lw=1,
        color="grey",
        label="Bronze MB",
    )
    mb_ax.plot(
        [d.t / 60 for d in disk], [d.total_mb for d in disk], ":", lw=1, color="black", label="data dir MB"
    )
    mb_ax.set_ylabel("MB")
    mb_ax.set_ylim(bottom=0)

    for ax in (dbt_ax, fresh_ax, mem_ax, files_ax):
        first = ax is dbt_ax  # the windows in one legend only
        ax.axvspan(
            0, windows.warmup_end / 60, color="grey", alpha=0.12, lw=0, label="warm-up" if first else None
        )
        for (start, stop), name in ((windows.first, "first window"), (windows.last, "last window")):
            ax.axvspan(
                start / 60, stop / 60, color="tab:blue", alpha=0.07, lw=0, label=name if first else None
            )
        ax.axvline(windows.duration / 60, ls=":", color="grey", lw=1, label="orders end" if first else None)
        ax.grid(alpha=0.3)
    for ax in (dbt_ax, fresh_ax, mem_ax):
        if ax.get_legend_handles_labels()[0]:
            ax.legend(**LEGEND)
    handles, labels = files_ax.get_legend_handles_labels()
    more_handles, more_labels = mb_ax.get_legend_handles_labels()
    if handles or more_handles:  # one legend for both axes
        mb_ax.legend(handles + more_handles, labels + more_labels, **LEGEND)
    files_ax.set_xlim(0, end / 60)

    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    return path


def _present(xs: list[float], ys: list[float | None]) -> tuple[list[float], list[float]]:
    """The points whose value was measured."""
    pairs = [(x, y) for x, y in zip(xs, ys, strict=True) if y is not None]
    return [x for x, _ in pairs], [y for _, y in pairs]
