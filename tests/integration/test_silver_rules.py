"""Every malformed-input case of the quality rules, through dbt on DuckDB: each bad event
is quarantined with the rule it broke (or kept with a warning), none is lost."""

from __future__ import annotations

import duckdb
import pytest

from ingest.benchmarks.bronze_writer import BronzeWriter, event, invalid, line
from ingest.local.dbt import run_dbt
from ingest.paths import DataDir

from .cases import CASES
from .helpers import bronze_path

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def warehouse(data_root):
    writer = BronzeWriter(bronze_path(data_root))
    writer.append([event(event_id, fields) for event_id, (fields, _, _) in CASES.items()])
    writer.append(
        [
            invalid("this is not json"),
            invalid('{"line": {}}', "missing event_id"),
            event("good-sale", CASES["good-sale"][0]),  # delivered again: a duplicate
            event("float-customer", line(customer_no="17490.0", transaction_no="536400")),
            event("lowercase-code", line(product_no="85123a", transaction_no="536401")),
            event("eire", line(country="EIRE", transaction_no="536402")),
            event("atlantis", line(country="Atlantis", transaction_no="536403")),
            event("test-customer", line(customer_no="99990", transaction_no="536404")),
            event("same-line-1", line(transaction_no="536405")),
            event("same-line-2", line(transaction_no="536405")),
            event("newer-schema", line(transaction_no="536406"), schema_version=2),
        ]
    )
    run_dbt("build", data=DataDir.from_env())
    with duckdb.connect(str(DataDir.from_env().warehouse), read_only=True) as con:
        yield con


def checked(con, event_id: str) -> tuple:
    return con.execute(
        "select line_status, quarantine_rules, warning_rules from silver.stg_bronze__order_lines_checked "
        "where event_id = ?",
        [event_id],
    ).fetchone()


@pytest.mark.parametrize("event_id", list(CASES))
def test_each_case_gets_its_status_and_rule(warehouse, event_id):
    _, status, rules = CASES[event_id]
    actual_status, quarantine_rules, warning_rules = checked(warehouse, event_id)
    assert actual_status == status
    assert (quarantine_rules if status == "quarantined" else warning_rules) == rules


def test_invalid_payloads_are_quarantined_with_their_raw_value(warehouse):
    rows = warehouse.execute(
        "select raw_value, parse_error, quarantine_rules, kafka_offset"
        " from silver.stg_bronze__quarantined_lines where event_id is null order by kafka_offset"
    ).fetchall()
    assert [(r[0], r[1], r[2]) for r in rows] == [
        ("this is not json", "invalid JSON", "invalid_payload"),
        ('{"line": {}}', "missing event_id", "invalid_payload"),
    ]


def test_dates_are_month_first(warehouse):
    day = warehouse.execute(
        "select sale_date from silver.stg_bronze__order_lines where event_id = 'good-sale'"
    ).fetchone()[0]
    assert str(day) == "2019-12-09"


def test_a_redelivered_event_keeps_its_earliest_copy(warehouse):
    batch, offset = warehouse.execute(
        "select bronze_batch_id, kafka_offset from silver.stg_bronze__order_lines_checked"
        " where event_id = 'good-sale'"
    ).fetchone()
    assert (batch, offset) == (0, 0)
    books = warehouse.execute(
        "select sum(bronze_events), sum(silver_lines), sum(quarantined_lines), sum(duplicates_removed), "
        "sum(unaccounted_events) from silver.int_bronze_reconciliation"
    ).fetchone()
    valid = sum(1 for _, status, _ in CASES.values() if status == "valid") + 7  # 7 good ones in batch 1
    quarantined = len(CASES) + 11 - 1 - valid  # everything else but the one duplicate
    assert books == (len(CASES) + 11, valid, quarantined, 1, 0)


def test_customer_numbers_tolerate_a_trailing_point_zero(warehouse):
    assert warehouse.execute(
        "select customer_no from silver.stg_bronze__order_lines where event_id = 'float-customer'"
    ).fetchone() == ("17490",)


def test_stock_code_suffixes_are_upper_cased(warehouse):
    assert warehouse.execute(
        "select product_no from silver.stg_bronze__order_lines where event_id = 'lowercase-code'"
    ).fetchone() == ("85123A",)


