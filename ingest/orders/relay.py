"""The outbox relay (CDC): committed outbox rows -> topic `sales-transactions-raw`.

It reads the outbox through PostgreSQL logical replication (publication
`outbox_publication`, inserts only; replication slot `outbox_relay`, plugin pgoutput,
decoded by ingest.orders.pgoutput) and publishes each row with key = TransactionNo, value =
the stored payload, byte for byte, and Kafka record timestamp = the transaction's COMMIT
time (from its Begin message): that is how a Gold line is traced back to its outbox commit.

Delivery is at-least-once. The slot's position is confirmed to PostgreSQL (send_feedback)
only up to the last transaction whose every row the broker acknowledged (acks=all,
idempotent producer), tracked per transaction in commit order. After a crash, PostgreSQL
resends everything after the confirmed position: some events may be published twice
(Silver dedupes by event_id), none is lost. One order's lines share a key, hence a
partition, and the idempotent producer keeps their order.

Retention: an acknowledged row is not deleted. Its `published_at` is set (by a separate
connection, before the slot is confirmed past it, so every row the slot has let go of is
marked) and the row is kept for the retention window (`RelayConfig.retention_s`, default one
hour; `--retention-minutes`), as Event Hubs keeps events for its retention period. Published
rows older than that are pruned every second; a row not yet published is never pruned. The
retained rows are what `ingest.orders.replay` publishes again when a broker lost events it
had acknowledged (the local broker keeps topics in memory only). The relay's position is
recorded in `relay_state` for reporting, with what pruning removed. The outbox's own
operations (publish, mark published, prune, lag, retention) live in ingest.orders.outbox.

PostgreSQL or the broker unavailable: a message saying which, then retries with backoff;
the position lives in the slot, so a retry (or a restart) resumes where it was confirmed.
"""

from __future__ import annotations

import collections
import select
import sys
import threading
import time
from dataclasses import dataclass, field

from confluent_kafka import KafkaError, Producer

from ingest.config import KafkaConfig
from ingest.errors import first_line
from ingest.orders import DEFAULT_RETENTION_MINUTES, outbox, pgoutput
from ingest.orders.postgres import PUBLICATION, SLOT
from ingest.producer import produce, producer_config

DEFAULT_RETENTION_S = DEFAULT_RETENTION_MINUTES * 60
MARK_EVERY_S = 0.2  # acknowledged rows are marked and the slot confirmed at most this often
# an acknowledged row the relay's marking cannot see for this long was deleted (pruned: it had been
# published); until then it is not yet visible, and the slot is not confirmed past it
INVISIBLE_GRACE_S = 30.0


class RelayError(RuntimeError):
    """The session cannot go on (a delivery failed, the stream broke): restart from the slot."""


@dataclass
class RelayConfig:
    dsn: str
    kafka: KafkaConfig
    slot: str = SLOT
    publication: str = PUBLICATION
    cleanup_every_s: float = 1.0
    status_interval_s: float = 1.0
    linger_ms: int = 5
    # how long a published row stays in the outbox (seconds; 0: pruned as soon as published)
    retention_s: float = DEFAULT_RETENTION_S
    prune_batch: int = 20_000  # rows deleted per cleanup at most

    def __post_init__(self) -> None:
        if self.retention_s < 0:
            raise ValueError(f"the outbox retention cannot be negative ({self.retention_s:g} s)")


@dataclass
class RelayStats:
    published: int = 0  # rows the broker acknowledged in this process
    transactions: int = 0
    confirmed_lsn: int = 0
    confirmed_outbox_id: int = 0
    pruned: int = 0  # published rows removed after the retention window
    restarts: int = 0
    started: float = field(default_factory=time.monotonic)


@dataclass
class _Pending:
    """One committed transaction being published: confirmable when `remaining` is 0."""

    end_lsn: int
    ids: list[int]  # its outbox rows
    remaining: int = 0
    failed: str | None = None
    acked_at: float = 0.0  # when every row was acknowledged (monotonic)
    marked: set[int] = field(default_factory=set)  # its rows marked published so far

    @property
    def unmarked(self) -> list[int]:
        return [outbox_id for outbox_id in self.ids if outbox_id not in self.marked]

    def __post_init__(self) -> None:
        self.remaining = self.size

    @property
    def size(self) -> int:
        return len(self.ids)

    def on_delivery(self, err: KafkaError | None, _msg) -> None:
        if err is None:
            self.remaining -= 1
        elif self.failed is None:
            self.failed = str(err)


