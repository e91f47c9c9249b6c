"""The production target as dbt sees it: `dbt parse --target databricks` with placeholder
credentials and no warehouse, then every layer's catalog, schema, grants, clustering, merge
settings and contracts read back from the manifest."""

from __future__ import annotations

import json
import os
import subprocess

import pytest

from ingest.dbt import dbt_executable
from ingest.paths import PROJECT_DIR

CATALOG = "orders_placeholder"
BI_GROUP = "bi_placeholder"
LAYER_SCHEMAS = {"staging": "silver", "intermediate": "silver", "marts": "gold"}


@pytest.fixture(scope="module")
def manifest(tmp_path_factory) -> dict:
    target_path = tmp_path_factory.mktemp("databricks-target")
    env = {
        **os.environ,
        "DATABRICKS_HOST": "adb-0000000000000000.0.azuredatabricks.net",
        "DATABRICKS_HTTP_PATH": "/sql/1.0/warehouses/0000000000000000",
        "DATABRICKS_TOKEN": "placeholder-not-a-token",
        "DATABRICKS_CATALOG": CATALOG,
        "DBT_BI_GROUP": BI_GROUP,
        "LAKEHOUSE_DATA_DIR": str(target_path),
    }
    completed = subprocess.run(
        [dbt_executable(), "parse", "--target", "databricks", "--profiles-dir", str(PROJECT_DIR),
         "--target-path", str(target_path), "--no-partial-parse"],
        cwd=PROJECT_DIR, env=env, capture_output=True, text=True, check=False,
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
    gold = [model for model in nodes(manifest, "model") if layer(model) == "marts"]
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
