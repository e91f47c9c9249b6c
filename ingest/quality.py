"""The data-quality record of Silver, read back: one row per Silver run in
`silver.int_data_quality_runs`, its lines per quality rule and exclusion reason in
`silver.int_data_quality_run_reasons` (docs/silver.md). The query here is shared by
`python -m ingest dq` (the table below) and the analytics API (`GET /v1/quality`); table
names come from the caller, the number of runs only as a bound parameter."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from ingest.api.lookups import jsonable
from ingest.paths import DataDir
from ingest.progress import duration

MAX_RUNS = 100
# a run has at most one row per rule and exclusion reason (about 20): the cap for MAX_RUNS
MAX_ROWS = MAX_RUNS * 40

RUN_COLUMNS = (
    "run_id",
    "run_at",
    "bronze_events",
    "checked_lines",
    "new_checked_lines",
    "trusted_lines",
    "quarantined_lines",
    "failed_lines",
    "gold_lines",
    "excluded_lines",
    "duplicates_removed",
    "unaccounted_events",
    "late_events",
    "is_balanced",
    "newest_bronze_ingested_at",
    "newest_source_event_at",
    "bronze_age_seconds",
    "source_age_seconds",
)
# the outcome of a reason row -> where its lines go in a run
BREAKDOWNS = {
    "quarantined": "quarantined_by_rule",
    "failed": "failed_by_rule",
    "excluded": "excluded_by_reason",
}

RUNS_SQL = """
with recent as (
    select
        runs.*,
        row_number() over (order by runs.run_at desc, runs.run_id desc) as recency
    from {runs} as runs
)
select
    {columns},
    reasons.outcome,
    reasons.reason,
    reasons.line_count,
    recent.recency
