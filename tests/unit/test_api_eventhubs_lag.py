"""/v1/health with Bronze's lag against Event Hubs, offline.

The Databricks backend talks to a fake `databricks.sql.connect` (as in test_api_databricks.py);
the lag reader is a fake injected into create_app, or the default one with Event Hubs' client
replaced by a fake answering like the SDK (tests/unit/test_eventhubs_lag.py pins its dicts to
azure-eventhub's own). Locally (DuckDB) and without a connection string the field is null.
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

import pytest
from fastapi.testclient import TestClient

from ingest.api.app import create_app
from ingest.api.backends import DatabricksBackend
from ingest.api.config import ApiConfig, DatabricksSettings, EventHubsSettings
from ingest.databricks.eventhubs_lag import LagReadError, compute_lag

from .test_eventhubs_lag import CONNECTION_STRING, HUB, SHARED_KEY, FakeConsumerClient, partition

SETTINGS = DatabricksSettings(
    host="adb-1234.5.azuredatabricks.net",
    http_path="/sql/1.0/warehouses/abc123",
    token="dapi-fake-token-0123456789",
    catalog="orders",
)
EVENTHUBS = EventHubsSettings(connection_string=CONNECTION_STRING, eventhub_name=HUB)
LAYER = SimpleNamespace(metrics={}, dimensions={})  # health does not use the semantic layer


class FakeWarehouse:
    """Answers the version and freshness queries of the fact, and Bronze's positions."""

    def __init__(self) -> None:
        self.statements: list[tuple[str, dict]] = []
        self.gold = (1000, datetime(2019, 6, 30, 12, 0, 0))
        self.positions = [(0, 1000), (1, 490)]

    def connect(self, server_hostname, http_path, access_token):
        return SimpleNamespace(cursor=lambda: FakeCursor(self))

    def answer(self, sql: str):
        if "as line_count" in sql:
            return ("line_count", "newest"), [self.gold]
        if "as gold_lines" in sql:
            count, newest = self.gold
            return ("gold_lines", "newest_source_event_at", "newest_bronze_ingested_at"), [
                (count, newest, newest)
            ]
        if "max(kafka_offset)" in sql:
            return ("kafka_partition", "next_offset"), list(self.positions)
        raise AssertionError(f"unexpected SQL: {sql}")


class FakeCursor:
    def __init__(self, warehouse: FakeWarehouse) -> None:
        self.warehouse, self.description, self._rows = warehouse, None, []

    def execute(self, operation, parameters=None):
        self.warehouse.statements.append((operation, dict(parameters or {})))
        columns, self._rows = self.warehouse.answer(operation)
        self.description = [(name, "string", None, None, None, None, None) for name in columns]
        return self

    def fetchmany(self, size):
        rows, self._rows = self._rows[:size], self._rows[size:]
        return rows

    def cancel(self) -> None:
        pass

    def close(self) -> None:
        pass


def four_partitions(now: datetime) -> list[dict]:
    return [
        partition("0", 0, 999, now - timedelta(seconds=1)),
        partition("1", 0, 499, now - timedelta(seconds=3)),
        partition("2", 0, 99, now - timedelta(seconds=30)),
        partition("3", 0, -1, datetime.min.replace(tzinfo=UTC), is_empty=True),
    ]


class FakeLagReader:
    """Stands for the default reader: counts reads, answers a report or raises."""

    def __init__(self, positions=None, error: Exception | None = None) -> None:
        self.positions = positions if positions is not None else {"0": 1000, "1": 490, "2": 100}
        self.error = error
        self.reads = 0

    def __call__(self):
        self.reads += 1
        if self.error is not None:
            raise self.error
        now = datetime.now(UTC)
        return compute_lag(HUB, four_partitions(now), self.positions, now=now)


def api(warehouse: FakeWarehouse, eventhubs=EVENTHUBS, lag_reader=None, engine="databricks") -> TestClient:
    backend = DatabricksBackend(SETTINGS, connect=warehouse.connect, version_poll_s=0)
    config = ApiConfig(engine=engine, databricks=SETTINGS, eventhubs=eventhubs)
    return TestClient(create_app(config, LAYER, backend, lag_reader=lag_reader))


