"""Bronze survives crashes and replays, and refuses a checkpoint the broker no longer matches."""

from __future__ import annotations

import signal
from collections import Counter
from pathlib import Path

import pytest

from ingest import producer
from ingest.config import KafkaConfig
from ingest.local import broker
from ingest.paths import DataDir

from ..waiting import wait_for
from .helpers import bronze_table, bronze_version, cli, delta_commits, start_cli

pytestmark = pytest.mark.integration

EVENTS = 12_000
BATCH = 2_000


def assert_exactly_once(data_root: Path, expected: int) -> None:
    table = bronze_table(data_root)
    coordinates = Counter(
        zip(table["kafka_partition"].to_pylist(), table["kafka_offset"].to_pylist(), strict=True)
    )
    assert table.num_rows == expected
    assert len(coordinates) == expected, "some Kafka records landed twice"
    assert len(set(table["event_id"].to_pylist())) == expected


@pytest.fixture
def data_root(tmp_path, monkeypatch) -> Path:
    """Each test its own data directory: a crash, a replay and a lost log are separate stories."""
    monkeypatch.setenv("LAKEHOUSE_DATA_DIR", str(tmp_path))
    return tmp_path


@pytest.fixture
def kafka_broker(data_root, monkeypatch):
    """Each test its own broker, whose log lives in the test's data directory."""
    running = broker.start(data=DataDir(data_root))
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", running.bootstrap_servers)
    yield running
    broker.stop(data=DataDir(data_root))


@pytest.fixture
def published(kafka_broker, data_root):
    result = producer.publish_synthetic(EVENTS, KafkaConfig.from_env(), seed=5, quiet=True)
    assert result.published == EVENTS
    return result


def test_sigkill_in_the_middle_of_a_drain_then_restart_lands_every_event_once(published, data_root):
    proc = start_cli("bronze", "--available-now", "--max-events-per-batch", str(BATCH))
    wait_for(
        lambda: delta_commits(data_root) >= 2 or proc.poll() is not None,
        "two Bronze commits (or the drain's end)",
        180,
        interval_s=0.05,
    )
    assert proc.poll() is None, f"the drain ended before it could be killed:\n{proc.stdout.read()}"
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    partial = bronze_table(data_root).num_rows
    assert 0 < partial < EVENTS, "the kill did not land in the middle of the drain"

    finished = cli("bronze", "--available-now", "--max-events-per-batch", str(BATCH))
    assert finished.returncode == 0, finished.stderr[-3000:]
    assert_exactly_once(data_root, EVENTS)


def test_a_batch_replayed_after_its_delta_commit_is_skipped(published, data_root):
    """Crash between the Delta commit and Spark's commit log: the replay must be a no-op."""
    more = producer.publish_synthetic(2_000, KafkaConfig.from_env(), seed=6, quiet=True)
    done = cli("bronze", "--available-now", "--max-events-per-batch", "50000")
    assert done.returncode == 0, done.stderr[-3000:]
    assert_exactly_once(data_root, EVENTS + more.published)

    commits = DataDir(data_root).bronze_checkpoint / "commits"
    last = max(commits.iterdir(), key=lambda p: int(p.name) if p.name.isdigit() else -1)
    last.unlink()  # Spark forgets it finished the batch; Delta remembers it committed it
    (commits / f".{last.name}.crc").unlink(missing_ok=True)
    version = bronze_version(data_root)
    replay = cli("bronze", "--available-now")
    assert replay.returncode == 0, replay.stderr[:3000]
    assert bronze_version(data_root) == version, "the replayed batch made a Delta commit"
    assert_exactly_once(data_root, EVENTS + more.published)


def test_a_broker_that_lost_its_topic_is_reported_not_silently_skipped(published, data_root, monkeypatch):
    landed = cli("bronze", "--available-now")
    assert landed.returncode == 0, landed.stderr[-3000:]
    assert_exactly_once(data_root, EVENTS)

    broker.stop(data=DataDir(data_root))
    broker.remove_log(DataDir(data_root))  # the log lost: a new, empty topic
    restarted = broker.start(data=DataDir(data_root))
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", restarted.bootstrap_servers)
    producer.publish_synthetic(100, KafkaConfig.from_env(), seed=7, quiet=True)
    before = bronze_table(data_root).num_rows

    refused = cli("bronze", "--available-now")
    assert refused.returncode == 3
    assert "offsets are not in the topic the broker holds" in refused.stderr
    assert "--reset-checkpoint" in refused.stderr
    assert bronze_table(data_root).num_rows == before

    reset = cli("bronze", "--available-now", "--reset-checkpoint")
    assert reset.returncode == 0, reset.stderr[-3000:]
    assert bronze_table(data_root).num_rows == before + 100
