"""The local runner end to end: orders placed in PostgreSQL reach Gold, every line accounted for
exactly once in Silver, although the relay is SIGKILLed while orders flow (at-least-once
transport, deduplicated by event_id)."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import time

import duckdb
import pytest

from ingest.api.server import free_port
from ingest.orders import postgres
from ingest.paths import DataDir

from .helpers import runner_records, simulator_started, start_runner, wait_for_runner
from .outbox_helpers import LineBooks, query

pytestmark = pytest.mark.integration

KILLS = 3


def relay_pid(runner_pid: int) -> int | None:
    children = subprocess.run(
        ["ps", "--ppid", str(runner_pid), "-o", "pid=,args="], capture_output=True, text=True, check=False
    ).stdout
    for line in children.splitlines():
        pid, _, args = line.strip().partition(" ")
        if "orders relay" in args:
            return int(pid)
    return None


def test_orders_reach_gold_and_silver_holds_each_line_once_despite_relay_kills(outbox_data_root):
    runner, output, reader = start_runner(
        "--rate", "8", "--duration", "12", "--seed", "3", api_port=free_port()
    )
    kills = 0
    try:
        wait_for_runner(runner, output, lambda: simulator_started(output), "the simulator to start", 180)
        rng = random.Random(7)
        for _ in range(KILLS):
            time.sleep(rng.uniform(1.0, 3.0))
            pid = relay_pid(runner.pid)
            if pid is not None:
                os.kill(pid, signal.SIGKILL)
                kills += 1
        assert runner.wait(timeout=240) == 0, "".join(output)[-3000:]
    finally:
        if runner.poll() is None:
            runner.send_signal(signal.SIGTERM)
            runner.wait(60)
    reader.join(10)
    text = "".join(output)
    assert kills == KILLS and text.count("run: the relay exited") == KILLS, text[-3000:]
    last = runner_records(outbox_data_root)[-1]  # the final status line's numbers
    assert (last["bronze_lag"], last["relay_lag_rows"]) == (0, 0), last
    assert postgres.status(data=DataDir.from_env()) is None, "the runner left PostgreSQL running"

    with postgres.running(data=DataDir.from_env()) as pg:
        lines = {row[0] for row in query(pg.dsn(), "select event_id::text from order_lines")}
        orders = query(pg.dsn(), "select count(*) from orders")[0][0]
    assert orders >= 50 and len(lines) > orders

    con = duckdb.connect(str(DataDir(outbox_data_root).warehouse), read_only=True)
    try:

        def ids(sql: str) -> list[str]:
            return [row[0] for row in con.execute(sql).fetchall()]

        silver = ids("select event_id from silver.stg_bronze__order_lines")
        quarantined = ids("select event_id from silver.stg_bronze__quarantined_lines")
        gold = ids("select event_id from gold.fct_sales_lines")
        excluded = ids("select event_id from silver.int_excluded_lines")
        no_commit_time = con.execute(
            "select count(*) from gold.fct_sales_lines where source_event_at is null"
        ).fetchone()
        # the Gold runs take the SCD2 snapshots too: one open version per current product
        open_versions, products = con.execute(
            "select (select count(*) from gold.product_history where valid_to is null),"
            " (select count(*) from gold.dim_product)"
        ).fetchone()
    finally:
        con.close()
    LineBooks(silver, quarantined, gold, excluded).assert_each_line_once(lines)
    assert no_commit_time == (0,), "Gold lines without their outbox commit time"
    assert open_versions == products > 0
    assert f"Gold fct_sales_lines {len(gold):,}" in text
    print("\n" + text.strip().splitlines()[-1])  # topic events vs order lines: the redeliveries
