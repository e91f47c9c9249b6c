"""Bronze's lag against Event Hubs (ingest/databricks/eventhubs_lag.py), offline.

No Event Hubs and no emulator here. The SDK's client is replaced by a fake with the same methods
returning the dicts `azure-eventhub` 5.15.1 builds (keys checked against the real client, whose
management request is answered with the service's AMQP maps); the real client is also built
offline from a connection string, and pointed at a refused loopback port.
"""

from __future__ import annotations

import socket
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace

import pytest

from ingest.databricks import eventhubs_lag as lag
from ingest.databricks.eventhubs_lag import (
    EventHubsLagReader,
    LagMismatchError,
    LagMonitor,
    LagReadError,
    LagReport,
    compute_lag,
    read_lag,
)

REPO = Path(__file__).resolve().parents[2]
HUB = "sales-transactions-raw"
SHARED_KEY = "ZmFrZS1rZXktbm90LWEtcmVhbC1vbmUtMDEyMzQ1Njc4OQ=="
CONNECTION_STRING = (
    "Endpoint=sb://orders-ns.servicebus.windows.net/;SharedAccessKeyName=listen;"
    f"SharedAccessKey={SHARED_KEY};EntityPath={HUB}"
)
NOW = datetime(2026, 12, 3, 12, 0, 0, tzinfo=UTC)
# What the service sends for "never" (the SDK turns AMQP's year-1 sentinel into datetime.min).
NEVER = datetime.min.replace(tzinfo=UTC)


def partition(pid, beginning, last, enqueued=NOW, is_empty=False, hub=HUB) -> dict:
    """A partition's properties, with the keys and types of the SDK's get_partition_properties."""
    return {
        "eventhub_name": hub,
        "id": pid,
        "beginning_sequence_number": beginning,
        "last_enqueued_sequence_number": last,
        "last_enqueued_offset": str(max(last, 0) * 512),  # a byte position: not the Kafka offset
        "last_enqueued_time_utc": enqueued,
        "is_empty": is_empty,
    }


class FakeConsumerClient:
    """The EventHubConsumerClient methods the lag reads, answering like the SDK does."""

    def __init__(self, partitions: list[dict], hub: str = HUB, fail_with: Exception | None = None):
        self.partitions = {p["id"]: p for p in partitions}
        self.hub = hub
        self.fail_with = fail_with
        self.calls: list[tuple] = []
        self.closed = False

    def get_eventhub_properties(self) -> dict:
        self.calls.append(("get_eventhub_properties",))
        if self.fail_with is not None:
            raise self.fail_with
        return {
            "eventhub_name": self.hub,
            "created_at": datetime(2026, 1, 1, tzinfo=UTC),
            "partition_ids": list(self.partitions),
        }

    def get_partition_properties(self, partition_id: str) -> dict:
        self.calls.append(("get_partition_properties", partition_id))
        return dict(self.partitions[partition_id])

    def close(self) -> None:
        self.closed = True


def four_partitions() -> list[dict]:
    return [
        partition("0", 0, 999, NOW - timedelta(seconds=1)),
        partition("1", 0, 499, NOW - timedelta(seconds=3.2)),
        partition("2", 0, 99, NOW - timedelta(seconds=30)),
        partition("3", 0, 9, NOW - timedelta(seconds=60)),
    ]


# ---------------------------------------------------------------------------- the arithmetic
def test_caught_up_when_bronze_is_at_every_partitions_end():
    client = FakeConsumerClient(four_partitions())
    report = read_lag(
        CONNECTION_STRING, HUB, {"0": 1000, "1": 500, "2": 100, "3": 10}, client=client, now=NOW
    )
    assert (report.events_behind, report.seconds_behind, report.is_caught_up) == (0, 0.0, True)
    assert [p.events_behind for p in report.partitions] == [0, 0, 0, 0]
    assert report.summary() == "bronze lag: caught up (0 events behind, 4 partitions)"
    assert client.closed
    assert client.calls[0] == ("get_eventhub_properties",)
    assert [c[1] for c in client.calls[1:]] == ["0", "1", "2", "3"]