def health(client: TestClient) -> dict:
    response = client.get("/v1/health")
    assert response.status_code == 200, response.text
    return response.json()


@pytest.fixture
def warehouse() -> FakeWarehouse:
    return FakeWarehouse()


# ---------------------------------------------------------------------------- the answer
def test_health_on_databricks_reports_bronze_lag(warehouse):
    reader = FakeLagReader()
    lag = health(api(warehouse, lag_reader=reader))["bronze_lag"]
    assert (lag["eventhub_name"], lag["events_behind"], lag["is_caught_up"], lag["error"]) == (
        HUB,
        10,
        False,
        None,
    )
    assert lag["seconds_behind"] == pytest.approx(3.0, abs=0.5)
    assert [(p["partition_id"], p["events_behind"]) for p in lag["partitions"]] == [
        ("0", 0),
        ("1", 10),
        ("2", 0),
        ("3", 0),
    ]
    assert lag["partitions"][3]["last_enqueued_time_utc"] is None
    assert reader.reads == 1


def test_a_measurement_is_reused_within_its_ttl(warehouse):
    reader = FakeLagReader()
    client = api(warehouse, lag_reader=reader)
    first, second = health(client)["bronze_lag"], health(client)["bronze_lag"]
    assert first == second and reader.reads == 1


def test_without_a_connection_string_the_field_is_null(warehouse):
    reader = FakeLagReader()
    assert health(api(warehouse, eventhubs=None, lag_reader=reader))["bronze_lag"] is None
    assert reader.reads == 0


class FakeDuckDb:
    """The local backend's face as the health route sees it."""

    engine = "duckdb"

    def version(self) -> str:
        return "v1"

    def built_at(self) -> datetime:
        return datetime(2019, 6, 30, 12, 0, tzinfo=UTC)

    def relation(self, schema: str, name: str) -> str:
        return f'"lakehouse"."{schema}"."{name}"'

    def placeholder(self, key: str) -> str:
        return f"${key}"

    def run(self, sql, params, max_rows, timeout_s):
        return SimpleNamespace(
            columns=("gold_lines", "newest_source_event_at", "newest_bronze_ingested_at"),
            rows=[(1, None, None)],
        )


def test_locally_the_field_is_null_even_with_a_connection_string():
    reader = FakeLagReader()
    config = ApiConfig(engine="duckdb", eventhubs=EVENTHUBS)
    answer = health(TestClient(create_app(config, LAYER, FakeDuckDb(), lag_reader=reader)))
    assert answer["engine"] == "duckdb" and answer["bronze_lag"] is None
    assert reader.reads == 0


def test_a_failed_measurement_is_an_error_in_the_answer_not_a_failed_health(warehouse):
    leaky = LagReadError(f"Event Hubs: get_eventhub_properties failed: unauthorized {CONNECTION_STRING}")
    response = api(warehouse, lag_reader=FakeLagReader(error=leaky)).get("/v1/health")
    assert response.status_code == 200, response.text
    lag = response.json()["bronze_lag"]
    assert lag["events_behind"] is None and lag["is_caught_up"] is None and lag["partitions"] == []
    assert lag["error"].startswith("Event Hubs: get_eventhub_properties failed: unauthorized [REDACTED]")
    assert SHARED_KEY not in response.text and "SharedAccessKeyName" not in response.text


def test_a_hanging_measurement_does_not_hold_health(warehouse):
    release = threading.Event()

    def slow():
        release.wait(10)
        return FakeLagReader()()

    settings = EventHubsSettings(connection_string=CONNECTION_STRING, eventhub_name=HUB, timeout_s=0.2)
    try:
        lag = health(api(warehouse, eventhubs=settings, lag_reader=slow))["bronze_lag"]
        assert lag["error"] == "Event Hubs did not answer within 0.2 s"
    finally:
        release.set()


