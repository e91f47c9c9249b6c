"""Where the local services are, for the command line: the environment's settings, else the
broker and the orders database this project started (their PID files in the data directory).
Read at an entry point, then passed down."""

from __future__ import annotations

import os

from ingest.config import KafkaConfig
from ingest.paths import DataDir


def kafka_config(data: DataDir) -> KafkaConfig:
    """Kafka settings from the environment, defaulting to the broker this project started in `data`."""
    from ingest.local import broker

    config = KafkaConfig.from_env()
    if "KAFKA_BOOTSTRAP_SERVERS" not in os.environ:
        running = broker.status(data)
        if running is None:
            raise SystemExit(
                "no broker: start one with `python -m ingest broker start` or set KAFKA_BOOTSTRAP_SERVERS"
            )
        config = KafkaConfig(bootstrap_servers=running.bootstrap_servers, topic=config.topic)
    return config


def orders_dsn(data: DataDir) -> str:
    """The orders database: ORDERS_DATABASE_DSN, or the cluster this project started in `data`."""
    from ingest.orders import postgres

    if os.environ.get("ORDERS_DATABASE_DSN"):
        return os.environ["ORDERS_DATABASE_DSN"]
    running = postgres.status(data)
    if running is None:
        raise SystemExit(
            "no orders database: start it with `python -m ingest orders db start` or set ORDERS_DATABASE_DSN"
        )
    return running.dsn()
