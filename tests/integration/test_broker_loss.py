"""The local broker SIGKILLed in the middle of `make run`, at a moment when it holds acknowledged
events Bronze has not landed yet:
- its log intact: the runner starts it again on its log, nothing is replayed, Bronze resumes
  from its checkpoint;
- its log gone too: the runner starts a new broker, replays from the outbox what Bronze had not
  landed, restarts the relay and Bronze (checkpoint reset).
Either way every order line still ends exactly once in Silver and is accounted for in Gold, and
the console shows one line about it: no Kafka client noise, no traceback."""

from __future__ import annotations

import os
import re
import shutil
import signal
import time

import pytest

from ingest.api.server import free_port
from ingest.local import services
from ingest.local.measure import bronze_rows
from ingest.orders import postgres
from ingest.paths import DataDir

from .helpers import runner_records, simulator_started, start_runner, wait_for_runner
from .outbox_helpers import LineBooks, query

pytestmark = pytest.mark.integration

# seconds of orders (of 40) before the broker is killed, at a moment when Bronze has landed some
# events and the broker holds acknowledged events Bronze has not landed
KILL_AFTER_S = 15.0
RESTARTED = re.compile(
    r"run: the broker \(pid \d+\) died; started again on its log in (?P<seconds>[\d.]+)s on \S+: "
    r"nothing it acknowledged was lost, no outbox replay needed"
)
REPLAYED = re.compile(
    r"run: the broker \(pid \d+\) died and its log is gone; new broker on \S+ in (?P<seconds>[\d.]+)s; "
    r"replayed (?P<replayed>[\d,]+) outbox events from id [\d,]+ \((?P<lost>[\d,]+) acknowledged by the lost "
    r"broker and not in Bronze, (?P<again>[\d,]+) already in Bronze\)"
)


def landed_behind_published(data: DataDir, dsn: str) -> int:
    """0 before Bronze's first batch; else how many more events the broker acknowledged (the
    outbox rows marked published) than Bronze landed: what a broker death would lose."""
    landed = bronze_rows(data.bronze_table)
    published = query(dsn, "select count(*) from outbox where published_at is not null")[0][0]
    return max(published - landed, 0) if landed else 0


def number(text: str) -> int:
    return int(text.replace(",", ""))


def recovery_said(output: list[str]) -> bool:
    return any("died" in line for line in output)


@pytest.mark.parametrize("log", ["intact", "lost"])
def test_broker_killed_mid_run_every_order_line_still_ends_once_in_silver(outbox_data_root, log):
    data = DataDir(outbox_data_root)
    runner, output, reader = start_runner("--rate", "10", "--duration", "40", api_port=free_port())
    try:
        wait_for_runner(runner, output, lambda: simulator_started(output), "the simulator to start", 240)
        orders_from = time.monotonic()
        dsn = postgres.status(data).dsn()
        wait_for_runner(
            runner,
            output,
            lambda: time.monotonic() >= orders_from + KILL_AFTER_S and landed_behind_published(data, dsn) > 0,
            "a moment with events published but not landed",
            150,
        )
        pid, _port = services.recorded("broker", data)
        if log == "lost":  # moved away first, so the runner cannot find it whenever it notices
            shutil.move(data.root / "kafka", data.root / "kafka-lost")
        os.kill(pid, signal.SIGKILL)
        killed_at = time.monotonic()
        wait_for_runner(
            runner, output, lambda: any("died" in line for line in output), "the recovery line", 120
        )
        announced_after = time.monotonic() - killed_at
        landed_at_recovery = bronze_rows(data.bronze_table)
        wait_for_runner(  # the new Bronze's first batch
            runner,
            output,
            lambda: bronze_rows(data.bronze_table) > landed_at_recovery,
            "Bronze landing again",
            180 - (time.monotonic() - killed_at),
        )
        landing_again_after = time.monotonic() - killed_at
        assert runner.wait(timeout=360) == 0, "".join(output)[-3000:]
    finally:
        if runner.poll() is None:
            runner.send_signal(signal.SIGTERM)
            runner.wait(60)
    reader.join(10)
    text = "".join(output)

    recovery = [line for line in output if "died" in line]
    assert len(recovery) == 1, recovery
    found = (RESTARTED if log == "intact" else REPLAYED).search(recovery[0])
    assert found, recovery[0]
    assert "WARNING" not in recovery[0], recovery[0]
    if log == "lost":
        lost = number(found["lost"])
        assert lost > 0, "the kill lost no acknowledged event: the test did not test the loss"
        assert "lost broker log" in output[-1] or "lost broker log" in text, text[-1500:]
    else:
        assert "restarted on its log 1 time, nothing lost" in text, text[-1500:]
    for noise in ("Traceback", "|FAIL|", "rdkafka", "IndexError"):
        assert noise not in text, f"{noise!r} on the console:\n{text[-3000:]}"
    assert text.count("Connection refused") <= 1, text[-3000:]  # at most a status line's reason
    last = runner_records(outbox_data_root)[-1]  # the final status line's numbers
    assert (last["bronze_lag"], last["relay_lag_rows"]) == (0, 0), last
    assert postgres.status(data=DataDir.from_env()) is None, "the runner left PostgreSQL running"

    with postgres.running(data=DataDir.from_env()) as pg:
        lines = {row[0] for row in query(pg.dsn(), "select event_id::text from order_lines")}
        orders = query(pg.dsn(), "select count(*) from orders")[0][0]
        outbox = query(pg.dsn(), "select count(*), count(published_at) from outbox")[0]
    assert orders >= 100 and len(lines) > orders
    assert outbox == (len(lines), len(lines)), "every outbox row retained and published"
    landed = bronze_rows(data.bronze_table)

    books = LineBooks.read(data.warehouse)
    books.assert_each_line_once(lines)
    gold = books.gold
    assert f"Gold fct_sales_lines {len(gold):,}" in text
    print(
        f"\n{log} log: {orders:,} orders, {len(lines):,} lines; Bronze {landed:,} events "
        f"({landed - len(lines):,} duplicates); recovery line {announced_after:.1f}s after the kill "
        f"(its own work {found['seconds']}s), Bronze landing again after {landing_again_after:.1f}s"
    )
    print(recovery[0].strip())
    print(text.strip().splitlines()[-1])
