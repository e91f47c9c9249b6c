"""Silver and Gold built in increments (new, late and duplicate events arriving between runs) equals
Silver built in one full refresh, row for row."""

from __future__ import annotations

import duckdb
import pytest

from ingest.benchmarks.bronze_writer import BronzeWriter, event, invalid
from ingest.events import LINE_FIELDS
from ingest.generator import TEST_CUSTOMERS, SyntheticSales
from ingest.local.dbt import run_dbt
from ingest.paths import DataDir

from .helpers import bronze_path

pytestmark = pytest.mark.integration

COMPARED = (
    "silver.stg_bronze__order_lines_checked",
    "silver.int_order_lines_enriched",
    "silver.int_excluded_lines",
    "silver.int_bronze_reconciliation",
    "gold.metrics_daily_country",
    "gold.fct_sales_lines",
    "gold.dim_product",
    "gold.dim_customer",
    "gold.dim_date",
    "gold.metrics_product_monthly",
    "gold.metrics_customer_rfm",
    "silver.int_product_state",
    "silver.int_customer_state",
    "silver.int_product_names",
    "silver.int_customer_countries",
    "silver.int_customer_transactions",
)
# when a run (re)computed a row: differs between the two builds by design
RUN_TIME_COLUMNS = ("silver_recomputed_at",)


def as_event(number: int, row: tuple[str, ...], event_id: str | None = None, **kwargs: str) -> dict:
    return event(event_id or f"e{number}", dict(zip(LINE_FIELDS, row, strict=True)), **kwargs)


RENAMED = "RENAMED FOR THE SNAPSHOT TEST"


def renamed(row: tuple[str, ...]) -> tuple[str, ...]:
    _, _, product_no, _, price, _, customer_no, country = row
    return ("999001", "12/9/2019", product_no, RENAMED, price, "1", customer_no, country)


def counted_line(rows: list[tuple[str, ...]], start: int) -> int:
    """The first position from `start` whose row is a plain sale Silver and Gold count."""
    for position in range(start, len(rows)):
        _, _, product_no, _, price, quantity, customer_no, _ = rows[position]
        if (
            product_no[:1].isdigit()
            and float(price) > 0
            and int(quantity) > 0
            and customer_no
            and customer_no not in TEST_CUSTOMERS
            and rows.count(rows[position]) == 1
        ):
            return position
    raise AssertionError("no plain sale line in the generated rows")


@pytest.fixture(scope="module")
def warehouses(data_root, tmp_path_factory, monkeypatch_module):
    rows = list(SyntheticSales(6_000, seed=13).rows())
    events = [as_event(i, row) for i, row in enumerate(rows)]
    writer = BronzeWriter(bronze_path(data_root))

    writer.append(events[:2_000] + [invalid("{oops")])
    run_dbt("build", data=DataDir.from_env())
    # redelivered copies of events Silver already holds, next to new ones
    writer.append(events[2_000:3_500] + events[100:150], partition=1)
    run_dbt("build", data=DataDir.from_env())
    writer.append(events[3_500:4_500])
    # a late batch: landed with an earlier ingestion time than the last one Silver saw
    writer.append(events[4_500:4_800] + events[3_600:3_610], minutes_after_base=7, partition=2)
    run_dbt("build", data=DataDir.from_env())
    # a late exact duplicate line (new event id) of a transaction built in an earlier run
    writer.append(events[4_800:] + [as_event(0, rows[4_000], event_id="late-duplicate-line")])
    run_dbt("build", data=DataDir.from_env())
    # a late copy of a line Gold already counts, but *earlier* in event order: it becomes the
    # counted line and the one in Gold becomes a duplicate that must leave the fact
    early = counted_line(rows, 1_000)
    writer.append(
        [as_event(0, rows[early], event_id="late-earlier-copy", occurred_at="2026-11-25T07:00:00.000Z")]
    )
    run_dbt("build", data=DataDir.from_env())
    # the product is renamed on the last trading day: its snapshot must open a second version
    writer.append([as_event(0, renamed(rows[early]), event_id="renamed-product")])
    run_dbt("build", data=DataDir.from_env())

    full = tmp_path_factory.mktemp("full-refresh")
    monkeypatch_module.setenv("LAKEHOUSE_DATA_DIR", str(full))
    monkeypatch_module.setenv("BRONZE_TABLE_PATH", bronze_path(data_root))
    run_dbt("build", data=DataDir.from_env())
    monkeypatch_module.delenv("BRONZE_TABLE_PATH")
    con = duckdb.connect()
    con.execute(f"attach '{data_root / 'warehouse' / 'lakehouse.duckdb'}' as incremental (read_only)")
    con.execute(f"attach '{full / 'warehouse' / 'lakehouse.duckdb'}' as full_refresh (read_only)")
    yield con
    con.close()


