"""The Databricks entry point runs as a job cluster would run it: a `spark_python_task` puts the
file's own folder first on sys.path, and only what the Runtime ships (or the task installs) can
be imported. tests/databricks_runtime/sitecustomize.py makes a local process behave so."""

from __future__ import annotations

import importlib.metadata
import os
import subprocess
import sys
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[2]
DATABRICKS_DIR = REPO / "ingest" / "databricks"
CLUSTER = REPO / "tests" / "databricks_runtime"
CONNECTION_STRING = (
    "Endpoint=sb://orders-ns.servicebus.windows.net/;SharedAccessKeyName=listen;SharedAccessKey=abc="
)


def bronze_task() -> dict:
    job = yaml.safe_load((REPO / "resources" / "bronze.job.yml").read_text())["resources"]["jobs"][
        "bronze_ingest"
    ]
    (task,) = job["tasks"]
    return task


def task_packages() -> dict[str, str]:
    """The Bronze task's PyPI libraries: name -> pinned version."""
    pins = [lib["pypi"]["package"] for lib in bronze_task().get("libraries", [])]
    return dict(pin.split("==") for pin in pins)


def import_names(packages) -> str:
    """The top-level import names the task's libraries install (as DATABRICKS_TASK_LIBRARIES)."""
    owners = importlib.metadata.packages_distributions()
    wanted = {name.lower().replace("_", "-") for name in packages}
    return ",".join(
        sorted(top for top, dists in owners.items() if {d.lower().replace("_", "-") for d in dists} & wanted)
    )


def guarded(code: str, tmp_path: Path, libraries: str) -> subprocess.CompletedProcess:
    env = {
        "PATH": os.environ["PATH"],
        "PYTHONPATH": f"{CLUSTER}{os.pathsep}{REPO}",
        "DATABRICKS_TASK_LIBRARIES": libraries,
    }
    return subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60
    )


def run_as_task(tmp_path: Path) -> subprocess.CompletedProcess:
    """The Bronze file run as a python_file task, without a secret: it stops at the lookup."""
    env = {"PATH": os.environ["PATH"], "HOME": str(tmp_path), "PYTHONPATH": str(CLUSTER)}
    return subprocess.run(
        [sys.executable, str(DATABRICKS_DIR / "bronze_job.py")],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_the_bronze_task_imports_only_what_the_runtime_ships(tmp_path):
    result = run_as_task(tmp_path)
    assert "does not ship" not in result.stderr, result.stderr[-2000:]
    # It got as far as the secret lookup, so every module of the job was imported.
    assert "SecretNotFoundError: no Event Hubs connection string" in result.stderr, result.stderr[-2000:]


def test_the_cluster_guard_refuses_what_the_runtime_does_not_ship(tmp_path):
    """The guard itself can fail: a project module importing orjson is refused."""
    env = {"PATH": os.environ["PATH"], "PYTHONPATH": f"{CLUSTER}{os.pathsep}{REPO}"}
    code = "import ingest.producer"  # the producer needs confluent_kafka: not on a cluster
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode != 0
    assert "which the Databricks Runtime does not ship" in result.stderr


def test_run_as_a_script_the_standard_librarys_secrets_is_not_shadowed(tmp_path):
    result = run_as_task(tmp_path)
    line = next(x for x in result.stderr.splitlines() if x.startswith("databricks-runtime: import secrets"))
    assert Path(line.rpartition(" -> ")[2]).parent != DATABRICKS_DIR, line
    assert Path(line.rpartition(" -> ")[2]).parent == Path(os.__file__).parent, line


def test_no_module_of_the_databricks_folder_is_named_like_a_top_level_module():
    """Run as a script, the folder comes first on sys.path: any such name shadows the real one."""
    installed = set(importlib.metadata.packages_distributions())
    clashes = [
        path.name
        for path in DATABRICKS_DIR.glob("*.py")
        if path.stem in sys.stdlib_module_names or path.stem in installed
    ]
    assert clashes == []


def test_the_task_installs_its_libraries_at_the_versions_of_the_lock():
    lock = dict(
        line.split("==") for line in (REPO / "requirements.lock").read_text().splitlines() if "==" in line
    )
    assert task_packages(), "the Bronze task declares its libraries"
    for name, version in task_packages().items():
        assert lock.get(name) == version, name


LAG_CLIENT = f"""
from ingest.databricks.eventhubs_lag import EventHubsLagReader
print(type(EventHubsLagReader({CONNECTION_STRING!r}, "sales-transactions-raw").client()).__name__)
"""


def test_the_lag_reader_needs_only_the_tasks_libraries(tmp_path):
    """Bronze's lag (--lag-every) builds Event Hubs' SDK client: allowed with the task's libraries."""
    result = guarded(LAG_CLIENT, tmp_path, import_names(task_packages()))
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip() == "EventHubConsumerClient"


def test_without_the_tasks_libraries_the_lag_reader_is_refused(tmp_path):
    result = guarded(LAG_CLIENT, tmp_path, "")
    assert result.returncode != 0
    assert "which the Databricks Runtime does not ship" in result.stderr
