"""The Databricks Asset Bundle (databricks.yml + resources/*.yml), checked offline.

The Databricks CLI cannot be installed here, so `databricks bundle validate` is not run: these
tests check what can be checked without a workspace. The bundle parses; every include matches
files; every file, entry point and directory it names exists (and the entry point imports and
has its function); every `${var.x}` is declared; every dbt command names a target of
profiles.yml and selects models (dbt itself evaluates the selectors, on that target, with the
environment the job cluster sets); the cadences are the documented ones; secrets appear only
as secret references. Jobs are checked as the CLI resolves them: a field whose whole value is
`${var.x}` of a complex variable holds that variable's default.
"""

from __future__ import annotations

import copy
import importlib
import json
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
BUNDLE_FILE = REPO / "databricks.yml"
REFERENCE = re.compile(r"\$\{([^}]+)\}")
SECRET_REFERENCE = re.compile(r"^\{\{secrets/([^/{}]+|\$\{var\.\w+\})/([^/{}]+|\$\{var\.\w+\})\}\}$")
SECRET_LOOKING_NAMES = ("TOKEN", "CONNECTION_STRING", "SECRET", "PASSWORD", "KEY")
KNOWN_NAMESPACES = {"var", "bundle", "workspace", "resources"}
TASK_TYPES = {"spark_python_task", "dbt_task"}

SILVER_CRON = "0 0/5 * * * ?"
GOLD_CRON = "0 0/15 * * * ?"


# --- loading -----------------------------------------------------------------------------------


def load_bundle() -> dict:
    root = yaml.safe_load(BUNDLE_FILE.read_text())
    included: dict[Path, dict] = {}
    matches: dict[str, list[Path]] = {}
    for pattern in root.get("include", []):
        matches[pattern] = sorted(REPO.glob(pattern))
        for path in matches[pattern]:
            included[path] = yaml.safe_load(path.read_text()) or {}
    return {"root": root, "included": included, "matches": matches}


@pytest.fixture(scope="module")
def bundle() -> dict:
    return load_bundle()


def documents(bundle: dict) -> dict[Path, dict]:
    return {BUNDLE_FILE: bundle["root"], **bundle["included"]}


def complex_variables(bundle: dict) -> dict[str, object]:
    """The default of every complex variable (`type: complex`), by name."""
    return {
        name: spec["default"]
        for name, spec in bundle["root"].get("variables", {}).items()
        if spec.get("type") == "complex"
    }


def resolve_complex(node, values: dict[str, object]):
    """`node` with every value that is exactly `${var.x}` of a complex variable replaced by the
    variable's value, as the CLI does (again inside it: a default may name another one)."""
    if isinstance(node, str):
        match = REFERENCE.fullmatch(node)
        name = match.group(1).removeprefix("var.") if match and match.group(1).startswith("var.") else None
        if name in values:
            return resolve_complex(copy.deepcopy(values[name]), values)
        return node
    if isinstance(node, dict):
        return {key: resolve_complex(value, values) for key, value in node.items()}
    if isinstance(node, list):
        return [resolve_complex(value, values) for value in node]
    return node


def jobs(bundle: dict) -> dict[str, tuple[Path, dict]]:
    """Every job of the bundle, with the file that defines it (paths are relative to that file),
    complex variables resolved."""
    found: dict[str, tuple[Path, dict]] = {}
    values = complex_variables(bundle)
    for path, doc in documents(bundle).items():
        for key, job in ((doc.get("resources") or {}).get("jobs") or {}).items():
            assert key not in found, f"job {key} defined twice ({found[key][0]} and {path})"
            found[key] = (path, resolve_complex(job, values))
    return found


def tasks(bundle: dict):
    for key, (path, job) in jobs(bundle).items():
        for task in job.get("tasks", []):
            yield key, path, job, task


def strings(node):
    if isinstance(node, str):
        yield node
    elif isinstance(node, dict):
        for key, value in node.items():
            yield from strings(key)
            yield from strings(value)
    elif isinstance(node, list):
        for value in node:
            yield from strings(value)


