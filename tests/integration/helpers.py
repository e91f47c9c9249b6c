"""Helpers for the integration tests: run the CLI, read Bronze."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pyarrow as pa
from deltalake import DeltaTable

from ingest.paths import PROJECT_DIR, DataDir


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
