"""The analytics API on its Databricks backend, offline: a fake `databricks.sql.connect` records
every statement the API sends and answers with canned rows. What goes over the wire is
Databricks SQL on Unity Catalog names, with every request value a bind parameter; a query that
overruns is cancelled and answered 503; a new Gold build empties the cache."""

from __future__ import annotations

import threading
import time
from datetime import date, datetime
from decimal import Decimal

import pytest
from fastapi.testclient import TestClient

from ingest.api.app import create_app
from ingest.api.backends import DatabricksBackend
from ingest.api.config import ApiConfig, DatabricksSettings
from ingest.local.dbt import run_dbt
from ingest.paths import DataDir
from ingest.semantic import SemanticLayer

HOSTILE = "x' or 1=1 --"
SETTINGS = DatabricksSettings(
    host="adb-1234.5.azuredatabricks.net",
    http_path="/sql/1.0/warehouses/abc123",
    token="dapi-fake-token-0123456789",
    catalog="orders",
)
FACT = "`orders`.`gold`.`fct_sales_lines`"
ORDER_COLUMNS = (
    "event_id",
    "product_no",
    "product_name",
    "sale_date",
    "quantity",
    "unit_price",
    "customer_no",
    "source_country",
    "is_return",
    "line_status",
    "status_reason",
    "warning_rules",
    "net_amount",
    "kafka_topic",
    "kafka_partition",
    "kafka_offset",
    "source_event_at",
    "bronze_batch_id",
    "bronze_ingested_at",
)


@pytest.fixture(scope="module")
def manifest(tmp_path_factory):
    """dbt's semantic manifest, parsed into a target directory of this module's own."""
    root = tmp_path_factory.mktemp("lakehouse")
    target = root / "dbt-target"
    run_dbt(
        "parse",
        "--target-path",
        str(target),
        "--log-path",
        str(root / "logs"),
        quiet=True,
        data=DataDir(root),
    )
    return target / "semantic_manifest.json"


@pytest.fixture(scope="module")
def layer(manifest):
    return SemanticLayer.load(manifest, "databricks", "orders", {})


# ---------------------------------------------------------------------------- the fake connector
class FakeWarehouse:
    """What the connector talks to: records connections and statements, answers by statement."""

    def __init__(self) -> None:
        self.connections: list[dict] = []
        self.statements: list[tuple[str, dict]] = []
        self.gold = (1000, datetime(2019, 6, 30, 12, 0, 0))  # count(*), max(bronze_ingested_at)
        self.slow_metrics = False
        self.cancels = 0
        self.execute_s = 0.0  # how long each statement takes
        self.opened: list[FakeConnection] = []
        self.misuse: list[str] = []
        self.closes = 0
        self.fail_close = False  # closing a connection raises
        self.entered, self.gate = threading.Event(), threading.Event()  # for "held_open" statements

    def connect(self, server_hostname, http_path, access_token):
        self.connections.append(
            {"server_hostname": server_hostname, "http_path": http_path, "access_token": access_token}
        )
        connection = FakeConnection(self)
        self.opened.append(connection)
        return connection

    def sql(self, containing: str = "") -> list[str]:
        return [sql for sql, _ in self.statements if containing in sql]

    def metric_statements(self) -> list[tuple[str, dict]]:
        return [
            (sql, params)
            for sql, params in self.statements
            if "as line_count" not in sql and "as gold_lines" not in sql and ":transaction_no" not in sql
        ]

    def answer(self, sql: str, cursor: FakeCursor) -> tuple[tuple[str, ...], list[tuple]]:
        if "as line_count" in sql:
            return ("line_count", "newest"), [self.gold]
        if "as gold_lines" in sql:
            count, newest = self.gold
            return ("gold_lines", "newest_source_event_at", "newest_bronze_ingested_at"), [
                (count, newest, newest)
            ]
        if ":transaction_no" in sql:
            return ORDER_COLUMNS, [
                (
                    "ev-1",
                    "22001",
                    "Thing",
                    date(2019, 4, 2),
                    3,
                    Decimal("3.10"),
                    "12001",
                    "France",
                    False,
                    "counted",
                    None,
                    "",
                    Decimal("9.30"),
                    "sales",
                    0,
                    41,
                    datetime(2019, 4, 2, 9, 30),
                    7,
                    datetime(2019, 4, 2, 9, 31),
                )
            ]
        if self.slow_metrics:
            cursor.cancelled.wait(10)
            raise RuntimeError("Query was cancelled by the client")
        return ("metric_time__month", "net_revenue"), [(datetime(2019, 3, 1), Decimal("123.45"))]


