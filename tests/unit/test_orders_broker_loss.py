"""What the runner shows while the local broker is gone: its own Kafka clients stay quiet
(their lines go to a log file) and a figure it cannot read becomes one line, never a crash."""

from __future__ import annotations

import base64
import logging

import pytest

from ingest.config import KafkaConfig
from ingest.errors import first_line
from ingest.local import broker, broker_setup
from ingest.local.measure import TopicEnd, TopicUnreachable
from ingest.local.runner import _kafka_clients_log


def test_an_exception_without_a_message_is_named_by_its_type():
    assert first_line(TimeoutError()) == "TimeoutError"  # what a Kafka admin future raises
    assert first_line(RuntimeError("  \n")) == "RuntimeError"
    assert first_line(RuntimeError("first\nsecond")) == "first"


def test_the_topic_end_of_a_dead_broker_is_one_line_and_its_client_noise_goes_to_the_log(tmp_path, capfd):
    log_path = tmp_path / "runner-kafka.log"
    dead = KafkaConfig(bootstrap_servers=f"127.0.0.1:{broker.free_port()}")  # nothing listens there
    topic_end = TopicEnd(dead, _kafka_clients_log(log_path), timeout_s=1.0)
    try:
        with pytest.raises(TopicUnreachable) as failure:
            topic_end.total()
    finally:
        topic_end.close()
    logging.getLogger("ingest.local.runner.kafka_clients").handlers[0].flush()
    assert len(str(failure.value).splitlines()) == 1
    assert dead.bootstrap_servers in str(failure.value)
    console = capfd.readouterr()
    assert "Connection refused" not in console.err + console.out
    assert "Connection refused" in log_path.read_text()


def test_a_cluster_id_never_starts_with_a_dash(monkeypatch):
    """`kafka-storage format -t <id>` reads an id starting with '-' as an option (found when
    pytest-randomly's seeding drew one); Kafka's own ids never start with '-'."""
    import uuid

    dashed = uuid.UUID(bytes=bytes([0xF8]) + bytes(15))  # base64 of 0b111110... is '-'
    plain = uuid.UUID(bytes=bytes([0x04]) + bytes(15))
    draws = iter([dashed, plain])
    monkeypatch.setattr(broker_setup.uuid, "uuid4", lambda: next(draws))
    assert base64.urlsafe_b64encode(dashed.bytes).decode().startswith("-")
    cluster_id = broker_setup.cluster_id()
    assert cluster_id == base64.urlsafe_b64encode(plain.bytes).decode().rstrip("=")
