"""Bronze's files and the disk the data directory uses, sampled while the runner writes."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

from ingest.benchmarks.soak.samples import DISK_DIRS, DiskSample
from ingest.paths import DataDir, delta_table_exists


def folder_bytes(path: Path) -> int:
    """Bytes in the files below `path` (files that vanish while it is walked left out)."""
    total = 0
    for folder, _, files in os.walk(path):
        for name in files:
            with contextlib.suppress(OSError):
                total += os.stat(os.path.join(folder, name), follow_symlinks=False).st_size
    return total


def live_files(table: Path) -> int | None:
    """Parquet files in the table's current Delta snapshot (what a reader opens); None when the
    table cannot be read (not there yet, or a read raced a commit)."""
    if not delta_table_exists(table):
        return None
    from deltalake import DeltaTable

    try:
        return len(DeltaTable(str(table)).file_uris())
    except Exception:
        return None


def sample(data: DataDir, t: float) -> DiskSample:
    table = data.bronze_table
    # as ingest.bronze.maintenance.disk_use counts them, without its stat of each file (a
    # file vacuumed meanwhile would fail it)
    parquet = sum(1 for p in table.rglob("*.parquet") if "_delta_log" not in p.parts)
    log = table / "_delta_log"
    return DiskSample(
        t=t,
        live_files=live_files(table),
        parquet_files=parquet,
        log_entries=len(os.listdir(log)) if log.exists() else 0,
        mb={name: folder_bytes(data.root / name) / 2**20 for name in DISK_DIRS},
    )
