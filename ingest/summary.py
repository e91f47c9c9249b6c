"""Counts per layer and a glance at Gold, read from the Bronze Delta table and DuckDB."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from ingest.config import BronzeConfig, data_dir


def warehouse_path() -> Path:
    return data_dir() / "warehouse" / "lakehouse.duckdb"


@dataclass
class Summary:
    bronze_rows: int = 0
    bronze_distinct_events: int = 0
    bronze_parse_errors: int = 0
    silver_lines: int = 0
    gold_rows: int = 0
    top_countries: list[tuple[str, float]] = field(default_factory=list)


def bronze_counts(table_path: str) -> tuple[int, int, int]:
    """(rows, distinct event ids, rows with a parse error) of the Bronze Delta table."""
    import duckdb
    from deltalake import DeltaTable

    dataset = DeltaTable(table_path).to_pyarrow_dataset()  # noqa: F841 - read by DuckDB below
    row = duckdb.execute(
        "select count(*), count(distinct event_id), count(parse_error) from dataset"
    ).fetchone()
    return int(row[0]), int(row[1]), int(row[2])


def collect() -> Summary:
    import duckdb

    summary = Summary()
    table_path = BronzeConfig.from_env().table_path
    if Path(table_path, "_delta_log").exists():
        (
            summary.bronze_rows,
            summary.bronze_distinct_events,
            summary.bronze_parse_errors,
        ) = bronze_counts(table_path)
    if warehouse_path().exists():
        with duckdb.connect(str(warehouse_path()), read_only=True) as con:
            summary.silver_lines = con.execute(
                "select count(*) from silver.stg_bronze__order_lines"
            ).fetchone()[0]
            summary.gold_rows = con.execute("select count(*) from gold.metrics_daily_country").fetchone()[0]
            summary.top_countries = con.execute(
                """
                select country, sum(total_revenue) as revenue
                from gold.metrics_daily_country
                group by country
                order by revenue desc
                limit 5
                """
            ).fetchall()
    return summary


def render(summary: Summary, events_sent: int | None = None) -> str:
    lines = []
    if events_sent is not None:
        verdict = "equal" if events_sent == summary.bronze_rows else "MISMATCH"
        lines.append(f"events sent           {events_sent:>12,}")
        lines.append(f"Bronze rows           {summary.bronze_rows:>12,}   ({verdict} to events sent)")
    else:
        lines.append(f"Bronze rows           {summary.bronze_rows:>12,}")
    lines += [
        f"  distinct events     {summary.bronze_distinct_events:>12,}",
        f"  parse errors        {summary.bronze_parse_errors:>12,}",
        f"Silver order lines    {summary.silver_lines:>12,}   silver.stg_bronze__order_lines",
        f"Gold rows             {summary.gold_rows:>12,}   gold.metrics_daily_country",
        "Top countries by net revenue:",
    ]
    for country, revenue in summary.top_countries:
        lines.append(f"  {country:<20} {float(revenue):>14,.2f}")
    lines.append(f"Query Silver and Gold: duckdb {warehouse_path()}")
    return "\n".join(lines)
