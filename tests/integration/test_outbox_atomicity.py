"""An order and its outbox events are one transaction: a rolled-back order produces no event."""

from __future__ import annotations

import threading
from datetime import datetime

import orjson
import psycopg2
import pytest

from ingest.config import KafkaConfig
from ingest.orders import simulator
from ingest.orders.outbox import lag
from ingest.orders.postgres import SLOT
from ingest.orders.relay import DEFAULT_RETENTION_S, Relay, RelayConfig

from ..waiting import wait_for
from .outbox_helpers import query, read_topic

pytestmark = pytest.mark.integration

LINE = ("{no}", "12/9/2019", "85123A", "CREAM HANGING HEART", "{price}", "{qty}", "17850", "United Kingdom")


def order(no: str, lines: int = 3, price: str = "2.55", qty: str = "6") -> list[tuple[str, ...]]:
    return [tuple(f.format(no=no, price=price, qty=qty) for f in LINE) for _ in range(lines)]


def place(dsn: str, lines: list[tuple[str, ...]], commit: bool) -> None:
    conn = psycopg2.connect(dsn)
    try:
        with conn.cursor() as cur:
            source = simulator.source_id(simulator.system_identifier(cur))
            assert simulator.place_order(cur, lines, source)
        conn.commit() if commit else conn.rollback()
    finally:
        conn.close()


def own_rows(dsn: str, sql: str, numbers: tuple[str, ...]) -> list[tuple]:
    """`sql` (with a `{mine}` placeholder for the order-number condition) over this test's orders."""
    return query(dsn, sql.format(mine="= any(%s)"), (list(numbers),))


def relay_until_idle(
    dsn: str,
    bootstrap: str,
    timeout_s: float = 30.0,
    after=None,
    retention_s: float = DEFAULT_RETENTION_S,
    done=None,
) -> None:
    """Run a relay until it published something and `done()` (default: the outbox is published).
    `after`: something to do once the relay streams from its slot."""
    done = done or (lambda: lag(dsn).rows == 0)
    stop = threading.Event()
    kafka = KafkaConfig(bootstrap_servers=bootstrap)
    relay = Relay(RelayConfig(dsn=dsn, kafka=kafka, retention_s=retention_s))
    thread = threading.Thread(target=relay.run, args=(stop,), daemon=True)
    thread.start()
    try:
        if after is not None:
            wait_for(lambda: lag(dsn).slot_active, "the relay to stream from its slot")
            after()
        wait_for(lambda: relay.stats.transactions and done(), "the relay to catch up", timeout_s)
    finally:
        stop.set()
        thread.join(30)


def test_a_rolled_back_order_leaves_no_order_no_outbox_row_and_no_event(orders_db, outbox_broker):
    dsn = orders_db.dsn()
    mine = ("900001", "900002", "C900003")
    place(dsn, order("900001"), commit=False)  # the application gave up: rollback
    with pytest.raises(psycopg2.errors.NumericValueOutOfRange):  # the database refused a line
        place(dsn, [*order("900002", 2), *order("900002", 1, price="1e20")], commit=True)
    before_commit = datetime.now().timestamp() * 1000
    place(dsn, order("C900003", 2, qty="-6"), commit=True)
    after_commit = datetime.now().timestamp() * 1000
    committed = own_rows(
        dsn,
        "select aggregate_id, event_id::text, payload from outbox where aggregate_id {mine} order by id",
        mine,
    )

    assert own_rows(dsn, "select transaction_no from orders where transaction_no {mine}", mine) == [
        ("C900003",)
    ]
    assert [row[0] for row in committed] == ["C900003", "C900003"]

    relay_until_idle(dsn, outbox_broker.bootstrap_servers)
    records = [r for r in read_topic(outbox_broker.bootstrap_servers) if r.key in mine]
    keys = {r.key for r in records}
    assert "900001" not in keys and "900002" not in keys
    assert [(r.key, r.value) for r in records] == [(k, p.encode()) for k, _, p in committed]
    for record, (_, event_id, _) in zip(records, committed, strict=True):
        event = orjson.loads(record.value)
        assert event["event_id"] == event_id
        assert event["line"]["Quantity"] == "-6"  # a cancellation, as the source writes it
        assert record.timestamp_type == 1  # CreateTime, set by the relay, kept by the broker
        assert before_commit - 1 <= record.timestamp_ms <= after_commit + 1, "not the commit time"


def test_published_rows_are_kept_for_the_retention_window_then_pruned(orders_db, outbox_broker):
    """Rows are no longer deleted once published (a broker that loses acknowledged events
    could not be replayed): they are marked published and kept for the retention window."""
    dsn = orders_db.dsn()
    bootstrap = outbox_broker.bootstrap_servers
    mine = ("900004", "900008")
    place(dsn, order("900004", 4), commit=True)
    relay_until_idle(dsn, bootstrap)  # the default window: an hour
    kept = own_rows(
        dsn, "select id, published_at is not null from outbox where aggregate_id {mine} order by id", mine
    )
    assert [published for _, published in kept] == [True] * 4, "published rows not kept, or not marked"

    # an old row not yet published (as if the relay had not got to it): never pruned
    oldest = kept[0][0]
    query(dsn, "update outbox set published_at = null, created_at = now() - interval '1 day' "
               "where id = %s returning id", (oldest,))  # fmt: skip
    place(dsn, order("900008", 2), commit=True)

    def only_the_unpublished_row_left() -> bool:
        return own_rows(dsn, "select id from outbox where aggregate_id {mine}", mine) == [(oldest,)]

    try:
        relay_until_idle(dsn, bootstrap, retention_s=1.0, done=only_the_unpublished_row_left, timeout_s=60)
        pruned, through = query(dsn, "select pruned, pruned_through_id from relay_state")[0]
        assert pruned >= 5 and through > kept[-1][0], "relay_state does not say what was pruned"
        assert own_rows(dsn, "select count(*) from order_lines where transaction_no {mine}", mine) == [(6,)]
    finally:  # the row left unpublished is not another test's to publish
        query(dsn, "update outbox set published_at = now() where id = %s returning id", (oldest,))


def test_orders_committed_before_the_slot_existed_are_published_too(orders_db, outbox_broker):
    """A relay that finds no slot creates it; what the outbox already holds is invisible to
    the new slot, so the relay publishes it first instead of skipping it."""
    dsn = orders_db.dsn()
    query(dsn, "select pg_drop_replication_slot(%s)", (SLOT,))
    place(dsn, order("900005", 2), commit=True)
    place(dsn, order("900006", 3), commit=True)
    waiting = {
        row[0]
        for row in own_rows(
            dsn,
            "select event_id::text from outbox where published_at is null and aggregate_id {mine}",
            ("900005", "900006"),
        )
    }
    assert len(waiting) == 5
    relay_until_idle(dsn, outbox_broker.bootstrap_servers, after=lambda: place(dsn, order("900007", 1), True))
    published = {orjson.loads(r.value)["event_id"] for r in read_topic(outbox_broker.bootstrap_servers)}
    late = own_rows(dsn, "select event_id::text from outbox where aggregate_id {mine}", ("900007",))
    assert waiting | {row[0] for row in late} <= published
    assert query(dsn, "select count(*) from pg_replication_slots where slot_name = %s", (SLOT,)) == [(1,)]
