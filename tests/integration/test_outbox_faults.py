"""PostgreSQL or the broker unavailable: the relay says which, retries, loses nothing."""

from __future__ import annotations

import shutil
import tempfile
import threading
import time
from pathlib import Path

import orjson
import pytest

from ingest.config import KafkaConfig
from ingest.local import broker
from ingest.orders import postgres, simulator
from ingest.orders.outbox import lag
from ingest.orders.relay import Relay, RelayConfig
from ingest.paths import DataDir

from ..waiting import wait_for
from .outbox_helpers import query, read_topic

pytestmark = pytest.mark.integration


def place_orders(dsn: str, count: int) -> None:
    """`count` new orders (the simulator skips those already placed from the same input)."""
    result = simulator.simulate(
        dsn, simulator.synthetic_rows(5_000, 11), rate=0, max_orders=count, quiet=True
    )
    assert result.orders == count


class RelayThread:
    def __init__(self, dsn: str, bootstrap: str) -> None:
        self.messages: list[str] = []
        self.relay = Relay(
            RelayConfig(dsn=dsn, kafka=KafkaConfig(bootstrap_servers=bootstrap)), log=self.messages.append
        )
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.relay.run, args=(self.stop,), daemon=True)

    def __enter__(self) -> RelayThread:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop.set()
        self.thread.join(60)
        assert not self.thread.is_alive(), "the relay did not stop"

    def wait_for(self, predicate, what: str, timeout_s: float = 30.0) -> None:
        wait_for(predicate, what, timeout_s, detail=lambda: self.messages[-5:])


def event_ids_in_topic(bootstrap: str) -> set[str]:
    return {orjson.loads(r.value)["event_id"] for r in read_topic(bootstrap)}


def all_event_ids(dsn: str) -> set[str]:
    return {row[0] for row in query(dsn, "select event_id::text from order_lines")}


def unpublished_event_ids(dsn: str) -> set[str]:
    return {row[0] for row in query(dsn, "select event_id::text from outbox where published_at is null")}


def test_broker_down_nothing_is_confirmed_and_everything_arrives_once_it_is_back(orders_db):
    dsn = orders_db.dsn()
    port = broker.free_port()
    bootstrap = f"127.0.0.1:{port}"
    # a broker of this test's own (its own data directory): the module's broker may be running
    own = DataDir(Path(tempfile.mkdtemp(prefix="lakehouse-broker-down-", dir="/tmp")))
    place_orders(dsn, 5)
    waiting = unpublished_event_ids(dsn)
    assert len(waiting) >= 5
    try:
        with RelayThread(dsn, bootstrap) as relay:
            relay.wait_for(lambda: any("unavailable" in m for m in relay.messages), what="a broker message")
            time.sleep(1.0)  # a relay that confirmed without a broker would do it within this second
            assert relay.relay.stats.transactions == 0
            assert unpublished_event_ids(dsn) == waiting, "rows confirmed while the broker was down"
            broker.start(port=port, data=own)
            try:
                relay.wait_for(lambda: lag(dsn).rows == 0, what="the relay to catch up")
                assert event_ids_in_topic(bootstrap) == waiting
            finally:
                broker.stop(own)
        assert any(f"broker {bootstrap} unavailable" in m for m in relay.messages)
    finally:
        shutil.rmtree(own.root, ignore_errors=True)


def test_postgres_restarted_under_the_relay_it_reconnects_and_resumes(orders_db, outbox_broker):
    dsn = orders_db.dsn()
    bootstrap = outbox_broker.bootstrap_servers
    before = all_event_ids(dsn)  # published to another broker by another test, if any
    with RelayThread(dsn, bootstrap) as relay:
        place_orders(dsn, 5)
        relay.wait_for(lambda: lag(dsn).rows == 0 and relay.relay.stats.transactions, what="first orders")
        postgres.stop(data=DataDir.from_env())
        relay.wait_for(
            lambda: any("orders database unavailable" in m for m in relay.messages), what="a database message"
        )
        postgres.start(port=orders_db.port, data=DataDir.from_env())
        place_orders(dsn, 5)
        relay.wait_for(lambda: lag(dsn).rows == 0, what="the relay to resume")
        # at least once: the earlier test's last transactions may come again; none may be missing
        relay.wait_for(
            lambda: event_ids_in_topic(bootstrap) >= all_event_ids(dsn) - before, what="every event"
        )
    assert event_ids_in_topic(bootstrap) <= all_event_ids(dsn)
    assert relay.relay.stats.restarts >= 1