def job_cluster(job: dict, task: dict) -> dict:
    (cluster,) = [c for c in job.get("job_clusters", []) if c["job_cluster_key"] == task["job_cluster_key"]]
    return cluster["new_cluster"]


def dbt_commands(bundle: dict):
    """(job key, job, task, argv) for every dbt command of every dbt task."""
    for key, _, job, task in tasks(bundle):
        for command in (task.get("dbt_task") or {}).get("commands", []):
            yield key, job, task, shlex.split(command)


def option(argv: list[str], name: str) -> list[str]:
    """The values after `name` up to the next option (dbt's --select takes several)."""
    if name not in argv:
        return []
    values = []
    for arg in argv[argv.index(name) + 1 :]:
        if arg.startswith("-"):
            break
        values.append(arg)
    return values


def job_selecting(bundle: dict, selector: str) -> dict:
    (job,) = {
        id(job): job for _, job, _, argv in dbt_commands(bundle) if selector in option(argv, "--select")
    }.values()
    return job


def profiles() -> dict:
    return yaml.safe_load((REPO / "profiles.yml").read_text())


def lock_version(package: str) -> str:
    for line in (REPO / "requirements.lock").read_text().splitlines():
        name, _, version = line.partition("==")
        if name.strip().lower() == package:
            return version.strip()
    raise AssertionError(f"{package} is not pinned in requirements.lock")


# --- structure ---------------------------------------------------------------------------------


def test_bundle_has_a_name_and_every_include_matches_files(bundle):
    assert bundle["root"]["bundle"]["name"]
    assert bundle["matches"], "databricks.yml includes no resource files"
    for pattern, paths in bundle["matches"].items():
        assert paths, f"include {pattern!r} matches no file"


def test_every_resource_file_is_included(bundle):
    on_disk = set((REPO / "resources").glob("*.yml")) | set((REPO / "resources").glob("*.yaml"))
    assert on_disk <= set(bundle["included"]), f"not included: {sorted(on_disk - set(bundle['included']))}"


def test_dev_and_prod_targets_exist_and_prod_has_its_own_catalog(bundle):
    targets = bundle["root"]["targets"]
    assert targets["dev"]["mode"] == "development"
    assert targets["dev"].get("default") is True
    assert targets["prod"]["mode"] == "production"
    prod_catalog = targets["prod"]["variables"]["catalog"]
    dev_catalog = (
        targets["dev"].get("variables", {}).get("catalog", bundle["root"]["variables"]["catalog"]["default"])
    )
    assert prod_catalog and prod_catalog != dev_catalog


def test_every_variable_used_is_declared_and_every_declared_one_is_used(bundle):
    declared = set(bundle["root"].get("variables", {}))
    used: dict[str, set[str]] = {}
    for path, doc in documents(bundle).items():
        for text in strings(doc):
            for ref in REFERENCE.findall(text):
                if ref.startswith("var."):
                    used.setdefault(ref.split(".")[1], set()).add(path.name)
    undeclared = {name: files for name, files in used.items() if name not in declared}
    assert not undeclared, f"used but not declared: {undeclared}"
    for name, target in bundle["root"]["targets"].items():
        assert set(target.get("variables", {})) <= declared, f"target {name} sets undeclared variables"
    assert declared <= set(used), f"declared but never used: {sorted(declared - set(used))}"


def test_complex_variables_have_a_default_and_are_used_as_whole_values(bundle):
    """The CLI substitutes a complex variable only as a field's whole value (or one of its
    fields, `${var.x.field}`), never inside a string; and it cannot be set with --var."""
    values = complex_variables(bundle)
    for name, spec in bundle["root"].get("variables", {}).items():
        if spec.get("type") == "complex":
            assert "default" in spec, f"complex variable {name} has no default"
    for path, doc in documents(bundle).items():
        for text in strings(doc):
            for ref in REFERENCE.findall(text):
                if ref.startswith("var.") and ref[4:] in values:
                    assert text == f"${{{ref}}}", f"{path.name}: complex ${{{ref}}} inside {text!r}"


