"""The orders application, simulated: places orders at a steady rate.

Order lines come from the synthetic generator or a v.4a CSV; consecutive lines with the
same TransactionNo are one order (cancellations are orders with the `C` prefix, as the
source system writes them). Each order, its lines and one outbox event per line are
written in ONE transaction: an event exists if and only if its order does.

The event is exactly what the replay producer publishes (events.encode); its event_id is
derived from the outbox row id and the cluster's system identifier, so it is unique per
outbox row and stays the same however often the relay delivers it. Placing an order that
already exists (same TransactionNo) is a no-op: re-running the simulator with the same
input skips what is already there.
"""

from __future__ import annotations

import itertools
import sys
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal, InvalidOperation

from ingest import events
from ingest.progress import Progress

Row = tuple[str, ...]


@dataclass
class SimulationResult:
    orders: int = 0
    lines: int = 0
    cancellations: int = 0
    already_placed: int = 0
    rejected: int = 0
    seconds: float = 0.0

    @property
    def rate(self) -> float:
        return self.orders / self.seconds if self.seconds else 0.0

    def summary(self) -> str:
        text = (
            f"placed {self.orders:,} orders ({self.lines:,} lines, {self.cancellations:,} cancellations) "
            f"in {self.seconds:.1f}s ({self.rate:,.1f} orders/s)"
        )
        if self.already_placed:
            text += f", {self.already_placed:,} already in the database (skipped)"
        if self.rejected:
            text += f", {self.rejected:,} rejected by the database (not placed, no event)"
        return text


def group_orders(rows: Iterable[Row]) -> Iterator[list[Row]]:
    """Consecutive rows with the same TransactionNo form one order."""
    for _, lines in itertools.groupby(rows, key=lambda row: row[0]):
        yield list(lines)


class InvalidOrder(ValueError):
    """A line the orders database cannot hold (a date or number that does not parse)."""


def _typed_line(row: Row) -> tuple[str, str, Decimal, int]:
    try:
        return row[2], row[3], Decimal(row[4]), int(row[5])
    except (InvalidOperation, ValueError) as exc:
        raise InvalidOrder(f"order {row[0]}: price {row[4]!r} / quantity {row[5]!r}: {exc}") from exc


def _order_date(text: str):
    try:
        return datetime.strptime(text.strip(), "%m/%d/%Y").date()  # M/d/yyyy: 12/9/2019 is 9 December
    except ValueError as exc:
        raise InvalidOrder(f"date {text!r} is not M/d/yyyy") from exc


def system_identifier(cur) -> str:
    cur.execute("select system_identifier from pg_control_system()")
    return str(cur.fetchone()[0])


def source_id(system_id: str) -> str:
    return f"orders-outbox:{system_id}"


def place_order(cur, lines: list[Row], source: str) -> bool:
    """Write one order, its lines and their outbox events with `cur` (the caller commits or
    rolls back: the whole order is one transaction). Returns False if the order exists."""
    from psycopg2.extras import execute_values

    first = lines[0]
    transaction_no = first[0]
    typed = [_typed_line(row) for row in lines]
    cur.execute(
        """insert into orders (transaction_no, order_date, customer_no, country, is_cancellation)
           values (%s, %s, %s, %s, %s) on conflict (transaction_no) do nothing returning 1""",
        (transaction_no, _order_date(first[1]), first[6] or None, first[7], transaction_no.startswith("C")),
    )
    if cur.fetchone() is None:
        return False
    cur.execute("select nextval('outbox_id_seq') from generate_series(1, %s)", (len(lines),))
    ids = [row[0] for row in cur.fetchall()]
    occurred_at = events.utc_now_text()
    line_rows, outbox_rows = [], []
    for line_no, (row, outbox_id, (product_no, product_name, price, quantity)) in enumerate(
        zip(lines, ids, typed, strict=True), start=1
    ):
        event_id = events.event_id(source, outbox_id)
        key, value = events.encode(row, event_id, occurred_at)
        line_rows.append((transaction_no, line_no, product_no, product_name, price, quantity, event_id))
        outbox_rows.append((outbox_id, key.decode(), event_id, events.EVENT_TYPE, value.decode()))
    execute_values(
        cur,
        """insert into order_lines
           (transaction_no, line_no, product_no, product_name, price, quantity, event_id) values %s""",
        line_rows,
    )
    execute_values(
        cur,
        "insert into outbox (id, aggregate_id, event_id, event_type, payload) values %s",
        outbox_rows,
    )
    return True


def simulate(
    dsn: str,
    rows: Iterable[Row],
    rate: float = 10.0,
    max_orders: int | None = None,
    duration_s: float | None = None,
    quiet: bool = False,
    should_stop: Callable[[], bool] = lambda: False,
) -> SimulationResult:
    """Place orders from `rows` at `rate` orders/s (0: as fast as the database takes them),
    until the rows, `max_orders` or `duration_s` run out, or `should_stop()`.
    A lost connection is reported and retried with backoff; the order in flight is placed
    again (a no-op if its commit had landed)."""
    import psycopg2

    result = SimulationResult()
    progress = Progress("orders placed", total=max_orders)
    started = time.monotonic()
    conn = None
    source = ""
    try:
        for number, lines in enumerate(group_orders(rows)):
            if (max_orders is not None and result.orders >= max_orders) or should_stop():
                break
            now = time.monotonic()
            if duration_s is not None and now - started >= duration_s:
                break
            if rate > 0:
                due = started + result.orders / rate
                if due > now:
                    time.sleep(due - now)
            backoff = 0.5
            while True:
                try:
                    if conn is None or conn.closed:
                        conn = psycopg2.connect(dsn)
                        with conn.cursor() as cur:
                            source = source_id(system_identifier(cur))
                        conn.commit()
                    with conn, conn.cursor() as cur:
                        placed = place_order(cur, lines, source)
                    break
                except InvalidOrder as exc:
                    conn.rollback()
                    placed = None
                    result.rejected += 1
                    print(f"simulator: order {number + 1} rejected: {exc}", file=sys.stderr)
                    break
                except (psycopg2.OperationalError, psycopg2.InterfaceError) as exc:
                    # InterfaceError: the server died under an open transaction, and closing
                    # it then finds the connection already closed
                    print(
                        f"simulator: orders database unavailable ({str(exc).strip().splitlines()[0]}); "
                        f"retrying in {backoff:.1f}s",
                        file=sys.stderr,
                    )
                    if conn is not None:
                        conn.close()
                    conn = None
                    if should_stop():
                        raise KeyboardInterrupt from exc
                    time.sleep(backoff)
                    backoff = min(backoff * 2, 10.0)
            if placed:
                result.orders += 1
                result.lines += len(lines)
                result.cancellations += lines[0][0].startswith("C")
                if not quiet:
                    progress.update(1)
            elif placed is False:
                result.already_placed += 1
    except KeyboardInterrupt:
        pass
    finally:
        if conn is not None:
            conn.close()
    result.seconds = time.monotonic() - started
    if not quiet:
        progress.done = result.orders
        progress.finish()
    return result


def synthetic_rows(lines: int, seed: int) -> Iterator[Row]:
    from ingest.generator import SyntheticSales

    return SyntheticSales(lines, seed).rows()


def csv_rows(path: str) -> Iterator[Row]:
    from ingest.producer import ProduceResult, read_csv

    return (row for _, row in read_csv(path, ProduceResult()))
