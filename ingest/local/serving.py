"""Read-only copies of the DuckDB warehouse, published after each dbt build, for readers in
other processes (the analytics API, the dashboard).

DuckDB lets one process write a file, and while it writes no other process can open it, not
even read-only. dbt holds the warehouse during every run (every 10 s under `make run FAST=1`),
so a reader that opened it directly would fail a share of its requests. Instead, whoever just
finished writing (the runner's dbt worker, `run_dbt`) publishes a copy: a checkpointed,
byte-for-byte copy of the file under `warehouse/serving/`, then `current.json` names it
(replaced atomically). Readers open the copy named there; a reader holding an older copy
keeps reading it until it sees the new name (Linux keeps an unlinked file readable), and the
two newest copies stay on disk.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

KEEP = 2


@dataclass(frozen=True)
class Snapshot:
    path: Path
    published_at: datetime  # the end of the build it copies (UTC)
    version: str  # changes with every publish: the readers' cache key

    def as_dict(self) -> dict[str, str]:
        return {
            "file": self.path.name,
            "published_at": self.published_at.isoformat(),
            "version": self.version,
        }


def serving_dir(warehouse: Path) -> Path:
    return warehouse.parent / "serving"


def publish(warehouse: Path) -> Snapshot:
    """Copy the warehouse now (the caller has just finished writing it) and make the copy current.

    Raises duckdb.IOException if another process holds the warehouse (it is being written)."""
    import duckdb

    target_dir = serving_dir(warehouse)
    target_dir.mkdir(parents=True, exist_ok=True)
    now = datetime.now(UTC)
    version = f"{now:%Y%m%dT%H%M%S%f}"
    final = target_dir / f"lakehouse-{version}.duckdb"
    partial = final.with_suffix(".partial")
    # Holding a read-write connection keeps writers out while the file is copied; the
    # checkpoint moves everything from the WAL into the file first.
    try:
        con = duckdb.connect(str(warehouse))
        con.execute("checkpoint")
    except duckdb.ConnectionException:
        # this process already reads the file (read-only): that keeps writers out as well;
        # a WAL left by a writer that did not close goes along and is replayed on open
        con = duckdb.connect(str(warehouse), read_only=True)
        wal = warehouse.with_name(warehouse.name + ".wal")
        if wal.exists():
            shutil.copyfile(wal, final.with_name(final.name + ".wal"))
    try:
        shutil.copyfile(warehouse, partial)
    finally:
        con.close()
    partial.rename(final)
    snapshot = Snapshot(final, now, version)
    pointer = target_dir / "current.json"
    staged = target_dir / "current.json.partial"
    staged.write_text(json.dumps(snapshot.as_dict()))
    os.replace(staged, pointer)
    _prune(target_dir, keep=final)
    return snapshot


def current(warehouse: Path) -> Snapshot | None:
    """The newest published copy, or None before the first publish."""
    pointer = serving_dir(warehouse) / "current.json"
    try:
        data = json.loads(pointer.read_text())
    except (OSError, ValueError):
        return None
    return Snapshot(
        path=pointer.parent / data["file"],
        published_at=datetime.fromisoformat(data["published_at"]),
        version=data["version"],
    )


def pointer_mtime(warehouse: Path) -> int:
    """Cheap change check for readers: the pointer's mtime in ns (0 when nothing is published)."""
    try:
        return (serving_dir(warehouse) / "current.json").stat().st_mtime_ns
    except OSError:
        return 0


def _prune(directory: Path, keep: Path) -> None:
    copies = sorted(directory.glob("lakehouse-*.duckdb"), key=lambda p: p.name)
    for old in copies[:-KEEP]:
        if old != keep:
            old.unlink(missing_ok=True)
            old.with_name(old.name + ".wal").unlink(missing_ok=True)
    cutoff = time.time() - 3600
    for stale in directory.glob("*.partial"):  # left by a publisher that died mid-copy
        if stale.stat().st_mtime < cutoff:
            stale.unlink(missing_ok=True)
