"""Events through the real broker into Bronze, then dbt on DuckDB: every event exactly once."""

from __future__ import annotations

import csv
import json
from collections import Counter
from dataclasses import dataclass
from decimal import Decimal

import duckdb
import pytest
from confluent_kafka import Producer

from ingest import producer
from ingest.bronze import job
from ingest.config import DEFAULT_PARTITIONS, BronzeConfig, KafkaConfig
from ingest.generator import SyntheticSales
from ingest.local.dbt import run_dbt
from ingest.paths import DataDir
from ingest.summary import collect_gold_report

from .helpers import PROJECT_DIR, bronze_path, bronze_table, bronze_version

pytestmark = pytest.mark.integration

EVENTS = 12_000
SEED = 21
MORE_EVENTS = 500
BAD_PAYLOADS = [b"this is not json", b'{"event_type": "order_line", "line": {}}', b""]


@dataclass(frozen=True)
class Drain:
    """What one publish-then-drain did: the producer's result, the rows the drain landed, and
    the Bronze table's version right after it (what the tests of that drain read)."""

    published: producer.ProduceResult
    landed: int
    bronze_version: int
    topic_events: int  # the topic's records right after the drain (later fixtures publish more)


@pytest.fixture(scope="module")
def landed(kafka_broker, data_root, spark) -> Drain:
    """Publish synthetic events and a few bad payloads, then drain them into Bronze."""
    kafka = KafkaConfig.from_env()
    result = producer.publish_synthetic(EVENTS, kafka, seed=SEED, quiet=True)
    raw = Producer({"bootstrap.servers": kafka.bootstrap_servers})
    for payload in BAD_PAYLOADS:
        raw.produce(kafka.topic, value=payload, key=b"bad")
    assert raw.flush(10) == 0
    run = job.run(
        BronzeConfig.from_env(DataDir.from_env(), KafkaConfig.from_env(), max_events_per_batch=5_000),
        available_now=True,
        spark=spark,
    )
    return Drain(result, run.landed, bronze_version(data_root), topic_total(kafka))


def topic_total(kafka: KafkaConfig) -> int:
    from ingest.local.measure import TopicEnd

    end = TopicEnd(kafka)
    try:
        return end.total()
    finally:
        end.close()


@pytest.fixture(scope="module")
def drained_again(landed, data_root, spark) -> Drain:
    """After the first drain, publish MORE_EVENTS new events and drain the topic again."""
    kafka = KafkaConfig.from_env()
    more = producer.publish_synthetic(MORE_EVENTS, kafka, seed=SEED + 1, quiet=True)
    again = job.run(BronzeConfig.from_env(DataDir.from_env(), kafka), available_now=True, spark=spark)
    return Drain(more, again.landed, bronze_version(data_root), topic_total(kafka))


def test_producer_acknowledges_every_line(landed):
    result = landed.published
    assert result.lines_read == EVENTS
    assert result.published == EVENTS
    assert result.failed == 0


def test_the_topic_end_counts_every_record_published(landed):
    assert landed.topic_events == EVENTS + len(BAD_PAYLOADS)


def test_bronze_is_written_by_spark_with_table_features_delta_rs_reads(landed, data_root):
    from deltalake import DeltaTable

    table = DeltaTable(bronze_path(data_root))
    protocol = table.protocol()
    # reader 1 / writer 2 with no table features: what dbt-duckdb's delta plugin (delta-rs) reads
    assert (protocol.min_reader_version, protocol.min_writer_version) == (1, 2)
    assert not protocol.reader_features and not protocol.writer_features
    stats = table.metadata().configuration["delta.dataSkippingStatsColumns"]
    assert stats.split(",") == list(job.STATS_COLUMNS)
    adds = table.get_add_actions(flatten=True)
    assert "min.ingested_at" in adds.column_names and "min.raw_value" not in adds.column_names
    assert {commit["engineInfo"].split("/")[0] for commit in table.history() if "engineInfo" in commit} == {
        "Apache-Spark"
    }


