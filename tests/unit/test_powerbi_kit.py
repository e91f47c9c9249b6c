"""The Power BI kit (powerbi/) is what the semantic layer generates, and it is what it claims to be.

A fresh `dbt parse` (into a temporary folder) gives the manifests; the kit is regenerated from them
into a temporary folder and compared with the committed one, so editing the semantic layer without
`python -m ingest powerbi` fails here. The committed project is read back with pbipinspect (an
independent TMDL parser): one measure per metric and one metric per measure, Gold's tables with the
dbt contract's columns and types, the star's relationships, DirectQuery partitions through the
Databricks connector. The SQL -> DAX translation is specified on a small table of its own.
Not checked here (no Power BI here): that Desktop opens it, that the DAX evaluates, that the M
connects to a real workspace (docs/power-bi.md).
"""

from __future__ import annotations

import argparse
import copy
import json
import re
from pathlib import Path

import pytest
from pbipinspect.inspect import create_inspect

from ingest.paths import PROJECT_DIR
from ingest.powerbi import KitError, command, dax, layer, project
from ingest.powerbi.layer import Column, Table

KIT = PROJECT_DIR / "powerbi"
MODEL = KIT / "OrdersLakehouse.SemanticModel" / "definition"
STAR = {"fct_sales_lines", "dim_date", "dim_product", "dim_customer", "dim_country", "metrics_customer_rfm"}
TMDL_TYPES = {"string": "string", "int": "int64", "bigint": "int64", "decimal": "decimal", "date": "dateTime"}
TMDL_TYPES |= {"timestamp": "dateTime", "boolean": "boolean"}


@pytest.fixture(scope="module")
def target(tmp_path_factory) -> Path:
    return layer.parse_project(PROJECT_DIR, tmp_path_factory.mktemp("powerbi-dbt"))


@pytest.fixture(scope="module")
def manifests(target) -> tuple[dict, dict]:
    return tuple(
        json.loads((target / f"{name}.json").read_text()) for name in ("manifest", "semantic_manifest")
    )


@pytest.fixture(scope="module")
def pbip():
    return create_inspect(KIT / "OrdersLakehouse.pbip").pbip


def unquote(name: str) -> str:
    name = name.strip()
    return name[1:-1].replace("''", "'") if name.startswith("'") else name


def tree(folder: Path) -> dict[str, bytes]:
    return {
        p.relative_to(folder).as_posix(): p.read_bytes()
        for p in folder.rglob("*")
        if p.is_file() and not project.is_local(p.relative_to(folder).as_posix())
    }


# ------------------------------------------------------------------------------------ no drift
def test_the_committed_kit_is_the_one_the_semantic_layer_generates(target, tmp_path):
    files, _, _ = command.generate(target)
    project.write(files, tmp_path)
    regenerated, committed = tree(tmp_path), tree(KIT)
    stale = sorted(p for p in regenerated.keys() | committed.keys() if regenerated.get(p) != committed.get(p))
    assert not stale, f"powerbi/ differs from the semantic layer; run `python -m ingest powerbi`: {stale}"


def test_every_metric_has_a_measure_and_every_measure_a_metric(pbip, manifests):
    _, semantic = manifests
    labels = [metric.get("label") or metric["name"] for metric in semantic["metrics"]]
    names = [unquote(measure["name"]) for measure in pbip.measures]
    assert len(names) == len(set(names))
    assert sorted(names) == sorted(labels)


def test_each_measure_is_its_metric_translated_with_a_format_for_what_it_counts(pbip, manifests):
    model = layer.build(*manifests)
    expected = {measure.name: measure for measure in dax.measures(model)}
    for measure in pbip.measures:
        metric = expected[unquote(measure["name"])]
        assert (measure["table"], measure["expression"]) == (metric.table, metric.expression)
        assert measure["formatString"] == metric.format_string
    formats = {metric.metric: metric.format_string for metric in expected.values()}
    assert formats["return_rate"] == "0.00%"
    assert formats["net_revenue"] == formats["gross_revenue"] == formats["average_order_value"] == "#,0.00"
    assert formats["orders"] == formats["distinct_customers"] == formats["units_sold"] == "#,0"


