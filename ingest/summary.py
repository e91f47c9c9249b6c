"""Counts per layer and a glance at Gold, read from the Bronze Delta table and DuckDB."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from ingest.paths import DataDir, delta_table_exists


@dataclass
class Summary:
    bronze_rows: int = 0
    bronze_distinct_events: int = 0
    bronze_parse_errors: int = 0
    silver_lines: int = 0
    quarantined: int = 0
    failed: int = 0
    duplicates_removed: int = 0
    unaccounted: int = 0
    quarantine_by_rule: list[tuple[str, int]] = field(default_factory=list)
    excluded_by_reason: list[tuple[str, int]] = field(default_factory=list)
    business_lines: int = 0
    gold_rows: int = 0
    top_countries: list[tuple[str, float]] = field(default_factory=list)
    warehouse: Path | None = None  # the DuckDB file Silver and Gold were read from

    @property
    def books(self) -> int:
        """What Silver accounts for: lines + quarantined + failed + removed duplicates."""
        return self.silver_lines + self.quarantined + self.failed + self.duplicates_removed

    @property
    def balanced(self) -> bool:
        return self.books == self.bronze_rows and self.unaccounted == 0


def bronze_counts(table_path: str) -> tuple[int, int, int]:
    """(rows, distinct event ids, rows with a parse error) of the Bronze Delta table."""
    import duckdb
    from deltalake import DeltaTable

    con = duckdb.connect()
    con.register("bronze", DeltaTable(table_path).to_pyarrow_dataset())
    row = con.execute("select count(*), count(distinct event_id), count(parse_error) from bronze").fetchone()
    return int(row[0]), int(row[1]), int(row[2])


_BOOKS_SQL = """
select
    coalesce(sum(silver_lines), 0), coalesce(sum(quarantined_lines), 0),
    coalesce(sum(failed_lines), 0), coalesce(sum(duplicates_removed), 0),
    coalesce(sum(unaccounted_events), 0)
from silver.int_bronze_reconciliation
"""

# A line can break several rules: it is counted under each.
_QUARANTINE_SQL = """
select rule_id, count(*) as lines
from silver.stg_bronze__quarantined_lines,
    unnest(string_split(concat_ws(',', nullif(quarantine_rules, ''), nullif(fail_rules, '')), ','))
        as rules(rule_id)
group by rule_id
order by lines desc, rule_id
"""

_TOP_COUNTRIES_SQL = """
select country, sum(total_revenue) as revenue
from gold.metrics_daily_country
group by country
order by revenue desc
limit 5
"""


def collect(data: DataDir, table_path: str) -> Summary:
    """The counts of Bronze at `table_path` and of `data`'s warehouse."""
    import duckdb

    summary = Summary(warehouse=data.warehouse)
    if delta_table_exists(Path(table_path)):
        (
            summary.bronze_rows,
            summary.bronze_distinct_events,
            summary.bronze_parse_errors,
        ) = bronze_counts(table_path)
    if not data.warehouse.exists():
        return summary
    with duckdb.connect(str(data.warehouse), read_only=True) as con:
        books = con.execute(_BOOKS_SQL).fetchone()
        (
            summary.silver_lines,
            summary.quarantined,
            summary.failed,
            summary.duplicates_removed,
            summary.unaccounted,
        ) = (int(v) for v in books)
        summary.quarantine_by_rule = con.execute(_QUARANTINE_SQL).fetchall()
        summary.excluded_by_reason = con.execute(
            "select exclusion_reason, count(*) from silver.int_excluded_lines group by 1 order by 1"
        ).fetchall()
        summary.business_lines = con.execute("select count(*) from silver.int_sales_lines").fetchone()[0]
        summary.gold_rows = con.execute("select count(*) from gold.metrics_daily_country").fetchone()[0]
        summary.top_countries = con.execute(_TOP_COUNTRIES_SQL).fetchall()
    return summary


