"""The same dbt project on Spark SQL with Delta Lake (dbt-spark session): every model, test and
snapshot builds, Silver and Gold hold the same rows as on DuckDB, and a second run with new,
duplicate and late Bronze events runs the incremental models as Databricks does: MERGE (or
delete+insert) into the Delta tables the first run created, never a rebuild."""

from __future__ import annotations

import json
import re
import subprocess
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import duckdb
import pyarrow as pa
import pytest
import yaml
from deltalake import DeltaTable, write_deltalake

from ingest.benchmarks.bronze_writer import BronzeWriter, event, invalid
from ingest.events import LINE_FIELDS
from ingest.generator import TEST_CUSTOMERS, SyntheticSales
from ingest.jvm import spark_conf
from ingest.local.dbt import dbt_executable, run_dbt
from ingest.paths import PROJECT_DIR, DataDir

from .cases import CASES
from .helpers import bronze_path

pytestmark = pytest.mark.integration

CHECKED_COLUMNS = (
    "event_key, line_status, fail_rules, quarantine_rules, warning_rules, transaction_no, "
    "sale_date, product_no, unit_price, quantity, customer_no, is_return, is_non_product"
)
RENAMED = "RENAMED ON SPARK AND DUCKDB"
KILLED_RUN = "run-killed-before-its-record"
# Lines of the second run: new transactions, and late exact copies of lines of the first.
NEW_LINES, LATE_COPIES = 300, range(100, 110)


def as_event(event_id: str, row: tuple[str, ...], **kwargs: str) -> dict:
    return event(event_id, dict(zip(LINE_FIELDS, row, strict=True)), **kwargs)


def in_new_transaction(row: tuple[str, ...]) -> tuple[str, ...]:
    """The same line in a transaction the first run never saw (a return stays a return)."""
    transaction_no, *rest = row
    prefix = "C" if transaction_no.startswith("C") else ""
    return (f"{prefix}7{transaction_no.removeprefix('C')}", *rest)


def moved(row: tuple[str, ...]) -> str:
    """Another country for the line's customer."""
    return "Iceland" if row[-1] != "Iceland" else "Japan"


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


def build(data_root: Path, run: int) -> None:
    """`dbt build` on DuckDB, then on Spark (its manifest and results in spark-target-<run>).
    The second run leaves out what does not depend on Bronze (the seeds, the unit tests):
    built and passed by the first. Databricks' merge predicates are kept on Spark with
    merge_predicate_days 0: every row the first run landed (the writer's landing times are
    days old) is outside a window counted back from now, as a first copy is when its event is
    redelivered more than merge_predicate_days later; the merges of the second run must still
    match those rows (the redelivered events, the lines Gold merges again from its lookback)."""
    again = [] if run == 1 else ["--exclude", "resource_type:seed", "resource_type:unit_test"]
    run_dbt("build", *again, target="local", data=DataDir.from_env())
    run_dbt(
        "build",
        *again,
        "--target-path",
        str(data_root / f"spark-target-{run}"),
        "--vars",
        json.dumps({"merge_predicate_days": 0}),
        target="spark",
        data=DataDir.from_env(),
    )


@pytest.fixture(scope="module", autouse=True)
def spark_jars(monkeypatch_module):
    """The `spark` profile takes Delta's jars from SPARK_JARS (local paths, as `make` sets it)."""
    monkeypatch_module.setenv("SPARK_JARS", spark_conf()["spark.jars"])


