"""The source's line classes end to end through dbt on DuckDB: each kind of line the real file
has (sales, returns, accounting adjustments, discounts, bank charges, postage, manual lines,
samples, commission, gift vouchers, marketplace fees) lands in Gold with its line_class;
only real products' sale and return lines count as revenue, units and orders, the money of
every other class is adjustments_and_fees, and the books still balance."""

from __future__ import annotations

from decimal import Decimal

import duckdb
import pytest

from ingest.benchmarks.bronze_writer import BronzeWriter, event, line
from ingest.local.dbt import run_dbt
from ingest.paths import DataDir

pytestmark = pytest.mark.integration

ORDER, RETURN, DAY = "536365", "C536379", "12/1/2018"


def sold(transaction_no: str, product_no: str, name: str, price: str, quantity: str, customer: str = "17850"):
    return line(
        transaction_no=transaction_no,
        date=DAY,
        product_no=product_no,
        product_name=name,
        price=price,
        quantity=quantity,
        customer_no=customer,
    )


# event_id: (line, line class in Gold)
COUNTED: dict[str, tuple[dict, str]] = {
    "sale-1": (sold(ORDER, "85123A", "Cream Hanging Heart", "2.55", "6"), "sale"),
    "sale-2": (sold(ORDER, "71053", "White Metal Lantern", "3.39", "6"), "sale"),
    "postage": (sold(ORDER, "POST", "POSTAGE", "18.00", "3"), "postage"),
    "return": (sold(RETURN, "85123A", "Cream Hanging Heart", "2.55", "-2"), "return"),
    "discount": (sold(RETURN, "D", "Discount", "27.50", "-1"), "discount"),
    "bad-debt-in": (sold("A563185", "B", "Adjust bad debt", "11062.06", "1", customer=""), "adjustment"),
    "bad-debt-out": (sold("A563186", "B", "Adjust bad debt", "-11062.06", "1", customer=""), "adjustment"),
    "bank-charges": (sold("537000", "BANK CHARGES", "Bank Charges", "15.00", "1"), "fee"),
    "free-postage": (sold("537100", "POST", "POSTAGE", "0", "1000", customer="12583"), "postage"),
    "dotcom-postage": (sold("537101", "DOT", "DOTCOM POSTAGE", "569.77", "1", customer="12584"), "postage"),
    "carriage": (sold("537101", "C2", "CARRIAGE", "50.00", "1", customer="12584"), "postage"),
    "manual": (sold("537102", "m", "Manual", "2.50", "1"), "manual"),
    "samples": (sold("C537104", "S", "SAMPLES", "33.40", "-1"), "sample"),
    "commission": (sold("C537105", "CRUK", "CRUK Commission", "1.60", "-1", customer="14096"), "commission"),
    "gift-voucher": (
        sold("537106", "gift_0001_10", "Dotcomgiftshop Gift Voucher £10.00", "0", "1", customer="12585"),
        "gift_voucher",
    ),
    "amazon-fee": (sold("C537108", "AMAZONFEE", "AMAZON FEE", "13541.33", "-1", customer="12586"), "fee"),
    "cushion-pads": (sold("537110", "PADS", "PADS TO MATCH ALL CUSHIONS", "0.001", "1"), "service"),
    "unlisted-code": (sold("537111", "DCGS0076", "SUNJAR LED NIGHT LIGHT", "16.13", "1"), "service"),
}
PRODUCT_CLASSES = ("sale", "return")

# Lines Silver does not pass: a product at price 0 (non_positive_price) and a discount
# without the cancellation prefix (its sign disagrees with it): quarantined, not classified.
QUARANTINED = {
    "free-product": (sold("537109", "22841", "Round Cake Tin Vintage Green", "0", "1"), "non_positive_price"),
    "discount-without-c": (sold("536380", "D", "Discount", "27.50", "-1"), "quantity_sign_mismatch"),
}
# Valid lines the business does not count keep their class in int_excluded_lines.
EXCLUDED = {
    "test-customer-postage": (sold("537200", "POST", "POSTAGE", "18.00", "1", customer="99990"), "postage"),
    "repeated-postage": (COUNTED["postage"][0], "postage"),  # an exact duplicate line
}


def value(fields: dict) -> Decimal:
    return Decimal(fields["Price"]) * int(fields["Quantity"])


@pytest.fixture(scope="module")
def gold(data_root):
    data = DataDir(data_root)
    writer = BronzeWriter(str(data.bronze_table))
    writer.append([event(event_id, fields) for event_id, (fields, _) in COUNTED.items()])
    writer.append(
        [event(event_id, fields) for event_id, (fields, _) in {**QUARANTINED, **EXCLUDED}.items()]
        + [event("postage", COUNTED["postage"][0])]  # the same event delivered twice
    )
    run_dbt("build", data=data)
    with duckdb.connect(str(data.warehouse), read_only=True) as con:
        yield con


