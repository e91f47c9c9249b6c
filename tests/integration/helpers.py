"""Helpers for the integration tests: run the CLI and the runner, read its records and Bronze."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from pathlib import Path

import pyarrow as pa
from deltalake import DeltaTable

from ingest.paths import PROJECT_DIR, DataDir

from ..waiting import wait_for


def cli(*args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    """Run `python -m ingest ...` in a child process with the test's environment."""
    return subprocess.run(
        [sys.executable, "-m", "ingest", *args],
        cwd=PROJECT_DIR,
        env=dict(os.environ),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def start_cli(*args: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "ingest", *args],
        cwd=PROJECT_DIR,
        env=dict(os.environ),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def start_runner(*args: str, api_port: int, dashboard_port: int = 0):
    """`python -m ingest run --fast ARGS` with its own broker and orders database (the test
    module's KAFKA_BOOTSTRAP_SERVERS and ORDERS_DATABASE_DSN left out), the API on `api_port`;
    returns the process and the list its output lines are collected into, and the reader."""
    env = {k: v for k, v in os.environ.items() if k not in ("KAFKA_BOOTSTRAP_SERVERS", "ORDERS_DATABASE_DSN")}
    runner = subprocess.Popen(
        [sys.executable, "-m", "ingest", "run", "--fast", *args]
        + ["--api-port", str(api_port), "--dashboard-port", str(dashboard_port)],
        cwd=PROJECT_DIR,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    output: list[str] = []
    reader = threading.Thread(target=lambda: output.extend(runner.stdout), daemon=True)
    reader.start()
    return runner, output, reader


def runner_records(data_root: Path, name: str = "status.jsonl") -> list[dict]:
    """The JSON records the runner wrote in data/run (status.jsonl: one per status line, with
    its numbers; dbt-runs.jsonl: one per finished dbt run)."""
    path = DataDir(data_root).run / name
    return (
        [json.loads(line) for line in path.read_text().splitlines() if line.strip()] if path.exists() else []
    )


def simulator_started(output: list[str]) -> bool:
    """The runner has said it started the simulator (everything else runs by then)."""
    return any(line.startswith("run: simulator") for line in output)


def wait_for_runner(runner: subprocess.Popen, output: list[str], condition, what: str, timeout_s: float):
    """Wait for `condition` while the runner runs; fail with its last output otherwise."""

    def holds():
        assert runner.poll() is None, f"the runner exited ({runner.poll()}): " + "".join(output)[-3000:]
        return condition()

    return wait_for(holds, what, timeout_s, detail=lambda: "".join(output)[-3000:])


def bronze_path(data_root: Path) -> str:
    return str(DataDir(data_root).bronze_table)


def bronze_table(data_root: Path, version: int | None = None) -> pa.Table:
    """The Bronze table now, or as it was at a Delta `version`."""
    return DeltaTable(bronze_path(data_root), version=version).to_pyarrow_table()


def bronze_version(data_root: Path) -> int:
    return DeltaTable(bronze_path(data_root)).version()


def delta_commits(data_root: Path) -> int:
    log = Path(bronze_path(data_root)) / "_delta_log"
    return len(list(log.glob("*.json"))) if log.exists() else 0