@pytest.fixture(scope="module")
def both_engines(data_root):
    writer = BronzeWriter(bronze_path(data_root))
    writer.append([event(event_id, fields) for event_id, (fields, _, _) in CASES.items()])
    rows = list(SyntheticSales(3_000, seed=17).rows())
    writer.append(
        [as_event(f"s{i}", row) for i, row in enumerate(rows)]
        + [invalid("{not json"), event("good-sale", CASES["good-sale"][0])],
        partition=1,
    )
    # compacted, not yet vacuumed: the folder also holds the files the compaction replaced,
    # which both engines must not read (each reads the live files the Delta log names)
    DeltaTable(bronze_path(data_root)).optimize.compact()
    writer.append([event("after-compaction", CASES["good-sale"][0])], partition=2)
    on_disk = len(list(Path(bronze_path(data_root)).glob("*.parquet")))
    assert on_disk > len(DeltaTable(bronze_path(data_root)).file_uris()), "nothing for the engines to skip"
    build(data_root, 1)

    # a run killed between writing its data-quality reasons and its record left reasons behind
    reasons = spark_table_path(data_root / "spark-warehouse", "silver", "int_data_quality_run_reasons")
    orphan = DeltaTable(reasons).to_pyarrow_table().slice(0, 1)
    orphan = orphan.set_column(
        orphan.schema.get_field_index("run_id"), "run_id", pa.array([KILLED_RUN], orphan["run_id"].type)
    )
    write_deltalake(reasons, orphan, mode="append")

    # the second run: new lines, redelivered events, and a late batch (landed before the last
    # one Silver saw) with exact copies of earlier lines, a copy of a counted line that is
    # earlier in event order (it becomes the counted one, the fact's line must go) and a
    # line of the last trading day that renames a product and moves a customer to another
    # country (their snapshots open a second version)
    writer.append(
        [as_event(f"n{i}", in_new_transaction(row)) for i, row in enumerate(rows[:NEW_LINES])]
        + [as_event(f"s{i}", row) for i, row in enumerate(rows[:50])],
        partition=0,
    )
    early = counted_line(rows, 1_000)
    _, _, product_no, _, price, _, customer_no, _ = rows[early]
    writer.append(
        [as_event(f"late-copy-{i}", rows[i]) for i in LATE_COPIES]
        + [as_event("late-earlier-copy", rows[early], occurred_at="2026-11-25T07:00:00.000Z")]
        + [
            as_event(
                "renamed-and-moved",
                ("999001", "12/9/2019", product_no, RENAMED, price, "1", customer_no, moved(rows[early])),
            )
        ],
        minutes_after_base=7,
        partition=2,
    )
    build(data_root, 2)
    return duckdb.connect(str(DataDir.from_env().warehouse), read_only=True), data_root / "spark-warehouse"


def spark_table_path(warehouse_dir: Path, schema: str, table: str) -> str:
    return str(warehouse_dir / f"{schema}.db" / table)


def spark_table(warehouse_dir: Path, schema: str, table: str) -> pa.Table:
    """The table's current rows, from its Delta log (a merge leaves replaced files behind)."""
    return DeltaTable(spark_table_path(warehouse_dir, schema, table)).to_pyarrow_table()


def plain(value):
    """Decimals as floats, and instants as naive UTC (DuckDB's timestamps are naive UTC)."""
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, datetime) and value.tzinfo is not None:
        return value.astimezone(UTC).replace(tzinfo=None)
    return value


def normalise(rows):
    return sorted(tuple(plain(v) for v in row) for row in rows)


def spark_manifest(data_root: Path) -> dict:
    return json.loads((data_root / "spark-target-2" / "manifest.json").read_text())


def spark_nodes(data_root: Path, resource_type: str) -> list[dict]:
    return [n for n in spark_manifest(data_root)["nodes"].values() if n["resource_type"] == resource_type]


def test_silver_governance_is_the_same_on_spark(both_engines):
    con, warehouse_dir = both_engines
    duck = con.execute(f"select {CHECKED_COLUMNS} from silver.stg_bronze__order_lines_checked").fetchall()
    spark = spark_table(warehouse_dir, "silver", "stg_bronze__order_lines_checked")
    columns = [c.strip() for c in CHECKED_COLUMNS.split(",")]
    spark_rows = list(zip(*[spark[c].to_pylist() for c in columns], strict=True))
    # the first run: the cases, 3,000 generated lines, a bad payload and a redelivered
    # good-sale (one event), and the event appended after the compaction (a reader of the
    # folder's files would double them); the second: the new lines, the late copies, the
    # earlier copy and the renamed product (the 50 redelivered events are no new events)
    first = len(CASES) + 3_002 - 1 + 1
    assert len(duck) == first + NEW_LINES + len(LATE_COPIES) + 2
    assert normalise(spark_rows) == normalise(duck)


def test_gold_is_the_same_on_spark(both_engines):
    con, warehouse_dir = both_engines
    duck = con.execute("select * from gold.metrics_daily_country").fetchall()
    spark = spark_table(warehouse_dir, "gold", "metrics_daily_country").to_pylist()
    assert normalise(tuple(row.values()) for row in spark) == normalise(duck)