def test_behind_on_some_partitions():
    positions = {"0": 1000, "1": 0, "2": 90, "3": 10}  # partition 1 from the start, 2 ten short
    report = read_lag(
        CONNECTION_STRING, HUB, positions, client=FakeConsumerClient(four_partitions()), now=NOW
    )
    by_id = {p.partition_id: p for p in report.partitions}
    assert {pid: p.events_behind for pid, p in by_id.items()} == {"0": 0, "1": 500, "2": 10, "3": 0}
    # seconds behind: now - the enqueued time of the newest event not landed (0 where caught up)
    assert {pid: p.seconds_behind for pid, p in by_id.items()} == {"0": 0.0, "1": 3.2, "2": 30.0, "3": 0.0}
    assert (report.events_behind, report.seconds_behind, report.is_caught_up) == (510, 30.0, False)
    assert report.summary() == "bronze lag: 510 events, 30.0 s behind (4 partitions, 2 behind)"
    assert by_id["1"].next_offset == 0 and not by_id["1"].is_caught_up


def test_thousands_are_grouped_in_the_summary():
    report = compute_lag(HUB, [partition("0", 0, 1233, NOW - timedelta(seconds=3.21))], {}, now=NOW)
    assert report.summary() == "bronze lag: 1,234 events, 3.2 s behind (1 partition, 1 behind)"


def test_an_empty_partition_is_not_behind():
    # a partition that never had an event, Bronze with nothing from it
    never_used = partition("0", 0, -1, NEVER, is_empty=True)
    # one whose events all expired after Bronze landed them
    drained = partition("1", 42, 41, NOW - timedelta(days=2), is_empty=True)
    report = compute_lag(HUB, [never_used, drained], {"1": 42}, now=NOW)
    first, second = report.partitions
    assert (first.events_behind, first.seconds_behind, first.next_offset) == (0, 0.0, None)
    assert first.last_enqueued_time_utc is None  # AMQP's "never" is not a time
    assert (second.events_behind, second.expired_unread) == (0, 0)
    assert report.is_caught_up
    assert report.as_json()["partitions"][0]["last_enqueued_time_utc"] is None


def test_an_empty_partition_whose_events_expired_unread_says_so():
    drained = partition("0", 42, 41, NOW - timedelta(days=2), is_empty=True)
    report = compute_lag(HUB, [drained], {"0": 30}, now=NOW)
    [p] = report.partitions
    assert (p.events_behind, p.expired_unread) == (0, 12)
    assert report.is_caught_up
    assert "12 events expired from Event Hubs before Bronze landed them" in report.summary()


def test_a_partition_bronze_never_read_counts_from_its_first_retained_event():
    # Bronze's startingOffsets is earliest: it will read 50..149, all still retained
    report = compute_lag(HUB, [partition("0", 50, 149, NOW - timedelta(seconds=5))], {}, now=NOW)
    [p] = report.partitions
    assert (p.next_offset, p.events_behind, p.seconds_behind, p.expired_unread) == (None, 100, 5.0, 0)
    assert not report.is_caught_up


def test_events_that_left_retention_before_bronze_read_them_are_not_counted_as_pending():
    report = compute_lag(HUB, [partition("0", 50, 149, NOW - timedelta(seconds=5))], {"0": 10}, now=NOW)
    [p] = report.partitions
    assert (p.events_behind, p.expired_unread) == (100, 40)
    assert report.as_json()["expired_unread"] == 40


def test_a_partition_bronze_has_and_the_hub_does_not_is_an_error():
    client = FakeConsumerClient(four_partitions())
    with pytest.raises(LagMismatchError) as err:
        read_lag(CONNECTION_STRING, HUB, {"0": 1000, "7": 5}, client=client, now=NOW)
    message = str(err.value)
    assert "partition(s) 7" in message and HUB in message and "0, 1, 2, 3" in message
    assert client.closed  # the client is closed on the error too


def test_bronze_past_the_hubs_end_is_an_error():
    with pytest.raises(
        LagMismatchError, match=r"past the end of .* partition\(s\) 3 \(Bronze next offset 11"
    ):
        compute_lag(HUB, four_partitions(), {"3": 11}, now=NOW)