def test_the_tables_are_gold_with_the_dbt_contract_columns_and_types(pbip, manifests):
    manifest, _ = manifests
    gold = {n["alias"]: n for n in manifest["nodes"].values() if n["resource_type"] == "model"}
    assert {table["name"] for table in pbip.tables} == STAR
    for table in pbip.tables:
        contract = gold[table["name"]]["columns"]
        assert [c["name"] for c in table["columns"]] == list(contract), table["name"]
        for column in table["columns"]:
            base = re.match(r"[a-z]+", contract[column["name"]]["data_type"]).group(0)
            assert column["dataType"] == TMDL_TYPES[base], (table["name"], column["name"])
            assert column["summarizeBy"] == "none"  # numbers come from the measures only


def test_the_fact_joins_each_dimension_on_its_key(pbip):
    joins = {(r["fromTable"], r["fromColumn"], r["toTable"], r["toColumn"]) for r in pbip.relationships}
    assert joins == {
        ("fct_sales_lines", "date_key", "dim_date", "date_key"),
        ("fct_sales_lines", "product_key", "dim_product", "product_key"),
        ("fct_sales_lines", "customer_key", "dim_customer", "customer_key"),
        ("fct_sales_lines", "customer_key", "metrics_customer_rfm", "customer_key"),
        ("fct_sales_lines", "country_key", "dim_country", "country_key"),
    }
    for relationship in pbip.relationships:
        assert relationship["fromCardinalitySymbol"] == "*" and relationship["toCardinalitySymbol"] == "1"
        assert (
            relationship["crossFilteringBehavior"] == "singleDirection" and relationship["isActive"] is True
        )
    # inner joins only where dbt tests that every key has its row (customer_key may be null)
    text = (MODEL / "relationships.tmdl").read_text()
    assert text.count("relyOnReferentialIntegrity") == 3
    assert "relyOnReferentialIntegrity\n\tfromColumn: fct_sales_lines.customer_key" not in text


def test_dim_date_is_marked_as_the_date_table():
    text = (MODEL / "tables" / "dim_date.tmdl").read_text()
    assert "\tdataCategory: Time\n" in text.split("\tcolumn ")[0]
    assert re.search(r"\tcolumn date_day\n\t\tdataType: dateTime\n\t\tisKey\n", text)
    assert re.search(r"\tcolumn month_name\n(\t\t.*\n)*\t\tsortByColumn: month_number\n", text)


def test_every_table_is_directquery_through_the_databricks_connector(pbip):
    for table in pbip.tables:
        (partition,) = table["partitions"]
        assert (partition["type"], partition["mode"]) == ("m", "directQuery"), table["name"]
        source = partition["expression"]
        assert (
            "Databricks.Catalogs(Host, HttpPath, [Catalog=null, Database=null, "
            "EnableAutomaticProxyDiscovery=null])" in source
        )
        assert 'Source{[Name=Catalog, Kind="Database"]}[Data]' in source
        assert '{[Name="gold", Kind="Schema"]}[Data]' in source
        assert f'{{[Name="{table["name"]}", Kind="Table"]}}[Data]' in source
    parameters = {expression["name"]: expression["expression"] for expression in pbip.expressions}
    assert parameters == {
        "Host": '"adb-0000000000000000.0.azuredatabricks.net"',
        "HttpPath": '"/sql/1.0/warehouses/0000000000000000"',
        "Catalog": '"orders"',  # the prod target's catalog
    }


def partitions(files: dict[str, str]) -> dict[str, str]:
    """table -> the M source of its partition, from generated files."""
    found = {}
    for path, text in files.items():
        if "/definition/tables/" in path:
            (m,) = re.findall(r"\tpartition .* = m\n(?:\t\t.*\n)*?\t\tsource =\n((?:\t\t\t.*\n)+)", text)
            found[path.rsplit("/", 1)[1].removesuffix(".tmdl")] = m
    return found


def test_the_committed_partitions_leave_adbc_out(pbip):
    """ADBC (`Implementation="2.0"`) is Preview on Microsoft's connector page: the committed kit sets no
    `Implementation`, so the connector's default applies (ODBC unless the tenant or workspace admin
    turned ADBC on)."""
    assert len(pbip.tables) == len(STAR)
    for table in pbip.tables:
        (partition,) = table["partitions"]
        assert "Implementation" not in partition["expression"], table["name"]


