"""A small Gold warehouse for the analytics API tests, built by the real dbt project from
Bronze rows written directly (no broker or Spark needed), then published for readers.

The data is deterministic and shaped so that wrong metric definitions give wrong answers:
- customer 20001 buys on three days of March 2019: one customer that month, three by the
  (wrong) sum of daily counts;
- orders span the fiscal-year boundary (March / April 2019);
- returns (C prefix, negative quantity) in several countries;
- service lines (postage, one at 0 x 1000, and an accounting adjustment) that count in
  lines and adjustments and fees only;
- a test customer and an exact duplicate line that Silver does not count, and a quarantined
  line (price 0), for the order lookup.
"""

from __future__ import annotations

import random
from pathlib import Path

from ingest.benchmarks.bronze_writer import BronzeWriter, event, line
from ingest.local import serving
from ingest.local.dbt import run_dbt
from ingest.paths import PROJECT_DIR, DataDir

COUNTRIES = ("United Kingdom", "France", "Germany", "EIRE", "Spain")
SEMANTIC_MANIFEST = PROJECT_DIR / "target" / "semantic_manifest.json"


def synthetic_events(seed: int = 7) -> list[dict]:
    rng = random.Random(seed)
    events = []
    order_no = 540000
    for month in (1, 2, 3, 4, 5, 6):
        for _ in range(14):
            order_no += 1
            day = rng.randint(1, 28)
            customer = str(rng.randint(12000, 12030))
            country = rng.choice(COUNTRIES)
            for n in range(rng.randint(1, 4)):
                events.append(
                    event(
                        f"ev-{order_no}-{n}",
                        line(
                            transaction_no=str(order_no),
                            date=f"{month}/{day}/2019",
                            product_no=f"2{rng.randint(1000, 1010)}",
                            product_name="Thing",
                            price=f"{rng.randint(100, 2500) / 100:.2f}",
                            quantity=str(rng.randint(1, 12)),
                            customer_no=customer,
                            country=country,
                        ),
                    )
                )
            if rng.random() < 0.25:  # a cancellation of the first line
                first = events[-1]["line"]
                events.append(
                    event(
                        f"ev-C{order_no}",
                        {**first, "TransactionNo": f"C{order_no}", "Quantity": str(-int(first["Quantity"]))},
                    )
                )
    # one customer, three days of March: 1 distinct customer that month, not 3
    for i, day in enumerate((4, 12, 20)):
        events.append(
            event(
                f"ev-repeat-{i}",
                line(transaction_no=f"5499{i}0", date=f"3/{day}/2019", customer_no="20001", country="France"),
            )
        )
    # service lines: in lines and adjustments and fees, never in revenue, units or orders
    events += [
        event(
            "postage-1",
            line(
                transaction_no="541900",
                date="2/14/2019",
                product_no="POST",
                product_name="POSTAGE",
                price="18.00",
                quantity="3",
                country="France",
            ),
        ),
        event(
            "postage-free",
            line(
                transaction_no="541901",
                date="2/15/2019",
                product_no="POST",
                product_name="POSTAGE",
                price="0",
                quantity="1000",
                country="France",
            ),
        ),
        event(
            "adjust-1",
            line(
                transaction_no="A541902",
                date="5/3/2019",
                product_no="B",
                product_name="Adjust bad debt",
                price="-1100.44",
                quantity="1",
                customer_no="",
            ),
        ),
    ]
    # the order the lookup tests trace: counted, duplicate, test customer's twin, quarantined
    events += [
        event("trace-1", line(transaction_no="577001", date="4/2/2019", product_no="22001", price="3.10")),
        event("trace-2", line(transaction_no="577001", date="4/2/2019", product_no="22002", price="4.20")),
        event("trace-3", line(transaction_no="577001", date="4/2/2019", product_no="22002", price="4.20")),
        event("trace-4", line(transaction_no="577001", date="4/2/2019", product_no="22003", price="0")),
    ]
    return events


def build(data: DataDir) -> Path:
    """Bronze, dbt build, publish: the warehouse path (its published copy is what the API reads)."""
    writer = BronzeWriter(str(data.bronze_table))
    events = synthetic_events()
    writer.append(events[: len(events) // 2])
    writer.append(events[len(events) // 2 :], minutes_after_base=5)
    run_dbt("build", "--exclude", "resource_type:test", "resource_type:unit_test", data=data)
    serving.publish(data.warehouse)
    return data.warehouse