from recent
left join {reasons} as reasons on reasons.run_id = recent.run_id
where recent.recency <= {wanted}
order by recent.recency, reasons.outcome, reasons.reason
"""


class NoRecord(RuntimeError):
    """No Silver run has been recorded yet (or no warehouse); the message says what to run."""


def runs_sql(backend) -> str:
    """The last `runs` runs (a bind parameter), newest first, one row per run and reason.
    `backend` names relations and placeholders (ingest.api.backends)."""
    return RUNS_SQL.format(
        runs=backend.relation("silver", "int_data_quality_runs"),
        reasons=backend.relation("silver", "int_data_quality_run_reasons"),
        columns=",\n    ".join(f"recent.{column}" for column in RUN_COLUMNS),
        wanted=backend.placeholder("runs"),
    )


def runs_from_rows(columns: Sequence[str], rows: Sequence[tuple]) -> list[dict[str, Any]]:
    """The runs of `runs_sql`'s rows, newest first, each with its reasons as name -> lines
    under quarantined_by_rule, failed_by_rule and excluded_by_reason."""
    runs: dict[str, dict[str, Any]] = {}
    for values in rows:
        row = dict(zip(columns, values, strict=True))
        run = runs.get(row["run_id"])
        if run is None:
            run = {column: row[column] for column in RUN_COLUMNS}
            run.update({breakdown: {} for breakdown in BREAKDOWNS.values()})
            runs[row["run_id"]] = run
        if row["outcome"] in BREAKDOWNS:
            run[BREAKDOWNS[row["outcome"]]][row["reason"]] = int(row["line_count"])
    return list(runs.values())


def as_json(run: dict[str, Any]) -> dict[str, Any]:
    """A run with JSON values (timestamps ISO 8601 in UTC)."""
    return {key: jsonable(value) for key, value in run.items()}


class _Warehouse:
    """Relations and placeholders of a DuckDB connection to the warehouse file itself."""

    def relation(self, schema: str, name: str) -> str:
        return f'"{schema}"."{name}"'

    def placeholder(self, key: str) -> str:
        return f"${key}"


def collect(data: DataDir, runs: int = 10) -> list[dict[str, Any]]:
    """The last `runs` runs recorded in `data`'s warehouse; while dbt holds the warehouse,
    from its newest published read-only copy (ingest.local.serving)."""
    import duckdb

    from ingest.local import serving

    if not data.warehouse.exists():
        raise NoRecord(f"no warehouse at {data.warehouse}: build Silver first (make dbt-build or make run)")
    try:
        con = duckdb.connect(str(data.warehouse), read_only=True)
    except duckdb.IOException:  # dbt is writing it: read the last published copy
        snapshot = serving.current(data.warehouse)
        if snapshot is None or not snapshot.path.exists():
            raise NoRecord(f"{data.warehouse} is being written and no copy is published yet") from None
        con = duckdb.connect(str(snapshot.path), read_only=True)
    with con:
        try:
            cursor = con.execute(runs_sql(_Warehouse()), {"runs": min(runs, MAX_RUNS)})
        except duckdb.CatalogException:
            raise NoRecord(
                "no data-quality record yet: build Silver (make dbt-build, or make run) and ask again"
            ) from None
        columns = [d[0] for d in cursor.description]
        return runs_from_rows(columns, cursor.fetchall())


# ---------------------------------------------------------------------------- the table
TABLE = (  # header, run key
    ("run at (UTC)", "run_at"),
    ("Bronze", "bronze_events"),
    ("checked", "checked_lines"),
    ("new", "new_checked_lines"),
    ("trusted", "trusted_lines"),
    ("quarantined", "quarantined_lines"),
    ("failed", "failed_lines"),
    ("Gold", "gold_lines"),
    ("excluded", "excluded_lines"),
    ("dupes", "duplicates_removed"),
    ("late", "late_events"),
    ("books", "is_balanced"),
    ("Bronze age", "bronze_age_seconds"),
)


def _cell(key: str, value: Any) -> str:
    if key == "run_at":
        return value.strftime("%Y-%m-%d %H:%M:%S") if isinstance(value, datetime) else str(value)
    if key == "is_balanced":
        return "balanced" if value else "UNBALANCED"
    if key.endswith("_seconds"):
        return duration(value)
    return f"{value:,}" if isinstance(value, int) else str(value)


def _reasons(counts: dict[str, int]) -> str:
    return ", ".join(
        f"{name} {lines:,}" for name, lines in sorted(counts.items(), key=lambda i: (-i[1], i[0]))
    )


def render(runs: list[dict[str, Any]]) -> str:
    """The runs as a table, newest first, then the newest run's lines per rule and reason."""
    if not runs:
        return "no Silver run recorded yet"
    cells = [[header for header, _ in TABLE]]
    cells += [[_cell(key, run[key]) for _, key in TABLE] for run in runs]
    widths = [max(len(row[i]) for row in cells) for i in range(len(TABLE))]
    lines = [
        "  ".join(
            cell.ljust(width) if i == 0 else cell.rjust(width)
            for i, (cell, width) in enumerate(zip(row, widths, strict=True))
        )
        for row in cells
    ]
    newest = runs[0]
    lines.append("")
    lines.append(
        f"newest run: newest Kafka time {_cell('run_at', newest['newest_source_event_at'])} UTC "
        f"(age {duration(newest['source_age_seconds'])}), "
        f"{newest['unaccounted_events']:,} Bronze rows unaccounted"
    )
    for title, breakdown in (
        ("quarantined by rule", "quarantined_by_rule"),
        ("failed by rule", "failed_by_rule"),
        ("excluded by reason", "excluded_by_reason"),
    ):
        lines.append(f"  {title:<21}{_reasons(newest[breakdown]) or '-'}")
    return "\n".join(lines)


def main(runs: int, data: DataDir) -> int:
    """`python -m ingest dq`: print the table; 1 when there is nothing to show."""
    try:
        print(render(collect(data, runs)))
    except NoRecord as exc:
        print(f"dq: {exc}")
        return 1
    return 0