def _row(label: str, value: int, note: str = "") -> str:
    return f"{label:<26}{value:>12,}   {note}".rstrip()


def render(summary: Summary, events_sent: int | None = None) -> str:
    lines = []
    if events_sent is not None:
        verdict = "equal" if events_sent == summary.bronze_rows else "MISMATCH"
        lines.append(_row("events sent", events_sent))
        lines.append(_row("Bronze events", summary.bronze_rows, f"({verdict} to events sent)"))
    else:
        lines.append(_row("Bronze events", summary.bronze_rows))
    lines.append(_row("  with a parse error", summary.bronze_parse_errors, "(quarantined: invalid_payload)"))
    lines.append(_row("Silver lines", summary.silver_lines, "silver.stg_bronze__order_lines"))
    lines.append(_row("Quarantined", summary.quarantined, "silver.stg_bronze__quarantined_lines"))
    lines += [_row(f"  {rule}", count) for rule, count in summary.quarantine_by_rule]
    if summary.failed:
        lines.append(_row("Failed (held back by a fail rule)", summary.failed))
    lines.append(_row("Duplicates removed", summary.duplicates_removed, "(event_id delivered again)"))
    verdict = "balanced" if summary.balanced else "NOT BALANCED"
    lines.append(
        f"  lines + quarantined + duplicates = {summary.books:,} of {summary.bronze_rows:,}: {verdict}"
    )
    lines.append("Valid lines the business does not count (silver.int_excluded_lines):")
    lines += [_row(f"  {reason}", count) for reason, count in summary.excluded_by_reason]
    lines.append(_row("Business lines", summary.business_lines, "silver.int_sales_lines"))
    lines.append(_row("Gold rows", summary.gold_rows, "gold.metrics_daily_country"))
    lines.append("Top countries by net revenue:")
    lines += [f"  {country:<24}{float(revenue):>14,.2f}" for country, revenue in summary.top_countries]
    if summary.warehouse is not None:
        lines.append(f"Query Silver and Gold: duckdb {summary.warehouse}")
    return "\n".join(lines)


@dataclass
class GoldReport:
    months: list[str] = field(default_factory=list)
    countries: list[str] = field(default_factory=list)  # the top ones; the rest is "Other"
    revenue: dict[tuple[str, str], float] = field(default_factory=dict)  # (month, country)
    top_products: list[tuple[str, str, float, int, int]] = field(default_factory=list)
    gross_revenue: float = 0.0
    returns_value: float = 0.0
    net_revenue: float = 0.0
    orders: int = 0
    return_rate: float = 0.0
    average_order_value: float = 0.0
    return_rate_by_country: list[tuple[str, float]] = field(default_factory=list)


_MONTH_COUNTRY_SQL = """
with monthly as (
    select strftime(sale_date, '%Y-%m') as month, country, sum(total_revenue) as revenue
    from gold.metrics_daily_country
    group by all
),
top as (
    select country from monthly group by country order by sum(revenue) desc limit ?
)
select month, case when country in (select country from top) then country else 'Other' end, sum(revenue)
from monthly
group by all
"""

_TOP_PRODUCTS_SQL = """
select product.product_no, product.product_name, sum(metrics.net_revenue),
    sum(metrics.units_sold), sum(metrics.units_returned)
from gold.metrics_product_monthly as metrics
inner join gold.dim_product as product on metrics.product_key = product.product_key
where not product.is_non_product
group by all
order by 3 desc, 1
limit ?
"""

# The report's totals and return rates are the semantic layer's metrics (ingest.semantic): one
# definition of each, as the API and Power BI read them.
TOTALS = ("gross_revenue", "returns_value", "net_revenue", "orders", "return_rate", "average_order_value")


