"""The bundle as the real Databricks CLI resolves it (`databricks bundle validate -o json`
against the stand-in workspace of tests/bundle/standin.py): what a deploy would create."""

from __future__ import annotations

import shutil

import pytest
import yaml

from tests.bundle import check

pytestmark = pytest.mark.skipif(
    not check.CLI.exists() and shutil.which("go") is None,
    reason="the Databricks CLI is built with Go, and Go is missing (make check-bundle says what to install)",
)


@pytest.fixture(scope="module")
def dev() -> tuple[check.Validation, check.Validation]:
    return tuple(check.validate("dev", who) for who in check.DEVELOPERS)


@pytest.fixture(scope="module")
def prod() -> check.Validation:
    return check.validate(
        "prod", check.PROD_PRINCIPAL, extra_vars={"prod_service_principal": check.PROD_PRINCIPAL.user_name}
    )


def test_every_target_validates_without_a_warning(dev, prod):
    for validation in (*dev, prod):
        assert validation.returncode == 0, validation.messages
        assert check.problems(validation) == [], validation.target


def test_dbt_on_the_job_cluster_connects_to_the_workspace(dev, prod):
    for validation in (*dev, prod):
        host = validation.env("silver_dbt", "dbt_cli")["DATABRICKS_HOST"]
        assert host.startswith("http://127.0.0.1:"), host  # the workspace the CLI was pointed at


def test_prod_runs_as_its_service_principal_from_its_home_folder(prod):
    principal = check.PROD_PRINCIPAL.user_name
    assert prod.config["run_as"] == {"service_principal_name": principal}
    assert (
        prod.config["workspace"]["root_path"] == f"/Workspace/Users/{principal}/.bundle/orders_lakehouse/prod"
    )
    levels = {
        (p["level"], p.get("group_name") or p.get("service_principal_name"))
        for p in prod.config["permissions"]
    }
    assert levels == {("CAN_MANAGE", principal), ("CAN_VIEW", "orders_ops")}
    # every job is created with those permissions
    for job in prod.config["resources"]["jobs"].values():
        assert {"level": "CAN_VIEW", "group_name": "orders_ops"} in job["permissions"]


def test_prod_without_its_service_principal_is_refused():
    refused = check.validate("prod", check.PROD_PRINCIPAL)
    assert refused.returncode != 0
    assert "run_as" in refused.messages


def test_two_developers_have_their_own_bronze_and_schemas(dev):
    ada, alan = dev
    assert check.isolation_problems(ada, alan) == []
    table, checkpoint = check.bronze_locations(ada)
    assert table == "orders_dev.ada_lovelace_bronze.sales_transactions"
    assert checkpoint.startswith("/Volumes/orders_dev/ada_lovelace_bronze/")
    assert ada.env("silver_dbt", "dbt_cli")["DBT_SCHEMA_PREFIX"] == "ada_lovelace_"


def test_prod_keeps_the_plain_schema_names(prod):
    table, checkpoint = check.bronze_locations(prod)
    assert table == "orders.bronze.sales_transactions"
    assert checkpoint == "/Volumes/orders/bronze/checkpoints/bronze_sales_transactions"


def test_the_check_finds_a_bundle_that_every_user_can_edit(tmp_path):
    """The check can fail: the same bundle with prod's files in /Workspace/Shared."""
    shutil.copytree(check.REPO / "resources", tmp_path / "resources")
    shutil.copytree(check.REPO / "ingest" / "databricks", tmp_path / "ingest" / "databricks")
    root = yaml.safe_load((check.REPO / "databricks.yml").read_text())
    root["targets"]["prod"]["workspace"]["root_path"] = (
        "/Workspace/Shared/.bundle/${bundle.name}/${bundle.target}"
    )
    del root["targets"]["prod"]["permissions"]
    (tmp_path / "databricks.yml").write_text(yaml.safe_dump(root, sort_keys=False))
    found = check.problems(
        check.validate(
            "prod", check.PROD_PRINCIPAL, tmp_path, {"prod_service_principal": check.PROD_PRINCIPAL.user_name}
        )
    )
    assert any("writable by all workspace users" in p for p in found), found
    assert any("editable by every workspace user" in p for p in found), found
