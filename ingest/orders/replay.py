"""Replay: publish retained outbox rows again after the broker lost events it had acknowledged.

The local broker keeps topics in memory only: when it dies, the events it acknowledged but
Bronze had not read yet are gone from the topic, and the relay has already confirmed them.
The outbox still holds them: the relay keeps published rows for its retention window
(ingest.orders.relay, `published_at`). The replay publishes them again into the new topic.

Which rows (`plan`): Bronze's Delta table holds the event_id of every event it landed. The
replay starts at the FRONTIER, the oldest retained row whose event_id Bronze has not landed,
and publishes every retained row from there on, in outbox order (id): no row Bronze lacks is
skipped, and an order's lines keep their order. Rows after the frontier that Bronze already
has are published again (Bronze reads them twice; Silver keeps one per event_id). With
`--all`, the whole retention window is published instead (no Bronze table needed).

`until`: rows created after this moment are left to the relay. The runner passes the moment
it saw the broker die, having stopped the relay before starting a new broker: such a row was
never acknowledged (its broker was dead), so the slot is not confirmed past it and the
restarted relay publishes it. Without `until`, every retained row from the frontier is
published (the relay may then publish some of them once more).

What the replay cannot do: bring back a row already pruned. If Bronze lacks even the oldest
retained row and rows were pruned before it, events older than the retention window may be
lost; the plan says so (`may_have_lost`) and the retention should be longer than the longest
Bronze may lag behind the topic.

Bronze must then read the new topic from its start: `python -m ingest bronze
--reset-checkpoint` (the runner does both steps when its broker dies).
"""

from __future__ import annotations

import logging
from collections.abc import Container, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

from ingest.config import KafkaConfig
from ingest.orders import outbox
from ingest.paths import delta_table_exists
from ingest.producer import producer_config

# Bronze rows ingested this long before the oldest retained row was created are not read:
# an event is ingested after its commit (one clock; the margin covers clock steps).
LANDED_MARGIN = timedelta(minutes=5)


class ReplayError(RuntimeError):
    """The replay could not publish every row it selected."""


@dataclass(frozen=True)
class RetainedRow:
    id: int
    event_id: str
    published: bool  # the relay had it acknowledged by a broker


@dataclass(frozen=True)
class ReplayPlan:
    """What a replay publishes: every retained row from `from_id` on (none if None)."""

    from_id: int | None
    rows: int = 0  # rows to publish
    already_landed: int = 0  # of them, rows Bronze already holds (published twice)
    acknowledged_not_landed: int = 0  # of them, published but not in Bronze: lost without the replay
    retained: int = 0  # retained rows looked at (created up to `until`)
    oldest_retained_id: int | None = None
    pruned_through_id: int = 0

    @property
    def may_have_lost(self) -> bool:
        """Bronze lacks even the oldest retained row, and older rows were pruned: some of
        them may have been lost with the broker, beyond what the replay can publish."""
        return (
            self.from_id is not None
            and self.from_id == self.oldest_retained_id
            and self.pruned_through_id > 0
        )


def plan(
    rows: Iterable[RetainedRow],
    landed: Container[str],
    pruned_through_id: int = 0,
    everything: bool = False,
) -> ReplayPlan:
    """The replay of `rows` (retained outbox rows in id order) given the event ids Bronze
    landed: from the oldest row Bronze lacks, every row (`everything`: every row)."""
    from_id = oldest = None
    retained = selected = already = lost = 0
    for row in rows:
        retained += 1
        if oldest is None:
            oldest = row.id
        in_bronze = row.event_id in landed
        if from_id is None:
            if in_bronze and not everything:
                continue
            from_id = row.id
        selected += 1
        if in_bronze:
            already += 1
        elif row.published:
            lost += 1
    return ReplayPlan(from_id, selected, already, lost, retained, oldest, pruned_through_id)