@pytest.mark.parametrize(
    "table",
    [
        "fct_sales_lines",
        "dim_product",
        "dim_customer",
        "dim_date",
        "dim_country",
        "metrics_product_monthly",
        "metrics_customer_rfm",
    ],
)
def test_the_star_schema_is_the_same_on_spark(both_engines, table):
    con, warehouse_dir = both_engines
    duck = con.execute(f"select * from gold.{table}").fetchall()
    columns = [d[0] for d in con.execute(f"select * from gold.{table} limit 0").description]
    spark = spark_table(warehouse_dir, "gold", table)
    spark_rows = list(zip(*[spark[c].to_pylist() for c in columns], strict=True))
    assert len(duck) > 0
    assert normalise(spark_rows) == normalise(duck)


def test_the_late_and_duplicate_events_reached_gold_on_spark(both_engines):
    _, warehouse_dir = both_engines
    fact = set(spark_table(warehouse_dir, "gold", "fct_sales_lines")["event_id"].to_pylist())
    enriched = spark_table(warehouse_dir, "silver", "int_order_lines_enriched").to_pylist()
    duplicates = {row["event_id"] for row in enriched if row["is_duplicate_line"]}
    rows = list(SyntheticSales(3_000, seed=17).rows())
    original = f"s{counted_line(rows, 1_000)}"
    assert {f"n{i}" for i in range(NEW_LINES)} & fact, "no new line in the fact"
    assert {f"late-copy-{i}" for i in LATE_COPIES} <= duplicates
    # the merge updated the line Gold counted in the first run; the post-hook deleted it
    assert original in duplicates and original not in fact
    assert "late-earlier-copy" in fact


def test_late_redeliveries_are_merged_once_on_spark(both_engines):
    """Events redelivered after their first copies left the merge window (merge_predicate_days
    0, first copies landed days ago) are in Silver's checked log once and in the fact as often
    as on DuckDB (once for a counted line), not inserted again by the merge."""
    con, warehouse_dir = both_engines
    redelivered = [f"s{i}" for i in range(50)]
    checked = spark_table(warehouse_dir, "silver", "stg_bronze__order_lines_checked").to_pylist()
    first_copies = {
        row["event_id"]: row["bronze_ingested_at"] for row in checked if row["event_id"] in redelivered
    }
    assert set(first_copies) == set(redelivered)
    assert max(first_copies.values()) < datetime.now(UTC), "a first copy is inside the window"
    in_checked = [row["event_id"] for row in checked if row["event_id"] in redelivered]
    assert sorted(in_checked) == sorted(redelivered), "a redelivered event is in the checked log twice"
    fact = spark_table(warehouse_dir, "gold", "fct_sales_lines")["event_id"].to_pylist()
    duck = [row[0] for row in con.execute("select event_id from gold.fct_sales_lines").fetchall()]
    counted = [event_id for event_id in redelivered if event_id in duck]
    assert len(counted) > 30
    assert {e: fact.count(e) for e in redelivered} == {e: duck.count(e) for e in redelivered}
    assert len(fact) == len(set(fact)) == len(duck), "a line is in the fact twice"


def test_every_node_builds_a_delta_table_on_spark(both_engines, data_root):
    _, warehouse_dir = both_engines
    built = [
        node
        for kind in ("model", "seed", "snapshot")
        for node in spark_nodes(data_root, kind)
        if node["config"]["materialized"] != "view"
    ]
    assert len(built) >= 20
    for node in built:
        assert node["config"]["file_format"] == "delta", node["name"]
        table = DeltaTable(spark_table_path(warehouse_dir, node["schema"], node["alias"]))
        assert table.version() >= 0, node["name"]


def operations(warehouse_dir: Path, node: dict) -> list[dict]:
    """The table's Delta history, oldest first (what DESCRIBE HISTORY shows)."""
    history = DeltaTable(spark_table_path(warehouse_dir, node["schema"], node["alias"])).history()
    return sorted(history, key=lambda commit: commit["version"])


def actions(commit: dict, clauses: str) -> list[str]:
    """What a MERGE's WHEN clauses of one kind do: update, insert, delete."""
    return [clause["actionType"] for clause in json.loads(commit["operationParameters"][clauses])]


