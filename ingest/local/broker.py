"""The local broker of the embedded default: Apache Kafka, KRaft mode, one node, its log on disk.

The jars come from Maven Central at the versions jvm/jars.lock pins (set-up fetches them; see
ingest/jvm.py); the broker runs as `java -cp '.jars/kafka/*' kafka.Kafka server.properties`
after `kafka-storage format`, as Kafka's own scripts do. Everything lives under `data/kafka`:
the generated `server.properties`, and `log/` (topics, offsets, the KRaft metadata).

Listeners, all on 127.0.0.1: PLAINTEXT on `port` (what the project's clients use by default);
SASL_PLAINTEXT with the PLAIN mechanism, user `$ConnectionString`, as Event Hubs' Kafka endpoint
asks, only when a connection string is given (the broker reads it from its environment, never
from a file); the KRaft controller on a port of its own. Retention (`config.LogRetention`): by
time and by size, whichever comes first; at start the byte budget is lowered to half the disk's
free space when that is smaller (and said so). The configuration itself is in `broker_setup`.

Because the log is on disk, a broker that dies and is started again on it has lost nothing it
acknowledged (`restart`); `log_present` tells that case from a lost log (ingest.local.runner).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from confluent_kafka import KafkaException
from confluent_kafka.admin import AdminClient, NewTopic

from ingest import jvm
from ingest.config import DEFAULT_PARTITIONS, TOPIC, LogRetention
from ingest.local import services
from ingest.local.broker_setup import (
    LOG4J,
    SASL_SECRET_ENV,
    BrokerError,
    format_log,
    java,
    kafka_dir,
    log_dir,
    log_present,
    server_properties,
)
from ingest.paths import DataDir

READY_TIMEOUT_S = 30.0
DEFAULT_RETENTION = LogRetention()  # 6 hours, 4 GB: what a test or a benchmark broker keeps


@dataclass(frozen=True)
class Broker:
    pid: int
    port: int
    sasl_port: int | None = None

    @property
    def bootstrap_servers(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def sasl_bootstrap_servers(self) -> str | None:
        return f"127.0.0.1:{self.sasl_port}" if self.sasl_port else None


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def port_free(port: int) -> bool:
    """Whether a listener could bind 127.0.0.1:`port` now."""
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def wait_until_healthy(
    bootstrap_servers: str,
    timeout_s: float = READY_TIMEOUT_S,
    exited: Callable[[], int | None] = lambda: None,
) -> None:
    """Wait until the broker answers metadata requests; `exited` (the process's return code or
    None) stops the wait early when the broker process is gone."""
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
            if admin.list_topics(timeout=2).brokers:
                return
        except KafkaException as exc:
            last_error = exc
        time.sleep(0.1)
    raise BrokerError(f"broker at {bootstrap_servers} not healthy after {timeout_s:.0f}s: {last_error}")


def ensure_topic(bootstrap_servers: str, topic: str = TOPIC, partitions: int = DEFAULT_PARTITIONS) -> None:
    """Create the topic if it does not exist, and wait until its partitions have leaders."""
    admin = AdminClient({"bootstrap.servers": bootstrap_servers})
    existing = admin.list_topics(timeout=10).topics
    if topic not in existing:
        futures = admin.create_topics([NewTopic(topic, num_partitions=partitions, replication_factor=1)])
        for fut in futures.values():
            try:
                fut.result(timeout=10)
            except KafkaException as exc:
                if "TOPIC_ALREADY_EXISTS" not in str(exc):
                    raise BrokerError(f"could not create topic {topic}: {exc}") from exc
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        meta = admin.list_topics(topic=topic, timeout=5).topics.get(topic)
        if (
            meta is not None
            and meta.error is None
            and meta.partitions
            and all(p.leader >= 0 for p in meta.partitions.values())
        ):
            return
        time.sleep(0.1)
    raise BrokerError(f"topic {topic} did not become available")


def _load_producer_id_coordinator(bootstrap_servers: str, timeout_s: float = 30.0) -> None:
    """Have the broker create and load its transaction coordinator now, which hands idempotent
    producers (the relay's, the producer's) their ids: else the first one to ask logs
    "Coordinator load in progress: retrying" while Kafka creates `__transaction_state`."""
    from confluent_kafka import Producer

    warm = Producer(
        {
            "bootstrap.servers": bootstrap_servers,
            "transactional.id": "lakehouse-broker-start",
            "log_level": 0,  # its own "load in progress: retrying" is the wait itself, not news
        }
    )
    try:
        warm.init_transactions(timeout_s)
    except KafkaException as exc:
        raise BrokerError(
            f"broker at {bootstrap_servers}: its transaction coordinator did not load: {exc}"
        ) from None
    finally:
        warm.flush(0)


def start(
    port: int | None = None,
    partitions: int = DEFAULT_PARTITIONS,
    *,
    data: DataDir,
    retention: LogRetention = DEFAULT_RETENTION,
    sasl_connection_string: str | None = None,
    sasl_port: int | None = None,
) -> Broker:
    """Start Kafka on 127.0.0.1 over the log in `data/kafka` (formatted the first time), wait
    until it answers, create the topic, record the PID. With `sasl_connection_string`, the SASL
    listener (user `$ConnectionString`, that string as password) is opened too. `retention`
    bounds the log (the entry points read KAFKA_RETENTION_HOURS / KAFKA_RETENTION_GB)."""
    running = status(data)
    if running is not None:
        ensure_topic(running.bootstrap_servers, partitions=partitions)
        return running
    folder, log = kafka_dir(data), log_dir(data)
    log.mkdir(parents=True, exist_ok=True)
    fitted = retention.fitted(shutil.disk_usage(log).free)
    if fitted.gigabytes < retention.gigabytes:
        print(
            f"broker: only {shutil.disk_usage(log).free / 2**30:.1f} GB free: the log is kept to "
            f"{fitted.gigabytes:.1f} GB (KAFKA_RETENTION_GB asked {retention.gigabytes:g})",
            file=sys.stderr,
        )
    port = port or free_port()
    sasl_port = (sasl_port or free_port()) if sasl_connection_string else None
    config = folder / "server.properties"
    config.write_text(server_properties(log, port, free_port(), sasl_port, fitted, partitions))
    (folder / "log4j2.properties").write_text(LOG4J)
    if not log_present(data):
        format_log(config, log)
    env = {k: v for k, v in os.environ.items() if k != SASL_SECRET_ENV}
    if sasl_connection_string:
        env[SASL_SECRET_ENV] = sasl_connection_string
    with open(services.run_dir(data) / "broker.log", "ab") as out:
        proc = subprocess.Popen(
            [
                java(),
                "-Xms256m",
                "-Xmx1g",
                "-XX:+UseG1GC",
                "-XX:MaxGCPauseMillis=20",
                "-Djava.awt.headless=true",
                f"-Dlog4j2.configurationFile={folder / 'log4j2.properties'}",
                "-cp",
                jvm.classpath("kafka"),
                "kafka.Kafka",
                str(config),
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
            env=env,
        )
    broker = Broker(pid=proc.pid, port=port, sasl_port=sasl_port)
    try:
        wait_until_healthy(broker.bootstrap_servers, exited=proc.poll)
        ensure_topic(broker.bootstrap_servers, partitions=partitions)
        _load_producer_id_coordinator(broker.bootstrap_servers)
    except Exception:
        _terminate(proc.pid)
        raise
    services.record("broker", proc.pid, port, data)
    if sasl_port:
        services.record("broker-sasl", proc.pid, sasl_port, data)
    else:
        services.forget("broker-sasl", data)
    return broker


def restart(previous: Broker, partitions: int = DEFAULT_PARTITIONS, *, data: DataDir) -> Broker:
    """Start the broker again after `previous` died: on its log (nothing it acknowledged is
    lost when the log is there) and on the same port when it is free (clients configured with
    it reconnect), else on a new one."""
    if status(data) is not None:
        raise BrokerError("restart: a broker from this data directory is still running")
    port = previous.port if port_free(previous.port) else None
    return start(port=port, partitions=partitions, data=data)


def status(data: DataDir) -> Broker | None:
    """The broker this project started, if it is still running."""
    found = services.recorded("broker", data)
    if not found:
        return None
    sasl = services.recorded("broker-sasl", data)
    return Broker(pid=found[0], port=found[1], sasl_port=sasl[1] if sasl and sasl[0] == found[0] else None)


def _terminate(pid: int, timeout_s: float = 20.0) -> None:
    services.terminate(pid, [(signal.SIGTERM, timeout_s)])


def stop(data: DataDir) -> bool:
    """Stop the broker this project started (by its own PID; Kafka shuts down cleanly on
    SIGTERM). Returns whether one was running."""
    broker = status(data)
    if broker is None:
        return False
    _terminate(broker.pid)
    services.forget("broker", data)
    services.forget("broker-sasl", data)
    return True


def remove_log(data: DataDir) -> None:
    """Delete the broker's log (topics and all): only while no broker runs on it."""
    if status(data) is not None:
        raise BrokerError("the broker is running: stop it before removing its log")
    shutil.rmtree(kafka_dir(data), ignore_errors=True)


@contextlib.contextmanager
def running(
    port: int | None = None,
    partitions: int = DEFAULT_PARTITIONS,
    *,
    data: DataDir,
    retention: LogRetention = DEFAULT_RETENTION,
    sasl_connection_string: str | None = None,
) -> Iterator[Broker]:
    """A broker for the duration of a block; stopped afterwards only if this block started it."""
    already = status(data)
    broker = start(
        port=port,
        partitions=partitions,
        data=data,
        retention=retention,
        sasl_connection_string=sasl_connection_string,
    )
    try:
        yield broker
    finally:
        if already is None:
            stop(data)