def test_the_dbt_jobs_share_one_cluster_and_one_set_of_libraries(bundle):
    """One definition of the dbt jobs' cluster and libraries: a change to them is made once."""
    raw_jobs = {
        key: job
        for doc in documents(bundle).values()
        for key, job in ((doc.get("resources") or {}).get("jobs") or {}).items()
    }
    dbt_jobs = {key for key, _, _, task in tasks(bundle) if "dbt_task" in task}
    assert len(dbt_jobs) >= 3
    for key in dbt_jobs:
        job = raw_jobs[key]
        assert {c["new_cluster"] for c in job["job_clusters"]} == {"${var.dbt_cluster}"}, key
        assert {t["libraries"] for t in job["tasks"]} == {"${var.dbt_libraries}"}, key


def test_references_use_known_namespaces(bundle):
    for path, doc in documents(bundle).items():
        for text in strings(doc):
            for ref in REFERENCE.findall(text):
                assert ref.split(".")[0] in KNOWN_NAMESPACES, f"{path.name}: unknown reference ${{{ref}}}"


def test_every_task_is_of_a_kind_these_tests_check(bundle):
    for key, _, _, task in tasks(bundle):
        kinds = TASK_TYPES & set(task)
        assert len(kinds) == 1, f"job {key}, task {task['task_key']}: task type not checked here: {set(task)}"


def test_jobs_use_only_fields_and_values_of_the_bundle_schema(bundle):
    """databricks-bundles (Databricks' Python models of bundle resources) rejects an unknown
    field or enum value at any depth: a typo in a job would fail here, not at deploy time."""
    from databricks.bundles.jobs import Job

    for _, job in jobs(bundle).values():
        Job.from_dict(job)  # raises ValueError naming the field or value


# --- schedules ---------------------------------------------------------------------------------


def test_bronze_runs_continuously(bundle):
    (bronze,) = [job for _, _, job, task in tasks(bundle) if "spark_python_task" in task]
    assert bronze["continuous"]["pause_status"] == "UNPAUSED"
    assert "schedule" not in bronze and "trigger" not in bronze
    assert bronze.get("max_concurrent_runs", 1) == 1


@pytest.mark.parametrize(("selector", "cron"), [("tag:silver", SILVER_CRON), ("tag:gold", GOLD_CRON)])
def test_silver_every_5_minutes_and_gold_every_15(bundle, selector, cron):
    job = job_selecting(bundle, selector)
    assert job["schedule"] == {
        "quartz_cron_expression": cron,
        "timezone_id": "UTC",
        "pause_status": "UNPAUSED",
    }
    assert job["max_concurrent_runs"] == 1
    assert "continuous" not in job


# --- files and entry points --------------------------------------------------------------------


def test_python_files_exist_and_their_entry_point_imports(bundle):
    checked = 0
    for key, path, _, task in tasks(bundle):
        spec = task.get("spark_python_task")
        if not spec:
            continue
        file = (path.parent / spec["python_file"]).resolve()
        assert file.is_file(), f"job {key}: {spec['python_file']} does not exist"
        assert REPO in file.parents, f"job {key}: {file} is outside the bundle"
        module = importlib.import_module(".".join(file.relative_to(REPO).with_suffix("").parts))
        assert callable(getattr(module, "main", None)), f"{file} has no main()"
        # The task's parameters are ones the entry point accepts.
        module.build_parser().parse_args(spec.get("parameters", []))
        checked += 1
    assert checked


def test_dbt_project_and_profiles_directories_exist(bundle):
    checked = 0
    for key, path, _, task in tasks(bundle):
        spec = task.get("dbt_task")
        if not spec:
            continue
        project = (path.parent / spec["project_directory"]).resolve()
        assert (project / "dbt_project.yml").is_file(), f"job {key}: no dbt_project.yml in {project}"
        assert (project / spec["profiles_directory"] / "profiles.yml").is_file()
        # Jobs API: profiles_directory only without warehouse_id (which makes Databricks
        # generate a profile of its own, and --target would no longer name ours).
        assert "warehouse_id" not in spec, (
            f"job {key}: warehouse_id and profiles_directory exclude each other"
        )
        checked += 1
    assert checked