def condition(commit: dict) -> str:
    """A MERGE's ON condition as Delta records it (columns as name#id)."""
    return json.loads(commit["operationParameters"]["predicate"])[0]


def upserts(history: list[dict]) -> list[dict]:
    """dbt's merges: update the matched rows, insert the others."""
    return [
        commit
        for commit in history
        if commit["operation"] == "MERGE"
        and actions(commit, "matchedPredicates") == ["update"]
        and actions(commit, "notMatchedPredicates") == ["insert"]
    ]


def deletes(history: list[dict]) -> list[dict]:
    """Merges that delete the matched rows (delete_rows_by_key on Spark)."""
    return [
        commit
        for commit in history
        if commit["operation"] == "MERGE" and actions(commit, "matchedPredicates") == ["delete"]
    ]


def test_incremental_models_merge_into_their_delta_tables_on_spark(both_engines, data_root):
    """Created once by the first run, then merged (or deleted by key and appended) by the
    second, with the strategy dbt-databricks runs in production."""
    _, warehouse_dir = both_engines
    incremental = [m for m in spark_nodes(data_root, "model") if m["config"]["materialized"] == "incremental"]
    assert len(incremental) >= 13
    strategies = set()
    for model in incremental:
        config, name = model["config"], model["name"]
        history = operations(warehouse_dir, model)
        done = [commit["operation"] for commit in history]
        assert sum(op.startswith("CREATE") for op in done) == 1, f"{name} was rebuilt: {done}"
        keys = config["unique_key"] if isinstance(config["unique_key"], list) else [config["unique_key"]]
        strategies.add(config["incremental_strategy"])
        if config["incremental_strategy"] == "merge":
            merged = upserts(history)
            assert merged, f"{name} never merged: {done}"
            on = condition(merged[-1])
        else:
            assert config["incremental_strategy"] == "delete+insert", name
            deleted = deletes(history)
            assert deleted, f"{name} never deleted by key: {done}"
            (appended,) = [c for c in history if c["version"] == deleted[-1]["version"] + 1]
            assert (appended["operation"], appended["operationParameters"]["mode"]) == ("WRITE", "Append")
            on = condition(deleted[-1])
        assert all(f"{key}#" in on for key in keys), f"{name} merged on {on}"
    assert strategies == {"merge", "delete+insert"}


PROJECT_VARS = yaml.safe_load((PROJECT_DIR / "dbt_project.yml").read_text())["vars"]


def recomputed_last(table) -> list[dict]:
    """The rows the last run (re)computed: those with the latest silver_recomputed_at."""
    rows = table.to_pylist()
    last = max(row["silver_recomputed_at"] for row in rows)
    return [row for row in rows if row["silver_recomputed_at"] == last]


# Each model's merge window: the times of an event its copies share (lakehouse_merge_predicates)
EVENT_TIMES = {
    "stg_bronze__order_lines_checked": ("occurred_at", "source_event_at"),
    "int_order_lines_enriched": ("bronze_ingested_at",),
    "fct_sales_lines": ("source_event_at", "bronze_ingested_at"),
}


