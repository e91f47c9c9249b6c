"""The soak in words: the per-minute console line, the results section of bench/soak.md, and
the targets table printed at the end."""

from __future__ import annotations

from ingest.benchmarks.soak.samples import PROCESS_CLASSES, Summary
from ingest.benchmarks.soak.targets import TargetResult, Windows, minutes

SHORT = {"bronze-py": "bronze-py", "postgres": "pg", "simulator": "sim"}


def _f(value: float | None, fmt: str = ".1f", none: str = "-") -> str:
    return none if value is None else format(value, fmt)


def _mem(peaks: dict[str, float]) -> str:
    names = [n for n in PROCESS_CLASSES if n in peaks] + sorted(set(peaks) - set(PROCESS_CLASSES))
    return " ".join(f"{SHORT.get(n, n)} {peaks[n]:,.0f}" for n in names)


def minute_line(label: str, s: Summary) -> str:
    """`soak 12/60 min | 40.1 orders/s | dbt 6.2 s (median of 5, max 7.9) | fresh p50 7.1 s
    p95 11.8 s | PSS MB broker 85 spark 1450 ... | bronze 34 live files (120 on disk), 12.1 MB
    | data 150 MB`"""
    dbt = (
        f"dbt {s.dbt_median:.1f} s (median of {s.dbt_runs}, max {s.dbt_max:.1f})"
        if s.dbt_median is not None
        else "dbt -"
    )
    if s.dbt_failed:
        dbt += f" {s.dbt_failed} failed"
    fresh = f"fresh p50 {s.fresh_p50:.1f} s p95 {s.fresh_p95:.1f} s" if s.fresh_p95 is not None else "fresh -"
    bronze = (
        f"bronze {_f(s.live_files, ',d')} live files ({s.parquet_files:,} on disk), "
        f"{s.disk_mb.get('bronze', 0):,.1f} MB | data {s.total_mb:,.0f} MB"
        if s.disk_mb is not None
        else "bronze -"
    )
    return " | ".join(
        [label, f"{_f(s.orders_per_s)} orders/s", dbt, fresh, f"PSS MB {_mem(s.mem_peak) or '-'}", bronze]
    )


def targets_table(results: list[TargetResult]) -> str:
    """The targets as aligned plain text, for the console."""
    rows = [("target", "result", "rule", "figures")] + [
        (r.name, "PASS" if r.passed else "FAIL", r.rule, r.figures) for r in results
    ]
    widths = [max(len(row[i]) for row in rows) for i in range(3)]
    return "\n".join(
        "  ".join(cell.ljust(width) for cell, width in zip(row[:3], widths, strict=True)) + "  " + row[3]
        for row in rows
    )


def window_note(w: Windows) -> str:
    text = (
        f"warm-up minutes 0-{w.warmup_end / 60:.3g}, first window minutes {minutes(w.first)}, last window "
        f"minutes {minutes(w.last)}, thirds {minutes(w.middle_third)} and {minutes(w.last_third)}"
    )
    if w.scaled:
        text += (
            f" (scaled to a {w.duration / 60:.3g}-minute run: the windows of an hour's run times "
            f"{w.scale:.3g}; warm-up 1/12, each window 1/6 of the orders)"
        )
    return text


def markdown(
    *,
    when: str,
    windows: Windows,
    rate: float,
    requested_s: float,
    machine: str,
    startup_s: float,
    rows: list[tuple[str, Summary]],
    chart: str | None,
    results: list[TargetResult],
    runner: str,
) -> str:
    classes = [n for n in PROCESS_CLASSES if any(n in s.mem_peak for _, s in rows)]
    head = ["minutes", "orders/s", "dbt median s", "fresh p50 / p95 s"]
    head += [f"{n} MB" for n in classes]
    head += ["Bronze files live / on disk", "disk MB Bronze / warehouse / postgres / all"]
    stopped = f" (stopped after {windows.duration / 60:.1f} min)" if windows.duration < requested_s else ""
    lines = [
        f"## {when}: soak, {requested_s / 60:g} min at {rate:g} orders/s{stopped}",
        "",
        f"`python -m ingest soak --duration {requested_s:g} --rate {rate:g}`: the runner in fast "
        "mode (Bronze every 2 s, Silver + Gold whenever Bronze commits, Bronze compaction every 10 min) in "
        f"data/soak. Machine: {machine}. Orders started {startup_s:.0f} s after the runner; minutes "
        "count from there. Memory is PSS (shared pages split between the processes sharing them), "
        "the peak of the samples in the row; Bronze files are the most seen in the row.",
        "",
        f"Windows: {window_note(windows)}.",
        "",
        f"Runner: {runner}",
        "",
        "| " + " | ".join(head) + " |",
        "|" + "---|" * len(head),
    ]
    for label, s in rows:
        cells = [
            label,
            _f(s.orders_per_s),
            _f(s.dbt_median),
            f"{_f(s.fresh_p50)} / {_f(s.fresh_p95)}",
            *(_f(s.mem_peak.get(n), ",.0f") for n in classes),
            f"{_f(s.live_files, ',d')} / {_f(s.parquet_files, ',d')}",
            f"{s.disk_mb.get('bronze', 0):,.1f} / {s.disk_mb.get('warehouse', 0):,.1f} / "
            f"{s.disk_mb.get('postgres', 0):,.1f} / {s.total_mb:,.0f}"
            if s.disk_mb is not None
            else "-",
        ]
        lines.append("| " + " | ".join(cells) + " |")
    lines.append("")
    if chart:
        lines += [f"![soak chart: dbt run time, freshness, memory, Bronze files]({chart})", ""]
    lines += ["| target | rule | figures | result |", "|---|---|---|---|"]
    lines += [f"| {r.name} | {r.rule} | {r.figures} | {'PASS' if r.passed else 'FAIL'} |" for r in results]
    lines.append("")
    return "\n".join(lines)
