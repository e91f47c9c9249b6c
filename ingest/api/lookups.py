"""The API's fixed SQL besides metrics: one order's lines traced back to their events (each
line's status and its reason from dbt's gold.fct_order_line_status: defined there once), and
Gold's freshness. Table names come from the backend, values only as bind parameters.

Both take a key's row scope (ingest/api/access.py): the lines are then only those whose
country (Gold's dim_country, reached from a Silver line through the country_codes seed as dbt
does) is within it, the scope's values bound like any other."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

from ingest.api import access

ORDER_LINES_SQL = """
select
    lines.event_id,
    lines.product_no,
    lines.product_name,
    lines.sale_date,
    lines.quantity,
    lines.unit_price,
    lines.customer_no,
    lines.source_country,
    lines.is_return,
    lines.line_status,
    lines.status_reason,
    lines.warning_rules,
    lines.net_amount,
    lines.kafka_topic,
    lines.kafka_partition,
    lines.kafka_offset,
    lines.source_event_at,
    lines.bronze_batch_id,
    lines.bronze_ingested_at
from {lines} as lines{scope_join}
where lines.transaction_no = {txn}{scope_where}
order by lines.kafka_partition, lines.kafka_offset
"""

FRESHNESS_SQL = """
select
    count(*) as gold_lines,
    max(source_event_at) as newest_source_event_at,
    max(bronze_ingested_at) as newest_bronze_ingested_at
from {sales} as sales{scope_join}{scope_where}
"""


def order_lines_sql(backend, rows=()) -> tuple[str, dict[str, object]]:
    """The lookup's SQL and the row scope's parameters (the caller adds `transaction_no`)."""
    conditions, params = access.row_scope_sql(rows, lambda c: f"scope_country.{c}", backend.placeholder)
    scope_join = scope_where = ""
    if conditions:
        # a Silver line's country as Gold has it: its source spelling through the seed, else Unknown
        scope_join = (
            f"\n    left join {backend.relation('reference', 'country_codes')} as codes"
            "\n        on codes.source_country = lines.source_country"
            f"\n    inner join {backend.relation('gold', 'dim_country')} as scope_country"
            "\n        on scope_country.iso_code = coalesce(codes.iso_code, 'unknown')"
        )
        scope_where = "".join(f"\n        and {c}" for c in conditions)
    sql = ORDER_LINES_SQL.format(
        lines=backend.relation("gold", "fct_order_line_status"),
        txn=backend.placeholder("transaction_no"),
        scope_join=scope_join,
        scope_where=scope_where,
    )
    return sql, params


def freshness_sql(backend, rows=()) -> tuple[str, dict[str, object]]:
    """Gold's freshness over the lines of a row scope (all lines without one), and its parameters."""
    conditions, params = access.row_scope_sql(rows, lambda c: f"scope_country.{c}", backend.placeholder)
    scope_join = scope_where = ""
    if conditions:
        scope_join = (
            f"\ninner join {backend.relation('gold', 'dim_country')} as scope_country"
            "\n    on scope_country.country_key = sales.country_key"
        )
        scope_where = "\nwhere " + "\n    and ".join(conditions)
    sql = FRESHNESS_SQL.format(
        sales=backend.relation("gold", "fct_sales_lines"), scope_join=scope_join, scope_where=scope_where
    )
    return sql, params


def _rules(text: str | None) -> list[str]:
    return [rule.strip() for rule in (text or "").split(",") if rule.strip()]


def order_trace(transaction_no: str, columns, rows) -> dict:
    lines = []
    for values in rows:
        row = dict(zip(columns, values, strict=True))
        lines.append(
            {
                "event_id": row["event_id"],
                "product_no": row["product_no"],
                "product_name": row["product_name"],
                "sale_date": jsonable(row["sale_date"]),
                "quantity": row["quantity"],
                "unit_price": jsonable(row["unit_price"]),
                "customer_no": row["customer_no"],
                "country": row["source_country"],
                "is_return": row["is_return"],
                "status": row["line_status"],
                "reason": row["status_reason"],
                "warnings": _rules(row["warning_rules"]),
                "net_amount": jsonable(row["net_amount"]),
                "bronze": {
                    "topic": row["kafka_topic"],
                    "partition": row["kafka_partition"],
                    "offset": row["kafka_offset"],
                    "source_event_at": jsonable(row["source_event_at"]),
                    "batch_id": row["bronze_batch_id"],
                    "ingested_at": jsonable(row["bronze_ingested_at"]),
                },
            }
        )
    summary: dict[str, int] = {}
    for line in lines:
        summary[line["status"]] = summary.get(line["status"], 0) + 1
    return {"transaction_no": transaction_no, "lines": lines, "summary": summary}


def jsonable(value):
    """A SQL value as JSON: decimals as numbers, dates ISO 8601, timestamps in UTC."""
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return value.astimezone(UTC).isoformat().replace("+00:00", "Z")
    if isinstance(value, date):
        return value.isoformat()
    return value
