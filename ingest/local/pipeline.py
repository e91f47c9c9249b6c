"""What the local runner started and watches, in one place: the children, the services and
their addresses, dbt's scheduler and the runner's view of the topic. The recovery
(ingest.local.recovery) replaces what it restarts here; everything else reads it from here."""

from __future__ import annotations

from dataclasses import dataclass, field

from ingest.config import KafkaConfig
from ingest.local import broker
from ingest.local.measure import TopicEnd
from ingest.local.processes import Child
from ingest.local.schedule import DbtScheduler
from ingest.orders import postgres


@dataclass
class Pipeline:
    dsn: str
    simulator: Child
    relay: Child
    bronze: Child
    compactor: Child
    dbt: DbtScheduler
    topic_end: TopicEnd
    broker: broker.Broker
    pg: postgres.Postgres
    kafka: KafkaConfig
    env: dict[str, str] = field(default_factory=dict)  # the children's (shared, updated on a new port)
    api: Child | None = None
    dashboard: Child | None = None
    # Bronze rows landed from topics a lost broker log took with it (the current topic starts after)
    bronze_base: int = 0