def test_each_micro_batch_lands_as_one_file(landed, data_root):
    from deltalake import DeltaTable

    assert DEFAULT_PARTITIONS > 1  # otherwise one file per batch would prove nothing
    writes = [c for c in DeltaTable(bronze_path(data_root)).history() if c.get("operation") == "WRITE"]
    assert len(writes) >= 3  # 12,003 events at 5,000 a batch
    assert [int(c["operationMetrics"]["numFiles"]) for c in writes] == [1] * len(writes)


def test_bronze_holds_every_record_exactly_once(landed, data_root):
    rows_landed = landed.landed
    table = bronze_table(data_root, landed.bronze_version)
    assert table.num_rows == EVENTS + len(BAD_PAYLOADS) == rows_landed
    coordinates = Counter(
        zip(table["kafka_partition"].to_pylist(), table["kafka_offset"].to_pylist(), strict=True)
    )
    assert max(coordinates.values()) == 1
    event_ids = [e for e in table["event_id"].to_pylist() if e is not None]
    assert len(event_ids) == len(set(event_ids)) == EVENTS


def test_bad_payloads_are_kept_with_a_reason(landed, data_root):
    table = bronze_table(data_root, landed.bronze_version)
    rows = [r for r in table.to_pylist() if r["parse_error"] is not None]
    assert sorted(r["parse_error"] for r in rows) == sorted(
        ["invalid JSON", "missing event_id", "empty payload"]
    )
    assert {r["raw_value"] for r in rows} == {p.decode() for p in BAD_PAYLOADS}


def test_a_second_drain_reads_only_new_events(drained_again, data_root):
    assert drained_again.landed == drained_again.published.published == MORE_EVENTS
    table = bronze_table(data_root, drained_again.bronze_version)
    assert table.num_rows == EVENTS + len(BAD_PAYLOADS) + MORE_EVENTS
    batch_ids = table["bronze_batch_id"].to_pylist()
    assert batch_ids.count(max(batch_ids)) == MORE_EVENTS


@pytest.fixture(scope="module")
def dbt_built(drained_again, data_root):
    """Silver and Gold built by dbt on Bronze after both drains."""
    run_dbt("build", data=DataDir.from_env())


@pytest.fixture
def built(dbt_built):
    """A read-only connection to the warehouse dbt built, closed after the test."""
    with duckdb.connect(str(DataDir.from_env().warehouse), read_only=True) as con:
        yield con


def test_silver_accounts_for_every_bronze_event(built):
    checked, lines, quarantined = built.execute(
        """
        select
            (select count(*) from silver.stg_bronze__order_lines_checked),
            (select count(*) from silver.stg_bronze__order_lines),
            (select count(*) from silver.stg_bronze__quarantined_lines)
        """
    ).fetchone()
    assert checked == EVENTS + MORE_EVENTS + len(BAD_PAYLOADS)
    assert lines + quarantined == checked
    invalid = built.execute(
        "select count(*) from silver.stg_bronze__quarantined_lines"
        " where quarantine_rules like '%invalid_payload%'"
    ).fetchone()[0]
    assert invalid == len(BAD_PAYLOADS)


def test_dates_are_read_month_first(built):
    # 12/9/2019 (9 Dec) exists in the data: month-first parsing puts every date in the range.
    low, high = built.execute(
        "select min(sale_date), max(sale_date) from silver.stg_bronze__order_lines"
    ).fetchone()
    assert str(low) >= "2018-12-01" and str(high) <= "2019-12-09"


def _seed(name: str) -> list[dict[str, str]]:
    with (PROJECT_DIR / "seeds" / f"{name}.csv").open() as handle:
        return list(csv.DictReader(handle))


