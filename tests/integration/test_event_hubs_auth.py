"""Event Hubs' Kafka auth, run for real against the local broker's SASL/PLAIN listener (user
`$ConnectionString`, the connection string as password): the producer, the outbox relay and the
Databricks Bronze entry point (ingest/databricks/bronze_job.py) each connect with the settings
they would use on Event Hubs (only the transport differs: SASL_PLAINTEXT on loopback, not TLS),
and a wrong connection string is refused."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys

import pytest
from confluent_kafka import KafkaException
from confluent_kafka.admin import AdminClient
from deltalake import DeltaTable

from ingest import producer
from ingest.config import KafkaConfig
from ingest.local import broker
from ingest.orders.outbox import lag
from ingest.paths import DataDir

from ..waiting import wait_for
from .helpers import PROJECT_DIR
from .outbox_helpers import query, read_topic

pytestmark = pytest.mark.integration

EVENTS = 2_000


def connection_string() -> str:
    return (
        "Endpoint=sb://lakehouse-test.servicebus.windows.net/;SharedAccessKeyName=RootManageSharedAccessKey;"
        f"SharedAccessKey={secrets.token_urlsafe(32)}"
    )


@pytest.fixture(scope="module")
def sasl_broker(outbox_data_root, monkeypatch_module):
    secret = connection_string()
    running = broker.start(data=DataDir(outbox_data_root), sasl_connection_string=secret)
    yield running, secret
    broker.stop(DataDir(outbox_data_root))


def sasl_env(running: broker.Broker, secret: str) -> dict[str, str]:
    """What a process on Event Hubs is given, pointed at the local SASL listener."""
    return {
        "EVENTHUBS_CONNECTION_STRING": secret,
        "KAFKA_BOOTSTRAP_SERVERS": running.sasl_bootstrap_servers,
        "KAFKA_SECURITY_PROTOCOL": "SASL_PLAINTEXT",
    }


def test_the_listener_refuses_a_wrong_connection_string(sasl_broker):
    running, _secret = sasl_broker
    wrong = KafkaConfig(
        bootstrap_servers=running.sasl_bootstrap_servers,
        eventhubs_connection_string=connection_string(),
        security_protocol="SASL_PLAINTEXT",
    )
    admin = AdminClient(wrong.client_config())
    with pytest.raises(KafkaException):
        admin.list_topics(timeout=5)


def test_the_producer_publishes_with_event_hubs_settings(sasl_broker, monkeypatch):
    running, secret = sasl_broker
    for name, value in sasl_env(running, secret).items():
        monkeypatch.setenv(name, value)
    kafka = KafkaConfig.from_env()
    assert kafka.client_config()["sasl.username"] == "$ConnectionString"
    before = len(read_topic(running.bootstrap_servers))
    result = producer.publish_synthetic(EVENTS, kafka, seed=7, quiet=True)
    assert (result.published, result.failed) == (EVENTS, 0)
    assert len(read_topic(running.bootstrap_servers)) == before + EVENTS


def test_the_relay_publishes_the_outbox_with_event_hubs_settings(sasl_broker, orders_db):
    running, secret = sasl_broker
    env = {**os.environ, **sasl_env(running, secret)}
    dsn = orders_db.dsn()
    before = {r.value for r in read_topic(running.bootstrap_servers)}
    simulate = [sys.executable, "-m", "ingest", "orders", "simulate", "--rate", "20", "--orders", "20"]
    subprocess.run(simulate, cwd=PROJECT_DIR, env=env, check=True, capture_output=True, timeout=120)
    lines = query(dsn, "select count(*) from order_lines")[0][0]
    relay = subprocess.Popen(
        [sys.executable, "-m", "ingest", "orders", "relay"],
        cwd=PROJECT_DIR,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:

        def published() -> bool:
            assert relay.poll() is None, relay.stderr.read()[-2000:]
            return (
                not lag(dsn).rows
                and len({r.value for r in read_topic(running.bootstrap_servers)} - before) >= lines
            )

        wait_for(published, "the relay to publish the outbox", 90, interval_s=0.5, detail=lambda: lag(dsn))
    finally:
        relay.terminate()
        relay.wait(30)
    assert lines > 0


def test_the_databricks_bronze_entry_point_lands_the_topic_in_delta(sasl_broker, tmp_path):
    running, secret = sasl_broker
    in_topic = len(read_topic(running.bootstrap_servers))
    if in_topic == 0:  # run alone: give it something to land
        kafka = KafkaConfig(running.bootstrap_servers)
        in_topic = producer.publish_synthetic(500, kafka, seed=3, quiet=True).published
    table, checkpoint = tmp_path / "bronze", tmp_path / "checkpoint"
    env = {
        **os.environ,
        **sasl_env(running, secret),
        "BRONZE_TABLE_PATH": str(table),
        "BRONZE_CHECKPOINT_PATH": str(checkpoint),
        # as on a job cluster: only what the Databricks Runtime ships can be imported
        "PYTHONPATH": str(PROJECT_DIR / "tests" / "databricks_runtime"),
    }
    job = [sys.executable, "ingest/databricks/bronze_job.py", "--available-now"]
    done = subprocess.run(job, cwd=PROJECT_DIR, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    assert secret not in done.stderr + done.stdout, "the connection string was printed"
    assert "Event Hubs connection string from environment variable" in done.stderr
    assert "does not ship" not in done.stderr
    landed = DeltaTable(str(table)).to_pyarrow_table()
    assert landed.num_rows == in_topic
    history = DeltaTable(str(table)).history()
    assert all(commit.get("engineInfo", "").startswith("Apache-Spark") for commit in history), history
