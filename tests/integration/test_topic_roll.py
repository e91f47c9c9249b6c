"""`make run` rolls the broker's topic (deletes and recreates it, freeing the broker's memory)
each time it holds a few thousand events: the relay pauses, Bronze drains the old topic, lets
go of it and goes on from the new one's start. Every order line still ends exactly once in
Bronze, in Silver and in Gold's terms, and each roll is one line on the console."""

from __future__ import annotations

import re
import signal

import pytest

from ingest import topic_roll
from ingest.measure import bronze_rows
from ingest.orders import postgres
from ingest.paths import DataDir

from .helpers import start_runner
from .outbox_helpers import LineBooks, query

pytestmark = pytest.mark.integration

ROLL_EVERY = 2_500  # events; at 10 orders/s (~20 lines each) a roll every ~15 s
ROLLED = re.compile(
    r"run: topic rolled \((?P<events>[\d,]+) events, all in Bronze\): relay paused [\d.]+s "
    r"\(its clean stop [\d.]+s, Bronze's last batch [\d.]+s, Bronze letting go [\d.]+s\); "
    r"broker memory [\d,]+ -> [\d,]+ MB"
)


def test_topic_rolled_mid_run_every_order_line_lands_once(outbox_data_root):
    data = DataDir(outbox_data_root)
    runner, output, reader = start_runner(
        "--rate", "10", "--duration", "50", "--roll-topic-events", str(ROLL_EVERY), api_port=0
    )
    try:
        assert runner.wait(timeout=420) == 0, "".join(output)[-3000:]
    finally:
        if runner.poll() is None:
            runner.send_signal(signal.SIGTERM)
            runner.wait(60)
    reader.join(10)
    text = "".join(output)

    rolls = [ROLLED.search(line) for line in output if line.startswith("run: topic roll")]
    assert len(rolls) >= 2 and all(rolls), text[-3000:]
    rolled = sum(int(found["events"].replace(",", "")) for found in rolls)
    assert f"after {len(rolls)} topic rolls of {rolled:,} events in all" in text, text[-1500:]
    for noise in ("Traceback", "|FAIL|", "rdkafka", "OffsetMismatchError", "exited"):
        assert noise not in text, f"{noise!r} on the console:\n{text[-3000:]}"
    # the records of retired topics do not pile up: the last one (Bronze may still need it)
    records = list(topic_roll.rolls_dir(data.bronze_checkpoint).glob("*.json"))
    assert len(records) == 1, records

    with postgres.running() as pg:
        lines = {row[0] for row in query(pg.dsn(), "select event_id::text from order_lines")}
    # a clean relay stop confirms what the broker acknowledged: a roll publishes nothing twice
    assert bronze_rows(data.bronze_table) == len(lines)

    LineBooks.read(data.warehouse).assert_each_line_once(lines)