def test_gold_revenue_matches_an_independent_computation_from_the_source_rows(built):
    """The business policy, restated in Python: sales with a non-positive product price are
    quarantined, test customers and exact duplicate lines are not counted, and only real
    products (a stock code starting with a digit, not an A adjustment) are revenue."""
    country_names = {row["source_country"]: row["country_name"] for row in _seed("country_codes")}
    test_customers = {row["customer_no"] for row in _seed("test_customers")}
    expected: dict[str, Decimal] = {}
    seen: set[tuple] = set()
    orders: set[str] = set()
    for seed, count in ((SEED, EVENTS), (SEED + 1, MORE_EVENTS)):
        for row in SyntheticSales(count, seed=seed).rows():
            number, day, product, name, price_text, quantity_text, customer, country = row
            price, quantity = Decimal(price_text), int(quantity_text)
            is_return = number.startswith("C")
            if not is_return and product[0].isdigit() and price <= 0:
                continue
            customer = customer.removesuffix(".0")
            if customer in test_customers:
                continue
            line = (number, day, product.upper(), name, price, quantity, customer, country)
            if line in seen:
                continue
            seen.add(line)
            if not product[0].isdigit() or number.startswith("A"):
                continue  # a service line: adjustments and fees, not revenue (line classes)
            if not is_return:
                orders.add(number)
            name_ = country_names.get(country, country)
            expected[name_] = expected.get(name_, Decimal(0)) + price * quantity
    actual = dict(
        built.execute(
            "select country, sum(total_revenue) from gold.metrics_daily_country group by country"
        ).fetchall()
    )
    assert actual == expected
    fact_total, fact_orders = built.execute(
        "select sum(net_amount), count(distinct case when line_class = 'sale' then transaction_no end)"
        " from gold.fct_sales_lines"
    ).fetchone()
    assert fact_total == sum(expected.values())
    assert fact_orders == len(orders)


def test_incremental_rerun_adds_nothing_new(dbt_built, data_root):
    run_dbt("build", data=DataDir.from_env())
    with duckdb.connect(str(DataDir.from_env().warehouse), read_only=True) as con:
        assert con.execute("select count(*) from silver.stg_bronze__order_lines_checked").fetchone()[0] == (
            EVENTS + MORE_EVENTS + len(BAD_PAYLOADS)
        )


def test_gold_and_its_report_match_a_recomputation_from_bronze(dbt_built, data_root):
    """Net revenue by month, gross, returns value and sales orders, recomputed in Python from
    the raw payloads Bronze holds (not from the generator), against Gold and the demo's report."""
    test_customers = {row["customer_no"] for row in _seed("test_customers")}
    events: dict[str, dict] = {}
    for raw in bronze_table(data_root)["raw_value"].to_pylist():
        try:
            payload = json.loads(raw or "")
        except ValueError:
            continue
        if isinstance(payload, dict) and payload.get("event_id") and payload.get("line"):
            events.setdefault(payload["event_id"], payload["line"])
    by_month: dict[str, Decimal] = {}
    gross = returns = Decimal(0)
    orders: set[str] = set()
    seen: set[tuple] = set()
    for line in events.values():
        number, price = line["TransactionNo"], Decimal(line["Price"])
        quantity, customer = int(line["Quantity"]), line["CustomerNo"].removesuffix(".0")
        month, _, year = line["Date"].split("/")  # month first: 12/9/2019 is 9 December
        is_return = number.startswith("C")
        identity = (number, line["Date"], line["ProductNo"].upper(), line["ProductName"], price, quantity,
                    customer, line["Country"])  # fmt: skip
        if (not is_return and line["ProductNo"][0].isdigit() and price <= 0) or customer in test_customers:
            continue
        if identity in seen:
            continue
        seen.add(identity)
        if not line["ProductNo"][0].isdigit() or number.startswith("A"):
            continue  # a service line: adjustments and fees, not revenue (line classes)
        key = f"{year}-{int(month):02d}"
        by_month[key] = by_month.get(key, Decimal(0)) + price * quantity
        if is_return:
            returns -= price * quantity
        else:
            gross += price * quantity
            orders.add(number)
    report = collect_gold_report(months=100, data=DataDir.from_env())
    assert report.orders == len(orders)
    assert round(report.gross_revenue, 2) == float(gross)
    assert round(report.returns_value, 2) == float(returns)
    assert round(report.net_revenue, 2) == float(gross - returns)
    report_months: dict[str, float] = {}
    for (month, _), revenue in report.revenue.items():
        report_months[month] = report_months.get(month, 0.0) + revenue
    assert report_months.keys() == by_month.keys()
    for month, revenue in by_month.items():
        assert round(report_months[month], 2) == float(revenue), month
