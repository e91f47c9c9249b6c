"""The outbox table, in one place: publishing its rows to the topic, marking them published,
pruning them after the retention window, and what is left to publish (lag) or kept for a
replay (retention).

The relay (ingest.orders.relay) publishes rows as PostgreSQL's replication stream delivers
them and, when it had to create its slot, the rows committed before it (`unpublished`); the
replay (ingest.orders.replay) publishes retained rows again after a broker lost them
(`retained_from`). Both hand rows to `publish`: key = TransactionNo, value = the stored
payload byte for byte, Kafka timestamp = the row's `created_at`.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime

from ingest.orders.postgres import SLOT
from ingest.producer import produce

TABLE = "outbox"
FETCH_ROWS = 5_000
FLUSH_TIMEOUT_S = 60


@dataclass(frozen=True)
class Row:
    id: int
    key: str  # the order's TransactionNo
    payload: str
    created_at: datetime


@dataclass
class Delivery:
    """What the broker made of one `publish`."""

    sent: int = 0
    acknowledged: int = 0
    unflushed: int = 0  # still in the producer's queue when the flush timed out
    failures: list[str] = field(default_factory=list)  # the first few errors
    ids: list[int] = field(default_factory=list)  # the outbox ids sent

    @property
    def complete(self) -> bool:
        return not self.unflushed and not self.failures and self.acknowledged == self.sent

    def reason(self) -> str:
        if self.failures:
            return self.failures[0]
        return f"{self.unflushed:,} not acknowledged in {FLUSH_TIMEOUT_S} s"

    def on_delivery(self, err, _msg) -> None:
        if err is None:
            self.acknowledged += 1
        elif len(self.failures) < 5:
            self.failures.append(str(err))


def publish(producer, topic: str, rows: Iterable[Row]) -> Delivery:
    """Produce every row, then wait (up to FLUSH_TIMEOUT_S) for the broker's acknowledgements.
    The caller decides what an incomplete delivery means (`Delivery.complete`)."""
    delivery = Delivery()
    for row in rows:
        produce(
            producer,
            topic,
            row.payload.encode(),
            row.key.encode(),
            timestamp=int(row.created_at.timestamp() * 1000),
            on_delivery=delivery.on_delivery,
        )
        delivery.sent += 1
        delivery.ids.append(row.id)
        producer.poll(0)
    delivery.unflushed = producer.flush(FLUSH_TIMEOUT_S)
    return delivery


def unpublished(conn) -> list[Row]:
    """Rows not marked published yet, in id order."""
    with conn.cursor() as cur:
        cur.execute(
            f"""select id, aggregate_id, payload, created_at from {TABLE}
                where published_at is null order by id"""
        )
        return [Row(*fields) for fields in cur.fetchall()]


def retained_from(conn, from_id: int, until: datetime | None) -> Iterator[Row]:
    """Every row from `from_id` on created up to `until` (None: all), in id order, streamed
    with a server-side cursor."""
    with conn.cursor(name="outbox_retained") as cur:
        cur.itersize = FETCH_ROWS
        cur.execute(
            f"""select id, aggregate_id, payload, created_at from {TABLE}
                where id >= %(from_id)s
                  and (%(until)s::timestamptz is null or created_at <= %(until)s)
                order by id""",
            {"from_id": from_id, "until": until},
        )
        for fields in cur:
            yield Row(*fields)


def retained_events(conn, until: datetime | None) -> Iterator[tuple[int, str, bool]]:
    """(id, event_id, published) of every row created up to `until` (None: all), published or
    not, in id order, streamed: what the replay plans from."""
    with conn.cursor(name="outbox_events") as cur:
        cur.itersize = FETCH_ROWS
        cur.execute(
            f"""select id, event_id::text, published_at is not null from {TABLE}
                where %(until)s::timestamptz is null or created_at <= %(until)s
                order by id""",
            {"until": until},
        )
        for outbox_id, event_id, published in cur:
            yield int(outbox_id), event_id, bool(published)


def oldest_created(conn, until: datetime | None) -> datetime | None:
    with conn.cursor() as cur:
        cur.execute(
            f"""select min(created_at) from {TABLE}
                where %(until)s::timestamptz is null or created_at <= %(until)s""",
            {"until": until},
        )
        return cur.fetchone()[0]


def mark_published(conn, ids: list[int]) -> set[int]:
    """Set `published_at` on these outbox rows (keeping it where it is set already), with an
    autocommit connection: done before the slot is confirmed past them. Returns the ids now
    marked. A row missing from them is not visible to this connection yet: logical decoding
    can stream a transaction the moment its commit reaches the WAL, a little before other
    sessions see it (seen under load: one order's rows left unmarked for good)."""
    if not ids:
        return set()
    with conn.cursor() as cur:
        cur.execute(
            f"update {TABLE} set published_at = coalesce(published_at, now()) "
            "where id = any(%s) returning id",
            (ids,),
        )
        return {row[0] for row in cur.fetchall()}


def prune(cur, retention_s: float, limit: int) -> tuple[int, int]:
    """Delete up to `limit` published rows older than the retention window (oldest first);
    a row not yet published is never deleted, however old. Returns (rows deleted, highest
    outbox id deleted or 0)."""
    cur.execute(
        f"""with gone as (
                delete from {TABLE} where id in (
                    select id from {TABLE}
                    where published_at < now() - make_interval(secs => %s)
                    order by published_at
                    limit %s)
                returning id)
            select count(*), coalesce(max(id), 0) from gone""",
        (float(retention_s), int(limit)),
    )
    deleted, through = cur.fetchone()
    return int(deleted), int(through)


def _first_rows(dsn: str, *statements: tuple[str, tuple]) -> list[tuple | None]:
    """Each statement's first row, in one short transaction of a connection of its own."""
    import psycopg2

    conn = psycopg2.connect(dsn)
    try:
        with conn, conn.cursor() as cur:
            found = []
            for sql, params in statements:
                cur.execute(sql, params)
                found.append(cur.fetchone())
            return found
    finally:
        conn.close()


@dataclass(frozen=True)
class Lag:
    rows: int  # outbox rows committed but not yet published (acknowledged and marked)
    seconds: float  # age of the oldest of them
    # the slot's confirmed position behind the current WAL position; None without a slot, or
    # while the slot is being created (its confirmed_flush_lsn is null until its snapshot is built)
    wal_bytes: int | None
    slot_active: bool


def lag(dsn: str, slot: str = SLOT) -> Lag:
    (rows, seconds), found = _first_rows(
        dsn,
        (
            f"""select count(*), coalesce(extract(epoch from now() - min(created_at)), 0)
                from {TABLE} where published_at is null""",
            (),
        ),
        (
            """select pg_wal_lsn_diff(pg_current_wal_lsn(), confirmed_flush_lsn), active
               from pg_replication_slots where slot_name = %s""",
            (slot,),
        ),
    )
    behind, active = found if found else (None, False)
    wal_bytes = None if behind is None else int(behind)
    return Lag(rows=int(rows), seconds=float(seconds), wal_bytes=wal_bytes, slot_active=bool(active))


@dataclass(frozen=True)
class Retention:
    """What the outbox keeps for a replay: published rows inside the retention window."""

    rows: int  # published rows still in the outbox
    oldest_published_s: float  # how long ago the oldest of them was published
    pruned: int  # rows pruned so far (relay_state)
    pruned_through_id: int  # the highest outbox id pruned (0: none)


def retention(dsn: str, slot: str = SLOT) -> Retention:
    (rows, seconds), (pruned, through) = _first_rows(
        dsn,
        (
            f"""select count(*), coalesce(extract(epoch from now() - min(published_at)), 0)
                from {TABLE} where published_at is not null""",
            (),
        ),
        (
            "select coalesce(sum(pruned), 0), coalesce(max(pruned_through_id), 0) "
            "from relay_state where slot_name = %s",
            (slot,),
        ),
    )
    return Retention(int(rows), float(seconds), int(pruned), int(through))
