"""Bronze maintenance on the embedded default: compact the small files each micro-batch leaves,
then delete the files no snapshot within the retention needs any more.

Every micro-batch of the ingester is one Delta commit with one small parquet file; a day at
the runner's rate leaves thousands, and every reader (dbt's Bronze plugin, the Spark SQL check)
pays per file. `compact` is delta-rs `optimize.compact` (rewrites small files into large ones
in one commit that changes no data, so the ingester's appends carry on beside it) followed by
`vacuum` of the files removed more than `retention_hours` ago. Readers take the table's live
files from the Delta log (`file_uris()`), so between the two they never see a rewritten file
twice; the retention only has to outlast the longest read that started before a compaction
(a Silver run takes seconds; the default keeps an hour).

On Databricks, predictive optimization of the Unity Catalog managed tables does this instead
(docs/databricks.md).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

DEFAULT_RETENTION_HOURS = 1.0
TARGET_FILE_BYTES = 128 * 1024 * 1024
# Row groups of compacted files: about 80 s of events each at 800 lines/s, each covering a
# narrow range of `ingested_at`, so Silver's incremental filter on it skips all but the newest
# (with one row group per file, a run after a compaction re-read everything the file held).
ROW_GROUP_ROWS = 65_536


@dataclass(frozen=True)
class Compaction:
    files_before: int
    files_after: int
    rewritten: int
    deleted: int
    bytes_before: int
    bytes_after: int
    seconds: float

    def summary(self) -> str:
        return (
            f"compacted Bronze: {self.files_before:,} -> {self.files_after:,} live files "
            f"({self.rewritten:,} rewritten), {self.deleted:,} unused files deleted, "
            f"{_mb(self.bytes_before)} -> {_mb(self.bytes_after)} on disk, in {self.seconds:.1f}s"
        )


def _mb(size: int) -> str:
    return f"{size / 2**20:,.1f} MB"


def disk_use(table_path: Path) -> tuple[int, int]:
    """(parquet files, bytes) in the table's folder: live and not yet vacuumed alike."""
    files = [p for p in table_path.rglob("*.parquet") if "_delta_log" not in p.parts]
    return len(files), sum(p.stat().st_size for p in files)


def compact(table_path: Path, retention_hours: float = DEFAULT_RETENTION_HOURS) -> Compaction:
    import time

    from deltalake import DeltaTable, WriterProperties

    started = time.monotonic()
    table = DeltaTable(str(table_path))
    live_before = len(table.file_uris())
    _, bytes_before = disk_use(table_path)
    metrics = table.optimize.compact(
        target_size=TARGET_FILE_BYTES, writer_properties=WriterProperties(max_row_group_size=ROW_GROUP_ROWS)
    )
    table = DeltaTable(str(table_path))
    deleted = table.vacuum(
        retention_hours=round(retention_hours),
        dry_run=False,
        enforce_retention_duration=False,  # Delta's default minimum is 7 days
    )
    _, bytes_after = disk_use(table_path)
    return Compaction(
        files_before=live_before,
        files_after=len(DeltaTable(str(table_path)).file_uris()),
        rewritten=int(metrics.get("numFilesRemoved", 0)),
        deleted=len(deleted),
        bytes_before=bytes_before,
        bytes_after=bytes_after,
        seconds=time.monotonic() - started,
    )