def test_the_report_is_frozen_and_json_ready():
    report = compute_lag(HUB, four_partitions(), {"0": 990}, now=NOW)
    with pytest.raises(AttributeError):
        report.eventhub_name = "other"  # type: ignore[misc]
    with pytest.raises(AttributeError):
        report.partitions[0].events_behind = 0  # type: ignore[misc]
    doc = report.as_json()
    assert doc["measured_at"] == "2026-12-03T12:00:00Z"
    assert doc["events_behind"] == report.events_behind == 10 + 500 + 100 + 10
    assert doc["partitions"][0] == {
        "partition_id": "0",
        "events_behind": 10,
        "seconds_behind": 1.0,
        "next_offset": 990,
        "beginning_sequence_number": 0,
        "last_enqueued_sequence_number": 999,
        "last_enqueued_time_utc": "2026-12-03T11:59:59Z",
        "is_empty": False,
        "expired_unread": 0,
    }


# ---------------------------------------------------------------------------- Bronze's positions
def test_positions_from_rows_and_the_warehouse_sql():
    assert lag.positions_from_rows([(0, 1000), (3, 10), (None, 5)]) == {"0": 1000, "3": 10}
    sql = lag.positions_sql(lag.quote_table("orders.bronze.sales_transactions"), ":topic")
    assert "from `orders`.`bronze`.`sales_transactions`" in sql
    assert "where kafka_topic = :topic" in sql
    assert "max(kafka_offset) + 1 as next_offset" in sql
    assert lag.quote_table("`a`.`b`") == "`a`.`b`"


def test_bronze_positions_and_bronze_lag_from_a_spark_table(spark):
    rows = [
        ("sales-transactions-raw", 0, 0),
        ("sales-transactions-raw", 0, 999),
        ("sales-transactions-raw", 1, 489),
        ("another-topic", 2, 5000),
    ]
    spark.createDataFrame(
        rows, "kafka_topic string, kafka_partition int, kafka_offset long"
    ).createOrReplaceTempView("bronze_lag_test")
    assert lag.bronze_positions(spark, "bronze_lag_test", topic=HUB) == {"0": 1000, "1": 490}
    assert lag.bronze_positions(spark, "bronze_lag_test")["2"] == 5001
    client = FakeConsumerClient(four_partitions())
    report, line = lag.bronze_lag(spark, "bronze_lag_test", CONNECTION_STRING, HUB, client=client, now=NOW)
    # partitions 2 and 3 never landed: everything they retain is pending
    assert {p.partition_id: p.events_behind for p in report.partitions} == {
        "0": 0,
        "1": 10,
        "2": 100,
        "3": 10,
    }
    assert line == "bronze lag: 120 events, 60.0 s behind (4 partitions, 3 behind)"
    assert client.closed


# ---------------------------------------------------------------------------- the connection string
def all_text(*things) -> str:
    return "\n".join(f"{thing!r}\n{thing!s}" for thing in things)


def test_the_connection_string_is_in_no_repr_str_or_report():
    client = FakeConsumerClient(four_partitions())
    reader = EventHubsLagReader(CONNECTION_STRING, HUB, client=client)
    report = reader.lag({"0": 5}, now=NOW)
    monitor = LagMonitor(lambda: report, secrets=[CONNECTION_STRING])
    status = monitor.current()
    text = all_text(reader, report, report.partitions[0], monitor, status, report.as_json(), report.summary())
    assert SHARED_KEY not in text and CONNECTION_STRING not in text and "SharedAccessKey" not in text
    assert "orders-ns.servicebus.windows.net" in repr(reader)  # the namespace is not a secret


def test_sdk_errors_come_out_redacted_and_unchained():
    leaky = RuntimeError(f"auth failed for {CONNECTION_STRING} (key {SHARED_KEY})")
    client = FakeConsumerClient(four_partitions(), fail_with=leaky)
    with pytest.raises(LagReadError) as err:
        read_lag(CONNECTION_STRING, HUB, {}, client=client)
    message = str(err.value)
    assert SHARED_KEY not in message and "SharedAccessKeyName=listen" not in message
    assert message.startswith(
        "Event Hubs: get_eventhub_properties failed: RuntimeError: auth failed for [REDACTED]"
    )
    assert err.value.__cause__ is None and err.value.__suppress_context__


