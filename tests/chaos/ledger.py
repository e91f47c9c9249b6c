"""Counting the books after a fault: each event once in Bronze, each line once in Silver."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import duckdb
from deltalake import DeltaTable


@dataclass(frozen=True)
class Tally:
    expected: int
    lost: int
    duplicated: int


def bronze_tally(table_path: Path, published: int) -> Tally:
    """Every Kafka record once in Bronze: by (partition, offset), the record's identity. Reading
    the whole table also proves that every file the Delta log names is whole."""
    table = DeltaTable(str(table_path)).to_pyarrow_table(columns=["kafka_partition", "kafka_offset"])
    seen = Counter(zip(table["kafka_partition"].to_pylist(), table["kafka_offset"].to_pylist(), strict=True))
    return Tally(published, lost=published - len(seen), duplicated=table.num_rows - len(seen))


def bronze_event_ids(table_path: Path) -> set[str]:
    return set(DeltaTable(str(table_path)).to_pyarrow_table(columns=["event_id"])["event_id"].to_pylist())


def silver_tally(warehouse: Path, expected_ids: set[str]) -> Tally:
    """Every expected line once in Silver (trusted or quarantined) and accounted for once in
    Gold's terms (a fact line, an excluded line or a quarantined one)."""
    con = duckdb.connect(str(warehouse), read_only=True)
    try:

        def ids(sql: str) -> list[str]:
            return [row[0] for row in con.execute(sql).fetchall()]

        silver = ids("select event_id from silver.stg_bronze__order_lines")
        quarantined = ids("select event_id from silver.stg_bronze__quarantined_lines")
        accounted = ids(
            "select event_id from gold.fct_sales_lines union all "
            "select event_id from silver.int_excluded_lines union all "
            "select event_id from silver.stg_bronze__quarantined_lines"
        )
    finally:
        con.close()
    in_silver = Counter(silver + quarantined)
    in_gold = Counter(accounted)
    lost = len(expected_ids - (set(in_silver) & set(in_gold)))  # missing from either
    twice = {i for i, n in in_silver.items() if n > 1} | {i for i, n in in_gold.items() if n > 1}
    return Tally(len(expected_ids), lost=lost, duplicated=len(twice))
