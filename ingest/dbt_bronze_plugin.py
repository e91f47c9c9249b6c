"""dbt-duckdb plugin: read the Bronze Delta table as its live parquet files.

dbt-duckdb's own `delta` plugin hands DuckDB `DeltaTable.to_pyarrow_dataset()`, which costs
about 3 ms per data file every time a model reads the source (1.3 s at 385 files), so an
incremental Silver run would grow with Bronze's history. The live files come from the same
Delta log (`file_uris()`), and a plain parquet dataset over them is built in milliseconds;
DuckDB then pushes the incremental filter on `ingested_at` down to the row groups. Correct
for Bronze, which the ingester only appends to (no deletion vectors, no column mapping).

Profile:  plugins: [{module: ingest.dbt_bronze_plugin, alias: bronze_delta}]
Source:   meta: {plugin: bronze_delta, delta_table_path: ...}
"""

from __future__ import annotations

from typing import Any

import pyarrow.dataset as ds
from dbt.adapters.duckdb.plugins import BasePlugin
from deltalake import DeltaTable


class Plugin(BasePlugin):
    def initialize(self, config: dict[str, Any]) -> None:
        pass

    def load(self, source_config):
        table = DeltaTable(source_config["delta_table_path"])
        files = table.file_uris()
        if not files:
            return table.to_pyarrow_dataset()
        return ds.dataset(files, format="parquet")

    def default_materialization(self) -> str:
        return "view"
