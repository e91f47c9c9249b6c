"""Where the analytics API's SQL runs: the published DuckDB copy on the embedded default, a
Databricks SQL warehouse in production. Both take SQL with named bind parameters and never
see request text."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from ingest.local import serving

log = logging.getLogger(__name__)


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


def open_snapshot(path: Path):
    """A DuckDB connection with the published copy at `path` attached read-only as `lakehouse`
    (the API's, and the bench's floor). Each query runs on a cursor of its own off it: DuckDB
    runs cursors of one connection concurrently, sharing one buffer pool and thread pool."""
    import duckdb

    con = duckdb.connect(":memory:", config={"threads": 2})
    quoted = str(path).replace("'", "''")
    con.execute(f"attach '{quoted}' as lakehouse (read_only)")
    con.execute("use lakehouse")
    return con


class DuckDbBackend:
    """Reads the newest published copy of the warehouse (ingest.local.serving), attached read-only as
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
                con = open_snapshot(snapshot.path)
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


def _close_quietly(con) -> None:
    try:
        con.close()
    except Exception as exc:  # the session is given up on either way
        log.warning("closing a Databricks connection failed: %s", exc)


class _ConnectionPool:
    """At most `size` connections, each lent to one thread at a time: databricks-sql-connector
    declares `threadsafety = 1` (threads may share the module, not connections). A connection
    that raised is closed, not lent again; `close()` closes the idle ones at once and those in
    use when their query ends."""

    def __init__(self, open_connection: Callable, size: int) -> None:
        if size < 1:
            raise ValueError("the pool needs room for at least one connection")
        self._open = open_connection
        self._size = size
        self._idle: list = []  # last in, first out: the warmest session first
        self._count = 0  # connections open, idle or lent
        self._closed = False
        self._cond = threading.Condition()

    def take(self, wait_s: float):
        deadline = time.monotonic() + wait_s
        with self._cond:
            while True:
                if self._closed:
                    raise RuntimeError("the Databricks backend is closed")
                if self._idle:
                    return self._idle.pop()
                if self._count < self._size:
                    self._count += 1
                    break
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise QueryTimeout(
                        f"all {self._size} Databricks connections stayed busy for {wait_s:g} s"
                    )
                self._cond.wait(remaining)
        try:  # connecting is a round trip: outside the lock
            return self._open()
        except BaseException:
            self._forget()
            raise

    def give_back(self, con) -> None:
        with self._cond:
            if not self._closed:
                self._idle.append(con)
                self._cond.notify()
                return
        self.discard(con)

    def discard(self, con) -> None:
        self._forget()
        _close_quietly(con)

    def _forget(self) -> None:
        with self._cond:
            self._count -= 1
            self._cond.notify()

    def close(self) -> None:
        with self._cond:
            self._closed = True
            idle, self._idle = self._idle, []
            self._cond.notify_all()
        for con in idle:
            self.discard(con)


class DatabricksBackend:
    """A Databricks SQL warehouse through databricks-sql-connector, with native named parameters
    (`:p0`). `connect` is the connector's `databricks.sql.connect` (a fake one in tests).
    Each query borrows a connection of its own from a pool of at most `max_connections`
    (connections are not shared between threads); one that raised is closed and replaced.
    What counts as a new Gold build: a change in fct_sales_lines' row count or newest landing
    time, checked at most every `version_poll_s` seconds."""

    engine = "databricks"

    def __init__(
        self,
        settings,
        connect: Callable | None = None,
        version_poll_s: float = 30.0,
        max_connections: int = 8,
    ) -> None:
        if connect is None:
            from databricks import sql as databricks_sql

            connect = databricks_sql.connect
        self.settings = settings
        self.database = settings.catalog
        self._connect = connect
        self._pool = _ConnectionPool(self._open, max_connections)
        self._poll_s = version_poll_s
        self._version: tuple[float, str, datetime | None] | None = None

    def _open(self):
        return self._connect(
            server_hostname=self.settings.host,
            http_path=self.settings.http_path,
            access_token=self.settings.token,
        )

    def close(self) -> None:
        """Close every connection: the idle ones now, those in use when their query ends."""
        self._pool.close()

    def relation(self, schema: str, name: str) -> str:
        return f"`{self.settings.catalog}`.`{schema}`.`{name}`"

    def placeholder(self, key: str) -> str:
        return f":{key}"

    def run(self, sql: str, params: dict, max_rows: int, timeout_s: float) -> Result:
        con = self._pool.take(timeout_s)
        healthy = False
        try:
            cursor = con.cursor()
            try:
                result = _with_timeout(
                    cursor.cancel, timeout_s, lambda: _fetch(_execute(cursor, sql, params), max_rows)
                )
            except TooManyRows:  # ours, after a good fetch: the session is fine
                cursor.close()
                healthy = True
                raise
            except BaseException:
                _close_quietly(cursor)
                raise
            cursor.close()
            healthy = True
            return result
        finally:
            if healthy:
                self._pool.give_back(con)
            else:  # it raised (a cancelled query included): closed, never lent again
                self._pool.discard(con)

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
