"""Typed configuration: the event log, the Bronze ingester, the local broker's retention, and
`Settings`, all of them read from the environment once, at an entry point, and passed down.

Every setting has a default for the embedded default (one machine, no cloud) and can be
overridden from the environment. Secrets (the Event Hubs connection string) are read
from the environment only, never from a file.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, replace

from ingest.paths import DataDir

TOPIC = "sales-transactions-raw"
DEFAULT_PARTITIONS = 4


@dataclass(frozen=True)
class KafkaConfig:
    """How to reach the event log: a local broker, or Event Hubs' Kafka endpoint."""

    bootstrap_servers: str = "127.0.0.1:19092"
    topic: str = TOPIC
    # Event Hubs: SASL_SSL + PLAIN, user "$ConnectionString", password = connection string.
    eventhubs_connection_string: str | None = field(default=None, repr=False)
    # SASL_SSL on Event Hubs; the local broker's SASL listener is SASL_PLAINTEXT (loopback, no TLS).
    security_protocol: str = "SASL_SSL"
    # Databricks Runtime shades the Kafka client: its login module is `kafkashaded.org.apache...`.
    shaded_kafka_classes: bool = False

    @classmethod
    def from_env(
        cls, eventhubs_connection_string: str | None = None, bootstrap_servers: str | None = None
    ) -> KafkaConfig:
        """Settings from the environment; a connection string passed in (e.g. read from a
        Databricks secret scope) takes the place of EVENTHUBS_CONNECTION_STRING, and bootstrap
        servers passed in (a broker this process started) that of KAFKA_BOOTSTRAP_SERVERS.

        With a connection string and no KAFKA_BOOTSTRAP_SERVERS, the bootstrap server is the
        namespace's Kafka endpoint (`<namespace>.servicebus.windows.net:9093`), taken from the
        connection string's `Endpoint`.
        """
        connection_string = (
            eventhubs_connection_string or os.environ.get("EVENTHUBS_CONNECTION_STRING") or None
        )
        default_servers = cls.bootstrap_servers
        if connection_string:
            default_servers = eventhubs_bootstrap_servers(connection_string) or default_servers
        return cls(
            bootstrap_servers=bootstrap_servers or os.environ.get("KAFKA_BOOTSTRAP_SERVERS", default_servers),
            topic=os.environ.get("KAFKA_TOPIC", TOPIC),
            eventhubs_connection_string=connection_string,
            security_protocol=os.environ.get("KAFKA_SECURITY_PROTOCOL", cls.security_protocol),
            shaded_kafka_classes=bool(os.environ.get("DATABRICKS_RUNTIME_VERSION")),
        )

    def client_config(self) -> dict[str, str]:
        """librdkafka settings shared by producers, consumers and admin clients."""
        conf = {"bootstrap.servers": self.bootstrap_servers}
        if self.eventhubs_connection_string:
            conf.update(
                {
                    "security.protocol": self.security_protocol,
                    "sasl.mechanism": "PLAIN",
                    "sasl.username": "$ConnectionString",
                    "sasl.password": self.eventhubs_connection_string,
                }
            )
        return conf

    def spark_options(self) -> dict[str, str]:
        """The same connection expressed as options of Spark's native `kafka` source."""
        opts = {"kafka.bootstrap.servers": self.bootstrap_servers, "subscribe": self.topic}
        if self.eventhubs_connection_string:
            prefix = "kafkashaded." if self.shaded_kafka_classes else ""
            jaas = (
                f"{prefix}org.apache.kafka.common.security.plain.PlainLoginModule required "
                f'username="$ConnectionString" password="{self.eventhubs_connection_string}";'
            )
            opts.update(
                {
                    "kafka.security.protocol": self.security_protocol,
                    "kafka.sasl.mechanism": "PLAIN",
                    "kafka.sasl.jaas.config": jaas,
                    # Event Hubs closes idle connections and answers slower than a local
                    # broker: Microsoft's Spark samples raise both timeouts to 60 s.
                    "kafka.request.timeout.ms": "60000",
                    "kafka.session.timeout.ms": "60000",
                }
            )
        return opts


def eventhubs_bootstrap_servers(connection_string: str) -> str | None:
    """`Endpoint=sb://<ns>.servicebus.windows.net/;...` -> `<ns>.servicebus.windows.net:9093`.

    None when the string has no usable `Endpoint`. Only the host is returned: the rest of the
    connection string (the key) never leaves this function.
    """
    for part in connection_string.split(";"):
        name, _, value = part.strip().partition("=")
        if name.strip().lower() == "endpoint":
            host = value.strip().removeprefix("sb://").split("/", 1)[0].split(":", 1)[0]
            return f"{host}:9093" if host else None
    return None


