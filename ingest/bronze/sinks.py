"""Bronze sinks: append one micro-batch to a Delta table, idempotently.

`foreachBatch` is at-least-once: after a crash Spark replays the last planned batch with
the same id. Each write carries a Delta application transaction (app id, version = batch
id), and a batch whose id the table already recorded is skipped, so a replay is a no-op.

- `deltalake`: delta-rs from Python (the embedded default; no Delta jars needed).
- `delta`: Spark's own Delta writer with `txnAppId`/`txnVersion` (Databricks).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from pathlib import Path

from pyspark.sql import DataFrame

from ingest import failpoints

log = logging.getLogger(__name__)

BatchWriter = Callable[[DataFrame, int], None]


def query_app_id(checkpoint_path: str, query_name: str) -> str:
    """Application id for Delta transactions: the query's name and its checkpointed id.

    A new checkpoint (a reset) gets a new query id, so its batch ids, which restart at 0,
    are never mistaken for batches the table already holds.
    """
    metadata = Path(checkpoint_path) / "metadata"
    query_id = json.loads(metadata.read_text())["id"] if metadata.exists() else "unknown"
    return f"{query_name}:{query_id}"


def deltalake_writer(table_path: str, checkpoint_path: str, query_name: str) -> BatchWriter:
    from deltalake import CommitProperties, DeltaTable, Transaction, write_deltalake
    from deltalake.exceptions import TableNotFoundError

    def write(batch_df: DataFrame, batch_id: int) -> None:
        app_id = query_app_id(checkpoint_path, query_name)
        try:
            done = DeltaTable(table_path).transaction_version(app_id)
        except TableNotFoundError:
            done = None
        if done is not None and done >= batch_id:
            log.warning("batch %s already in %s (replay after a restart): skipped", batch_id, table_path)
            return
        table = batch_df.toArrow()
        failpoints.reach("bronze.delta_commit", batch_id)
        write_deltalake(
            table_path,
            table,
            mode="append",
            commit_properties=CommitProperties(
                app_transactions=[Transaction(app_id=app_id, version=batch_id)],
                custom_metadata={"bronze_batch_id": str(batch_id), "rows": str(table.num_rows)},
            ),
        )
        failpoints.reach("bronze.after_commit", batch_id)

    return write


def spark_delta_writer(table: str, checkpoint_path: str, query_name: str) -> BatchWriter:
    """Databricks: `table` is a Unity Catalog name (catalog.schema.table) or a path."""

    def write(batch_df: DataFrame, batch_id: int) -> None:
        writer = (
            batch_df.write.format("delta")
            .mode("append")
            .option("txnAppId", query_app_id(checkpoint_path, query_name))
            .option("txnVersion", batch_id)
        )
        if "/" in table:
            writer.save(table)
        else:
            writer.saveAsTable(table)

    return write
