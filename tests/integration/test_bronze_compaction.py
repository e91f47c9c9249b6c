"""Bronze compaction (`python -m ingest compact`, and `make run` on its cadence): the small files
of many micro-batches become few, while the ingester keeps appending; no row is lost or read
twice by any reader, and the ingester's record of the batches it wrote survives."""

from __future__ import annotations

import threading

import pytest
from deltalake import CommitProperties, DeltaTable, Transaction, write_deltalake

from ingest.benchmarks.bronze_writer import BronzeWriter, event, line
from ingest.bronze.maintenance import compact, disk_use
from ingest.dbt_bronze_plugin import Plugin
from ingest.paths import DataDir

from .helpers import cli

pytestmark = pytest.mark.integration

APP = "bronze_sales_transactions:test-query"


def small_batches(writer: BronzeWriter, first: int, batches: int, rows: int = 50) -> int:
    for b in range(batches):
        writer.append([event(f"e{first + b * rows + i}", line()) for i in range(rows)])
    return batches * rows


def test_compaction_beside_appends_keeps_every_row_once(tmp_path):
    path = tmp_path / "bronze"
    writer = BronzeWriter(str(path))
    written = small_batches(writer, 0, 40)
    # the ingester's idempotency record: the last micro-batch it committed
    table = DeltaTable(str(path))
    write_deltalake(
        str(path),
        table.to_pyarrow_table().slice(0, 0),
        mode="append",
        commit_properties=CommitProperties(app_transactions=[Transaction(app_id=APP, version=41)]),
    )
    stop = threading.Event()
    appended = []

    def keep_appending() -> None:
        while not stop.is_set():
            appended.append(small_batches(writer, 100_000 + sum(appended), 1))

    appender = threading.Thread(target=keep_appending)
    appender.start()
    try:
        result = compact(path, retention_hours=0)
    finally:
        stop.set()
        appender.join(30)
    total = written + sum(appended)
    assert result.files_before >= 40 and result.rewritten >= 40
    assert result.files_after < result.files_before // 4
    assert result.deleted >= 40, "the replaced files were not vacuumed"

    table = DeltaTable(str(path))
    ids = table.to_pyarrow_table(columns=["event_id"])["event_id"].to_pylist()
    assert len(ids) == len(set(ids)) == total
    assert table.transaction_version(APP) == 41, "the ingester would write a batch twice"
    files, _ = disk_use(path)
    assert files == len(table.file_uris()), "replaced files left on disk after vacuum"


def test_readers_see_the_live_files_between_compaction_and_vacuum(tmp_path):
    path = tmp_path / "bronze"
    written = small_batches(BronzeWriter(str(path)), 0, 20)
    DeltaTable(str(path)).optimize.compact()  # replaced files stay until a vacuum
    files, _ = disk_use(path)
    assert files > len(DeltaTable(str(path)).file_uris())
    dataset = Plugin("bronze_delta", {}).load({"delta_table_path": str(path)})
    assert dataset.count_rows() == written


def test_python_m_ingest_compact(tmp_path, monkeypatch):
    data = DataDir(tmp_path)
    monkeypatch.setenv("LAKEHOUSE_DATA_DIR", str(tmp_path))
    missing = cli("compact")
    assert missing.returncode == 1 and "no Bronze table" in missing.stderr
    small_batches(BronzeWriter(str(data.bronze_table)), 0, 12)
    done = cli("compact", "--retention-hours", "0")
    assert done.returncode == 0, done.stderr
    assert "compacted Bronze: 12 -> 1 live files (12 rewritten), 12 unused files deleted" in done.stdout


def test_compacted_row_groups_keep_narrow_landing_times(tmp_path, monkeypatch):
    """Silver reads Bronze incrementally by `ingested_at`; after a compaction the filter must
    still skip the old rows, so each row group of a compacted file covers a narrow range."""
    import pyarrow.parquet as pq

    from ingest.bronze import maintenance

    monkeypatch.setattr(maintenance, "ROW_GROUP_ROWS", 1_000)
    path = tmp_path / "bronze"
    writer = BronzeWriter(str(path))
    for minute in range(30):  # a micro-batch a minute, 250 rows each: 7,500 rows
        writer.append([event(f"m{minute}-{i}", line()) for i in range(250)], minutes_after_base=minute)
    compact(path, retention_hours=0)
    (only,) = DeltaTable(str(path)).file_uris()
    meta = pq.ParquetFile(only).metadata
    column = [meta.schema.column(i).name for i in range(meta.num_columns)].index("ingested_at")
    spans = [
        (meta.row_group(g).column(column).statistics.min, meta.row_group(g).column(column).statistics.max)
        for g in range(meta.num_row_groups)
    ]
    assert meta.num_row_groups >= 7
    newest = max(high for _, high in spans)
    # what a filter on the last 2 minutes must read: one or two row groups, not the file
    recent = [span for span in spans if (newest - span[1]).total_seconds() < 120]
    assert len(recent) <= 2, spans
    assert all((high - low).total_seconds() <= 5 * 60 for low, high in spans), spans
