"""Bronze sinks: append one micro-batch to a Delta table, idempotently.

`foreachBatch` is at-least-once: after a crash Spark replays the last planned batch with
the same id. Each write carries a Delta application transaction (app id, version = batch
id), and a batch whose id the table already recorded is skipped, so a replay is a no-op.

Spark's own Delta writer does it: `txnAppId`/`txnVersion` (locally and on Databricks).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from pyspark.sql import DataFrame

from ingest import failpoints

BatchWriter = Callable[[DataFrame, int], None]


def query_app_id(checkpoint_path: str, query_name: str) -> str:
    """Application id for Delta transactions: the query's name and its checkpointed id.

    A new checkpoint (a reset) gets a new query id, so its batch ids, which restart at 0,
    are never mistaken for batches the table already holds.
    """
    metadata = Path(checkpoint_path) / "metadata"
    query_id = json.loads(metadata.read_text())["id"] if metadata.exists() else "unknown"
    return f"{query_name}:{query_id}"


def delta_writer(table: str, checkpoint_path: str, query_name: str) -> BatchWriter:
    """`table` is a path (local) or a Unity Catalog name (catalog.schema.table)."""

    def write(batch_df: DataFrame, batch_id: int) -> None:
        writer = (
            batch_df.write.format("delta")
            .mode("append")
            .option("txnAppId", query_app_id(checkpoint_path, query_name))
            .option("txnVersion", batch_id)
            .option("userMetadata", json.dumps({"bronze_batch_id": batch_id}))
        )
        failpoints.reach("bronze.delta_commit", batch_id)
        if "/" in table:
            writer.save(table)
        else:
            writer.saveAsTable(table)
        failpoints.reach("bronze.after_commit", batch_id)

    return write
