"""`make check-bundle`: the real Databricks CLI validates every target of the bundle against
a local stand-in workspace (tests/bundle/standin.py), and what the CLI resolved is checked.

What the CLI itself decides here (not our reading of it): variable resolution, paths, the
target modes' rules, run_as and permissions. The CLI is the one set-up builds from the Go
module proxy at the version pinned in tools/databricks-cli/go.mod (scripts/databricks_cli.sh).

    python -m tests.bundle.check            # every target, one line each; exit 1 on a problem
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import yaml

from tests.bundle.standin import Caller, StandIn

REPO = Path(__file__).resolve().parents[2]
CLI = REPO / ".tools" / "bin" / "databricks"
BUILD = REPO / "scripts" / "databricks_cli.sh"

DEVELOPERS = (Caller("ada.lovelace@example.com", "Ada"), Caller("alan.turing@example.com", "Alan"))
PROD_PRINCIPAL = Caller(
    "6f0e2a4c-1b3d-4e5f-8a9b-0c1d2e3f4a5b", "orders-lakehouse-prod", service_principal=True
)
VARS = {"warehouse_id": "0123456789abcdef", "eventhubs_namespace": "orders-ns"}


class CliMissing(RuntimeError):
    """The CLI is not built and cannot be: the message says what to install."""


def cli() -> Path:
    """The pinned CLI, built first if Go is here; CliMissing otherwise."""
    if not CLI.exists():
        if shutil.which("go") is None:
            raise CliMissing(
                "check-bundle runs the real Databricks CLI, built from the Go module proxy, and Go is "
                "missing: install Go 1.25 or newer (Debian/Ubuntu: sudo apt-get install golang-go, if "
                "your release has 1.25+; otherwise https://go.dev/doc/install) and run again."
            )
        subprocess.run(["bash", str(BUILD)], check=True)
    return CLI


@dataclass(frozen=True)
class Validation:
    target: str
    caller: Caller
    returncode: int
    config: dict
    messages: str

    def env(self, job: str, cluster: str) -> dict:
        (found,) = [
            c["new_cluster"]["spark_env_vars"]
            for c in self.config["resources"]["jobs"][job]["job_clusters"]
            if c["job_cluster_key"] == cluster
        ]
        return found


def validate(
    target: str, caller: Caller, bundle_root: Path = REPO, extra_vars: dict | None = None
) -> Validation:
    """`databricks bundle validate -t target -o json` as `caller`, against a fresh stand-in."""
    with StandIn(caller) as workspace, tempfile.TemporaryDirectory() as home:
        env = {
            "PATH": os.environ.get("PATH", ""),
            "HOME": home,  # no ~/.databrickscfg: the host and token below are all it knows
            "DATABRICKS_HOST": workspace.url,
            "DATABRICKS_TOKEN": "dapi-stand-in-token",
            "DATABRICKS_CLI_DO_NOT_TRACK": "1",
        }
        values = {**VARS, "workspace_host": workspace.url, **(extra_vars or {})}
        declared = yaml.safe_load((bundle_root / "databricks.yml").read_text()).get("variables", {})
        values = {name: value for name, value in values.items() if name in declared}
        args = [str(cli()), "bundle", "validate", "-t", target, "-o", "json"]
        for name, value in values.items():
            args += ["--var", f"{name}={value}"]
        done = subprocess.run(args, cwd=bundle_root, env=env, capture_output=True, text=True, timeout=300)
        config = json.loads(done.stdout) if done.stdout.strip().startswith("{") else {}
        messages = done.stderr
        if workspace.workspace.unexpected:
            messages += f"\nstand-in: the CLI asked for {workspace.workspace.unexpected}"
        return Validation(target, caller, done.returncode, config, messages.strip())


def problems(v: Validation) -> list[str]:
    """What is wrong with one target's validation; empty when it is deployable as resolved."""
    found: list[str] = []
    if v.returncode != 0:
        return [f"validate exited {v.returncode}: {v.messages[-1500:]}"]
    for line in v.messages.splitlines():
        if line.startswith(("Warning:", "Error:", "Recommendation:")) or "stand-in:" in line:
            found.append(line)
    jobs = v.config["resources"]["jobs"]
    for name, job in jobs.items():
        for cluster in job.get("job_clusters", []):
            for key, value in cluster["new_cluster"].get("spark_env_vars", {}).items():
                if value in ("", None) and key != "DBT_SCHEMA_PREFIX":
                    found.append(f"{name}/{cluster['job_cluster_key']}: {key} resolves to nothing")
    dbt_env = v.env("silver_dbt", "dbt_cli")
    if dbt_env.get("DATABRICKS_HOST") != v.config["variables"].get("workspace_host", {}).get("value", "?"):
        found.append(f"dbt's DATABRICKS_HOST is {dbt_env.get('DATABRICKS_HOST')!r}, not the workspace")
    root = v.config["workspace"]["root_path"]
    if root.startswith("/Workspace/Shared"):
        found.append(f"root_path {root} is editable by every workspace user")
    if v.target == "prod":
        principal = v.config.get("run_as", {}).get("service_principal_name")
        if not principal:
            found.append("prod declares no run_as service principal")
        elif not root.startswith(f"/Workspace/Users/{principal}/"):
            found.append(f"prod's root_path {root} is not in the home folder of {principal}")
        managers = [p for p in v.config.get("permissions", []) if p["level"] == "CAN_MANAGE"]
        if any("group_name" in p or "user_name" in p for p in managers) or not managers:
            found.append(f"prod's CAN_MANAGE should be the service principal only: {managers}")
    return found


def bronze_locations(v: Validation) -> tuple[str, str]:
    env = v.env("bronze_ingest", "bronze_stream")
    return env["BRONZE_TABLE_PATH"], env["BRONZE_CHECKPOINT_PATH"]


def isolation_problems(first: Validation, second: Validation) -> list[str]:
    """Two developers' dev deployments must not share Bronze's table, checkpoint or dbt schemas."""
    found = []
    for what, a, b in zip(
        ("table", "checkpoint"), bronze_locations(first), bronze_locations(second), strict=True
    ):
        if a == b:
            found.append(
                f"dev: {first.caller.user_name} and {second.caller.user_name} share Bronze's {what} {a}"
            )
    prefixes = [v.env("silver_dbt", "dbt_cli").get("DBT_SCHEMA_PREFIX", "") for v in (first, second)]
    if prefixes[0] == prefixes[1]:
        found.append(f"dev: both developers' dbt schemas carry the prefix {prefixes[0]!r}")
    return found


def check(bundle_root: Path = REPO) -> dict[str, list[str]]:
    """Every target validated by the CLI; the problems of each (empty lists when all is well)."""
    prod_vars = {"prod_service_principal": PROD_PRINCIPAL.user_name}
    dev = [validate("dev", who, bundle_root) for who in DEVELOPERS]
    prod = validate("prod", PROD_PRINCIPAL, bundle_root, prod_vars)
    return {
        "dev": problems(dev[0]) + problems(dev[1]) + isolation_problems(*dev),
        "prod": problems(prod),
    }


def main() -> int:
    try:
        version = subprocess.run([str(cli()), "--version"], capture_output=True, text=True, check=True)
    except CliMissing as missing:
        print(f"check-bundle: {missing}", file=sys.stderr)
        return 2
    print(f"check-bundle: {version.stdout.strip()}, against a stand-in workspace on 127.0.0.1")
    failed = False
    for target, found in check().items():
        print(f"  {target:<5} {'ok' if not found else 'FAILED'}")
        for problem in found:
            print(f"        {problem}")
        failed |= bool(found)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
