"""The production target as dbt sees it: `dbt parse --target databricks` with placeholder
credentials and no warehouse, then every layer's catalog, schema, grants, clustering, merge
settings and contracts read back from the manifest; and the Unity Catalog metric views, which
only this target builds, compiled offline (`dbt compile --no-populate-cache`)."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest
import yaml

from ingest.local.dbt import dbt_executable
from ingest.paths import PROJECT_DIR

CATALOG = "orders_placeholder"
BI_GROUP = "bi_placeholder"
LAYER_SCHEMAS = {"staging": "silver", "intermediate": "silver", "marts": "gold"}


@pytest.fixture(scope="module")
def target_path(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("databricks-target")


def databricks_env(target_path: Path) -> dict[str, str]:
    return {
        **os.environ,
        "DATABRICKS_HOST": "adb-0000000000000000.0.azuredatabricks.net",
        "DATABRICKS_HTTP_PATH": "/sql/1.0/warehouses/0000000000000000",
        "DATABRICKS_TOKEN": "placeholder-not-a-token",
        "DATABRICKS_CATALOG": CATALOG,
        "DBT_BI_GROUP": BI_GROUP,
        "LAKEHOUSE_DATA_DIR": str(target_path),
    }


@pytest.fixture(scope="module")
def manifest(target_path) -> dict:
    completed = subprocess.run(
        [dbt_executable(), "parse", "--target", "databricks", "--profiles-dir", str(PROJECT_DIR),
         "--target-path", str(target_path), "--no-partial-parse"],
        cwd=PROJECT_DIR, env=databricks_env(target_path), capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert completed.returncode == 0, completed.stdout[-2000:]
    return json.loads((target_path / "manifest.json").read_text())


def nodes(manifest: dict, resource_type: str) -> list[dict]:
    return [node for node in manifest["nodes"].values() if node["resource_type"] == resource_type]


def layer(node: dict) -> str:
    return node["original_file_path"].split("/")[1]


def test_bronze_is_read_from_the_bronze_schema_of_the_catalog(manifest):
    (source,) = manifest["sources"].values()
    assert (source["database"], source["schema"], source["name"]) == (CATALOG, "bronze", "sales_transactions")


def test_each_layer_lands_in_its_schema_of_the_catalog(manifest):
    for model in nodes(manifest, "model"):
        assert (model["database"], model["schema"]) == (CATALOG, LAYER_SCHEMAS[layer(model)]), model["name"]
    assert {(seed["database"], seed["schema"]) for seed in nodes(manifest, "seed")} == {
        (CATALOG, "reference")
    }
    assert {(snap["database"], snap["schema"]) for snap in nodes(manifest, "snapshot")} == {(CATALOG, "gold")}


def test_the_bi_group_reads_gold_and_nothing_else(manifest):
    for node in nodes(manifest, "model") + nodes(manifest, "snapshot") + nodes(manifest, "seed"):
        expected = {"select": [BI_GROUP]} if node["schema"] == "gold" else {}
        assert node["config"]["grants"] == expected, node["name"]


def test_docs_are_persisted_to_the_catalog(manifest):
    for node in nodes(manifest, "model") + nodes(manifest, "snapshot") + nodes(manifest, "seed"):
        assert node["config"]["persist_docs"] == {"relation": True, "columns": True}, node["name"]


def test_gold_models_have_enforced_contracts(manifest):
    gold = [
        model
        for model in nodes(manifest, "model")
        if layer(model) == "marts" and model["config"]["materialized"] != "metric_view"
    ]
    assert len(gold) >= 8
    for model in gold:
        assert model["config"]["contract"]["enforced"], model["name"]
        assert all(column.get("data_type") for column in model["columns"].values()), model["name"]


def test_incremental_models_merge_or_replace_by_key_on_databricks(manifest):
    incremental = {
        m["name"]: m["config"]
        for m in nodes(manifest, "model")
        if m["config"]["materialized"] == "incremental"
    }
    assert {"stg_bronze__order_lines_checked", "int_order_lines_enriched", "fct_sales_lines"} <= set(
        incremental
    )
    for name, config in incremental.items():
        assert config["unique_key"], name
        assert config["incremental_strategy"] in {"merge", "delete+insert"}, name
    assert incremental["fct_sales_lines"]["incremental_strategy"] == "merge"
    (predicate,) = incremental["fct_sales_lines"]["incremental_predicates"]
    assert predicate.startswith("DBT_INTERNAL_DEST.bronze_ingested_at >= current_timestamp()")


def test_liquid_clustering_uses_columns_the_models_have(manifest):
    clustered = {m["name"]: m for m in nodes(manifest, "model") if m["config"].get("liquid_clustered_by")}
    assert {"fct_sales_lines", "metrics_daily_country", "stg_bronze__order_lines_checked"} <= set(clustered)
    for name, model in clustered.items():
        assert set(model["config"]["liquid_clustered_by"]) <= set(model["columns"]), name


def metric_view_models(manifest: dict) -> list[dict]:
    return [m for m in nodes(manifest, "model") if m["config"]["materialized"] == "metric_view"]


def test_the_metric_views_are_gold_views_over_gold_models(manifest):
    """One per fact of the semantic layer (tests/unit/test_metric_views.py checks their YAML)."""
    views = metric_view_models(manifest)
    assert [m["name"] for m in views] == ["sales_lines_metrics"]
    models = {m["unique_id"]: m for m in nodes(manifest, "model")}
    for view in views:
        assert (view["database"], view["schema"], view["tags"]) == (CATALOG, "gold", ["gold"])
        assert view["config"]["grants"] == {"select": [BI_GROUP]}
        upstream = [models[n] for n in view["depends_on"]["nodes"]]
        assert upstream and all(
            layer(m) == "marts" and m["config"]["materialized"] != "metric_view" for m in upstream
        )
        assert "model.orders_lakehouse.fct_sales_lines" in view["depends_on"]["nodes"]


def test_the_metric_views_compile_offline_to_their_yaml_over_the_catalog(manifest, target_path):
    """`dbt compile` without a warehouse: --no-populate-cache, or dbt lists the catalog's schemas
    first (and waits on the placeholder host)."""
    views = metric_view_models(manifest)
    completed = subprocess.run(
        [dbt_executable(), "compile", "--target", "databricks", "--profiles-dir", str(PROJECT_DIR),
         "--target-path", str(target_path), "--no-populate-cache", "--quiet",
         "--select", *[view["name"] for view in views]],
        cwd=PROJECT_DIR, env=databricks_env(target_path), capture_output=True, text=True, check=False,
        timeout=600,
    )  # fmt: skip
    assert completed.returncode == 0, (completed.stdout + completed.stderr)[-2000:]
    for view in views:
        compiled = target_path / "compiled" / "orders_lakehouse" / view["original_file_path"]
        body = yaml.safe_load(compiled.read_text())
        assert str(body["version"]) == "1.1"
        assert body["source"] == f"`{CATALOG}`.`gold`.`fct_sales_lines`"
        assert {j["source"] for j in body["joins"]} == {
            f"`{CATALOG}`.`gold`.`{name}`"
            for name in ("dim_product", "dim_customer", "metrics_customer_rfm", "dim_country", "dim_date")
        }
        assert body["measures"] and body["dimensions"]
