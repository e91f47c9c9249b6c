"""Shared fixtures: a local SparkSession, a data directory, and a real local broker."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from ingest.paths import DataDir


@pytest.fixture(scope="session")
def spark():
    from ingest.bronze.job import local_spark
    from ingest.jvm import LOCAL_SPARK_ENVIRONMENT

    for name, value in LOCAL_SPARK_ENVIRONMENT.items():  # the tests are an entry point
        os.environ.setdefault(name, value)
    session = local_spark("tests")
    yield session
    session.stop()


@pytest.fixture(scope="module")
def data_root(tmp_path_factory, monkeypatch_module) -> Path:
    """A fresh LAKEHOUSE_DATA_DIR for a test module."""
    root = tmp_path_factory.mktemp("lakehouse")
    monkeypatch_module.setenv("LAKEHOUSE_DATA_DIR", str(root))
    return root


@pytest.fixture(scope="module")
def monkeypatch_module():
    with pytest.MonkeyPatch.context() as mp:
        yield mp


@pytest.fixture(scope="module")
def kafka_broker(data_root, monkeypatch_module):
    """A real Kafka broker (KRaft, log in the data directory) on 127.0.0.1 with the topic created;
    stopped after the module."""
    from ingest.local import broker

    running = broker.start(data=DataDir.from_env())
    monkeypatch_module.setenv("KAFKA_BOOTSTRAP_SERVERS", running.bootstrap_servers)
    yield running
    broker.stop(data=DataDir.from_env())
    assert not _alive(running.pid), "the broker outlived its stop"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return Path(f"/proc/{pid}").exists() and "zombie" not in Path(f"/proc/{pid}/status").read_text()


# -- the orders database and the outbox relay (tests/integration/test_outbox_*.py) ---------------
@pytest.fixture(scope="module")
def outbox_data_root(monkeypatch_module) -> Path:
    """A fresh LAKEHOUSE_DATA_DIR that PostgreSQL can reach: as root its server runs as the
    `postgres` user, which cannot enter pytest's own temporary directory (mode 0700)."""
    import shutil
    import tempfile

    root = Path(tempfile.mkdtemp(prefix="lakehouse-outbox-test-", dir="/tmp"))
    root.chmod(0o755)
    monkeypatch_module.setenv("LAKEHOUSE_DATA_DIR", str(root))
    yield root
    shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="module")
def orders_db(outbox_data_root, monkeypatch_module):
    """The orders database (migrated, replication slot created), stopped after the module."""
    from ingest.orders import migrate, postgres

    running = postgres.start(data=DataDir.from_env())
    migrate.apply(running.dsn())
    migrate.ensure_slot(running.dsn(), postgres.SLOT)
    monkeypatch_module.setenv("ORDERS_DATABASE_DSN", running.dsn())
    yield running
    postgres.stop(data=DataDir.from_env())
    assert not _alive(running.pid), "PostgreSQL outlived its stop"


@pytest.fixture(scope="module")
def outbox_broker(outbox_data_root, monkeypatch_module):
    """A real broker for the outbox tests, in their own data directory."""
    from ingest.local import broker

    running = broker.start(data=DataDir.from_env())
    monkeypatch_module.setenv("KAFKA_BOOTSTRAP_SERVERS", running.bootstrap_servers)
    yield running
    broker.stop(data=DataDir.from_env())