def test_countries_are_normalised_through_the_seed(warehouse):
    rows = dict(
        warehouse.execute(
            "select event_id, country || '/' || coalesce(country_code, '?') || '/' || warning_rules "
            "from silver.int_order_lines_enriched where event_id in ('eire', 'atlantis')"
        ).fetchall()
    )
    assert rows == {"eire": "Ireland/IE/", "atlantis": "Atlantis/?/unknown_country"}


def test_returns_pass_with_signed_amounts(warehouse):
    row = warehouse.execute(
        "select is_return, line_total, gross_amount, return_amount from silver.int_order_lines_enriched "
        "where event_id = 'good-return'"
    ).fetchone()
    assert row[0] is True
    assert (float(row[1]), float(row[2]), float(row[3])) == (-15.3, 0.0, 15.3)


def test_test_customers_and_duplicate_lines_are_excluded_and_counted(warehouse):
    excluded = dict(
        warehouse.execute("select event_id, exclusion_reason from silver.int_excluded_lines").fetchall()
    )
    assert excluded == {"test-customer": "test_customer", "same-line-2": "duplicate_line"}
    counted = {r[0] for r in warehouse.execute("select event_id from silver.int_sales_lines").fetchall()}
    assert "same-line-1" in counted and "same-line-2" not in counted and "test-customer" not in counted


def test_a_newer_schema_version_is_quarantined_by_default_and_stops_nothing(warehouse):
    """The shipped seed has no rule of severity fail: the module's build passed with it."""
    assert checked(warehouse, "newer-schema") == ("quarantined", "unsupported_schema_version", "")
    assert warehouse.execute(
        "select count(*) from reference.quality_rules where severity = 'fail'"
    ).fetchone() == (0,)


FAIL_NEWER_SCHEMAS = "{quality_rule_severities: {unsupported_schema_version: fail}}"


def test_a_fail_rule_holds_its_events_back_and_fails_the_build_after_building_the_rest(
    warehouse, tmp_path, monkeypatch, capfd
):
    """Issue 11: a rule someone set to fail no longer stops Silver and Gold for every event.
    (Before, the checked log's post-hook stopped the run and Gold was not built.)"""
    monkeypatch.setenv("LAKEHOUSE_DATA_DIR", str(tmp_path))
    BronzeWriter(bronze_path(tmp_path)).append(
        [event("v1", line()), event("v2", line(transaction_no="536999"), schema_version=2)]
    )
    with pytest.raises(RuntimeError, match="dbt build"):
        run_dbt("build", "--vars", FAIL_NEWER_SCHEMAS, data=DataDir.from_env())
    output = capfd.readouterr().out
    assert (
        "Silver held back events that broke rules of severity 'fail' (unsupported_schema_version: 1)"
        in output
    )
    assert "dbt build --full-refresh --select stg_bronze__order_lines_checked+" in output
    with duckdb.connect(str(tmp_path / "warehouse" / "lakehouse.duckdb"), read_only=True) as con:
        assert con.execute(
            "select line_status, fail_rules from silver.stg_bronze__quarantined_lines where event_id = 'v2'"
        ).fetchone() == ("failed", "unsupported_schema_version")
        assert con.execute("select event_id from silver.stg_bronze__order_lines").fetchall() == [("v1",)]
        gold = con.execute("select transaction_no from gold.fct_sales_lines").fetchall()
    assert gold == [("536366",)], "the readable event reached Gold"

    # resume as the message says: here by going back to the seed's severity (quarantine)
    run_dbt("build", "--full-refresh", data=DataDir.from_env())
    with duckdb.connect(str(tmp_path / "warehouse" / "lakehouse.duckdb"), read_only=True) as con:
        assert con.execute(
            "select line_status, quarantine_rules from silver.stg_bronze__quarantined_lines"
            " where event_id = 'v2'"
        ).fetchone() == ("quarantined", "unsupported_schema_version")


def test_a_severity_override_must_name_a_rule_and_a_severity(warehouse, tmp_path, monkeypatch):
    monkeypatch.setenv("LAKEHOUSE_DATA_DIR", str(tmp_path))
    BronzeWriter(bronze_path(tmp_path)).append([event("v1", line())])
    with pytest.raises(RuntimeError, match="dbt build"):
        run_dbt(
            "build", "--vars", "{quality_rule_severities: {invalid_price: stop}}", data=DataDir.from_env()
        )