def _metrics(con, layer, metrics: tuple[str, ...], **query) -> list[dict]:
    from ingest.semantic import MetricQuery

    compiled = layer.compile(MetricQuery(metrics=metrics, **query))
    cursor = con.execute(compiled.sql, compiled.params)
    columns = [d[0] for d in cursor.description]
    return [dict(zip(columns, row, strict=True)) for row in cursor.fetchall()]


def collect_gold_report(data: DataDir, countries: int = 4, months: int = 6, products: int = 5) -> GoldReport:
    """Revenue by month and country, top products, returns: what a Power BI page would show."""
    from ingest.api.backends import open_snapshot
    from ingest.semantic import Filter, SemanticLayer, semantic_manifest

    report = GoldReport()
    if not data.warehouse.exists():
        return report
    layer = SemanticLayer.load(semantic_manifest(data), "duckdb", "lakehouse", {})
    with open_snapshot(data.warehouse) as con:
        cells = con.execute(_MONTH_COUNTRY_SQL, [countries]).fetchall()
        report.revenue = {(month, country): float(revenue) for month, country, revenue in cells}
        report.months = sorted({month for month, _, _ in cells})[-months:]
        totals_by_country: dict[str, float] = {}
        for (_, country), revenue in report.revenue.items():
            totals_by_country[country] = totals_by_country.get(country, 0.0) + revenue
        report.countries = sorted(
            (c for c in totals_by_country if c != "Other"), key=lambda c: -totals_by_country[c]
        )
        report.top_products = [
            (no, name, float(revenue), int(sold), int(returned))
            for no, name, revenue, sold, returned in con.execute(_TOP_PRODUCTS_SQL, [products]).fetchall()
        ]
        (totals,) = _metrics(con, layer, TOTALS)
        report.gross_revenue, report.returns_value = (
            float(totals["gross_revenue"] or 0),
            float(totals["returns_value"] or 0),
        )
        report.net_revenue, report.orders = float(totals["net_revenue"] or 0), int(totals["orders"] or 0)
        report.return_rate = float(totals["return_rate"] or 0)
        report.average_order_value = float(totals["average_order_value"] or 0)
        by_country = (
            _metrics(
                con,
                layer,
                ("return_rate",),
                group_by=("country__country_name",),
                filters=(Filter("country__country_name", "in", tuple(report.countries)),),
            )
            if report.countries
            else []
        )
        rates = {row["country__country_name"]: row["return_rate"] for row in by_country}
        report.return_rate_by_country = [(c, float(rates.get(c) or 0)) for c in report.countries]
    return report


def render_gold_report(report: GoldReport) -> str:
    if not report.months:
        return "Gold report: Gold is empty."
    columns = [*report.countries, "Other", "Total"]
    width = max(12, *(len(c) + 2 for c in columns))
    title = f"Net revenue by month and country, last {len(report.months)} months"
    lines = [f"{title} (gold.metrics_daily_country)"]
    lines.append(f"  {'month':<9}" + "".join(f"{c:>{width}}" for c in columns))
    for month in report.months:
        cells = [report.revenue.get((month, c), 0.0) for c in [*report.countries, "Other"]]
        lines.append(f"  {month:<9}" + "".join(f"{v:>{width},.0f}" for v in [*cells, sum(cells)]))
    lines.append("Top products by net revenue (gold.metrics_product_monthly)")
    for product_no, name, revenue, sold, returned in report.top_products:
        lines.append(
            f"  {product_no:<8} {name[:34]:<34} {revenue:>12,.2f}  {sold:>8,} sold  {returned:>6,} returned"
        )
    rates = ", ".join(f"{country} {rate:.2%}" for country, rate in report.return_rate_by_country)
    lines.append(
        f"Returns: {report.returns_value:,.2f} of {report.gross_revenue:,.2f} gross = "
        f"{report.return_rate:.2%} return rate ({rates})"
    )
    lines.append(
        f"Net revenue {report.net_revenue:,.2f} from {report.orders:,} orders "
        f"(average order value {report.average_order_value:,.2f})"
    )
    return "\n".join(lines)
