"""The malformed-input cases of the quality rules, shared by the DuckDB and Spark SQL checks
(test_silver_rules.py, test_spark_sql_check.py)."""

from __future__ import annotations

from ingest.benchmarks.bronze_writer import line

CASES: dict[str, tuple[dict, str, str]] = {
    # event_id: (line fields, expected status, expected rules (quarantine or warning))
    "good-sale": (line(), "valid", ""),
    "good-return": (line(transaction_no="C536379", quantity="-6"), "valid", ""),
    "no-transaction": (line(transaction_no=" "), "quarantined", "missing_transaction_no"),
    "no-product": (line(product_no=""), "quarantined", "missing_product_no"),
    "no-customer": (line(customer_no=""), "valid", "missing_customer_no"),
    "bad-date": (line(date="not a date"), "quarantined", "unparseable_date"),
    "month-13": (line(date="13/25/2019"), "quarantined", "unparseable_date"),
    "future-date": (line(date="1/1/2099"), "quarantined", "date_out_of_range"),
    "before-start": (line(date="11/30/2018"), "quarantined", "date_out_of_range"),
    "bad-price": (line(price="abc"), "quarantined", "invalid_price"),
    "zero-price": (line(price="0"), "quarantined", "non_positive_price"),
    "negative-price": (line(price="-2.50"), "quarantined", "non_positive_price"),
    "zero-quantity": (line(quantity="0"), "quarantined", "zero_quantity"),
    "fractional-quantity": (line(quantity="2.5"), "quarantined", "invalid_quantity"),
    "negative-sale": (line(quantity="-3"), "quarantined", "quantity_sign_mismatch"),
    "positive-return": (
        line(transaction_no="C536380", quantity="3"),
        "quarantined",
        "quantity_sign_mismatch",
    ),
    "postage": (
        line(product_no="POST", product_name="Postage", price="18.00", quantity="1"),
        "valid",
        "non_product_code",
    ),
    "bad-debt": (
        line(product_no="B", product_name="Adjust bad debt", price="-11062.06", quantity="1"),
        "valid",
        "non_product_code",
    ),
    "two-rules": (line(product_no="", date="x"), "quarantined", "missing_product_no,unparseable_date"),
    # hostile values in well-formed events (issue 11): each gets one outcome, the same on
    # DuckDB and Spark SQL
    "february-30": (line(date="2/30/2019"), "quarantined", "unparseable_date"),
    "two-digit-year": (line(date="12/9/19"), "quarantined", "unparseable_date"),
    "iso-date": (line(date="2019-12-09"), "quarantined", "unparseable_date"),
    "year-9999": (line(date="1/1/9999"), "quarantined", "date_out_of_range"),
    "huge-price": (line(price="123456789012345678901234567890"), "quarantined", "invalid_price"),
    "exponent-price": (line(price="1e3"), "quarantined", "invalid_price"),
    "nan-price": (line(price="NaN"), "quarantined", "invalid_price"),
    "infinite-quantity": (line(quantity="Infinity"), "quarantined", "invalid_quantity"),
    "huge-quantity": (line(quantity="99999999999"), "quarantined", "invalid_quantity"),
    "negative-zero-quantity": (line(quantity="-0"), "quarantined", "zero_quantity"),
    "quantity-with-line-break": (line(quantity="6\n"), "quarantined", "invalid_quantity"),
    "sql-in-name": (line(product_name="x'); drop table silver.stg_bronze__order_lines; --"), "valid", ""),
    "control-characters": (line(product_name="Heart\x00\x07\tHanging"), "valid", "control_characters"),
    "overlong-name": (line(product_name="x" * 1001), "quarantined", "oversized_field"),
}
