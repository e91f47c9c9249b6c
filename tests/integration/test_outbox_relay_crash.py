"""The relay never loses an outbox row: SIGKILLed at random moments while orders are being
placed, and restarted, it leaves every event in the topic at least once, in order per order."""

from __future__ import annotations

import random
import signal
import subprocess
import sys
import time
from collections import defaultdict

import orjson
import pytest

from ingest.orders.outbox import lag

from ..waiting import wait_for
from .helpers import PROJECT_DIR
from .outbox_helpers import query, read_topic

pytestmark = pytest.mark.integration

ORDERS = 400
RATE = 40  # orders/s: about 10 s of orders
KILLS = 5


def start(*args: str) -> subprocess.Popen:
    import os

    return subprocess.Popen(
        [sys.executable, "-m", "ingest", *args],
        cwd=PROJECT_DIR,
        env=dict(os.environ),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_relay_killed_at_random_moments_loses_no_event_and_keeps_order_per_order(orders_db, outbox_broker):
    dsn = orders_db.dsn()
    rng = random.Random(20261125)
    simulator = start("orders", "simulate", "--rate", str(RATE), "--orders", str(ORDERS), "--seed", "9")
    relay = start("orders", "relay")
    kills = []
    try:
        for _ in range(KILLS):
            time.sleep(rng.uniform(0.4, 1.8))
            assert simulator.poll() is None, "orders ran out before every kill: raise ORDERS"
            published = len(read_topic(outbox_broker.bootstrap_servers))
            relay.send_signal(signal.SIGKILL)
            relay.wait(10)
            kills.append(published)
            relay = start("orders", "relay")
        assert simulator.wait(120) == 0, simulator.stderr.read()[-2000:]
        lines = query(dsn, "select count(*) from order_lines")[0][0]
        wait_for(
            lambda: (
                not lag(dsn).rows
                and len({r.value for r in read_topic(outbox_broker.bootstrap_servers)}) >= lines
            ),
            "the relay to catch up",
            60,
            interval_s=0.5,
            detail=lambda: lag(dsn),
        )
    finally:
        for proc in (simulator, relay):
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                proc.wait(30)

    assert kills[-1] > 0 and len(set(kills)) > 1, f"the kills did not land while events flowed: {kills}"
    written = query(dsn, "select event_id::text, transaction_no, line_no from order_lines")
    outbox_rows = query(dsn, "select last_value from outbox_id_seq")[0][0]
    assert len(written) == outbox_rows == lines > 1000

    records = read_topic(outbox_broker.bootstrap_servers)
    events = [(r, orjson.loads(r.value)) for r in records]
    event_ids = [event["event_id"] for _, event in events]
    assert len(set(event_ids)) == outbox_rows, "an outbox row never reached the topic"
    assert set(event_ids) == {event_id for event_id, _, _ in written}
    assert all(r.key == event["line"]["TransactionNo"] for r, event in events)

    # Per order: one partition, and the first delivery of each line in line order.
    line_no = {event_id: (order, no) for event_id, order, no in written}
    partitions: dict[str, set[int]] = defaultdict(set)
    first_seen: dict[str, list[int]] = defaultdict(list)
    seen: set[str] = set()
    for record, event in events:  # sorted by (partition, offset)
        order, no = line_no[event["event_id"]]
        partitions[order].add(record.partition)
        if event["event_id"] not in seen:
            seen.add(event["event_id"])
            first_seen[order].append(no)
    assert all(len(parts) == 1 for parts in partitions.values()), "an order's lines on two partitions"
    assert all(nos == sorted(nos) for nos in first_seen.values()), "an order's lines out of order"
    print(f"\n{KILLS} kills, {len(records):,} records for {outbox_rows:,} outbox rows "
          f"({len(records) - outbox_rows:,} delivered again after a kill)")  # fmt: skip