def test_the_merges_keep_the_merge_predicates_of_databricks(both_engines, data_root):
    """Only target rows landed since a floor take part, and the floor reaches back to the
    oldest event the second run merged (less the project's event_clock_slack_minutes), not to now less
    merge_predicate_days (0 here): Delta records the floor in the MERGE's condition. The
    checked log merged the run's new events; the fact its new lines and those of its lookback."""
    _, warehouse_dir = both_engines
    models = {
        m["name"]: m for m in spark_nodes(data_root, "model") if m["config"].get("incremental_predicates")
    }
    assert set(models) == set(EVENT_TIMES)
    new_events = {f"n{i}" for i in range(NEW_LINES)} | {f"late-copy-{i}" for i in LATE_COPIES}
    merged = {
        "stg_bronze__order_lines_checked": [
            row
            for row in spark_table(warehouse_dir, "silver", "stg_bronze__order_lines_checked").to_pylist()
            if row["event_id"] in new_events | {"late-earlier-copy", "renamed-and-moved"}
        ],
        "fct_sales_lines": spark_table(warehouse_dir, "gold", "fct_sales_lines").to_pylist(),
        # the lines of the transactions the second run touched: those it recomputed
        "int_order_lines_enriched": recomputed_last(
            spark_table(warehouse_dir, "silver", "int_order_lines_enriched")
        ),
    }
    slack = timedelta(minutes=PROJECT_VARS["event_clock_slack_minutes"])
    run_at = datetime.fromisoformat(
        json.loads((data_root / "spark-target-2" / "run_results.json").read_text())["metadata"][
            "generated_at"
        ]
    )
    for name, model in models.items():
        (predicate,) = model["config"]["incremental_predicates"]
        assert predicate == (
            "DBT_INTERNAL_DEST.bronze_ingested_at >= current_timestamp() - interval 0 days"
            f" /* lakehouse_merge_window: {', '.join(EVENT_TIMES[name])} */"
        )
        on = condition(upserts(operations(warehouse_dir, model))[-1])
        found = re.search(r"bronze_ingested_at#\d+ >= (\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(\.\d+)?)\)", on)
        assert found, f"{name} merged on {on}"
        floor = datetime.fromisoformat(found.group(1)).replace(tzinfo=UTC)
        oldest = min(min(row[column] for column in EVENT_TIMES[name]) for row in merged[name])
        assert floor == oldest - slack, f"{name} merged on {on}"
        assert floor < run_at - timedelta(days=1), f"{name}: its window was not widened"


def test_snapshots_keep_versions_on_spark_as_on_duckdb(both_engines, data_root):
    con, warehouse_dir = both_engines
    for snapshot, columns in (
        ("product_history", ["product_no", "product_name", "current_unit_price"]),
        ("customer_history", ["customer_no", "current_country"]),
    ):
        duck = con.execute(f"select {', '.join(columns)}, valid_to is null from gold.{snapshot}").fetchall()
        spark = spark_table(warehouse_dir, "gold", snapshot)
        in_force = [value is None for value in spark["valid_to"].to_pylist()]
        spark_rows = list(zip(*[spark[c].to_pylist() for c in columns], in_force, strict=True))
        assert len(duck) > 0
        assert normalise(spark_rows) == normalise(duck), snapshot
        (node,) = [n for n in spark_nodes(data_root, "snapshot") if n["name"] == snapshot]
        assert "MERGE" in {c["operation"] for c in operations(warehouse_dir, node)}, snapshot
    rows = list(SyntheticSales(3_000, seed=17).rows())
    line = rows[counted_line(rows, 1_000)]
    products = spark_table(warehouse_dir, "gold", "product_history").to_pylist()
    names = [
        (r["product_name"], r["valid_to"] is None) for r in products if r["product_no"] == line[2].upper()
    ]
    assert len(names) == 2 and (RENAMED, True) in names, names
    customers = spark_table(warehouse_dir, "gold", "customer_history").to_pylist()
    countries = [
        (r["current_country"], r["valid_to"] is None) for r in customers if r["customer_no"] == line[6]
    ]
    assert len(countries) == 2 and (moved(line), True) in countries, countries


def test_reasons_of_a_killed_run_are_deleted_on_spark(both_engines):
    _, warehouse_dir = both_engines
    reasons = spark_table(warehouse_dir, "silver", "int_data_quality_run_reasons")
    runs = set(spark_table(warehouse_dir, "silver", "int_data_quality_runs")["run_id"].to_pylist())
    assert len(runs) == 2
    assert set(reasons["run_id"].to_pylist()) <= runs  # the killed run's reason is gone


def dbt_nodes(target: str, target_path: Path) -> set[str]:
    completed = subprocess.run(
        [dbt_executable(), "ls", "--quiet", "--target", target, "--profiles-dir", str(PROJECT_DIR)]
        + ["--target-path", str(target_path)],
        cwd=PROJECT_DIR,
        capture_output=True,
        text=True,
        check=True,
    )
    return set(completed.stdout.split())


def test_nothing_is_left_out_on_spark(data_root):
    """Every model, seed, snapshot, data test and unit test of DuckDB also runs on Spark."""
    local = dbt_nodes("local", data_root / "ls-local")
    spark = dbt_nodes("spark", data_root / "ls-spark")
    assert {"orders_lakehouse.product_history", "orders_lakehouse.customer_history"} <= spark
    assert local - spark == set()
    assert spark - local == set()