@dataclass(frozen=True)
class BronzeConfig:
    """The Bronze streaming query: where it reads, where it writes, how often."""

    kafka: KafkaConfig
    table_path: str
    checkpoint_path: str
    starting_offsets: str = "earliest"
    trigger_interval: str = "10 seconds"
    max_events_per_batch: int = 200_000
    query_name: str = "bronze_sales_transactions"

    @classmethod
    def at(cls, data: DataDir, kafka: KafkaConfig, **overrides: object) -> BronzeConfig:
        """Bronze in `data`'s table and checkpoint, reading `kafka`, the other settings their
        defaults unless overridden; no environment read."""
        values: dict[str, object] = {
            "kafka": kafka,
            "table_path": str(data.bronze_table),
            "checkpoint_path": str(data.bronze_checkpoint),
        }
        values.update({k: v for k, v in overrides.items() if v is not None})
        config = cls(**values)  # type: ignore[arg-type]
        config.validate()
        return config

    @classmethod
    def from_env(cls, data: DataDir, kafka: KafkaConfig, **overrides: object) -> BronzeConfig:
        """Settings from the environment (read at an entry point); Bronze's paths default to
        `data`'s; keyword overrides win over both."""
        values: dict[str, object] = {
            "table_path": os.environ.get("BRONZE_TABLE_PATH", str(data.bronze_table)),
            "checkpoint_path": os.environ.get("BRONZE_CHECKPOINT_PATH", str(data.bronze_checkpoint)),
            "starting_offsets": os.environ.get("BRONZE_STARTING_OFFSETS", cls.starting_offsets),
            "trigger_interval": os.environ.get("BRONZE_TRIGGER_INTERVAL", cls.trigger_interval),
            "max_events_per_batch": int(
                os.environ.get("BRONZE_MAX_EVENTS_PER_BATCH", cls.max_events_per_batch)
            ),
        }
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls.at(data, kafka, **values)

    def validate(self) -> None:
        if self.kafka.security_protocol not in ("SASL_SSL", "SASL_PLAINTEXT"):
            raise ValueError(
                "KAFKA_SECURITY_PROTOCOL must be SASL_SSL or SASL_PLAINTEXT, "
                f"not {self.kafka.security_protocol!r}"
            )
        if self.starting_offsets not in ("earliest", "latest"):
            raise ValueError(
                f"starting offsets must be 'earliest' or 'latest', not {self.starting_offsets!r}"
            )
        if self.max_events_per_batch <= 0:
            raise ValueError("max events per batch must be positive")


@dataclass(frozen=True)
class LogRetention:
    """How much log the local broker keeps: `hours` of it, and at most `gigabytes` across the
    topic's partitions (each partition gets its share), whichever limit comes first."""

    hours: float = 6.0
    gigabytes: float = 4.0
    segment_mb: int = 128

    @classmethod
    def from_env(cls) -> LogRetention:
        return cls(
            hours=float(os.environ.get("KAFKA_RETENTION_HOURS", cls.hours)),
            gigabytes=float(os.environ.get("KAFKA_RETENTION_GB", cls.gigabytes)),
        )

    def fitted(self, free_bytes: int) -> LogRetention:
        """This retention, its byte budget lowered to half the free disk when that is smaller."""
        budget = min(self.gigabytes, free_bytes / 2 / 2**30)
        return LogRetention(
            self.hours, round(budget, 3), min(self.segment_mb, max(1, int(budget * 1024 / 8)))
        )

    def partition_bytes(self, partitions: int) -> int:
        return int(self.gigabytes * 2**30 / partitions)


@dataclass(frozen=True)
class Settings:
    """What the environment says, read once by `from_env()` at an entry point (a command of
    `python -m ingest`, a test's fixture) and passed down; nothing below reads it again."""

    data: DataDir
    kafka: KafkaConfig
    bronze: BronzeConfig
    retention: LogRetention

    @classmethod
    def from_env(cls) -> Settings:
        data = DataDir.from_env()
        kafka = KafkaConfig.from_env()
        return cls(data, kafka, BronzeConfig.from_env(data, kafka), LogRetention.from_env())

    @classmethod
    def defaults(cls, data: DataDir) -> Settings:
        """The built-in defaults in `data` (what a benchmark runs in its own directory)."""
        kafka = KafkaConfig()
        return cls(data, kafka, BronzeConfig.at(data, kafka), LogRetention())

    def on_broker(self, bootstrap_servers: str) -> Settings:
        """These settings with the event log at a local broker this process started (its plain
        listener: no SASL); the topic kept."""
        kafka = KafkaConfig(bootstrap_servers=bootstrap_servers, topic=self.kafka.topic)
        return replace(self, kafka=kafka, bronze=replace(self.bronze, kafka=kafka))