def test_a_malformed_connection_string_fails_without_showing_its_key():
    bad = f"Endpoint=nonsense;SharedAccessKeyName=listen;SharedAccessKey={SHARED_KEY}"
    with pytest.raises(LagReadError) as err:
        read_lag(bad, HUB, {})
    assert SHARED_KEY not in str(err.value) and "building the client" in str(err.value)


def test_the_monitor_redacts_what_the_read_raises():
    def read() -> LagReport:
        raise ValueError(f"table not found; options: {CONNECTION_STRING}")

    status = LagMonitor(read, secrets=[CONNECTION_STRING]).current()
    assert status.report is None
    assert status.error == "ValueError: table not found; options: [REDACTED]"
    assert status.as_json()["events_behind"] is None


# ---------------------------------------------------------------------------- the real SDK, offline
def test_the_sdk_builds_a_client_from_a_connection_string_without_the_network(monkeypatch):
    from azure.eventhub import EventHubConsumerClient

    def no_network(*args, **kwargs):
        raise AssertionError(f"network use at construction: {args[:2]}")

    monkeypatch.setattr(socket, "getaddrinfo", no_network)
    monkeypatch.setattr(socket.socket, "connect", no_network)
    client = EventHubConsumerClient.from_connection_string(CONNECTION_STRING, consumer_group="$Default")
    assert client.eventhub_name == HUB
    assert client._address.hostname == "orders-ns.servicebus.windows.net"
    assert SHARED_KEY not in repr(client)
    client.close()
    # and through the module: built lazily, eventhub_name overriding EntityPath, closed on exit
    with EventHubsLagReader(CONNECTION_STRING, "other-hub") as reader:
        built = reader.client()
        assert isinstance(built, EventHubConsumerClient) and built.eventhub_name == "other-hub"
    assert reader._client is None


