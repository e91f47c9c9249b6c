"""Shared fixtures: a local SparkSession, a data directory, and a real local broker."""

from __future__ import annotations

import os
from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def spark():
    from ingest.bronze.job import local_spark

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
    """A real Tansu broker on 127.0.0.1 with the topic created; stopped after the module."""
    from ingest import broker

    running = broker.start()
    monkeypatch_module.setenv("KAFKA_BOOTSTRAP_SERVERS", running.bootstrap_servers)
    yield running
    broker.stop()
    assert not _alive(running.pid), "the broker outlived its stop"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return Path(f"/proc/{pid}").exists() and "zombie" not in Path(f"/proc/{pid}/status").read_text()