class FakeConnection:
    """One session. The connector declares `threadsafety = 1`: a connection may not be shared
    between threads, so a cursor opened while another thread holds one of this connection's
    cursors, or any use of a closed connection, is recorded in the warehouse's `misuse`."""

    def __init__(self, warehouse: FakeWarehouse) -> None:
        self.warehouse = warehouse
        self.closed = False
        self.threads: set[int] = set()  # every thread that used this connection
        self._holders: list[int] = []  # threads holding one of its open cursors
        self._lock = threading.Lock()

    def cursor(self) -> FakeCursor:
        me = threading.get_ident()
        with self._lock:
            if self.closed:
                self.warehouse.misuse.append(f"a cursor on a closed connection (thread {me})")
            others = {t for t in self._holders if t != me}
            if others:
                self.warehouse.misuse.append(f"threads {sorted(others)} and {me} share one connection")
            self._holders.append(me)
            self.threads.add(me)
        return FakeCursor(self.warehouse, self)

    def release(self, cursor: FakeCursor) -> None:
        with self._lock:
            self._holders.remove(threading.get_ident())

    def close(self) -> None:
        with self._lock:
            self.closed = True
        self.warehouse.closes += 1
        if self.warehouse.fail_close:
            raise OSError("the session was already gone")


class FakeCursor:
    def __init__(self, warehouse: FakeWarehouse, connection: FakeConnection) -> None:
        self.warehouse = warehouse
        self.connection = connection
        self.cancelled = threading.Event()
        self.description = None
        self._rows: list[tuple] = []
        self._open = True

    def execute(self, operation, parameters=None):
        if self.connection.closed:
            self.warehouse.misuse.append("a statement on a closed connection")
        self.warehouse.statements.append((operation, dict(parameters or {})))
        if self.warehouse.execute_s:
            time.sleep(self.warehouse.execute_s)
        if "broken_session" in operation:
            raise ConnectionError("Invalid SessionHandle")
        if "held_open" in operation:  # runs until the test opens the gate
            self.warehouse.entered.set()
            self.warehouse.gate.wait(10)
        columns, self._rows = self.warehouse.answer(operation, self)
        self.description = [(name, "string", None, None, None, None, None) for name in columns]
        return self

    def fetchmany(self, size):
        rows, self._rows = self._rows[:size], self._rows[size:]
        return rows

    def cancel(self) -> None:  # the connector documents cancel as callable from another thread
        self.warehouse.cancels += 1
        self.cancelled.set()

    def close(self) -> None:
        if self._open:
            self._open = False
            self.connection.release(self)


@pytest.fixture
def warehouse() -> FakeWarehouse:
    return FakeWarehouse()


def api(layer, warehouse: FakeWarehouse, timeout_s: float = 10.0) -> TestClient:
    backend = DatabricksBackend(SETTINGS, connect=warehouse.connect, version_poll_s=0)
    config = ApiConfig(engine="databricks", databricks=SETTINGS, timeout_s=timeout_s)
    return TestClient(create_app(config, layer, backend))


def post_query(client: TestClient, **body) -> dict:
    response = client.post("/v1/query", json=body)
    assert response.status_code == 200, response.text
    return response.json()


# ---------------------------------------------------------------------------- the tests
def test_metric_queries_are_databricks_sql_on_unity_catalog_names(layer, warehouse):
    post_query(
        api(layer, warehouse), metrics=["net_revenue"], group_by=["country__country_name"], grain="month"
    )
    [(sql, _)] = warehouse.metric_statements()
    assert f"FROM {FACT}" in sql
    assert "`orders`.`gold`.`dim_country`" in sql
    assert "DATE_TRUNC('month'" in sql
    for statement in warehouse.sql():
        assert '"lakehouse"' not in statement
        assert "lakehouse." not in statement


def test_the_gold_version_is_read_from_the_fact_on_databricks(layer, warehouse):
    post_query(api(layer, warehouse), metrics=["lines"])
    versions = warehouse.sql("line_count")
    assert versions
    assert all(FACT in sql and "max(bronze_ingested_at)" in sql for sql in versions)


