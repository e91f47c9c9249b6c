"""The orders simulator's grouping of lines into orders, and the migration files."""

from __future__ import annotations

import pytest

from ingest.generator import SyntheticSales
from ingest.orders import migrate, simulator


def row(no: str, product: str = "22633", price: str = "2.10", qty: str = "6") -> tuple[str, ...]:
    return (no, "12/9/2019", product, "HAND WARMER", price, qty, "17850", "United Kingdom")


def test_consecutive_lines_with_one_transaction_no_are_one_order():
    rows = [row("536365"), row("536365", "71053"), row("C536366", qty="-6"), row("536367")]
    orders = list(simulator.group_orders(rows))
    assert [[line[0] for line in order] for order in orders] == [
        ["536365", "536365"],
        ["C536366"],
        ["536367"],
    ]


def test_generated_lines_group_into_orders_with_cancellations_as_c_orders():
    orders = list(simulator.group_orders(SyntheticSales(5_000, seed=3).rows()))
    assert sum(len(order) for order in orders) == 5_000
    assert len({order[0][0] for order in orders}) == len(orders), "an order split in two"
    cancellations = [order for order in orders if order[0][0].startswith("C")]
    assert cancellations
    assert all(int(line[5]) < 0 for order in cancellations for line in order)


@pytest.mark.parametrize(("price", "qty"), [("abc", "6"), ("2.10", "6.5"), ("", "1")])
def test_a_line_the_database_cannot_hold_rejects_its_order(price, qty):
    with pytest.raises(simulator.InvalidOrder):
        simulator._typed_line(row("536365", price=price, qty=qty))


def test_migrations_are_versioned_files_applied_in_order():
    found = migrate.discover()
    assert [m.version for m in found] == sorted(m.version for m in found)
    assert [m.name for m in found][:2] == ["orders", "outbox"]


def test_a_misnamed_migration_file_is_refused(tmp_path):
    (tmp_path / "0001_ok.sql").write_text("select 1;")
    (tmp_path / "2_bad.sql").write_text("select 1;")
    with pytest.raises(migrate.MigrationError, match=r"NNNN_name\.sql"):
        migrate.discover(tmp_path)
