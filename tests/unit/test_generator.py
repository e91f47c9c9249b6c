import itertools
import re
from collections import Counter
from datetime import datetime

import pytest

from ingest.generator import HEADER, SyntheticSales, format_date, trading_days


@pytest.fixture(scope="module")
def rows():
    return list(SyntheticSales(60_000, seed=3).rows())


def test_emits_exactly_the_requested_number_of_rows(rows):
    assert len(rows) == 60_000
    assert all(len(row) == len(HEADER) for row in rows)


def test_is_deterministic_for_a_seed():
    first = list(itertools.islice(SyntheticSales(5_000, seed=11).rows(), 500))
    again = list(itertools.islice(SyntheticSales(5_000, seed=11).rows(), 500))
    other = list(itertools.islice(SyntheticSales(5_000, seed=12).rows(), 500))
    assert first == again
    assert first != other


def test_streams_rows_without_building_them_all():
    stream = SyntheticSales(10_000_000, seed=1).rows()
    assert len(list(itertools.islice(stream, 1_000))) == 1_000


def test_dates_are_month_first_and_on_trading_days(rows):
    allowed = {format_date(day) for day in trading_days()}
    for row in rows[::97]:
        assert re.fullmatch(r"\d{1,2}/\d{1,2}/\d{4}", row[1])
        assert row[1] in allowed
        day = datetime.strptime(row[1], "%m/%d/%Y").date()
        assert day.weekday() != 5


def test_month_first_reading_is_the_only_valid_one_for_some_dates(rows):
    # 12/20/2018 can only be read as month/day: a day-first parser would fail or swap.
    days = {row[1] for row in rows}
    assert any(int(text.split("/")[1]) > 12 for text in days)


def test_cancellations_are_about_1_6_percent_and_always_negative(rows):
    cancels = [row for row in rows if row[0].startswith("C")]
    assert 0.010 < len(cancels) / len(rows) < 0.025
    assert all(int(row[5]) < 0 for row in cancels)
    assert all(int(row[5]) > 0 for row in rows if not row[0].startswith("C"))


def test_has_about_one_percent_exact_duplicate_lines(rows):
    dupes = sum(count - 1 for count in Counter(rows).values() if count > 1)
    assert 0.005 < dupes / len(rows) < 0.02


def test_united_kingdom_dominates_and_many_countries_appear(rows):
    countries = Counter(row[7] for row in rows)
    assert 0.85 < countries["United Kingdom"] / len(rows) < 0.95
    assert len(countries) >= 30
    assert {"EIRE", "Germany", "France"} <= countries.keys()


def test_several_lines_per_transaction(rows):
    sizes = sorted(Counter(row[0] for row in rows if not row[0].startswith("C")).values())
    median = sizes[len(sizes) // 2]
    assert 6 <= median <= 16
    assert sizes[int(len(sizes) * 0.9)] >= 25


@pytest.fixture(scope="module")
def many_rows():
    return list(SyntheticSales(300_000, seed=5).rows())


def test_source_quirks_are_present(many_rows):
    rows = many_rows
    codes = Counter(row[2] for row in rows)
    assert {"POST", "M"} <= codes.keys()
    assert any(float(row[4]) == 0 and row[2][0].isdigit() for row in rows)
    assert any(row[6] == "" for row in rows)
    assert any(row[6].endswith(".0") for row in rows)
    assert any(code[-1].islower() for code in codes)
    assert len({row[2] for row in rows if row[2][0].isdigit()}) > 2_000


def test_some_orders_come_from_the_test_accounts_in_the_seed():
    import csv
    from pathlib import Path

    from ingest.generator import TEST_CUSTOMERS

    seed = Path(__file__).resolve().parents[2] / "seeds" / "test_customers.csv"
    with seed.open() as handle:
        listed = {row["customer_no"] for row in csv.DictReader(handle)}
    assert set(TEST_CUSTOMERS) <= listed
    rows = list(SyntheticSales(100_000, seed=9).rows())
    share = sum(1 for row in rows if row[6] in listed) / len(rows)
    assert 0 < share < 0.01


def _service(rows, code: str) -> list[tuple[str, ...]]:
    return [row for row in rows if row[2] == code]


def test_every_line_class_of_the_source_is_present(many_rows):
    codes = {row[2] for row in many_rows}
    assert {"POST", "DOT", "C2", "M", "D", "S", "B", "CRUK", "BANK CHARGES", "AMAZONFEE", "PADS"} <= codes
    assert any(re.fullmatch(r"gift_0001_\d0", code) for code in codes)


def test_service_lines_are_about_half_a_percent_of_lines_as_in_the_real_file(many_rows):
    services = [row for row in many_rows if not row[2][0].isdigit()]
    assert 0.003 < len(services) / len(many_rows) < 0.008
    assert 0.0015 < len(_service(many_rows, "POST")) / len(many_rows) < 0.003


def test_accounting_adjustments_are_a_transactions_of_one_bad_debt_line_at_a_negative_price(many_rows):
    adjustments = [row for row in many_rows if row[0].startswith("A")]
    assert adjustments
    assert all(row[2:4] == ("B", "Adjust bad debt") for row in adjustments)
    assert all(float(row[4]) < 0 and row[5] == "1" and row[6] == "" for row in adjustments)
    numbers = Counter(row[0] for row in many_rows)
    assert all(numbers[row[0]] == 1 for row in adjustments)
    assert _service(many_rows, "B") == adjustments


def test_discounts_and_samples_are_cancellation_lines(many_rows):
    for code in ("D", "S"):
        lines = _service(many_rows, code)
        assert lines
        assert all(row[0].startswith("C") and int(row[5]) < 0 and float(row[4]) > 0 for row in lines)


def test_marketplace_fees_and_commission_are_cancellations_of_one_line(many_rows):
    numbers = Counter(row[0] for row in many_rows)
    for code in ("AMAZONFEE", "CRUK"):
        lines = _service(many_rows, code)
        assert lines
        assert all(row[0].startswith("C") and row[5] == "-1" and numbers[row[0]] == 1 for row in lines)


def test_postage_sometimes_comes_at_price_0_times_1000(many_rows):
    postage = _service(many_rows, "POST")
    free = [row for row in postage if float(row[4]) == 0]
    assert free and all(row[5] == "1000" for row in free)
    assert len(free) < 0.1 * len(postage)
    assert all(float(row[4]) > 0 for row in postage if row not in free)


def test_gift_vouchers_are_at_price_0_and_pads_at_a_nominal_price(many_rows):
    vouchers = [row for row in many_rows if row[2].startswith("gift_")]
    assert vouchers and all(row[4] == "0.00" and row[5] == "1" for row in vouchers)
    assert {row[4] for row in _service(many_rows, "PADS")} == {"0.001"}


def test_every_service_code_the_generator_uses_has_a_class_in_the_seed():
    import csv
    from pathlib import Path

    from ingest.generator import SERVICE_CODES, SERVICE_TRANSACTIONS

    seed = Path(__file__).resolve().parents[2] / "seeds" / "non_product_codes.csv"
    with seed.open() as handle:
        classes = {row["product_no"]: row["line_class"] for row in csv.DictReader(handle)}
    used = {service.code for service in SERVICE_CODES} | {service.code for service in SERVICE_TRANSACTIONS}
    assert used <= classes.keys()
    assert classes["B"] == "adjustment" and classes["AMAZONFEE"] == "fee"