def landed_event_ids(bronze_table: Path, since: datetime | None = None) -> set[str]:
    """Event ids in the Bronze Delta table (rows ingested at or after `since`); empty before
    its first commit."""
    import pyarrow as pa
    import pyarrow.compute as pc
    from deltalake import DeltaTable

    if not delta_table_exists(bronze_table):
        return set()
    dataset = DeltaTable(str(bronze_table)).to_pyarrow_dataset()
    where = None
    if since is not None:
        where = pc.field("ingested_at") >= pa.scalar(since, dataset.schema.field("ingested_at").type)
    table = dataset.to_table(columns=["event_id"], filter=where)
    return set(table.column("event_id").drop_null().to_pylist())


def make_plan(
    dsn: str, bronze_table: Path | None, until: datetime | None = None, everything: bool = False
) -> ReplayPlan:
    """The plan for this outbox and this Bronze table (`everything`: the whole window)."""
    import psycopg2

    pruned_through = outbox.retention(dsn).pruned_through_id
    conn = psycopg2.connect(dsn)
    try:
        with conn:
            oldest = outbox.oldest_created(conn, until)
            landed: set[str] = set()
            if bronze_table is not None and oldest is not None:
                landed = landed_event_ids(bronze_table, oldest - LANDED_MARGIN)
            rows = (RetainedRow(*fields) for fields in outbox.retained_events(conn, until))
            return plan(rows, landed, pruned_through, everything)
    finally:
        conn.close()


@dataclass
class ReplayResult:
    plan: ReplayPlan
    published: int = 0
    failures: list[str] = field(default_factory=list)

    def summary(self) -> str:
        p = self.plan
        if p.from_id is None:
            return f"nothing to replay: Bronze holds every one of the {p.retained:,} retained outbox rows"
        text = (
            f"replayed {self.published:,} outbox events from id {p.from_id:,} "
            f"({p.acknowledged_not_landed:,} acknowledged by the lost broker and not in Bronze, "
            f"{p.already_landed:,} already in Bronze)"
        )
        if p.may_have_lost:
            text += (
                f"; WARNING: Bronze lacks even the oldest retained row and rows up to id "
                f"{p.pruned_through_id:,} were pruned: events older than the retention window may be lost"
            )
        return text


def publish(
    dsn: str,
    kafka: KafkaConfig,
    the_plan: ReplayPlan,
    until: datetime | None = None,
    logger: logging.Logger | None = None,
) -> ReplayResult:
    """Publish the plan's rows (id >= from_id, created up to `until`) in id order: key =
    TransactionNo, value = the payload byte for byte, timestamp = the row's created_at (its
    transaction's start; the relay uses the commit time, a few milliseconds later). Raises
    ReplayError unless the broker acknowledged every one."""
    import psycopg2
    from confluent_kafka import Producer

    result = ReplayResult(the_plan)
    if the_plan.from_id is None:
        return result

    config = {**producer_config(kafka)}
    if logger is not None:
        config["logger"] = logger
        config["error_cb"] = lambda err: logger.warning("replay producer: %s", err)
    producer = Producer(config)
    conn = psycopg2.connect(dsn)
    try:
        with conn:
            rows = outbox.retained_from(conn, the_plan.from_id, until)
            delivery = outbox.publish(producer, kafka.topic, rows)
    finally:
        conn.close()
    result.published = delivery.acknowledged
    result.failures = delivery.failures
    if not delivery.complete:
        raise ReplayError(
            f"replay: {delivery.acknowledged:,} of {delivery.sent:,} outbox events acknowledged "
            f"({delivery.reason()})"
        )
    return result


def replay(
    dsn: str,
    kafka: KafkaConfig,
    bronze_table: Path | None,
    until: datetime | None = None,
    everything: bool = False,
    logger: logging.Logger | None = None,
) -> ReplayResult:
    """Plan from Bronze's table and the outbox, then publish."""
    return publish(dsn, kafka, make_plan(dsn, bronze_table, until, everything), until, logger)
