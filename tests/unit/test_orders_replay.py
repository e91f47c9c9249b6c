"""Which retained outbox rows a replay publishes after the broker lost events (ingest.orders.replay)."""

from __future__ import annotations

from ingest.orders.replay import ReplayPlan, ReplayResult, RetainedRow, plan


def rows(*spec: tuple[int, bool]) -> list[RetainedRow]:
    """(outbox id, published) -> a retained row whose event_id is `e<id>`."""
    return [RetainedRow(outbox_id, f"e{outbox_id}", published) for outbox_id, published in spec]


RETAINED = rows((1, True), (2, True), (3, True), (4, True), (5, True), (6, False), (7, False))


def test_nothing_is_replayed_when_bronze_holds_every_retained_row():
    found = plan(RETAINED, {f"e{i}" for i in range(1, 8)})
    assert found.from_id is None
    assert (found.rows, found.retained, found.oldest_retained_id) == (0, 7, 1)


def test_the_replay_starts_at_the_oldest_row_bronze_lacks_and_takes_every_row_after_it():
    # Bronze landed 1, 2 and (from another partition) 4; it lacks 3, 5, 6, 7
    found = plan(RETAINED, {"e1", "e2", "e4"})
    assert found.from_id == 3
    assert found.rows == 5  # 3..7: nothing Bronze lacks is skipped
    assert found.already_landed == 1  # 4 comes twice; Silver keeps one
    assert found.acknowledged_not_landed == 2  # 3 and 5: the broker had acknowledged them


def test_rows_not_yet_published_are_replayed_but_not_counted_as_lost_by_the_broker():
    found = plan(RETAINED, {f"e{i}" for i in range(1, 6)})
    assert (found.from_id, found.rows, found.acknowledged_not_landed) == (6, 2, 0)


def test_an_empty_bronze_gets_the_whole_retention_window():
    found = plan(RETAINED, set())
    assert (found.from_id, found.rows, found.already_landed, found.acknowledged_not_landed) == (1, 7, 0, 5)


def test_everything_replays_the_whole_window_and_still_counts_what_bronze_had():
    found = plan(RETAINED, {"e1", "e2", "e4"}, everything=True)
    assert (found.from_id, found.rows, found.already_landed, found.acknowledged_not_landed) == (1, 7, 3, 2)


def test_an_empty_outbox_replays_nothing():
    found = plan([], set(), pruned_through_id=40)
    assert found.from_id is None and not found.may_have_lost


def test_bronze_lacking_the_oldest_retained_row_after_pruning_may_have_lost_events():
    assert plan(RETAINED, set(), pruned_through_id=0).may_have_lost is False  # nothing pruned yet
    assert plan(RETAINED, set(), pruned_through_id=42).may_have_lost is True
    # Bronze holds the oldest retained row: the window reaches back past its position
    assert plan(RETAINED, {"e1"}, pruned_through_id=42).may_have_lost is False


def test_the_summary_names_the_figures_and_warns_about_a_window_too_short():
    found = plan(RETAINED, {"e1", "e2", "e4"})
    text = ReplayResult(found, published=5).summary()
    assert text == (
        "replayed 5 outbox events from id 3 (2 acknowledged by the lost broker and not in Bronze, "
        "1 already in Bronze)"
    )
    assert "WARNING" in ReplayResult(plan(RETAINED, set(), 42), published=7).summary()
    assert ReplayResult(ReplayPlan(None, retained=7)).summary().startswith("nothing to replay")
