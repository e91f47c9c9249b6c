"""Seeds load on every engine: dbt-spark's seed loader writes values into an INSERT statement
without escaping single quotes, so one quote in a seed value fails the Spark SQL check."""

from __future__ import annotations

import csv

import pytest

from ingest.paths import PROJECT_DIR

SEEDS = sorted((PROJECT_DIR / "seeds").glob("*.csv"))


@pytest.mark.parametrize("seed", SEEDS, ids=lambda p: p.name)
def test_no_seed_value_holds_a_single_quote(seed):
    with seed.open(newline="") as handle:
        quoted = [(n, value) for n, row in enumerate(csv.reader(handle), 1) for value in row if "'" in value]
    assert not quoted, f"{seed.name}: single quotes break dbt-spark's seed load: {quoted[:3]}"


def test_there_are_seeds():
    assert len(SEEDS) >= 4
