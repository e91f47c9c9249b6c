"""The local runner end to end: orders placed in PostgreSQL reach Gold, every line accounted for."""

from __future__ import annotations

import os
import subprocess
import sys

import duckdb
import pytest

from ingest.orders import postgres

from .helpers import PROJECT_DIR
from .outbox_helpers import query

pytestmark = pytest.mark.integration


def test_orders_placed_in_postgres_reach_gold_and_every_line_is_accounted_for(outbox_data_root):
    env = {k: v for k, v in os.environ.items() if k not in ("KAFKA_BOOTSTRAP_SERVERS", "ORDERS_DATABASE_DSN")}
    done = subprocess.run(
        [sys.executable, "-m", "ingest", "run", "--fast", "--rate", "5", "--duration", "10", "--seed", "3"],
        cwd=PROJECT_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=280,
        check=False,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "bronze lag 0 ev" in done.stdout and "relay lag 0 rows" in done.stdout, done.stdout[-3000:]
    assert postgres.status() is None, "the runner left PostgreSQL running"

    with postgres.running() as pg:
        lines = {row[0] for row in query(pg.dsn(), "select event_id::text from order_lines")}
        orders = query(pg.dsn(), "select count(*) from orders")[0][0]
    assert orders >= 30 and len(lines) > orders

    con = duckdb.connect(str(outbox_data_root / "warehouse" / "lakehouse.duckdb"), read_only=True)
    try:
        gold = [r[0] for r in con.execute("select event_id from gold.fct_sales_lines").fetchall()]
        excluded = [r[0] for r in con.execute("select event_id from silver.int_excluded_lines").fetchall()]
        quarantined = [
            r[0] for r in con.execute("select event_id from silver.stg_bronze__quarantined_lines").fetchall()
        ]
        fresh = con.execute(
            "select count(*) from gold.fct_sales_lines where source_event_at is null"
        ).fetchone()
    finally:
        con.close()
    accounted = gold + excluded + quarantined
    assert len(accounted) == len(set(accounted)) == len(lines), "a line counted twice or missing"
    assert set(accounted) == lines
    assert len(gold) > 0.9 * len(lines)
    assert fresh == (0,), "Gold lines without their outbox commit time"
    assert f"Gold fct_sales_lines {len(gold):,}" in done.stdout