class Relay:
    def __init__(self, config: RelayConfig, log=None) -> None:
        self.config = config
        self.stats = RelayStats()
        self._log = log or (lambda text: print(f"relay: {text}", file=sys.stderr, flush=True))
        self._broker_error: str | None = None
        self._broker_error_reported = 0.0
        self._unrecorded = 0  # acknowledged rows not yet added to relay_state.published
        self._unrecorded_pruned = 0
        self._pruned_through_id = 0
        self._acked: list[_Pending] = []  # acknowledged, not yet marked published nor confirmed
        self._last_marked = 0.0

    # ------------------------------------------------------------------ the loop
    def run(self, stop: threading.Event | None = None, max_seconds: float | None = None) -> RelayStats:
        """Relay until `stop` is set (or `max_seconds`), restarting sessions with backoff."""
        import psycopg2

        stop = stop or threading.Event()
        deadline = time.monotonic() + max_seconds if max_seconds else None
        backoff = 0.5
        while not stop.is_set() and (deadline is None or time.monotonic() < deadline):
            try:
                self._session(stop, deadline)
                backoff = 0.5
            except psycopg2.OperationalError as exc:
                self._log(f"orders database unavailable: {first_line(exc)}; retrying in {backoff:.1f}s")
            except psycopg2.Error as exc:
                self._log(f"replication failed: {first_line(exc)}; retrying in {backoff:.1f}s")
            except RelayError as exc:
                self._log(f"{exc}; resuming from the slot's confirmed position in {backoff:.1f}s")
            else:
                continue
            self.stats.restarts += 1
            stop.wait(backoff)
            backoff = min(backoff * 2, 10.0)
        return self.stats

    def _on_kafka_error(self, err: KafkaError) -> None:
        self._broker_error = f"{err.name()}: {err.str()}"
        now = time.monotonic()
        if now - self._broker_error_reported > 10:
            self._broker_error_reported = now
            self._log(
                f"broker {self.config.kafka.bootstrap_servers} unavailable or failing "
                f"({self._broker_error}); the producer retries, nothing is confirmed to PostgreSQL "
                "until it succeeds"
            )

    def _producer(self) -> Producer:
        return Producer(
            {
                **producer_config(self.config.kafka),
                "linger.ms": self.config.linger_ms,
                "error_cb": self._on_kafka_error,
            }
        )

    def _session(self, stop: threading.Event, deadline: float | None) -> None:
        import psycopg2
        from psycopg2.extras import LogicalReplicationConnection

        cfg = self.config
        producer = self._producer()
        repl = psycopg2.connect(cfg.dsn, connection_factory=LogicalReplicationConnection)
        side = psycopg2.connect(cfg.dsn)
        side.autocommit = True
        pending: collections.deque[_Pending] = collections.deque()
        self._acked.clear()  # a new session: what the last one did not confirm comes again
        try:
            cur = repl.cursor()
            with side.cursor() as scur:
                scur.execute("select 1 from pg_replication_slots where slot_name = %s", (cfg.slot,))
                if scur.fetchone() is None:
                    cur.create_replication_slot(cfg.slot, output_plugin="pgoutput")
                    self._log(f"created replication slot {cfg.slot}")
                    self._backfill(side, producer)
            cur.start_replication(
                slot_name=cfg.slot,
                decode=False,
                options={"proto_version": "1", "publication_names": cfg.publication},
                status_interval=cfg.status_interval_s,
            )
            self._log(f"streaming slot {cfg.slot} -> {cfg.kafka.topic} at {cfg.kafka.bootstrap_servers}")
            relations: dict[int, pgoutput.Relation] = {}
            begin: pgoutput.Begin | None = None
            rows: list[tuple[int, str, str]] = []
            last_cleanup = time.monotonic()
            topic = cfg.kafka.topic
            while not stop.is_set() and (deadline is None or time.monotonic() < deadline):
                msg = cur.read_message()
                if msg is None:
                    producer.poll(0)
                    self._confirm(cur, side, pending)
                    if time.monotonic() - last_cleanup >= cfg.cleanup_every_s:
                        self._cleanup(side)
                        last_cleanup = time.monotonic()
                    select.select([repl], [], [], 0.05 if pending or self._acked else 0.5)
                    continue
                message = pgoutput.decode(msg.payload)
                if isinstance(message, pgoutput.Begin):
                    begin, rows = message, []
                elif isinstance(message, pgoutput.Relation):
                    relations[message.relation_id] = message
                elif isinstance(message, pgoutput.Insert):
                    relation = relations.get(message.relation_id)
                    if relation is None:
                        raise RelayError(f"insert for unknown relation {message.relation_id}")
                    if relation.name == outbox.TABLE:
                        row = dict(zip((c.name for c in relation.columns), message.new, strict=True))
                        rows.append((int(row["id"]), row["aggregate_id"], row["payload"]))
                elif isinstance(message, pgoutput.Commit):
                    if begin is None:
                        raise RelayError("commit without begin in the replication stream")
                    timestamp_ms = pgoutput.pg_timestamp_unix_ms(begin.commit_ts)
                    entry = _Pending(message.end_lsn, [r[0] for r in rows])
                    pending.append(entry)
                    for _outbox_id, key, payload in rows:
                        produce(
                            producer,
                            topic,
                            payload.encode(),
                            key.encode(),
                            timestamp=timestamp_ms,
                            on_delivery=entry.on_delivery,
                        )
                    producer.poll(0)
                    self._confirm(cur, side, pending)
                    begin, rows = None, []
                # Type, Origin, Update, Delete, Truncate: not published (the publication is inserts only)
            # a clean stop: wait for what is in flight, confirm it
            producer.flush(30)
            self._confirm(cur, side, pending, force=True)
            cur.send_feedback(force=True)
            self._cleanup(side)
        finally:
            repl.close()
            side.close()
            producer.flush(0)

    def _backfill(self, side, producer: Producer) -> None:
        """A slot sees only what is committed after it exists: when the relay had to create it
        (`orders db start` normally does, before any order), the rows of the outbox not yet
        published are published first, at least once (a row committed meanwhile may also come
        through the slot; Silver dedupes by event_id), then marked published. If that fails,
        the slot is dropped again so the next attempt backfills again instead of skipping
        those rows."""
        rows = outbox.unpublished(side)
        delivery = outbox.publish(producer, self.config.kafka.topic, rows)
        if not delivery.complete:
            with side.cursor() as cur:
                cur.execute("select pg_drop_replication_slot(%s)", (self.config.slot,))
            raise RelayError(
                f"publishing the {len(rows):,} outbox rows older than the new slot failed "
                f"({delivery.reason()}); slot dropped, retrying"
            )
        if rows:
            outbox.mark_published(side, delivery.ids)
            self._log(f"published {len(rows):,} outbox rows committed before the slot existed")

    def _confirm(self, cur, side, pending: collections.deque[_Pending], force: bool = False) -> None:
        """Confirm every transaction, in commit order, whose rows the broker all acknowledged:
        first mark its rows published, then move the slot past them. In that order, every row
        the slot has let go of is marked (a crash in between only publishes some rows again),
        so retention and replay can rely on `published_at`. Done at most every MARK_EVERY_S
        (`force`: now): the less a restart has to resend, the fewer round trips per event."""
        while pending and pending[0].remaining == 0 and pending[0].failed is None:
            entry = pending.popleft()
            entry.acked_at = time.monotonic()
            self._acked.append(entry)
        for entry in pending:
            if entry.failed is not None:
                raise RelayError(f"the broker did not acknowledge an event: {entry.failed}")
        now = time.monotonic()
        if not self._acked or (not force and now - self._last_marked < MARK_EVERY_S):
            return
        self._last_marked = now
        unmarked = [outbox_id for entry in self._acked for outbox_id in entry.unmarked]
        marked = outbox.mark_published(side, unmarked)
        # in commit order, up to the first transaction whose rows this session cannot see yet
        # (retried next time, its rows not marked yet only); rows gone for INVISIBLE_GRACE_S
        # were deleted, so published before
        for entry in self._acked:
            entry.marked.update(outbox_id for outbox_id in entry.ids if outbox_id in marked)
        done = 0
        for entry in self._acked:
            if entry.unmarked and now - entry.acked_at < INVISIBLE_GRACE_S:
                break
            done += 1
        confirmed, self._acked = self._acked[:done], self._acked[done:]
        for entry in confirmed:
            self.stats.confirmed_lsn = max(self.stats.confirmed_lsn, entry.end_lsn)
            self.stats.confirmed_outbox_id = max(self.stats.confirmed_outbox_id, max(entry.ids, default=0))
            self.stats.transactions += 1
            self.stats.published += entry.size
            self._unrecorded += entry.size
        if confirmed:
            lsn = self.stats.confirmed_lsn
            cur.send_feedback(write_lsn=lsn, flush_lsn=lsn, force=True)

    def _cleanup(self, side) -> None:
        """Prune published rows older than the retention window; record the confirmed position
        and what pruning removed in relay_state (lag and replay reporting)."""
        with side.cursor() as cur:
            pruned, through = outbox.prune(cur, self.config.retention_s, self.config.prune_batch)
            self.stats.pruned += pruned
            self._unrecorded_pruned += pruned
            self._pruned_through_id = max(self._pruned_through_id, through)
            if not self.stats.confirmed_lsn:  # nothing confirmed in this process yet
                if self._unrecorded_pruned:
                    cur.execute(
                        """update relay_state set pruned = pruned + %s,
                               pruned_through_id = greatest(pruned_through_id, %s)
                           where slot_name = %s""",
                        (self._unrecorded_pruned, self._pruned_through_id, self.config.slot),
                    )
                    self._unrecorded_pruned = 0 if cur.rowcount else self._unrecorded_pruned
                return
            cur.execute(
                """insert into relay_state
                       (slot_name, confirmed_lsn, confirmed_outbox_id, published, updated_at,
                        pruned, pruned_through_id)
                   values (%s, %s, %s, %s, now(), %s, %s)
                   on conflict (slot_name) do update set
                       confirmed_lsn = excluded.confirmed_lsn,
                       confirmed_outbox_id = greatest(relay_state.confirmed_outbox_id,
                                                      excluded.confirmed_outbox_id),
                       published = relay_state.published + excluded.published,
                       updated_at = now(),
                       pruned = relay_state.pruned + excluded.pruned,
                       pruned_through_id = greatest(relay_state.pruned_through_id,
                                                    excluded.pruned_through_id)""",
                (
                    self.config.slot,
                    pgoutput.lsn_text(self.stats.confirmed_lsn),
                    self.stats.confirmed_outbox_id,
                    self._unrecorded,
                    self._unrecorded_pruned,
                    self._pruned_through_id,
                ),
            )
            self._unrecorded = 0
            self._unrecorded_pruned = 0
