"""Settings read once (ingest.config): what the environment says, the local broker's settings,
and the configuration the broker is started with (ingest.local.broker_setup)."""

from __future__ import annotations

from pathlib import Path

from ingest.config import TOPIC, LogRetention, Settings
from ingest.local.broker_setup import server_properties
from ingest.paths import DataDir

GB = 2**30


def properties(text: str) -> dict[str, str]:
    return dict(line.split("=", 1) for line in text.splitlines())


def test_settings_come_from_the_environment_once(monkeypatch, tmp_path):
    monkeypatch.setenv("LAKEHOUSE_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("KAFKA_TOPIC", "orders-test")
    monkeypatch.setenv("BRONZE_MAX_EVENTS_PER_BATCH", "1234")
    monkeypatch.setenv("KAFKA_RETENTION_HOURS", "2")
    settings = Settings.from_env()
    monkeypatch.setenv("KAFKA_TOPIC", "changed-after")  # read once: later changes do not count
    assert settings.data == DataDir(tmp_path.resolve())
    assert settings.kafka.topic == "orders-test"
    assert settings.bronze.kafka == settings.kafka
    assert settings.bronze.max_events_per_batch == 1234
    assert settings.bronze.table_path == str(DataDir(tmp_path.resolve()).bronze_table)
    assert settings.retention == LogRetention(hours=2.0)


def test_a_local_broker_keeps_the_topic_and_drops_event_hubs_auth(monkeypatch, tmp_path):
    monkeypatch.setenv("LAKEHOUSE_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("KAFKA_TOPIC", "orders-test")
    monkeypatch.setenv("EVENTHUBS_CONNECTION_STRING", "Endpoint=sb://ns.servicebus.windows.net/;k=v")
    local = Settings.from_env().on_broker("127.0.0.1:40000")
    assert (local.kafka.bootstrap_servers, local.kafka.topic) == ("127.0.0.1:40000", "orders-test")
    assert local.kafka.eventhubs_connection_string is None
    assert local.bronze.kafka == local.kafka


def test_the_defaults_read_no_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("KAFKA_TOPIC", "orders-test")
    monkeypatch.setenv("BRONZE_MAX_EVENTS_PER_BATCH", "1234")
    defaults = Settings.defaults(DataDir(tmp_path))
    assert defaults.kafka.topic == TOPIC
    assert defaults.bronze.max_events_per_batch == 200_000
    assert defaults.bronze.checkpoint_path == str(DataDir(tmp_path).bronze_checkpoint)


def test_retention_is_lowered_to_half_the_free_disk_when_that_is_smaller():
    retention = LogRetention(hours=6, gigabytes=4)
    assert retention.fitted(free_bytes=100 * GB) == retention
    small = retention.fitted(free_bytes=2 * GB)
    assert (small.hours, small.gigabytes) == (6, 1.0)
    assert small.segment_mb == 128  # 1 GB / 8 is still above the 128 MB segment
    tiny = retention.fitted(free_bytes=int(0.2 * GB))
    assert tiny.gigabytes == 0.1 and tiny.segment_mb == 12
    assert LogRetention(gigabytes=4).partition_bytes(4) == GB


def test_the_broker_is_configured_with_its_retention_and_sasl_only_when_asked():
    plain = properties(server_properties(Path("/log"), 9092, 9093, None, LogRetention(2, 4), 4))
    assert plain["log.retention.ms"] == str(2 * 3600 * 1000)
    assert plain["log.retention.bytes"] == str(GB)
    assert plain["listeners"] == "PLAINTEXT://127.0.0.1:9092,CONTROLLER://127.0.0.1:9093"
    assert "sasl.enabled.mechanisms" not in plain
    sasl = properties(server_properties(Path("/log"), 9092, 9093, 9094, LogRetention(), 4))
    assert sasl["listeners"].endswith("SASL_PLAINTEXT://127.0.0.1:9094")
    assert (
        "${env:BROKER_SASL_CONNECTION_STRING}" in sasl["listener.name.sasl_plaintext.plain.sasl.jaas.config"]
    )
