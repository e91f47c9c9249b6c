"""After the soak: is what the increments built equal to a full refresh of the same Bronze?

`dbt build --full-refresh` of the runner's models (Silver and Gold, no tests) into a warehouse
of its own (data/soak/full-refresh), reading the soak's Bronze table; then every Silver and
Gold table of the two warehouses is compared row for row (EXCEPT ALL both ways), less what
differs by design: the column saying when a run (re)computed a row, the data-quality records
(one row per run) and the snapshots (one version per run that saw a change, where one full
build sees only the last).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import duckdb

from ingest.local.dbt import run_dbt
from ingest.local.schedule import LAYERS, build_args
from ingest.paths import DataDir

RUN_TIME_COLUMNS = ("silver_recomputed_at",)
PER_RUN_TABLES = (
    "int_data_quality_runs",
    "int_data_quality_run_reasons",
    "customer_history",
    "product_history",
)
# the runner's first build (every Silver and Gold model and snapshot, no tests), from scratch
BUILD = build_args(LAYERS, built_before=set())


@dataclass(frozen=True)
class TableEquality:
    table: str
    rows: int  # in the incremental build
    rows_full: int
    only_incremental: int
    only_full: int

    @property
    def equal(self) -> bool:
        return self.rows == self.rows_full and self.only_incremental == self.only_full == 0


def full_refresh(soak: DataDir) -> tuple[DataDir, float]:
    """The full refresh of the soak's Bronze into soak/full-refresh; its seconds."""
    full = soak.below("full-refresh")
    full.warehouse.parent.mkdir(parents=True, exist_ok=True)
    full.warehouse.unlink(missing_ok=True)
    started = time.monotonic()
    env = {"BRONZE_TABLE_PATH": str(soak.bronze_table)}
    target = ("--target-path", str(full.root / "dbt-target"))
    run_dbt("seed", *target, quiet=True, data=full, extra_env=env)
    run_dbt(*BUILD, "--full-refresh", *target, quiet=True, data=full, extra_env=env)
    return full, time.monotonic() - started


def compare(incremental: DataDir, full: DataDir) -> list[TableEquality]:
    """Every Silver and Gold base table of the incremental warehouse against the full one's."""
    con = duckdb.connect()
    try:
        con.execute(f"attach '{incremental.warehouse}' as incremental (read_only)")
        con.execute(f"attach '{full.warehouse}' as full_refresh (read_only)")
        tables = con.execute(
            "select schema_name, table_name from duckdb_tables() where database_name = 'incremental' "
            "and schema_name in ('silver', 'gold') order by all"
        ).fetchall()
        return [_compare_table(con, schema, name) for schema, name in tables if name not in PER_RUN_TABLES]
    finally:
        con.close()


def _compare_table(con, schema: str, name: str) -> TableEquality:
    columns = [
        row[0]
        for row in con.execute(
            "select column_name from duckdb_columns() where database_name = 'incremental' "
            "and schema_name = ? and table_name = ? order by column_index",
            [schema, name],
        ).fetchall()
        if row[0] not in RUN_TIME_COLUMNS
    ]
    listed = ", ".join(f'"{c}"' for c in columns)
    left, right = f'incremental."{schema}"."{name}"', f'full_refresh."{schema}"."{name}"'

    def only(a: str, b: str) -> int:
        query = f"select count(*) from (select {listed} from {a} except all select {listed} from {b})"
        return con.execute(query).fetchone()[0]

    count = con.execute(f"select count(*) from {left}").fetchone()[0]
    count_full = con.execute(f"select count(*) from {right}").fetchone()[0]
    return TableEquality(f"{schema}.{name}", count, count_full, only(left, right), only(right, left))


def markdown(results: list[TableEquality], seconds: float) -> str:
    equal = all(r.equal for r in results)
    lines = [
        f"Incremental = full refresh: {'PASS' if equal else 'FAIL'}. A `--full-refresh` build of the soak's "
        f"Bronze ({seconds:.0f} s) against what the runner's increments built, {len(results)} Silver "
        "and Gold tables row for row (all columns but silver_recomputed_at; the data-quality run "
        "records and the snapshots differ by design).",
        "",
        "| table | rows (increments) | rows (full refresh) | only in increments | only in full refresh |",
        "|---|---|---|---|---|",
    ]
    lines += [
        f"| {r.table} | {r.rows:,} | {r.rows_full:,} | {r.only_incremental:,} | {r.only_full:,} |"
        for r in results
    ]
    return "\n".join(lines) + "\n"