def test_the_default_generation_leaves_adbc_out(target):
    files, _, _ = command.generate(target)
    found = partitions(files)
    assert set(found) == STAR
    for table, m in found.items():
        assert 'Implementation="2.0"' not in m, table
        assert "Implementation" not in m, table


@pytest.mark.parametrize("implementation, value", [("adbc", "2.0"), ("odbc", "1.0")])
def test_the_implementation_option_sets_the_driver_on_every_partition(
    target, tmp_path, implementation, value
):
    parser = argparse.ArgumentParser()
    command.add_arguments(parser)
    args = parser.parse_args(
        ["--out", str(tmp_path), "--target-path", str(target), "--implementation", implementation]
    )
    args.host = args.http_path = None  # whatever the environment says
    assert command.main(args) == 0
    written = {p.relative_to(tmp_path).as_posix(): p.read_text() for p in tmp_path.rglob("*.tmdl")}
    found = partitions(written)
    assert set(found) == STAR
    for table, m in found.items():
        assert (
            "Databricks.Catalogs(Host, HttpPath, [Catalog=null, Database=null, "
            f'EnableAutomaticProxyDiscovery=null, Implementation="{value}"])' in m
        ), table
        assert m.count("Implementation") == 1, table
    args.check = True
    assert command.main(args) == 0  # --check compares with the same option
    args.implementation = "default"
    assert command.main(args) == 1  # the committed kind differs from it


def test_one_directquery_pbids_per_bundle_target_without_credentials():
    found = sorted(p.name for p in (KIT / "connections").glob("*.pbids"))
    assert found == ["OrdersLakehouse-dev.pbids", "OrdersLakehouse-prod.pbids"]
    for target, catalog in {"dev": "orders_dev", "prod": "orders"}.items():
        text = (KIT / "connections" / f"OrdersLakehouse-{target}.pbids").read_text()
        pbids = json.loads(text)
        assert pbids["version"] == "0.1"
        (connection,) = pbids["connections"]
        assert connection["mode"] == "DirectQuery"
        assert connection["details"]["protocol"] == "databricks-sql"
        assert connection["details"]["address"] == {
            "host": project.PLACEHOLDER.host,
            "path": project.PLACEHOLDER.http_path,
        }
        assert connection["details"]["authentication"] is None
        assert connection["options"] == {"Catalog": catalog, "Database": "gold"}
        assert not re.search(r"token|password|secret|dapi", text, re.IGNORECASE)


def test_the_command_writes_a_real_warehouse_only_to_the_ignored_local_folder(target, tmp_path):
    parser = argparse.ArgumentParser()
    command.add_arguments(parser)
    args = parser.parse_args(
        [
            "--out",
            str(tmp_path),
            "--target-path",
            str(target),
            "--host",
            "https://adb-123.4.azuredatabricks.net/",
        ]
        + ["--http-path", "sql/1.0/warehouses/abc"]
    )
    assert command.main(args) == 0
    local = json.loads((tmp_path / "connections/local/OrdersLakehouse-prod.pbids").read_text())
    address = local["connections"][0]["details"]["address"]
    assert address == {"host": "adb-123.4.azuredatabricks.net", "path": "/sql/1.0/warehouses/abc"}
    assert "connections/local/" in (tmp_path / ".gitignore").read_text().splitlines()
    assert not any("adb-123" in text.decode() for text in tree(tmp_path).values())  # none outside local/
    args.check, args.host, args.http_path = True, None, None
    assert command.main(args) == 0


# ---------------------------------------------------------------------- what the kit refuses
def test_a_new_simple_metric_gets_its_measure(manifests):
    manifest, semantic = copy.deepcopy(manifests)
    (sales,) = [sm for sm in semantic["semantic_models"] if sm["node_relation"]["alias"] == "fct_sales_lines"]
    sales["measures"].append(
        {"name": "kept_amount", "agg": "sum", "expr": "case when is_return then null else net_amount end"}
    )
    semantic["metrics"].append(
        {
            "name": "kept",
            "label": "Kept revenue",
            "description": "",
            "type": "simple",
            "type_params": {"measure": {"name": "kept_amount"}},
        }
    )
    measure = dax.measures(layer.build(manifest, semantic))[-1]
    assert (measure.name, measure.format_string) == ("Kept revenue", "#,0.00")
    assert measure.expression == (
        "SUMX(fct_sales_lines, IF(fct_sales_lines[is_return], BLANK(), fct_sales_lines[net_amount]))"
    )