@pytest.mark.parametrize("table", COMPARED)
def test_increments_equal_a_full_refresh_row_for_row(warehouses, table):
    count_incremental = warehouses.execute(f"select count(*) from incremental.{table}").fetchone()[0]
    count_full = warehouses.execute(f"select count(*) from full_refresh.{table}").fetchone()[0]
    assert count_incremental == count_full > 0
    schema, name = table.split(".")
    columns = {
        row[0]
        for row in warehouses.execute(
            "select column_name from information_schema.columns "
            "where table_catalog = 'incremental' and table_schema = ? and table_name = ?",
            [schema, name],
        ).fetchall()
    }
    run_times = [c for c in RUN_TIME_COLUMNS if c in columns]
    every = f"* exclude ({', '.join(run_times)})" if run_times else "*"
    for left, right in (("incremental", "full_refresh"), ("full_refresh", "incremental")):
        only_here = warehouses.execute(
            f"select count(*) from (select {every} from {left}.{table} "
            f"except all select {every} from {right}.{table})"
        ).fetchone()[0]
        assert only_here == 0, f"{only_here} rows of {table} only in the {left} build"


def test_the_late_and_duplicate_events_were_really_there(warehouses):
    duplicates, late_line = warehouses.execute(
        """
        select
            (select sum(duplicates_removed) from incremental.silver.int_bronze_reconciliation),
            (select is_duplicate_line from incremental.silver.int_order_lines_enriched
             where event_id = 'late-duplicate-line')
        """
    ).fetchone()
    assert duplicates == 60
    assert late_line is True


def test_a_late_earlier_copy_replaces_the_counted_line_in_gold(warehouses):
    original = f"e{counted_line(list(SyntheticSales(6_000, seed=13).rows()), 1_000)}"
    in_fact = {
        row[0]
        for row in warehouses.execute(
            "select event_id from incremental.gold.fct_sales_lines where event_id in (?, ?)",
            [original, "late-earlier-copy"],
        ).fetchall()
    }
    reason = warehouses.execute(
        "select exclusion_reason from incremental.silver.int_excluded_lines where event_id = ?", [original]
    ).fetchone()
    assert in_fact == {"late-earlier-copy"}
    assert reason == ("duplicate_line",)


def test_snapshots_keep_each_version_of_a_renamed_product(warehouses):
    rows = list(SyntheticSales(6_000, seed=13).rows())
    product_no = rows[counted_line(rows, 1_000)][2].upper()
    versions = warehouses.execute(
        "select product_name, valid_from, valid_to from incremental.gold.product_history"
        " where product_no = ? order by valid_from",
        [product_no],
    ).fetchall()
    *earlier, (new_name, _, still_open) = versions
    assert earlier, "the rename opened no new version"
    assert new_name == RENAMED and still_open is None
    assert RENAMED not in {name for name, _, _ in earlier}
    # the versions follow one another without gap or overlap
    assert [valid_to for _, _, valid_to in earlier] == [valid_from for _, valid_from, _ in versions[1:]]


def test_snapshot_versions_in_force_are_the_current_dimensions(warehouses):
    for snapshot, dimension, columns in (
        ("product_history", "dim_product", "product_no, product_name, current_unit_price"),
        ("customer_history", "dim_customer", "customer_no, current_country"),
    ):
        differences = warehouses.execute(
            f"select count(*) from ((select {columns} from incremental.gold.{snapshot} where valid_to is null"
            f" except all select {columns} from incremental.gold.{dimension})"
            f" union all (select {columns} from incremental.gold.{dimension}"
            f" except all select {columns} from incremental.gold.{snapshot} where valid_to is null))"
        ).fetchone()[0]
        assert differences == 0, f"{snapshot} and {dimension} differ in {differences} rows"