# ---------------------------------------------------------------------------- the default reader
def test_the_default_reader_reads_bronze_through_the_warehouse_and_event_hubs_through_the_sdk(
    warehouse, monkeypatch
):
    from azure.eventhub import EventHubConsumerClient

    built = []

    def from_connection_string(conn_str, consumer_group, **kwargs):
        client = FakeConsumerClient(four_partitions(datetime.now(UTC)))
        built.append((conn_str, consumer_group, kwargs, client))
        return client

    monkeypatch.setattr(EventHubConsumerClient, "from_connection_string", from_connection_string)
    lag = health(api(warehouse))["bronze_lag"]
    assert (lag["events_behind"], lag["error"]) == (10 + 100, None)  # partition 2 never landed
    [(sql, params)] = [(s, p) for s, p in warehouse.statements if "kafka_offset" in s]
    assert "from `orders`.`bronze`.`sales_transactions`" in sql
    assert "kafka_topic = :topic" in sql and HUB not in sql
    assert params == {"topic": HUB}
    [(conn_str, group, kwargs, client)] = built
    assert (conn_str, group, kwargs["eventhub_name"]) == (CONNECTION_STRING, "$Default", HUB)
    assert kwargs["retry_total"] == 1 and kwargs["auth_timeout"] == 10
    assert client.closed


def test_the_default_reader_uses_bronze_table_path_when_given(warehouse, monkeypatch):
    from azure.eventhub import EventHubConsumerClient

    monkeypatch.setattr(
        EventHubConsumerClient,
        "from_connection_string",
        lambda *a, **k: FakeConsumerClient(four_partitions(datetime.now(UTC))),
    )
    settings = EventHubsSettings(
        connection_string=CONNECTION_STRING, eventhub_name=HUB, bronze_table="dev.bronze.st"
    )
    health(api(warehouse, eventhubs=settings))
    assert any("from `dev`.`bronze`.`st`" in sql for sql, _ in warehouse.statements)


# ---------------------------------------------------------------------------- the settings
DATABRICKS_ENV = {
    "LAKEHOUSE_API_ENGINE": "databricks",
    "DATABRICKS_HOST": "https://adb-1234.5.azuredatabricks.net/",
    "DATABRICKS_HTTP_PATH": "/sql/1.0/warehouses/abc123",
    "DATABRICKS_TOKEN": "dapi-fake-token-0123456789",
}


def test_settings_come_from_the_environment_once_and_hide_the_connection_string():
    env = {
        **DATABRICKS_ENV,
        "EVENTHUBS_CONNECTION_STRING": CONNECTION_STRING,
        "LAKEHOUSE_API_LAG_TTL_S": "15",
    }
    config = ApiConfig.from_env(None, None, environ=env)
    assert config.eventhubs is not None
    assert (config.eventhubs.eventhub_name, config.eventhubs.ttl_s) == (HUB, 15.0)  # from EntityPath
    assert config.eventhubs.connection_string == CONNECTION_STRING
    assert SHARED_KEY not in repr(config) and SHARED_KEY not in str(config.eventhubs)
    env["KAFKA_TOPIC"], env["BRONZE_TABLE_PATH"] = "orders-hub", "orders.bronze.sales_transactions"
    config = ApiConfig.from_env(None, None, environ=env)
    assert (config.eventhubs.eventhub_name, config.eventhubs.bronze_table) == (
        "orders-hub",
        "orders.bronze.sales_transactions",
    )


def test_no_lag_settings_locally_without_a_string_or_with_an_unresolved_reference():
    assert (
        ApiConfig.from_env(None, None, environ={"EVENTHUBS_CONNECTION_STRING": CONNECTION_STRING}).eventhubs
        is None
    )
    assert ApiConfig.from_env(None, None, environ=DATABRICKS_ENV).eventhubs is None
    unresolved = {**DATABRICKS_ENV, "EVENTHUBS_CONNECTION_STRING": "{{secrets/orders/eventhubs}}"}
    assert ApiConfig.from_env(None, None, environ=unresolved).eventhubs is None


def test_the_openapi_schema_documents_the_optional_field(warehouse):
    schema = api(warehouse, lag_reader=FakeLagReader()).get("/openapi.json").json()
    health_out = schema["components"]["schemas"]["HealthOut"]
    assert "bronze_lag" not in health_out.get("required", [])
    assert {"$ref": "#/components/schemas/BronzeLagOut"} in health_out["properties"]["bronze_lag"]["anyOf"]
    description = schema["paths"]["/v1/health"]["get"]["description"]
    assert "bronze_lag" in description and "Null on the local DuckDB" in description
