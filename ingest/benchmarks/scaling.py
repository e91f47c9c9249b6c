"""Incremental scaling benchmark (`make bench-scaling`): what one Silver + Gold run costs for a
5-minute slice of new events on top of 1, 4 and 16 years of history (536,350 lines per year,
the real file's size: 0.54M to 8.6M lines), beside a full refresh of the same Bronze.

Bronze is written straight into Delta (ingest.benchmarks.bronze_writer): each year is the
generator's year shifted back (same lines per day), landed over as many years, so the slice
(its lines all on the last day: today's orders) is the only thing inside Silver's lookback
window, as in a pipeline that has run for that long. Each build is the runner's: `dbt build` of the Silver
and Gold models and Gold's snapshots, without the data tests. Figures are dbt's own time in
the nodes (run_results.json, one dbt thread) and the wall time of the command; the slowest
nodes of each incremental run say where the time goes.

Targets (issue 13): the incremental time stays within 2x while the history grows 16x, and at
16x it is under 10% of the full refresh. Issue 21: a run with nothing new, as the runner's fast
mode builds after its first run (what Bronze feeds, no views: ingest.local.schedule.build_args),
costs at most 1.5 s on a year.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

from ingest.events import LINE_FIELDS
from ingest.generator import SyntheticSales
from ingest.local.dbt import run_dbt
from ingest.local.schedule import LAYERS, NO_ARTIFACTS, build_args
from ingest.paths import DataDir
from ingest.progress import Progress

YEAR_LINES = 536_350
MINUTES_PER_YEAR = 365 * 24 * 60
COMMIT_LINES = 200_000  # rows per Delta commit of the history
DATE = list(LINE_FIELDS).index("Date")
# one thread: a node's time is its own work (with two, DuckDB's single writer makes a node
# wait for the other's and both times count the wait); DuckDB parallelises each query itself
BUILD = (
    "build",
    "--threads",
    "1",
    "--select",
    "tag:silver",
    "tag:gold",
    "--exclude-resource-type",
    "test",
    "unit_test",
)
# the runner's build once its worker has built both layers (what Bronze feeds, less views),
# on one thread and with run_results.json written (the runner's writes none)
_RUNNER_BUILD = build_args(LAYERS, set(LAYERS))
LEAN = (_RUNNER_BUILD[0], "--threads", "1", *(arg for arg in _RUNNER_BUILD[1:] if arg != NO_ARTIFACTS))
NOTHING_NEW_TARGET_S = 1.5


@dataclass
class Build:
    wall_s: float
    nodes_s: float
    slowest: list[tuple[str, float]] = field(default_factory=list)


@dataclass
class Scale:
    multiple: int
    history_lines: int
    slice_lines: int
    first: Build
    incremental: Build
    nothing_new: Build
    full_refresh: Build


def timed_build(data: DataDir, label: str, *extra: str, build: tuple[str, ...] = BUILD) -> Build:
    """One build; its run_results.json kept as `<label>-run_results.json` in the data directory."""
    target = data.root / "dbt-target"
    started = time.monotonic()
    run_dbt(*build, "--target-path", str(target), *extra, quiet=True, data=data)
    wall = time.monotonic() - started
    kept = data.root / f"{label}-run_results.json"
    (target / "run_results.json").replace(kept)
    results = json.loads(kept.read_text())["results"]
    nodes = [(r["unique_id"].split(".")[-1], r["execution_time"]) for r in results]
    nodes.sort(key=lambda node: -node[1])
    return Build(wall, sum(t for _, t in nodes), nodes[:4])


def history_rows(years: int) -> Iterator[tuple[str, ...]]:
    """`years` of the generator's year, each shifted back so that the last one is the newest:
    history grows by years (same lines per day), as a pipeline's does."""
    for year in range(years):
        back = years - 1 - year
        for row in SyntheticSales(YEAR_LINES, seed=13 + year).rows():
            month_day, _, calendar_year = row[DATE].rpartition("/")
            yield (
                _later_transaction(row[0], year),
                *row[1:DATE],
                f"{month_day}/{int(calendar_year) - back}",
                *row[DATE + 1 :],
            )


def _today(row: tuple[str, ...], day: str, years: int) -> tuple[str, ...]:
    """A slice line: on `day`, with a transaction number after every year of the history."""
    return (_later_transaction(row[0], years), *row[1:DATE], day, *row[DATE + 1 :])


def _later_transaction(transaction_no: str, year: int) -> str:
    """Each year's transaction numbers after the year before's (536366 -> 1536366 in year 1),
    keeping a C or A prefix: numbers stay unique across the history, as the source's are."""
    digits = transaction_no.lstrip("ABCDEFGHIJKLMNOPQRSTUVWXYZ")
    prefix = transaction_no[: len(transaction_no) - len(digits)]
    return f"{prefix}{int(digits) + year * 1_000_000}" if digits.isdigit() else transaction_no