def test_the_connection_gets_host_http_path_and_token_from_the_settings(layer, warehouse):
    post_query(api(layer, warehouse), metrics=["lines"])
    assert warehouse.connections == [
        {
            "server_hostname": "adb-1234.5.azuredatabricks.net",
            "http_path": "/sql/1.0/warehouses/abc123",
            "access_token": "dapi-fake-token-0123456789",
        }
    ]


def test_filter_values_travel_only_as_bind_parameters_in_a_json_body(layer, warehouse):
    filters = [
        {"dimension": "country__country_name", "op": "in", "values": [HOSTILE, "France"]},
        {"dimension": "sales_line__is_return", "op": "eq", "values": [False]},
    ]
    post_query(api(layer, warehouse), metrics=["net_revenue"], filters=filters)
    [(sql, params)] = warehouse.metric_statements()
    assert params == {"p0": HOSTILE, "p1": "France", "p2": False}
    for marker in (":p0", ":p1", ":p2"):
        assert marker in sql
    for statement in warehouse.sql():
        assert "1=1" not in statement
        assert "France" not in statement
        assert "$p" not in statement


def test_filter_values_travel_only_as_bind_parameters_in_a_query_string(layer, warehouse):
    response = api(layer, warehouse).get(
        "/v1/query", params={"metrics": "net_revenue", "filter": 'customer__customer_no:eq:"x\' or 1=1 --"'}
    )
    assert response.status_code == 200, response.text
    sql, params = warehouse.metric_statements()[-1]
    assert params == {"p0": HOSTILE}
    assert ":p0" in sql
    assert all(HOSTILE not in statement and "1=1" not in statement for statement in warehouse.sql())


def test_the_order_lookup_binds_the_transaction_number(layer, warehouse):
    response = api(layer, warehouse).get("/v1/orders/577001")
    assert response.status_code == 200, response.text
    [(sql, params)] = [(sql, params) for sql, params in warehouse.statements if "transaction_no" in sql]
    assert "transaction_no = :transaction_no" in sql
    assert params == {"transaction_no": "577001"}
    assert "577001" not in sql
    assert "`orders`.`gold`.`fct_order_line_status`" in sql
    line = response.json()["lines"][0]
    assert (line["status"], line["net_amount"], line["bronze"]["offset"]) == ("counted", 9.3, 41)


def test_a_query_over_the_timeout_is_cancelled_and_answered_503(layer, warehouse):
    warehouse.slow_metrics = True
    started = time.monotonic()
    response = api(layer, warehouse, timeout_s=0.3).post("/v1/query", json={"metrics": ["net_revenue"]})
    elapsed = time.monotonic() - started
    assert response.status_code == 503, response.text
    assert "cancelled" in response.json()["detail"]
    assert response.headers["retry-after"] == "5"
    assert warehouse.cancels == 1
    assert elapsed < 5


def test_answers_are_cached_until_the_gold_version_changes(layer, warehouse):
    client = api(layer, warehouse)
    body = {"metrics": ["net_revenue"], "grain": "month"}
    first = post_query(client, **body)
    second = post_query(client, **body)
    assert (first["cached"], second["cached"]) == (False, True)
    assert len(warehouse.metric_statements()) == 1
    warehouse.gold = (1012, datetime(2019, 6, 30, 12, 5, 0))  # a new Gold build landed
    third = post_query(client, **body)
    assert third["cached"] is False
    assert len(warehouse.metric_statements()) == 2
    assert third["gold_built_at"] == "2019-06-30T12:05:00Z"
    assert first["gold_built_at"] == "2019-06-30T12:00:00Z"
    assert third["rows"] == first["rows"] == [{"metric_time__month": "2019-03-01", "net_revenue": 123.45}]


def test_health_reads_freshness_from_the_fact_on_databricks(layer, warehouse):
    response = api(layer, warehouse).get("/v1/health")
    assert response.status_code == 200, response.text
    health = response.json()
    assert (health["engine"], health["gold_lines"]) == ("databricks", 1000)
    assert health["gold_built_at"] == health["newest_source_event_at"] == "2019-06-30T12:00:00Z"
    [freshness] = warehouse.sql("as gold_lines")
    assert FACT in freshness


