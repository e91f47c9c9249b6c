"""Freshness p50 and p95: linear interpolation between the two nearest of the sorted values
(position (n - 1) * p), worked out by hand below."""

from __future__ import annotations

import pytest

from ingest.local.measure import Distribution, Freshness


def test_no_values_have_no_percentiles():
    assert Freshness.percentiles([]) is None


def test_one_value_is_its_own_p50_and_p95():
    assert Freshness.percentiles([7.5]) == (7.5, 7.5)


def test_eleven_evenly_spaced_values():
    # 1..11: p50 at position 5 -> 6; p95 at position 9.5 -> halfway between 10 and 11
    assert Freshness.percentiles([float(v) for v in range(1, 12)]) == pytest.approx((6.0, 10.5))


def test_values_in_any_order_are_sorted_first():
    # sorted 1, 3, 5: p50 at position 1 -> 3; p95 at position 1.9 -> 3 + 0.9 * (5 - 3) = 4.8
    assert Freshness.percentiles([5.0, 1.0, 3.0]) == pytest.approx((3.0, 4.8))


def test_two_values():
    # p50 at position 0.5 -> 15; p95 at position 0.95 -> 10 + 0.95 * 10 = 19.5
    assert Freshness.percentiles([10.0, 20.0]) == pytest.approx((15.0, 19.5))


def test_one_slow_line_in_twenty_moves_p95_not_p50():
    values = [2.0] * 19 + [40.0]
    # p50 at position 9.5 -> 2; p95 at position 18.05 -> 2 + 0.05 * (40 - 2) = 3.9
    assert Freshness.percentiles(values) == pytest.approx((2.0, 3.9))


def test_steady_state_leaves_out_the_first_run_that_added_lines(tmp_path):
    fresh = Freshness(tmp_path / "lakehouse.duckdb")
    for run in ([], [30.0, 31.0], [5.0], [6.0, 7.0]):
        fresh.add_run(run)
    # steady 5, 6, 7: p50 6; p95 at position 1.9 -> 6.9. All: 5, 6, 7, 30, 31
    assert fresh.steady.percentiles() == pytest.approx((6.0, 6.9))
    assert len(fresh.steady) == 3 and len(fresh.all) == 5
    assert fresh.all.percentiles() == pytest.approx((7.0, 30.8))


@pytest.mark.parametrize(
    "values",
    [[7.5], [10.0, 20.0], [5.0, 1.0, 3.0], [2.0] * 19 + [40.0], [0.001 * v for v in range(997, 0, -3)]],
)
def test_the_bounded_distribution_gives_the_percentiles_of_the_list(values):
    kept = Distribution()
    kept.add(values[: len(values) // 2])
    kept.add(values[len(values) // 2 :])
    assert kept.percentiles() == pytest.approx(Freshness.percentiles(values))


def test_the_distribution_keeps_one_count_per_millisecond():
    kept = Distribution()
    kept.add([12.3451, 12.3449] * 50_000)
    assert len(kept) == 100_000 and len(kept.counts) == 1