def write_history(data: DataDir, years: int, slice_lines: int):
    """`years` of history in commits spread over as many years of landing times; returns the
    writer and a slice of `slice_lines` new lines, all on the history's last day (today's
    orders), for the caller to append when it is their turn."""
    from ingest.benchmarks.bronze_writer import BronzeWriter, event

    data.reset_lakehouse()
    writer = BronzeWriter(str(data.bronze_table))
    lines = YEAR_LINES * years
    rows = enumerate(history_rows(years))
    commits = -(-lines // COMMIT_LINES)
    progress = Progress("Bronze history rows", total=lines)
    written, last_day = 0, ""
    for number in range(commits):
        size = min(COMMIT_LINES, lines - written)
        batch = [event(f"h{i}", dict(zip(LINE_FIELDS, row, strict=True))) for i, row in _take(rows, size)]
        last_day = batch[-1]["line"]["Date"]
        writer.append(batch, minutes_after_base=MINUTES_PER_YEAR * years * number / commits)
        written += size
        progress.update(size)
    progress.finish()
    today = [
        event(f"s{i}", dict(zip(LINE_FIELDS, _today(row, last_day, years), strict=True)))
        for i, row in enumerate(SyntheticSales(slice_lines, seed=999).rows())
    ]
    return writer, today


def _take(iterator, n: int):
    for _ in range(n):
        yield next(iterator)


def measure(multiple: int, slice_lines: int, base: DataDir) -> Scale:
    data = base.below(f"bench-scaling-{multiple}x")
    lines = YEAR_LINES * multiple
    print(f"bench-scaling: {multiple}x: writing {lines:,} history lines to Bronze", file=sys.stderr)
    writer, new = write_history(data, multiple, slice_lines)
    run_dbt("seed", "--target-path", str(data.root / "dbt-target"), quiet=True, data=data)
    # the older years are before the business's start date the quality rules check
    business = ("--vars", f"{{business_start_date: '{2018 - multiple}-12-01'}}")
    print(f"bench-scaling: {multiple}x: first build (from empty)", file=sys.stderr)
    first = timed_build(data, "first", *business)
    writer.append(new, minutes_after_base=MINUTES_PER_YEAR * multiple + 5)
    print(f"bench-scaling: {multiple}x: incremental build of {slice_lines:,} new lines", file=sys.stderr)
    incremental = timed_build(data, "incremental", *business)
    print(f"bench-scaling: {multiple}x: a run with nothing new (fast mode's build)", file=sys.stderr)
    nothing_new = timed_build(data, "nothing-new", *business, build=LEAN)
    print(f"bench-scaling: {multiple}x: full refresh of the same Bronze", file=sys.stderr)
    full = timed_build(data, "full-refresh", "--full-refresh", *business)
    scale = Scale(multiple, lines, slice_lines, first, incremental, nothing_new, full)
    print(f"bench-scaling: {multiple}x: {row(scale, scale)}", file=sys.stderr)
    return scale


def row(scale: Scale, reference: Scale) -> str:
    inc, full, idle = scale.incremental, scale.full_refresh, scale.nothing_new
    growth = inc.nodes_s / reference.incremental.nodes_s if reference.incremental.nodes_s else float("nan")
    slowest = ", ".join(f"{name} {t:.1f}" for name, t in inc.slowest)
    met = "met" if idle.nodes_s <= NOTHING_NEW_TARGET_S else "NOT met"
    return (
        f"| {scale.multiple}x | {scale.history_lines:,} | {full.nodes_s:.1f} ({full.wall_s:.1f}) | "
        f"{inc.nodes_s:.1f} ({inc.wall_s:.1f}) | {inc.nodes_s / full.nodes_s:.0%} | {growth:.2f}x | "
        f"{idle.nodes_s:.2f} ({met}) | {slowest} |"
    )


def render(scales: list[Scale], slice_lines: int) -> str:
    ref = scales[0]
    lines = [
        f"## {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}: incremental scaling, Silver + Gold, "
        f"a {slice_lines:,}-line slice on 1x to {scales[-1].multiple}x a year of history, 2 cores",
        "",
        "Seconds in dbt's nodes (wall time of the command in brackets). Growth: incremental time "
        "against the 1x incremental time. Targets: growth <= 2x at 16x; incremental < 10% of the "
        "full refresh at 16x; a run with nothing new (the runner's fast-mode build: what Bronze "
        f"feeds, no views) <= {NOTHING_NEW_TARGET_S} s in dbt's nodes on a year.",
        "",
        "| history | lines | full refresh s | incremental s | incremental / full | growth | "
        "nothing new s | slowest incremental nodes (s) |",
        "|---|---|---|---|---|---|---|---|",
        *(row(s, ref) for s in scales),
    ]
    return "\n".join(lines) + "\n"


def main(multiples: list[int], slice_lines: int, out: str, data: DataDir) -> int:
    scales = [measure(m, slice_lines, data) for m in multiples]
    text = render(scales, slice_lines)
    print(text)
    with open(out, "a") as f:
        f.write("\n" + text)
    return 0