@pytest.mark.parametrize(
    "change",
    [
        lambda metrics: metrics.append({**metrics[0], "name": "d", "label": "D", "type": "derived"}),
        lambda metrics: metrics[0].update(filter={"where_filters": [{"where_sql_template": "x"}]}),
        lambda metrics: next(m for m in metrics if m["type"] == "ratio")["type_params"]["numerator"].update(
            filter={"where_filters": [{"where_sql_template": "x"}]}
        ),
        lambda metrics: metrics.append({**metrics[0], "name": "twin"}),  # a second metric, same label
    ],
    ids=["derived metric", "metric filter", "ratio input filter", "duplicate label"],
)
def test_a_metric_the_kit_cannot_express_stops_the_generation(manifests, change):
    manifest, semantic = copy.deepcopy(manifests)
    change(semantic["metrics"])
    with pytest.raises(KitError):
        dax.measures(layer.build(manifest, semantic))


LINES = Table(
    "lines",
    "gold",
    (
        Column("quantity", "int", ""),
        Column("amount", "decimal(18,2)", ""),
        Column("is_return", "boolean", ""),
        Column("order_no", "string", ""),
        Column("customer", "string", ""),
        Column("line_class", "string", "", accepted_values=("sale", "return", "fee")),
    ),
)


@pytest.mark.parametrize(
    ("agg", "sql", "expected"),
    [
        ("sum", "amount", "SUM(lines[amount])"),
        ("sum", "1", "COUNTROWS(lines)"),
        (
            "sum",
            "case when is_return then 0 else quantity end",
            "SUMX(lines, IF(lines[is_return], 0, lines[quantity]))",
        ),
        (
            "sum",
            "case when is_return then -quantity else 0 end",
            "SUMX(lines, IF(lines[is_return], -lines[quantity], 0))",
        ),
        ("count_distinct", "customer", "DISTINCTCOUNTNOBLANK(lines[customer])"),
        (
            "count_distinct",
            "case when is_return then null else order_no end",
            "CALCULATE(DISTINCTCOUNTNOBLANK(lines[order_no]), "
            "KEEPFILTERS(FILTER(ALL(lines[is_return]), NOT lines[is_return])))",
        ),
        (
            "sum",
            "case when line_class = 'sale' then amount else 0 end",
            'SUMX(lines, IF(lines[line_class] = "sale", lines[amount], 0))',
        ),
        (  # NOT of a NULL is NULL in SQL: the DAX asks for a non-blank FALSE
            "sum",
            "case when line_class in ('sale', 'return') and not is_return then amount * quantity end",
            'SUMX(lines, IF((lines[line_class] IN {"sale", "return"} && '
            "(NOT ISBLANK(lines[is_return]) && NOT lines[is_return])), lines[amount] * lines[quantity]))",
        ),
        ("average", "quantity", "AVERAGE(lines[quantity])"),
        ("max", "amount", "MAX(lines[amount])"),
        ("count", "customer", "COUNT(lines[customer])"),
    ],
)
def test_measure_sql_translates_to_the_same_dax(agg, sql, expected):
    assert dax.aggregate(agg, sql, LINES)[0] == expected


@pytest.mark.parametrize(
    ("agg", "sql", "why"),
    [
        ("sum", "quantity + 1", "not one of the translated forms"),  # DAX adds a BLANK as 0
        ("sum", "coalesce(quantity, 0)", "not one of the translated forms"),
        ("sum", "amount / quantity", "not one of the translated forms"),
        ("sum", "case when order_no = 'C1' then 1 else 0 end", "accepted_values"),  # DAX ignores case
        ("sum", "case when line_class = 'Sale' then 1 else 0 end", "not an accepted value"),
        ("count_distinct", "case when is_return then order_no else customer end", "different columns"),
        ("sum", "order_no", "needs a number"),
        ("percentile", "quantity", "no translation"),
        ("sum", "nope", "no column"),
    ],
)
def test_measure_sql_without_an_exact_translation_is_refused(agg, sql, why):
    with pytest.raises(KitError, match=why):
        dax.aggregate(agg, sql, LINES)
