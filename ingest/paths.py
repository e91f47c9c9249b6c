"""Where things live: the project, and everything the embedded default writes below one data
directory (LAKEHOUSE_DATA_DIR, default `./data`).

The data directory is read from the environment once, at an entry point
(`DataDir.from_env()`), and passed down; child processes and dbt get it back through the
environment they are started with (`DataDir.env()`), since dbt's profiles read it there.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path

PROJECT_DIR = Path(__file__).resolve().parent.parent
ENV_VAR = "LAKEHOUSE_DATA_DIR"


@dataclass(frozen=True)
class DataDir:
    """The data directory and the layout below it (Bronze, checkpoints, DuckDB, PID files, logs)."""

    root: Path

    @classmethod
    def from_env(cls) -> DataDir:
        return cls(Path(os.environ.get(ENV_VAR, "data")).resolve())

    def env(self) -> dict[str, str]:
        """What a child process (or dbt, through profiles.yml) needs to find this directory."""
        return {ENV_VAR: str(self.root)}

    def below(self, name: str) -> DataDir:
        """A data directory of its own inside this one (the benchmark's runs)."""
        return DataDir(self.root / name)

    @property
    def bronze_table(self) -> Path:
        return self.root / "bronze" / "sales_transactions"

    @property
    def bronze_checkpoint(self) -> Path:
        return self.root / "checkpoints" / "bronze_sales_transactions"

    @property
    def warehouse(self) -> Path:
        """The DuckDB file dbt's `local` target builds Silver and Gold in (see profiles.yml)."""
        return self.root / "warehouse" / "lakehouse.duckdb"

    @property
    def run(self) -> Path:
        """PID files and logs of the local services, the runner's children and dbt."""
        return self.root / "run"

    def reset_lakehouse(self) -> None:
        """Empty Bronze, its checkpoints and the warehouse (the warehouse folder stays, empty)."""
        for name in ("bronze", "checkpoints", "warehouse"):
            shutil.rmtree(self.root / name, ignore_errors=True)
        self.warehouse.parent.mkdir(parents=True)


def delta_table_exists(table_path: Path) -> bool:
    """Whether a Delta table has its first commit (Spark makes `_delta_log` before writing it)."""
    log = Path(table_path) / "_delta_log"
    return log.is_dir() and any(log.glob("*.json"))


class DeltaCommits:
    """The newest commit version of a Delta table (-1 before its first), read by looking for
    the next commit file of the log: microseconds a reading, however long the log."""

    def __init__(self, table_path: Path) -> None:
        self.log = Path(table_path) / "_delta_log"
        self.version = -1
        self.listed = False

    def __call__(self) -> int:
        if not self.listed:  # once: where the log is now (a table from an earlier run)
            numbers = [int(p.stem) for p in self.log.glob("*.json") if p.stem.isdigit()]
            self.version = max(numbers, default=-1)
            self.listed = self.log.is_dir()
        while (self.log / f"{self.version + 1:020d}.json").exists():
            self.version += 1
        return self.version
