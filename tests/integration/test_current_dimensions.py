"""The current dimensions (dim_product, dim_customer) kept incrementally: a run rebuilds only
the products and customers that changed lines touch, from their state and those lines. The
hard case: the line a product's (and a customer's) current row comes from stops counting,
because a late, earlier copy of it arrives and makes it the duplicate. The row must then fall
back to the latest line that still counts, as a full refresh would give."""

from __future__ import annotations

import duckdb
import pytest

from ingest.benchmarks.bronze_writer import BronzeWriter, event, line
from ingest.local.dbt import run_dbt
from ingest.paths import DataDir

from .helpers import bronze_path

pytestmark = pytest.mark.integration

PRODUCT, CUSTOMER, DAY = "90001", "45678", "12/9/2019"


def sold(transaction_no: str, name: str, price: str, country: str) -> dict[str, str]:
    return line(transaction_no, DAY, PRODUCT, name, price, "1", CUSTOMER, country)


def current_rows(warehouse) -> tuple[tuple, tuple]:
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        product = con.execute(
            "select product_name, current_unit_price, name_count, first_sold_date, last_sold_date "
            "from gold.dim_product where product_no = ?",
            [PRODUCT],
        ).fetchone()
        customer = con.execute(
            "select current_country, country_count from gold.dim_customer where customer_no = ?", [CUSTOMER]
        ).fetchone()
    finally:
        con.close()
    return product, customer


@pytest.fixture(scope="module")
def built(data_root):
    writer = BronzeWriter(bronze_path(data_root))
    # two orders on the same day: the one at 09:00 is the latest line of the product and customer
    writer.append(
        [
            event(
                "older", sold("900001", "OLD NAME", "2.00", "France"), occurred_at="2026-11-25T08:00:00.000Z"
            ),
            event(
                "latest",
                sold("900002", "NEW NAME", "3.00", "Germany"),
                occurred_at="2026-11-25T09:00:00.000Z",
            ),
        ]
    )
    run_dbt("build", data=DataDir.from_env())
    first = current_rows(data_root / "warehouse" / "lakehouse.duckdb")
    # a late copy of the 09:00 line, earlier in event order than both: it becomes the counted
    # line of order 900002, and the 09:00 line its duplicate
    writer.append(
        [
            event(
                "late-copy",
                sold("900002", "NEW NAME", "3.00", "Germany"),
                occurred_at="2026-11-25T07:00:00.000Z",
            )
        ]
    )
    run_dbt("build", data=DataDir.from_env())
    return first, current_rows(data_root / "warehouse" / "lakehouse.duckdb")


def test_the_latest_line_gives_the_current_row(built):
    (name, price, names, *_), (country, countries) = built[0]
    assert (name, float(price), names) == ("NEW NAME", 3.0, 2)
    assert (country, countries) == ("Germany", 2)


def test_a_current_line_that_became_a_duplicate_gives_way_to_the_latest_counted_line(built):
    # counted now: "older" (08:00, OLD NAME, France) and "late-copy" (07:00, NEW NAME,
    # Germany); the latest of them is "older"
    (name, price, names, first, last), (country, countries) = built[1]
    assert (name, float(price)) == ("OLD NAME", 2.0)
    assert names == 2 and str(first) == str(last) == "2019-12-09"
    assert (country, countries) == ("France", 2)


def test_the_incremental_rows_equal_a_full_refresh(built, data_root, tmp_path, monkeypatch):
    monkeypatch.setenv("LAKEHOUSE_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("BRONZE_TABLE_PATH", bronze_path(data_root))
    run_dbt("build", data=DataDir.from_env())
    assert current_rows(tmp_path / "warehouse" / "lakehouse.duckdb") == built[1]
