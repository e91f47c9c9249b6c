"""dbt Labs' best-practice rules (those of dbt-project-evaluator) on this project's manifest.

The evaluator itself is a dbt package from the package hub, which these machines cannot reach;
its rules are checked here instead, on a fresh `dbt parse`. A rule this project breaks on
purpose is an exception below, with its reason, as the evaluator's exceptions seed would hold
it (rule, model, reason): a new breach fails, and so does an exception no longer needed.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ingest.databricks import metric_views
from ingest.paths import PROJECT_DIR

# The evaluator's primary-key tests (unique + not_null on one column, or a unique combination
# of columns), with this project's own unique_combination_of_columns standing for dbt_utils'.
PRIMARY_KEY_TESTS = ({"unique", "not_null"}, {"unique_combination_of_columns"})

# The evaluator's model types by folder and the prefixes each allows.
PREFIXES = {"staging": ("stg",), "intermediate": ("int",), "marts": ("fct", "dim")}

EXCEPTIONS = {
    ("fct_staging_dependent_on_staging", "stg_bronze__order_lines"): (
        "the checked log (stg_bronze__order_lines_checked) is the one place an event is typed, "
        "deduplicated and judged; the trusted lines are a filter of it"
    ),
    ("fct_staging_dependent_on_staging", "stg_bronze__quarantined_lines"): (
        "the quarantine is the checked log's other filter: the lines that failed a rule"
    ),
    ("fct_source_fanout", "bronze.sales_transactions"): (
        "Bronze's reconciliation counts every Bronze row, copies and poison events included, "
        "which the checked log has already reduced to one row an event"
    ),
    ("fct_direct_join_to_source", "int_bronze_reconciliation"): (
        "the reconciliation is the books of Bronze itself: it must read the raw rows"
    ),
    **{
        ("fct_model_naming_conventions", name): (
            "a metric mart: an aggregate at its own grain (day x country, month x product, "
            "customer), neither a fact nor a dimension; Power BI's kit and the semantic layer "
            "know it by this name"
        )
        for name in ("metrics_daily_country", "metrics_product_monthly", "metrics_customer_rfm")
    },
    ("fct_exposure_parents_materializations", "analytics_api"): (
        "the order trace reads fct_order_line_status, a view: a line's status is that of the "
        "Gold build it is read with, never a copy a run behind"
    ),
}


@pytest.fixture(scope="module")
def manifest(tmp_path_factory) -> dict:
    target = metric_views.parse_project(PROJECT_DIR, tmp_path_factory.mktemp("governance-dbt"))
    return json.loads((Path(target) / "manifest.json").read_text())


def models(manifest: dict) -> dict[str, dict]:
    return {
        node["unique_id"]: node
        for node in manifest["nodes"].values()
        if node["resource_type"] == "model" and node["config"].get("enabled", True)
    }


def kind(name: str) -> str:
    return name.split("_", 1)[0]


def breaches(manifest: dict) -> set[tuple[str, str]]:
    found: set[tuple[str, str]] = set()
    nodes = models(manifest)
    sources = manifest["sources"]
    for node in nodes.values():
        parents = node["depends_on"]["nodes"]
        parent_models = [nodes[p]["name"] for p in parents if p in nodes]
        parent_sources = [p for p in parents if p in sources]
        if kind(node["name"]) == "stg" and any(kind(p) == "stg" for p in parent_models):
            found.add(("fct_staging_dependent_on_staging", node["name"]))
        if kind(node["name"]) != "stg" and parent_sources:
            found.add(("fct_direct_join_to_source", node["name"]))
        folder = Path(node["original_file_path"]).parts[1]  # models/<folder>/...
        if kind(node["name"]) not in PREFIXES.get(folder, ()):
            found.add(("fct_model_naming_conventions", node["name"]))
        if folder == "staging" and len(Path(node["original_file_path"]).parts) < 4:
            found.add(("fct_model_directories", node["name"]))  # not in a folder named for its source
        tests = {
            test["test_metadata"]["name"]
            for test in manifest["nodes"].values()
            if test["resource_type"] == "test"
            and "test_metadata" in test
            and test["attached_node"] == node["unique_id"]
        }
        by_column: dict[str, set[str]] = {}
        for test in manifest["nodes"].values():
            if test["resource_type"] == "test" and test.get("attached_node") == node["unique_id"]:
                by_column.setdefault(test.get("column_name") or "", set()).add(
                    test.get("test_metadata", {}).get("name", "")
                )
        if not any(
            required <= tested for required in PRIMARY_KEY_TESTS for tested in [tests, *by_column.values()]
        ):
            found.add(("fct_missing_primary_key_tests", node["name"]))
    for source_id in sources:
        children = [c for c in manifest["child_map"].get(source_id, []) if c in nodes]
        if len(children) > 1:
            source = sources[source_id]
            found.add(("fct_source_fanout", f"{source['source_name']}.{source['name']}"))
    for exposure in manifest["exposures"].values():
        parents = [nodes[p] for p in exposure["depends_on"]["nodes"] if p in nodes]
        if any(p["access"] != "public" for p in parents):
            found.add(("fct_exposures_dependent_on_private_models", exposure["name"]))
        if any(p["config"]["materialized"] == "view" or kind(p["name"]) in ("stg", "int") for p in parents):
            found.add(("fct_exposure_parents_materializations", exposure["name"]))
    return found


def test_only_the_recorded_exceptions_break_the_rules(manifest):
    found = breaches(manifest)
    assert sorted(found - set(EXCEPTIONS)) == [], "a new breach of dbt's best-practice rules"
    assert sorted(set(EXCEPTIONS) - found) == [], "an exception no longer needed: remove it"


def test_gold_is_public_in_the_orders_squad_group(manifest):
    gold = [n for n in models(manifest).values() if n["config"]["schema"] == "gold"]
    assert len(gold) >= 8
    assert {(n["access"], n["config"]["group"]) for n in gold} == {("public", "orders_squad")}
    silver = [n for n in models(manifest).values() if n["config"]["schema"] == "silver"]
    assert {n["access"] for n in silver} == {"protected"}


def test_the_rules_see_a_breach():
    staged = {
        "nodes": {
            "model.p.stg_a": {
                "unique_id": "model.p.stg_a",
                "resource_type": "model",
                "name": "stg_a",
                "original_file_path": "models/staging/stg_a.sql",
                "config": {"materialized": "view"},
                "depends_on": {"nodes": ["model.p.stg_b"]},
                "access": "protected",
            },
            "model.p.stg_b": {
                "unique_id": "model.p.stg_b",
                "resource_type": "model",
                "name": "stg_b",
                "original_file_path": "models/staging/src/stg_b.sql",
                "config": {"materialized": "view"},
                "depends_on": {"nodes": []},
                "access": "protected",
            },
        },
        "sources": {},
        "child_map": {},
        "exposures": {},
    }
    assert breaches(staged) == {
        ("fct_staging_dependent_on_staging", "stg_a"),
        ("fct_model_directories", "stg_a"),
        ("fct_missing_primary_key_tests", "stg_a"),
        ("fct_missing_primary_key_tests", "stg_b"),
    }