def test_dbt_commands_name_a_target_of_profiles_yml(bundle):
    outputs = profiles()["orders_lakehouse"]["outputs"]
    commands = list(dbt_commands(bundle))
    assert commands
    for key, _, _, argv in commands:
        assert argv[0] == "dbt", f"job {key}: {argv}"
        assert argv[1] != "deps", "this project uses no dbt packages"
        (target,) = option(argv, "--target")
        assert target in outputs, f"job {key}: target {target!r} is not in profiles.yml"
        assert outputs[target]["type"] == "databricks"


def test_dbt_tasks_install_the_locked_dbt_versions(bundle):
    for key, _, _, task in tasks(bundle):
        if "dbt_task" not in task:
            continue
        packages = {lib["pypi"]["package"] for lib in task["libraries"]}
        for package in ("dbt-core", "dbt-databricks"):
            assert f"{package}=={lock_version(package)}" in packages, f"job {key}: {package} not pinned"


def test_the_dbt_cluster_sets_every_variable_the_target_requires(bundle):
    """env_var('X') without a default in the databricks target must come from the cluster."""
    for key, job, task, argv in dbt_commands(bundle):
        (target,) = option(argv, "--target")
        target_text = "\n".join(strings(profiles()["orders_lakehouse"]["outputs"][target]))
        required = set(re.findall(r"env_var\(\s*['\"](\w+)['\"]\s*\)", target_text))
        env = job_cluster(job, task).get("spark_env_vars", {})
        assert required <= set(env), f"job {key}: cluster does not set {sorted(required - set(env))}"
        assert env.get("DBT_TARGET") == target, "DBT_TARGET would send a command without --target elsewhere"
        assert env.get("DBT_BI_GROUP") == "${var.bi_group}", "Gold's grants name the bundle's BI group"


def test_secrets_appear_only_as_secret_references(bundle):
    for key, _, job, task in tasks(bundle):
        env = job_cluster(job, task).get("spark_env_vars", {})
        for name, value in env.items():
            if any(word in name for word in SECRET_LOOKING_NAMES):
                assert SECRET_REFERENCE.match(str(value)), (
                    f"job {key}: {name} must be a {{{{secrets/...}}}} reference"
                )
    for path, doc in documents(bundle).items():
        for text in strings(doc):
            assert "SharedAccessKey=" not in text and not re.search(r"\bdapi[0-9a-f]{20,}", text), path


def test_bronze_writes_the_table_dbt_reads_as_its_source(bundle):
    (env,) = [
        job_cluster(job, task)["spark_env_vars"]
        for _, _, job, task in tasks(bundle)
        if "spark_python_task" in task
    ]
    sources = yaml.safe_load((REPO / "models/staging/bronze/_bronze__sources.yml").read_text())["sources"]
    (bronze,) = [s for s in sources if s["name"] == "bronze"]
    # the same schema, behind the same prefix: var.schema_prefix reaches dbt as DBT_SCHEMA_PREFIX
    table = "sales_transactions"
    assert env["BRONZE_TABLE_PATH"] == "${var.catalog}.${var.schema_prefix}bronze." + table
    assert bronze["schema"] == "{{ env_var('DBT_SCHEMA_PREFIX', '') | trim }}bronze"
    assert bundle["root"]["variables"]["dbt_cluster"]["default"]["spark_env_vars"]["DBT_SCHEMA_PREFIX"] == (
        "${var.schema_prefix}"
    )
    assert table in {t["name"] for t in bronze["tables"]}
    assert env["BRONZE_CHECKPOINT_PATH"].startswith("/Volumes/${var.catalog}/${var.schema_prefix}bronze/")
    assert env["KAFKA_BOOTSTRAP_SERVERS"].endswith(".servicebus.windows.net:9093")


# --- the selectors, evaluated by dbt -----------------------------------------------------------