@pytest.mark.parametrize("event_id", list(COUNTED))
def test_each_line_lands_in_the_fact_with_its_class(gold, event_id):
    assert gold.execute(
        "select line_class from gold.fct_sales_lines where event_id = ?", [event_id]
    ).fetchone() == (COUNTED[event_id][1],)


@pytest.mark.parametrize("event_id", [e for e, (_, c) in COUNTED.items() if c not in PRODUCT_CLASSES])
def test_a_service_line_adds_no_revenue_or_units_and_keeps_its_money_apart(gold, event_id):
    fields, _ = COUNTED[event_id]
    gross, returned, net, adjustments = gold.execute(
        "select gross_amount, return_amount, net_amount, adjustments_and_fees_amount"
        " from gold.fct_sales_lines where event_id = ?",
        [event_id],
    ).fetchone()
    assert (gross, returned, net) == (0, 0, 0)
    assert adjustments == value(fields)


@pytest.mark.parametrize("event_id", [e for e, (_, c) in COUNTED.items() if c in PRODUCT_CLASSES])
def test_a_product_line_is_revenue_and_no_adjustment(gold, event_id):
    fields, line_class = COUNTED[event_id]
    gross, returned, net, adjustments = gold.execute(
        "select gross_amount, return_amount, net_amount, adjustments_and_fees_amount"
        " from gold.fct_sales_lines where event_id = ?",
        [event_id],
    ).fetchone()
    assert net == value(fields) and adjustments == 0
    assert (gross, returned) == ((value(fields), 0) if line_class == "sale" else (0, -value(fields)))


def test_revenue_units_and_orders_count_only_real_products(gold):
    products = [fields for fields, line_class in COUNTED.values() if line_class in PRODUCT_CLASSES]
    services = [fields for fields, line_class in COUNTED.values() if line_class not in PRODUCT_CLASSES]
    revenue, quantity, orders, customers, adjustments = gold.execute(
        "select sum(total_revenue), sum(total_quantity), sum(total_orders), sum(distinct_customers),"
        " sum(adjustments_and_fees) from gold.metrics_daily_country"
    ).fetchone()
    assert revenue == sum(value(fields) for fields in products) == Decimal("30.54")
    assert quantity == sum(int(fields["Quantity"]) for fields in products) == 10
    assert orders == 1, "only 536365 sold products: adjustments, fees, postage-only are no orders"
    assert customers == 1
    # all on one day in one country: one row, rounded to cents
    assert adjustments == sum(value(fields) for fields in services).quantize(Decimal("0.01"))
    assert adjustments == Decimal("-12896.43")


def test_service_codes_have_no_product_performance_row(gold):
    codes = {
        row[0]
        for row in gold.execute(
            "select product.product_no from gold.metrics_product_monthly as metrics"
            " inner join gold.dim_product as product on metrics.product_key = product.product_key"
        ).fetchall()
    }
    assert codes == {"85123A", "71053"}
    assert gold.execute(
        "select sum(units_sold), sum(units_returned) from gold.metrics_product_monthly"
    ).fetchone() == (12, 2)


def test_customer_value_counts_only_what_customers_bought(gold):
    assert gold.execute(
        "select customer.customer_no, rfm.frequency, rfm.monetary from gold.metrics_customer_rfm as rfm"
        " inner join gold.dim_customer as customer on rfm.customer_key = customer.customer_key"
    ).fetchall() == [("17850", 1, Decimal("30.54"))]


@pytest.mark.parametrize("event_id", list(QUARANTINED))
def test_a_product_at_price_0_and_a_discount_without_the_c_prefix_stay_quarantined(gold, event_id):
    assert gold.execute(
        "select quarantine_rules from silver.stg_bronze__quarantined_lines where event_id = ?", [event_id]
    ).fetchone() == (QUARANTINED[event_id][1],)


def test_excluded_lines_keep_their_class(gold):
    excluded = dict(gold.execute("select event_id, line_class from silver.int_excluded_lines").fetchall())
    assert excluded == {event_id: line_class for event_id, (_, line_class) in EXCLUDED.items()}


def test_the_books_balance_in_events_and_in_money(gold):
    bronze, silver, quarantined, duplicates, unaccounted = gold.execute(
        "select sum(bronze_events), sum(silver_lines), sum(quarantined_lines), sum(duplicates_removed),"
        " sum(unaccounted_events) from silver.int_bronze_reconciliation"
    ).fetchone()
    assert (bronze, silver, quarantined, duplicates, unaccounted) == (
        len(COUNTED) + len(QUARANTINED) + len(EXCLUDED) + 1,
        len(COUNTED) + len(EXCLUDED),
        len(QUARANTINED),
        1,
        0,
    )
    fact_value, fact_lines = gold.execute(
        "select sum(net_amount + adjustments_and_fees_amount), count(*) from gold.fct_sales_lines"
    ).fetchone()
    assert fact_lines == len(COUNTED)
    assert fact_value == sum(value(fields) for fields, _ in COUNTED.values())
    assert gold.execute(
        "select count(*) from silver.int_order_lines_enriched"
        " where line_total <> net_amount + adjustments_and_fees_amount"
    ).fetchone() == (0,)
