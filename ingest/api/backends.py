"""Where the analytics API's SQL runs: the published DuckDB copy on the embedded default, a
Databricks SQL warehouse in production. Both take SQL with named bind parameters and never
see request text."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from ingest import serving


class NotReady(RuntimeError):
    """Nothing to serve yet (no Gold build published); the message says what to run."""


class QueryTimeout(RuntimeError):
    pass


class TooManyRows(RuntimeError):
    pass


@dataclass(frozen=True)
class Result:
    columns: tuple[str, ...]
    rows: list[tuple]


def _with_timeout(cancel: Callable[[], None], timeout_s: float, work: Callable[[], Result]) -> Result:
    fired = threading.Event()

    def expire() -> None:
        fired.set()
        cancel()

    timer = threading.Timer(timeout_s, expire)
    timer.start()
    try:
        return work()
    except Exception as exc:
        if fired.is_set():
            raise QueryTimeout(f"the query ran longer than {timeout_s:g} s and was cancelled") from exc
        raise
    finally:
        timer.cancel()


def _fetch(cursor, max_rows: int) -> Result:
    columns = tuple(d[0] for d in cursor.description)
    rows = cursor.fetchmany(max_rows + 1)
    if len(rows) > max_rows:
        raise TooManyRows(f"the result has more than {max_rows:,} rows")
    return Result(columns, [tuple(r) for r in rows])


class DuckDbBackend:
    """Reads the newest published copy of the warehouse (ingest.serving), attached read-only as
    `lakehouse`, the catalog name dbt's relations carry. A new copy replaces the old one for the
    next query; queries in flight finish on the old one."""

    engine = "duckdb"
    database = "lakehouse"

    def __init__(self, warehouse: Path) -> None:
        self.warehouse = warehouse
        self._lock = threading.Lock()
        self._seen = -1
        self._con = None
        self._snapshot: serving.Snapshot | None = None

    def _refresh(self):
        mtime = serving.pointer_mtime(self.warehouse)
        if mtime == self._seen and self._con is not None:
            return self._con, self._snapshot
        with self._lock:
            if mtime != self._seen or self._con is None:
                snapshot = serving.current(self.warehouse)
                if snapshot is None or not snapshot.path.exists():
                    raise NotReady(
                        "no Gold build has been published yet: run `make demo` or `make run` "
                        f"(looked in {serving.serving_dir(self.warehouse)})"
                    )
                import duckdb

                con = duckdb.connect(":memory:", config={"threads": 2})
                quoted = str(snapshot.path).replace("'", "''")
                con.execute(f"attach '{quoted}' as lakehouse (read_only)")
                con.execute("use lakehouse")
                self._con, self._snapshot, self._seen = con, snapshot, mtime
            return self._con, self._snapshot

    def version(self) -> str:
        return self._refresh()[1].version

    def built_at(self) -> datetime:
        return self._refresh()[1].published_at

    def relation(self, schema: str, name: str) -> str:
        return f'"lakehouse"."{schema}"."{name}"'

    def placeholder(self, key: str) -> str:
        return f"${key}"

    def run(self, sql: str, params: dict, max_rows: int, timeout_s: float) -> Result:
        con, _ = self._refresh()
        cursor = con.cursor()
        try:
            return _with_timeout(
                cursor.interrupt, timeout_s, lambda: _fetch(cursor.execute(sql, params), max_rows)
            )
        finally:
            cursor.close()


class DatabricksBackend:
    """A Databricks SQL warehouse through databricks-sql-connector, with native named parameters
    (`:p0`). `connect` is the connector's `databricks.sql.connect` (a fake one in tests).
    What counts as a new Gold build: a change in fct_sales_lines' row count or newest landing
    time, checked at most every `version_poll_s` seconds."""

    engine = "databricks"

    def __init__(self, settings, connect: Callable | None = None, version_poll_s: float = 30.0) -> None:
        if connect is None:
            from databricks import sql as databricks_sql

            connect = databricks_sql.connect
        self.settings = settings
        self.database = settings.catalog
        self._connect = connect
        self._con = None
        self._lock = threading.Lock()
        self._poll_s = version_poll_s
        self._version: tuple[float, str, datetime | None] | None = None

    def _connection(self):
        with self._lock:
            if self._con is None:
                self._con = self._connect(
                    server_hostname=self.settings.host,
                    http_path=self.settings.http_path,
                    access_token=self.settings.token,
                )
            return self._con

    def relation(self, schema: str, name: str) -> str:
        return f"`{self.settings.catalog}`.`{schema}`.`{name}`"

    def placeholder(self, key: str) -> str:
        return f":{key}"

    def run(self, sql: str, params: dict, max_rows: int, timeout_s: float) -> Result:
        cursor = self._connection().cursor()
        try:
            return _with_timeout(
                cursor.cancel, timeout_s, lambda: _fetch(_execute(cursor, sql, params), max_rows)
            )
        except (QueryTimeout, TooManyRows):
            raise
        except Exception:
            with self._lock:  # a broken session is replaced on the next query
                self._con = None
            raise
        finally:
            cursor.close()

    def _poll(self) -> tuple[str, datetime | None]:
        now = time.monotonic()
        if self._version is None or now - self._version[0] >= self._poll_s:
            fct = self.relation("gold", "fct_sales_lines")
            result = self.run(
                f"select count(*) as line_count, max(bronze_ingested_at) as newest from {fct}", {}, 1, 30.0
            )
            count, newest = result.rows[0]
            if not count or newest is None:
                raise NotReady(f"{fct} is empty: no Gold build has landed yet (run the Gold dbt job)")
            self._version = (now, f"{count}:{newest}", newest)
        return self._version[1], self._version[2]

    def version(self) -> str:
        return self._poll()[0]

    def built_at(self) -> datetime | None:
        newest = self._poll()[1]
        if isinstance(newest, datetime) and newest.tzinfo is None:
            newest = newest.replace(tzinfo=UTC)
        return newest


def _execute(cursor, sql: str, params: dict):
    cursor.execute(sql, parameters=params)
    return cursor