LIST_SELECTIONS = """
import json, sys
from dbt.cli.main import dbtRunner

target_path, log_path, target, selectors = sys.argv[1], sys.argv[2], sys.argv[3], json.loads(sys.argv[4])
common = ["--profiles-dir", ".", "--project-dir", ".", "--target", target,
          "--target-path", target_path, "--log-path", log_path, "--quiet"]
parsed = dbtRunner().invoke(["parse", *common])
if not parsed.success:
    raise SystemExit(f"dbt parse --target {target} failed: {parsed.exception}")
runner = dbtRunner(manifest=parsed.result)
found = {}
for selector in selectors:
    listed = runner.invoke(["ls", *common, "--select", *selector.split(), "--output", "json",
                            "--output-keys", "unique_id"])
    if not listed.success:
        raise SystemExit(f"dbt ls --select {selector} failed: {listed.exception}")
    found[selector] = [json.loads(line)["unique_id"] for line in listed.result]
listed = runner.invoke(["ls", *common, "--resource-type", "model", "--resource-type", "snapshot",
                        "--resource-type", "seed", "--output", "json", "--output-keys", "unique_id"])
if not listed.success:
    raise SystemExit(f"dbt ls failed: {listed.exception}")
found["__built__"] = [json.loads(line)["unique_id"] for line in listed.result]
print("SELECTIONS " + json.dumps(found))
"""


def placeholder_env(bundle: dict, env: dict[str, str]) -> dict[str, str]:
    """The cluster's environment with bundle references replaced by defaults or placeholders."""
    variables = bundle["root"]["variables"]

    def resolve(value: str) -> str:
        value = re.sub(r"\{\{secrets/[^}]*\}\}", "placeholder-secret", str(value))

        def one(match: re.Match) -> str:
            ref = match.group(1)
            if ref.startswith("var."):
                return str(variables[ref[4:]].get("default", f"placeholder-{ref[4:]}"))
            if ref == "workspace.host":
                return "https://adb-0000000000000000.0.azuredatabricks.net"
            return f"placeholder-{ref}"

        return REFERENCE.sub(one, value)

    return {name: resolve(value) for name, value in env.items()}


def test_dbt_selectors_select_models_on_the_jobs_target_and_environment(bundle, tmp_path):
    """One dbt process parses the project on the jobs' target, with only the environment the
    job cluster sets (placeholders for workspace values and secrets), then lists every
    selector of every command, and every term of it on its own."""
    by_target: dict[tuple[str, str], dict] = {}
    for key, job, task, argv in dbt_commands(bundle):
        (target,) = option(argv, "--target")
        terms = option(argv, "--select")
        assert terms, f"job {key}: dbt command without --select runs the whole project"
        env = placeholder_env(bundle, job_cluster(job, task).get("spark_env_vars", {}))
        entry = by_target.setdefault((target, json.dumps(env, sort_keys=True)), {"env": env, "selectors": {}})
        entry["selectors"][" ".join(terms)] = key
        for term in terms:
            entry["selectors"].setdefault(term, key)

    for (target, _), entry in by_target.items():
        env = {"PATH": os.environ["PATH"], "HOME": str(tmp_path), **entry["env"]}
        result = subprocess.run(
            [
                sys.executable,
                "-c",
                LIST_SELECTIONS,
                str(tmp_path / "target"),
                str(tmp_path / "logs"),
                target,
                json.dumps(sorted(entry["selectors"])),
            ],
            cwd=REPO,
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
        (line,) = [x for x in result.stdout.splitlines() if x.startswith("SELECTIONS ")]
        selections = json.loads(line.removeprefix("SELECTIONS "))
        for selector, key in entry["selectors"].items():
            assert selections[selector], f"job {key}: --select {selector} selects nothing on target {target}"
        for layer in ("tag:silver", "tag:gold"):
            models = [node for node in selections.get(layer, []) if node.startswith("model.")]
            assert models, f"{layer} selects no model"
        # Every model, snapshot and seed of the project is built by some job.
        selected = {
            node for selector, nodes in selections.items() if selector != "__built__" for node in nodes
        }
        left_out = sorted(set(selections["__built__"]) - selected)
        assert not left_out, f"built by no job on target {target}: {left_out}"
