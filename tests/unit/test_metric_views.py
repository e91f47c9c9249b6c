"""The Unity Catalog metric views (models/marts/metric_views/) are what the semantic layer generates,
and they compute what the analytics API computes.

A fresh `dbt parse` (into a temporary folder) gives the manifests; the views are regenerated from
them and compared with the committed files, so editing `models/marts/_marts__semantic.yml` without
`python -m ingest metric-views` fails here. The committed views are then read back as YAML and
checked against the semantic YAML itself (read here with PyYAML, not through the generator) and
against the SQL MetricFlow writes for the API: a metric asked for alone is one SELECT of its
aggregate over the fact, which must be the view's measure with MEASURE() expanded.
Not checked here (no workspace): that Databricks accepts the YAML and the numbers it returns
(docs/databricks.md, "Metric views").
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import sqlglot
import yaml
from sqlglot import exp

from ingest.databricks import metric_views
from ingest.databricks.metric_views import MetricViewError
from ingest.local.dbt import dbt_executable
from ingest.paths import PROJECT_DIR
from ingest.semantic import GRAINS, MetricQuery, SemanticLayer

SEMANTIC_YAML = PROJECT_DIR / "models" / "marts" / "_marts__semantic.yml"
OUT = metric_views.OUT_DIR
CONFIG_LINE = "{{ config(materialized='metric_view', enabled=target.type == 'databricks') }}"
AGGREGATIONS = {"sum": "SUM({})", "count_distinct": "COUNT(DISTINCT {})", "min": "MIN({})", "max": "MAX({})"}
AGGREGATIONS["average"] = "AVG({})"
PROJECT_FILES = ("dbt_project.yml", "profiles.yml", "models", "macros", "seeds", "snapshots", "tests/dbt")


@pytest.fixture(scope="module")
def target(tmp_path_factory) -> Path:
    return metric_views.parse_project(PROJECT_DIR, tmp_path_factory.mktemp("metric-views-dbt"))


@pytest.fixture(scope="module")
def manifests(target) -> tuple[dict, dict]:
    return tuple(
        json.loads((target / f"{name}.json").read_text()) for name in ("manifest", "semantic_manifest")
    )


@pytest.fixture(scope="module")
def semantic_yaml() -> dict:
    return yaml.safe_load(SEMANTIC_YAML.read_text())


@pytest.fixture(scope="module")
def views() -> dict[str, dict]:
    """The committed views, read back as YAML, by name."""
    return {path.stem: read_view(path.read_text()) for path in sorted(OUT.glob("*.sql"))}


@pytest.fixture(scope="module")
def view(views) -> dict:
    (only,) = views.values()  # one fact (sales_lines), one view
    return only


def read_view(text: str) -> dict:
    """The metric view YAML of a model file, with each `{{ ref('x') }}` as `ref:x`."""
    first, rest = text.split("\n", 1)
    assert first == CONFIG_LINE
    body = re.sub(r"\{#-.*?-#\}\n?", "", rest, flags=re.S)
    body = re.sub(r"\"\{\{ ref\('([a-z_0-9]+)'\) \}\}\"", r"ref:\1", body)
    assert "{{" not in body and "{%" not in body
    return yaml.safe_load(body)


def sql_tree(sql: str | exp.Expression, qualifiers: tuple[str, ...] = ("source",)) -> exp.Expression:
    """sql parsed, with the given table qualifiers removed (the view qualifies the fact's columns)."""
    tree = sqlglot.parse_one(sql, dialect="databricks") if isinstance(sql, str) else sql.copy()
    for column in list(tree.find_all(exp.Column)):
        if column.table in qualifiers:
            column.set("table", None)
    return tree


def expand(sql: str, measures: dict[str, str]) -> exp.Expression:
    """MEASURE(x) replaced by x's own expression, recursively (in the tree: no parentheses needed)."""
    tree = sqlglot.parse_one(sql, dialect="databricks")
    for call in list(tree.find_all(exp.Anonymous)):
        if call.name.upper() == "MEASURE":
            (arg,) = call.expressions
            call.replace(expand(measures[arg.name], measures))
    return tree


def text(value: str | None) -> str:
    return " ".join((value or "").split())


# ------------------------------------------------------------------------------------ no drift
def test_the_committed_metric_views_are_what_the_semantic_layer_generates(target):
    found = metric_views.differences(metric_views.generate(target), OUT)
    assert not found, f"{OUT} differs from the semantic layer; run `python -m ingest metric-views`: {found}"


def test_the_drift_check_sees_an_edited_file(target, tmp_path):
    shutil.copytree(OUT, tmp_path / "views")
    model = next((tmp_path / "views").glob("*.sql"))
    model.write_text(model.read_text().replace("SUM(source.net_amount)", "SUM(source.gross_amount)"))
    (tmp_path / "views" / "stray.sql").write_text("select 1\n")
    args = argparse.Namespace(out=tmp_path / "views", target_path=target, check=True)
    assert metric_views.main(args) == 1
    assert metric_views.differences(metric_views.generate(target), tmp_path / "views") == [
        f"changed: {model.name}",
        "not generated: stray.sql",
    ]
    args.check = False
    assert metric_views.main(args) == 0  # regenerating repairs the copy
    assert metric_views.differences(metric_views.generate(target), tmp_path / "views") == []


# ---------------------------------------------------------------- the semantic layer, read here
def test_every_metric_is_a_measure_with_its_expression(view, semantic_yaml):
    measures = {m["name"]: m for sm in semantic_yaml["semantic_models"] for m in sm.get("measures", [])}
    metrics = semantic_yaml["metrics"]
    found = {measure["name"]: measure for measure in view["measures"]}
    assert [m["name"] for m in view["measures"]] == [m["name"] for m in metrics]  # every one, once, in order
    for metric in metrics:
        params = metric["type_params"]
        if metric["type"] == "simple":
            measure = measures[params["measure"]]
            expected = AGGREGATIONS[measure["agg"]].format(measure.get("expr") or measure["name"])
        else:
            assert metric["type"] == "ratio", "teach this test the new metric type"
            expected = (
                f"CAST(MEASURE({params['numerator']}) AS DOUBLE)"
                f" / CAST(NULLIF(MEASURE({params['denominator']}), 0) AS DOUBLE)"
            )
        actual = found[metric["name"]]
        assert sql_tree(actual["expr"]) == sql_tree(expected), (metric["name"], actual["expr"], expected)
        assert actual.get("display_name") == metric["label"]
        assert actual["comment"] == text(metric["description"])


def test_the_fact_is_the_source_and_each_dimension_model_a_join_on_its_entity(view, semantic_yaml, manifests):
    models = {sm["name"]: sm for sm in semantic_yaml["semantic_models"]}
    (fact,) = [sm for sm in models.values() if sm.get("measures")]
    ref = lambda sm: "ref:" + re.fullmatch(r"ref\('(\w+)'\)", sm["model"]).group(1)  # noqa: E731
    assert view["source"] == ref(fact)
    expected = {}
    for foreign in [e for e in fact["entities"] if e["type"] == "foreign"]:
        for other in models.values():
            for entity in other["entities"]:
                if entity["name"] == foreign["name"] and entity["type"] == "primary":
                    on = f"source.{foreign['expr']} = {other['name']}.{entity['expr']}"
                    expected[other["name"]] = (ref(other), on)
    spine = manifests[1]["project_configuration"]["time_spines"][0]
    day = f"DATE_TRUNC('day', source.{fact['defaults']['agg_time_dimension']})"
    expected["dim_date"] = ("ref:dim_date", f"{day} = dim_date.{spine['primary_column']['name']}")
    assert {j["name"]: (j["source"], j["on"]) for j in view["joins"]} == expected


def test_every_dimension_of_the_semantic_layer_and_metric_time_at_every_grain(view, semantic_yaml):
    models = {sm["name"]: sm for sm in semantic_yaml["semantic_models"]}
    (fact,) = [sm for sm in models.values() if sm.get("measures")]
    primary = {
        sm["name"]: e["name"] for sm in models.values() for e in sm["entities"] if e["type"] == "primary"
    }
    expected = {}
    for sm in models.values():
        table = "source" if sm is fact else sm["name"]
        for dim in sm["dimensions"]:
            if dim["type"] == "categorical":
                expected[f"{primary[sm['name']]}__{dim['name']}"] = (
                    f"{table}.{dim['name']}",
                    text(dim["description"]),
                )
    time = fact["defaults"]["agg_time_dimension"]
    for grain in GRAINS:
        expr = "dim_date.fiscal_year" if grain == "fiscal_year" else f"DATE_TRUNC('{grain}', source.{time})"
        expected[f"metric_time__{grain}"] = (expr, None)
    found = {d["name"]: (d["expr"], d.get("comment")) for d in view["dimensions"]}
    assert set(found) == set(expected)
    for name, (expr, comment) in expected.items():
        assert found[name][0] == expr, name
        assert comment is None or found[name][1] == comment, name


def test_the_model_is_a_metric_view_on_databricks_only():
    for path in OUT.glob("*.sql"):
        assert path.read_text().split("\n", 1)[0] == CONFIG_LINE
    documented = yaml.safe_load((OUT / "_metric_views.yml").read_text())["models"]
    assert sorted(m["name"] for m in documented) == sorted(p.stem for p in OUT.glob("*.sql"))
    assert all(m["description"] for m in documented)


def metric_view_names(manifest: dict) -> tuple[list[str], list[str]]:
    """(enabled metric view models, disabled models of metric_views/) of a manifest."""
    enabled = [
        n["name"] for n in manifest["nodes"].values() if n["config"].get("materialized") == "metric_view"
    ]
    disabled = [
        d[0]["name"] for d in manifest["disabled"].values() if "/metric_views/" in d[0]["original_file_path"]
    ]
    return enabled, sorted(disabled)


def test_the_duckdb_and_spark_targets_never_build_them(manifests, tmp_path):
    """Only dbt-databricks has the materialization: the other targets parse them disabled."""
    views = sorted(path.stem for path in OUT.glob("*.sql"))
    assert metric_view_names(manifests[0]) == ([], views)  # the local (DuckDB) target
    (tmp_path / "warehouse").mkdir()
    env = {**os.environ, "LAKEHOUSE_DATA_DIR": str(tmp_path), "SPARK_JARS": "placeholder.jar"}  # parse only
    completed = subprocess.run(
        [dbt_executable(), "parse", "--target", "spark", "--profiles-dir", str(PROJECT_DIR),
         "--target-path", str(tmp_path / "spark"), "--no-partial-parse", "--quiet"],
        cwd=PROJECT_DIR, env=env, capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert completed.returncode == 0, (completed.stdout + completed.stderr)[-2000:]
    assert metric_view_names(json.loads((tmp_path / "spark" / "manifest.json").read_text())) == ([], views)


# ----------------------------------------------------------------------- what the API computes
def test_each_measure_is_the_aggregate_the_api_computes_for_its_metric(target, view):
    """MetricFlow, asked for one metric by the API's own code, selects one aggregate over the fact:
    the view's measure, its MEASURE() references expanded, is that aggregate."""
    api = SemanticLayer.load(target / "semantic_manifest.json", "databricks", None, {})
    measures = {m["name"]: m["expr"] for m in view["measures"]}
    assert sorted(measures) == sorted(api.metrics)
    for name in api.metrics:
        sql = api.compile(MetricQuery(metrics=(name,))).sql
        select = sqlglot.parse_one(sql, dialect="databricks")
        (projection,) = select.expressions
        assert projection.alias == name
        (table,) = select.find_all(exp.Table)  # no join: the fact alone
        assert table.name == view["source"].removeprefix("ref:"), name
        assert sql_tree(expand(measures[name], measures)) == sql_tree(projection.this), name


def test_the_dimensions_are_the_apis(target, view):
    api = SemanticLayer.load(target / "semantic_manifest.json", "databricks", None, {})
    expected = set(api.dimensions) | {f"metric_time__{grain}" for grain in GRAINS}
    assert {d["name"] for d in view["dimensions"]} == expected


# -------------------------------------------------------------- a change to the semantic layer
def test_changing_metrics_in_a_copy_of_the_project_changes_their_measures(tmp_path):
    project = tmp_path / "project"
    for name in PROJECT_FILES:
        source = PROJECT_DIR / name
        if source.is_dir():
            shutil.copytree(source, project / name)
        else:
            project.mkdir(exist_ok=True)
            shutil.copy(source, project / name)
    semantic = project / "models" / "marts" / "_marts__semantic.yml"
    before = semantic.read_text()
    after = before.replace(
        "expr: case when line_class = 'sale' then quantity else 0 end",
        "expr: case when line_class = 'sale' and not is_return then quantity else 0 end",
    ).replace(
        "numerator: gross_revenue\n      denominator: orders",
        "numerator: net_revenue\n      denominator: orders",
    )
    assert after.count("\n") == before.count("\n") and after != before
    semantic.write_text(after)

    generated = metric_views.generate(metric_views.parse_project(project, tmp_path / "target"))
    (name,) = [path for path in generated if path.endswith(".sql")]
    assert metric_views.differences(generated, OUT) == [f"changed: {name}"]
    old = {m["name"]: m["expr"] for m in read_view((OUT / name).read_text())["measures"]}
    new = {m["name"]: m["expr"] for m in read_view(generated[name])["measures"]}
    assert {n for n in old if old[n] != new[n]} == {"units_sold", "average_order_value"}
    assert (
        new["units_sold"] == "SUM(case when source.line_class = 'sale' and not source.is_return"
        " then source.quantity else 0 end)"
    )
    assert new["average_order_value"] == (
        "CAST(MEASURE(net_revenue) AS DOUBLE) / CAST(NULLIF(MEASURE(orders), 0) AS DOUBLE)"
    )


# ------------------------------------------------- constructs the semantic layer may grow into
def simple_metric(semantic: dict, name: str, measure: str, **extra) -> dict:
    metric = copy.deepcopy(next(m for m in semantic["metrics"] if m["type"] == "simple"))
    ref = {
        "name": measure,
        "filter": None,
        "alias": None,
        "join_to_timespine": False,
        "fill_nulls_with": None,
    }
    metric.update(name=name, label=None, description=f"{name}.", **extra)
    metric["type_params"].update(measure=ref, input_measures=[ref])
    return metric


def metric_input(name: str, **extra) -> dict:
    return {
        "name": name,
        "filter": None,
        "alias": None,
        "offset_window": None,
        "offset_to_grain": None,
        **extra,
    }


def where(template: str) -> dict:
    return {"where_filters": [{"where_sql_template": template}]}


def fact(semantic: dict) -> dict:
    return next(sm for sm in semantic["semantic_models"] if sm["measures"])


def add_measure(semantic: dict, name: str, **fields) -> None:
    base = copy.deepcopy(fact(semantic)["measures"][0])
    fact(semantic)["measures"].append({**base, "name": name, **fields})


def measures_of(manifests: tuple[dict, dict], change) -> dict[str, str]:
    manifest, semantic = copy.deepcopy(manifests)
    change(semantic)
    (built,) = metric_views.build(manifest, semantic)
    return {m.name: m.expr for m in built.measures}


EUROPE = "{{ Dimension('country__region') }} = 'Europe'"


def test_a_metric_filter_filters_its_aggregate(manifests):
    def change(semantic):
        semantic["metrics"].append(
            simple_metric(semantic, "europe_revenue", "net_amount", filter=where(EUROPE))
        )
        kept = simple_metric(semantic, "sale_lines_since", "line_count")
        kept["type_params"]["measure"]["filter"] = where(
            "{{ Dimension('sales_line__line_class') }} = 'sale'"
            " and {{ TimeDimension('metric_time', 'month') }} >= '2020-01-01'"
        )
        semantic["metrics"].append(kept)

    found = measures_of(manifests, change)
    assert found["europe_revenue"] == "SUM(source.net_amount) FILTER (WHERE (countries.region = 'Europe'))"
    assert found["sale_lines_since"] == (
        "SUM(1) FILTER (WHERE (source.line_class = 'sale'"
        " and DATE_TRUNC('month', source.sale_date) >= '2020-01-01'))"
    )


def test_a_filtered_ratio_inlines_its_inputs_under_the_filter(manifests):
    def change(semantic):
        ratio = copy.deepcopy(next(m for m in semantic["metrics"] if m["name"] == "return_rate"))
        ratio.update(name="europe_return_rate", filter=where(EUROPE))
        semantic["metrics"].append(ratio)
        aov = copy.deepcopy(next(m for m in semantic["metrics"] if m["name"] == "average_order_value"))
        aov["name"] = "europe_order_value"
        aov["type_params"]["numerator"]["filter"] = where(EUROPE)
        semantic["metrics"].append(aov)

    found = measures_of(manifests, change)
    europe = " FILTER (WHERE (countries.region = 'Europe'))"
    assert found["europe_return_rate"] == (
        f"CAST(SUM(source.return_amount){europe} AS DOUBLE)"
        f" / CAST(NULLIF(SUM(source.gross_amount){europe}, 0) AS DOUBLE)"
    )
    assert found["europe_order_value"] == (
        f"CAST(SUM(source.gross_amount){europe} AS DOUBLE) / CAST(NULLIF(MEASURE(orders), 0) AS DOUBLE)"
    )


def test_a_derived_metric_is_its_expression_over_measures(manifests):
    def change(semantic):
        derived = copy.deepcopy(semantic["metrics"][0])
        derived.update(name="kept_revenue", type="derived", label="Kept revenue", description="Kept.")
        derived["type_params"] = {
            "expr": "2 / gross - returns_value",
            "metrics": [
                metric_input("gross_revenue", alias="gross", filter=where(EUROPE)),
                metric_input("returns_value"),
            ],
            "input_measures": [],
        }
        semantic["metrics"].append(derived)

    found = measures_of(manifests, change)
    europe = " FILTER (WHERE (countries.region = 'Europe'))"
    assert found["kept_revenue"] == f"2 / (SUM(source.gross_amount){europe}) - MEASURE(returns_value)"


def test_count_and_sum_boolean_are_the_sums_metricflow_makes_of_them(manifests):
    def change(semantic):
        add_measure(semantic, "known_lines", agg="count", expr="customer_key")
        add_measure(semantic, "return_lines", agg="sum_boolean", expr="is_return")
        add_measure(semantic, "largest", agg="max", expr="net_amount")
        semantic["metrics"] += [
            simple_metric(semantic, "known", "known_lines"),
            simple_metric(semantic, "returned", "return_lines"),
            simple_metric(semantic, "largest_line", "largest"),
        ]

    found = measures_of(manifests, change)
    assert found["known"] == "SUM(CASE WHEN source.customer_key IS NOT NULL THEN 1 ELSE 0 END)"
    assert found["returned"] == "SUM(CASE WHEN source.is_return THEN 1 ELSE 0 END)"
    assert found["largest_line"] == "MAX(source.net_amount)"


def two_facts(semantic: dict) -> None:
    other = copy.deepcopy(fact(semantic))
    other["name"] = "other_lines"
    for entity in other["entities"]:
        if entity["type"] == "primary":
            entity["name"] = "other_line"
    other["measures"] = [{**other["measures"][0], "name": "other_amount"}]
    other["dimensions"] = [d for d in other["dimensions"] if d["type"] == "time"]
    semantic["semantic_models"].append(other)
    semantic["metrics"].append(simple_metric(semantic, "other_revenue", "other_amount"))
    ratio = copy.deepcopy(next(m for m in semantic["metrics"] if m["name"] == "return_rate"))
    ratio["name"] = "across"
    ratio["type_params"]["denominator"]["name"] = "other_revenue"
    semantic["metrics"].append(ratio)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            lambda s: s["metrics"].append(
                {
                    **simple_metric(s, "running", "net_amount"),
                    "type": "cumulative",
                    "type_params": {
                        **simple_metric(s, "running", "net_amount")["type_params"],
                        "cumulative_type_params": {"grain_to_date": "month"},
                    },
                }
            ),
            "cumulative metrics have no metric view translation",
        ),
        (
            lambda s: fact(s)["measures"][0].update(
                non_additive_dimension={"name": "sale_date", "window_choice": "max", "window_groupings": []}
            ),
            "non_additive_dimension",
        ),
        (
            lambda s: s["metrics"][0]["type_params"]["measure"].update(fill_nulls_with=0),
            "fill_nulls_with",
        ),
        (
            lambda s: next(m for m in s["metrics"] if m["type"] == "ratio")["type_params"][
                "numerator"
            ].update(filter=where("{{ Entity('customer') }} is not null")),
            "Entity(...) is not translated",
        ),
        (
            lambda s: s["metrics"][0].update(
                filter=where("{{ Dimension('country__region').grain('day') }} = 'x'")
            ),
            "`.grain()` on a dimension is not translated",
        ),
        (
            lambda s: s["metrics"][0].update(filter=where("{{ Dimension('nothing__here') }} = 'x'")),
            "nothing__here is not a dimension of the view",
        ),
        (
            lambda s: (
                add_measure(
                    s,
                    "p90",
                    agg="percentile",
                    expr="net_amount",
                    agg_params={
                        "percentile": 0.9,
                        "use_discrete_percentile": True,
                        "use_approximate_percentile": False,
                    },
                ),
                s["metrics"].append(simple_metric(s, "p90_line", "p90")),
            ),
            "continuous or approximate discrete",
        ),
        (
            lambda s: fact(s)["measures"][0].update(expr="(select max(net_amount) from x)"),
            "not qualified safely",
        ),
        (two_facts, "a metric view measures one source table"),
        (
            lambda s: s["metrics"][0]["type_params"]["measure"].update(join_to_timespine=True),
            "join_to_timespine",
        ),
        (
            lambda s: s["metrics"].append(
                {
                    **s["metrics"][0],
                    "name": "growth",
                    "type": "derived",
                    "type_params": {
                        "expr": "net_revenue - last_month",
                        "metrics": [
                            metric_input("net_revenue"),
                            metric_input(
                                "net_revenue",
                                alias="last_month",
                                offset_window={"count": 1, "granularity": "month"},
                            ),
                        ],
                        "input_measures": [],
                    },
                }
            ),
            "offset_window on input net_revenue",
        ),
    ],
    ids=[
        "cumulative",
        "non-additive",
        "fill nulls",
        "entity filter",
        "dimension grain",
        "unknown dimension",
        "discrete percentile",
        "subquery",
        "two facts",
        "join to time spine",
        "derived offset",
    ],
)
def test_what_a_metric_view_cannot_say_stops_the_generation(manifests, change, message):
    manifest, semantic = copy.deepcopy(manifests)
    change(semantic)
    with pytest.raises(MetricViewError, match=re.escape(message)):
        metric_views.build(manifest, semantic)