def test_a_query_before_the_first_gold_build_is_not_a_server_error(layer, warehouse):
    warehouse.gold = (0, None)  # count(*), max(bronze_ingested_at) of an empty fct_sales_lines
    client = TestClient(api(layer, warehouse).app, raise_server_exceptions=False)
    response = client.post("/v1/query", json={"metrics": ["lines"]})
    assert response.status_code in (200, 503), response.text


# ---------------------------------------------------------------------------- connections and threads
def run_from_threads(backend: DatabricksBackend, threads: int, queries: int, sql_for) -> list[BaseException]:
    """`queries` statements from each of `threads` threads at once through `backend.run`; the
    exceptions they raised."""
    start = threading.Barrier(threads)
    errors: list[BaseException] = []

    def work(n: int) -> None:
        start.wait()
        for i in range(queries):
            try:
                backend.run(sql_for(n, i), {"p0": n}, 10, 10.0)
            except Exception as exc:  # collected for the assertions
                errors.append(exc)

    pool = [threading.Thread(target=work, args=(n,)) for n in range(threads)]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join(30)
    return errors


def test_no_connection_is_used_by_two_threads_at_once(warehouse):
    warehouse.execute_s = 0.002
    backend = DatabricksBackend(SETTINGS, connect=warehouse.connect, version_poll_s=0)
    errors = run_from_threads(backend, 8, 15, lambda n, i: f"select {n} as thread, {i} as query")
    assert errors == []
    assert len(warehouse.statements) == 8 * 15
    assert warehouse.misuse == []
    assert 1 <= len(warehouse.opened) <= 8
    backend.close()
    assert all(connection.closed for connection in warehouse.opened)


def test_a_connection_that_raised_is_closed_and_never_used_again(warehouse):
    warehouse.fail_close = True  # and a failing close does not hide the query's own error
    backend = DatabricksBackend(SETTINGS, connect=warehouse.connect, version_poll_s=0)
    backend.run("select 1 as ok", {}, 10, 10.0)
    [first] = warehouse.opened
    with pytest.raises(ConnectionError, match="Invalid SessionHandle"):
        backend.run("select 1 as broken_session", {}, 10, 10.0)
    assert first.closed
    backend.run("select 2 as ok", {}, 10, 10.0)
    assert len(warehouse.opened) == 2
    assert not warehouse.opened[1].closed
    assert warehouse.misuse == []


def test_failing_queries_from_many_threads_never_hand_a_broken_connection_on(warehouse):
    warehouse.execute_s = 0.001
    backend = DatabricksBackend(SETTINGS, connect=warehouse.connect, version_poll_s=0)
    errors = run_from_threads(
        backend, 8, 12, lambda n, i: "select broken_session" if (n + i) % 4 == 0 else f"select {n}, {i}"
    )
    assert len(errors) == sum((n + i) % 4 == 0 for n in range(8) for i in range(12))
    assert all(isinstance(e, ConnectionError) for e in errors)
    assert warehouse.misuse == []
    broken = [c for c in warehouse.opened if c.closed]
    assert len(broken) >= len(errors)  # every connection that raised was closed
    backend.close()
    assert all(connection.closed for connection in warehouse.opened)


def test_closing_the_backend_closes_idle_connections_and_one_in_use_when_its_query_ends(warehouse):
    backend = DatabricksBackend(SETTINGS, connect=warehouse.connect, version_poll_s=0)
    running = threading.Thread(target=backend.run, args=("select held_open as line_count", {}, 10, 10.0))
    running.start()
    assert warehouse.entered.wait(5)
    backend.run("select 1 as line_count", {}, 10, 10.0)
    busy, idle = warehouse.opened  # the held query's, and the one this thread used and gave back
    backend.close()
    assert idle.closed and not busy.closed
    warehouse.gate.set()
    running.join(5)
    assert busy.closed
    assert warehouse.misuse == []
    with pytest.raises(RuntimeError, match="closed"):
        backend.run("select 1 as line_count", {}, 10, 10.0)


def test_the_api_closes_the_backends_connections_when_it_shuts_down(layer, warehouse):
    with api(layer, warehouse) as client:
        post_query(client, metrics=["lines"])
        assert warehouse.opened and not any(c.closed for c in warehouse.opened)
    assert all(connection.closed for connection in warehouse.opened)
