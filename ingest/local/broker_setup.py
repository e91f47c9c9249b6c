"""What the local broker starts from: its directory under `data/kafka`, the configuration it is
started with (`server.properties`: listeners, KRaft, retention; its log4j settings), and its log
directory formatted for KRaft once (`kafka-storage format` with a new cluster id)."""

from __future__ import annotations

import base64
import shutil
import subprocess
import uuid
from pathlib import Path

from ingest import jvm
from ingest.config import LogRetention
from ingest.paths import DataDir

# The broker reads the SASL listener's password from this variable of its own environment.
SASL_SECRET_ENV = "BROKER_SASL_CONNECTION_STRING"


class BrokerError(RuntimeError):
    """The broker could not be started, reached or stopped."""


def kafka_dir(data: DataDir) -> Path:
    return data.root / "kafka"


def log_dir(data: DataDir) -> Path:
    return kafka_dir(data) / "log"


def log_present(data: DataDir) -> bool:
    """Whether a formatted log is on disk (a broker started now finds its topics again)."""
    return (log_dir(data) / "meta.properties").exists()


def server_properties(
    log: Path,
    port: int,
    controller_port: int,
    sasl_port: int | None,
    retention: LogRetention,
    partitions: int,
) -> str:
    listeners = [f"PLAINTEXT://127.0.0.1:{port}", f"CONTROLLER://127.0.0.1:{controller_port}"]
    advertised = [f"PLAINTEXT://127.0.0.1:{port}"]
    lines = [
        "process.roles=broker,controller",
        "node.id=1",
        f"controller.quorum.voters=1@127.0.0.1:{controller_port}",
        "controller.listener.names=CONTROLLER",
        "inter.broker.listener.name=PLAINTEXT",
        "listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT,SASL_PLAINTEXT:SASL_PLAINTEXT",
        f"log.dirs={log}",
        f"num.partitions={partitions}",
        "offsets.topic.replication.factor=1",
        "offsets.topic.num.partitions=4",
        "transaction.state.log.replication.factor=1",
        "transaction.state.log.num.partitions=1",
        "transaction.state.log.min.isr=1",
        "share.coordinator.state.topic.replication.factor=1",
        "share.coordinator.state.topic.min.isr=1",
        "group.initial.rebalance.delay.ms=0",
        # After a SIGKILL the controller waits out the dead broker's session before the new one
        # is unfenced: 9 s by default, 2 s here (one node, loopback).
        "broker.session.timeout.ms=2000",
        "broker.heartbeat.interval.ms=500",
        # retention: time or size, whichever first; checked every 30 s
        f"log.retention.ms={int(retention.hours * 3600 * 1000)}",
        f"log.retention.bytes={retention.partition_bytes(partitions)}",
        f"log.segment.bytes={retention.segment_mb * 2**20}",
        "log.retention.check.interval.ms=30000",
        "auto.create.topics.enable=false",
    ]
    if sasl_port:
        listeners.append(f"SASL_PLAINTEXT://127.0.0.1:{sasl_port}")
        advertised.append(f"SASL_PLAINTEXT://127.0.0.1:{sasl_port}")
        lines += [
            "sasl.enabled.mechanisms=PLAIN",
            "config.providers=env",
            "config.providers.env.class=org.apache.kafka.common.config.provider.EnvVarConfigProvider",
            "listener.name.sasl_plaintext.plain.sasl.jaas.config="
            "org.apache.kafka.common.security.plain.PlainLoginModule required "
            f'user_$ConnectionString="${{env:{SASL_SECRET_ENV}}}";',
        ]
    lines += [f"listeners={','.join(listeners)}", f"advertised.listeners={','.join(advertised)}"]
    return "\n".join(lines) + "\n"


LOG4J = """\
rootLogger.level=WARN
rootLogger.appenderRef.out.ref=out
logger.started.name=kafka.server.KafkaRaftServer
logger.started.level=INFO
appender.out.type=Console
appender.out.name=out
appender.out.layout.type=PatternLayout
appender.out.layout.pattern=[%d] %p %m (%c)%n
"""


def java() -> str:
    java = shutil.which("java")
    if java is None:
        raise BrokerError("java is missing: the broker (Apache Kafka) needs Java 17; run `make setup`")
    return java


def format_log(config: Path, log: Path) -> None:
    """`kafka-storage format` once: a new cluster id, the log directory ready for KRaft."""
    command = [java(), "-cp", jvm.classpath("kafka"), "kafka.tools.StorageTool", "format"]
    done = subprocess.run(
        [*command, "-t", cluster_id(), "-c", str(config), "--ignore-formatted"],
        capture_output=True,
        text=True,
    )
    if done.returncode != 0 or not (log / "meta.properties").exists():
        raise BrokerError(f"kafka-storage format failed: {(done.stderr or done.stdout).strip()[-400:]}")


def cluster_id() -> str:
    """A cluster id as Kafka makes them: 16 random bytes, URL-safe base64 without padding, never
    starting with '-' (Kafka's Uuid.randomUuid draws again too): `kafka-storage format -t -x...`
    would read it as an option and fail, one id in 64."""
    while True:
        cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        if not cluster_id.startswith("-"):
            return cluster_id