def test_the_fakes_dicts_have_the_keys_and_types_the_sdk_builds(monkeypatch):
    """The real client parses the service's AMQP management answers (canned here) into dicts:
    the fake above must return the same keys and value types, and the lag read on the real
    client must come out as on the fake."""
    from azure.eventhub import EventHubConsumerClient
    from azure.eventhub._constants import MGMT_OPERATION, MGMT_PARTITION_OPERATION

    enqueued_ms = int((NOW - timedelta(seconds=3.2)).timestamp() * 1000)
    answers = {
        MGMT_OPERATION: {
            b"name": HUB.encode(),
            b"created_at": int(datetime(2026, 1, 1, tzinfo=UTC).timestamp() * 1000),
            b"partition_ids": [b"0", b"1"],
        },
        (MGMT_PARTITION_OPERATION, "0"): {
            b"name": HUB.encode(),
            b"partition": b"0",
            b"begin_sequence_number": 0,
            b"last_enqueued_sequence_number": 499,
            b"last_enqueued_offset": b"255488",
            b"is_partition_empty": False,
            b"last_enqueued_time_utc": enqueued_ms,
        },
        (MGMT_PARTITION_OPERATION, "1"): {
            b"name": HUB.encode(),
            b"partition": b"1",
            b"begin_sequence_number": 0,
            b"last_enqueued_sequence_number": -1,
            b"last_enqueued_offset": b"-1",
            b"is_partition_empty": True,
            b"last_enqueued_time_utc": 0,
        },
    }
    requests = []

    def management_request(mgmt_msg, op_type):
        props = mgmt_msg.application_properties
        requests.append((op_type, dict(props)))
        key = op_type if op_type == MGMT_OPERATION else (op_type, props["partition"])
        return SimpleNamespace(value=answers[key])

    sdk = EventHubConsumerClient.from_connection_string(CONNECTION_STRING, consumer_group="$Default")
    monkeypatch.setattr(sdk, "_management_request", management_request)
    fake = FakeConsumerClient([partition("0", 0, 499, NOW - timedelta(seconds=3.2))])

    real_hub, fake_hub = sdk.get_eventhub_properties(), fake.get_eventhub_properties()
    assert set(real_hub) == set(fake_hub) == {"eventhub_name", "created_at", "partition_ids"}
    assert real_hub["partition_ids"] == ["0", "1"]
    real_p0, fake_p0 = sdk.get_partition_properties("0"), fake.get_partition_properties("0")
    assert set(real_p0) == set(fake_p0)
    assert {k: type(v) for k, v in real_p0.items()} == {k: type(v) for k, v in fake_p0.items()}
    assert real_p0["last_enqueued_time_utc"] == fake_p0["last_enqueued_time_utc"]

    requests.clear()
    report = read_lag(CONNECTION_STRING, None, {"0": 400}, client=sdk, now=NOW)
    assert [(p.partition_id, p.events_behind, p.seconds_behind) for p in report.partitions] == [
        ("0", 100, 3.2),
        ("1", 0, 0.0),
    ]
    assert report.eventhub_name == HUB
    assert report.partitions[1].last_enqueued_time_utc is None
    assert [(r[1]["name"], r[1].get("partition")) for r in requests] == [(HUB, None), (HUB, "0"), (HUB, "1")]
    assert all(SHARED_KEY not in str(r) for r in requests)  # only a SAS token travels


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_an_unreachable_namespace_fails_fast_and_redacted():
    """AMQP to a refused loopback port: the SDK's ConnectError, as a LagReadError."""
    refused = (
        f"Endpoint=sb://127.0.0.1:{free_port()}/;SharedAccessKeyName=listen;"
        f"SharedAccessKey={SHARED_KEY};EntityPath={HUB}"
    )
    started = time.monotonic()
    with pytest.raises(LagReadError) as err:
        read_lag(refused, HUB, {}, client_options={"retry_total": 0, "auth_timeout": 5})
    assert time.monotonic() - started < 20
    message = str(err.value)
    assert "get_eventhub_properties failed: ConnectError" in message
    assert SHARED_KEY not in message


def test_the_sdk_is_pinned_in_the_lock_and_installed_at_its_pin():
    from importlib.metadata import version

    lock = dict(line.split("==", 1) for line in (REPO / "requirements.lock").read_text().split())
    assert lock["azure-eventhub"] == version("azure-eventhub") == "5.15.1"
    assert lock["azure-core"] == version("azure-core")
    assert '"azure-eventhub>=5.15,<5.16"' in (REPO / "pyproject.toml").read_text()


def test_importing_the_module_does_not_import_the_sdk():
    code = (
        "import sys; import ingest.databricks.eventhubs_lag; "
        "sys.exit(1 if any(m.startswith('azure') for m in sys.modules) else 0)"
    )
    assert subprocess.run([sys.executable, "-c", code], cwd=REPO).returncode == 0


# ---------------------------------------------------------------------------- the server's monitor
def test_the_monitor_reuses_a_reading_for_its_ttl():
    clock = [100.0]
    reads = []

    def read() -> LagReport:
        reads.append(clock[0])
        return compute_lag(HUB, four_partitions(), {}, now=NOW)

    monitor = LagMonitor(read, ttl_s=30, clock=lambda: clock[0])
    first = monitor.current()
    clock[0] += 10
    assert monitor.current() is first
    clock[0] += 25
    assert monitor.current() is not first
    assert reads == [100.0, 135.0]


def test_a_slow_read_does_not_hold_the_answer_and_lands_later():
    release = threading.Event()

    def read() -> LagReport:
        release.wait(10)
        return compute_lag(HUB, four_partitions(), {}, now=NOW)

    monitor = LagMonitor(read, ttl_s=30, timeout_s=0.2)
    started = time.monotonic()
    status = monitor.current()
    assert time.monotonic() - started < 2
    assert status.report is None and status.error == "Event Hubs did not answer within 0.2 s"
    release.set()
    for _ in range(50):
        status = monitor.current()
        if status.report is not None:
            break
        time.sleep(0.05)
    assert status.report is not None and status.report.events_behind == 1610
