"""Outbox retention in the relay: acknowledged rows are marked published before the slot is
confirmed past them, then pruned after the retention window (ingest.orders.relay)."""

from __future__ import annotations

import collections

import pytest

from ingest.config import KafkaConfig
from ingest.orders import migrate, outbox
from ingest.orders import relay as relay_module
from ingest.orders.outbox import prune
from ingest.orders.relay import Relay, RelayConfig, RelayError, _Pending


class Recorder:
    """A side connection and a replication cursor that write what happens to one list."""

    def __init__(self, answer: tuple = (0, 0), invisible: frozenset[int] = frozenset()) -> None:
        self.events: list[tuple] = []
        self.answer = answer
        self.invisible = set(invisible)  # outbox rows committed but not yet visible to this session

    # the side connection
    def cursor(self) -> Recorder:
        return self

    def __enter__(self) -> Recorder:
        return self

    def __exit__(self, *exc) -> None:
        pass

    def execute(self, sql: str, params: tuple = ()) -> None:
        self.events.append(("sql", " ".join(sql.split()), params))

    def fetchone(self) -> tuple:
        return self.answer

    def fetchall(self) -> list[tuple]:  # the rows an update ... returning id touched
        return [(i,) for i in self.events[-1][2][0] if i not in self.invisible]

    # the replication cursor
    def send_feedback(self, **kwargs) -> None:
        self.events.append(("feedback", kwargs))


def relay() -> Relay:
    return Relay(RelayConfig(dsn="", kafka=KafkaConfig()), log=lambda text: None)


def acknowledge(entry: _Pending, count: int | None = None) -> _Pending:
    for _ in range(entry.size if count is None else count):
        entry.on_delivery(None, None)
    return entry


def test_acknowledged_rows_are_marked_published_before_the_slot_moves_past_them():
    r, db = relay(), Recorder()
    pending = collections.deque([acknowledge(_Pending(100, [1, 2])), acknowledge(_Pending(200, [3]))])
    r._confirm(db, db, pending, force=True)
    (kind, sql, params), feedback = db.events
    assert kind == "sql" and sql.startswith("update outbox set published_at = coalesce(published_at, now())")
    assert params == ([1, 2, 3],)
    assert feedback == ("feedback", {"write_lsn": 200, "flush_lsn": 200, "force": True})
    assert (r.stats.published, r.stats.transactions, r.stats.confirmed_lsn) == (3, 2, 200)
    assert not pending


def test_a_transaction_not_fully_acknowledged_holds_back_the_ones_committed_after_it():
    r, db = relay(), Recorder()
    first = acknowledge(_Pending(100, [1]))
    waiting = acknowledge(_Pending(200, [2, 3]), count=1)
    later = acknowledge(_Pending(300, [4]))
    pending = collections.deque([first, waiting, later])
    r._confirm(db, db, pending, force=True)
    assert [e[2] for e in db.events if e[0] == "sql"] == [([1],)]
    assert db.events[-1][1]["flush_lsn"] == 100
    assert list(pending) == [waiting, later]


def test_a_transaction_not_yet_visible_to_the_marking_is_marked_later_before_the_slot_passes_it():
    """Logical decoding streams a transaction once its commit is in the WAL, a moment before
    other sessions see its rows: the update marks none of them then. The slot must not pass
    them (their rows would stay unpublished for good), and the marking is tried again."""
    r, db = relay(), Recorder(invisible=frozenset({2}))
    pending = collections.deque(
        [acknowledge(_Pending(100, [1])), acknowledge(_Pending(200, [2])), acknowledge(_Pending(300, [3]))]
    )
    r._confirm(db, db, pending, force=True)
    assert db.events[-1] == ("feedback", {"write_lsn": 100, "flush_lsn": 100, "force": True})
    assert (r.stats.transactions, r.stats.published) == (1, 1)
    db.invisible.clear()  # its commit is visible now
    r._confirm(db, db, pending, force=True)
    assert db.events[-2][2] == ([2],), "only the rows not marked yet are marked again"
    assert db.events[-1] == ("feedback", {"write_lsn": 300, "flush_lsn": 300, "force": True})
    assert (r.stats.transactions, r.stats.published) == (3, 3)


def test_rows_invisible_past_the_grace_were_deleted_and_do_not_hold_the_slot(monkeypatch):
    r, db = relay(), Recorder(invisible=frozenset({1}))
    r._confirm(db, db, collections.deque([acknowledge(_Pending(100, [1]))]), force=True)
    assert [e for e in db.events if e[0] == "feedback"] == []
    monkeypatch.setattr(
        relay_module.time, "monotonic", lambda: r._last_marked + relay_module.INVISIBLE_GRACE_S + 1
    )
    r._confirm(db, db, collections.deque(), force=True)
    assert db.events[-1][1]["flush_lsn"] == 100


def test_marking_waits_for_its_interval_unless_forced():
    r, db = relay(), Recorder()
    r._confirm(db, db, collections.deque([acknowledge(_Pending(100, [1]))]), force=True)
    r._confirm(db, db, collections.deque([acknowledge(_Pending(200, [2]))]))  # within 0.2 s
    assert len(db.events) == 2, "marked again within the interval"
    r._confirm(db, db, collections.deque(), force=True)
    assert db.events[-2][2] == ([2],) and db.events[-1][1]["flush_lsn"] == 200


def test_a_delivery_failure_marks_nothing_and_confirms_nothing():
    r, db = relay(), Recorder()
    failed = _Pending(100, [1])
    failed.on_delivery("broker gone", None)
    with pytest.raises(RelayError, match="did not acknowledge"):
        r._confirm(db, db, collections.deque([failed]), force=True)
    assert db.events == []


def test_pruning_deletes_only_published_rows_older_than_the_window_oldest_first():
    db = Recorder(answer=(250, 9_000))
    assert prune(db, retention_s=900, limit=20_000) == (250, 9_000)
    (_, sql, params) = db.events[0]
    assert "where published_at < now() - make_interval(secs => %s)" in sql  # null: never pruned
    assert "order by published_at limit %s" in sql
    assert params == (900.0, 20_000)


def test_a_negative_retention_is_refused():
    with pytest.raises(ValueError, match="cannot be negative"):
        RelayConfig(dsn="", kafka=KafkaConfig(), retention_s=-1)


def test_retention_comes_in_its_own_migration_after_the_outbox():
    names = [m.name for m in migrate.discover()]
    assert names.index("outbox_retention") > names.index("outbox")
    sql = next(m.sql for m in migrate.discover() if m.name == "outbox_retention")
    assert "add column published_at timestamptz" in sql


@pytest.mark.parametrize(
    ("slot_row", "expected"),
    [
        (None, (None, False)),  # no slot
        ((None, True), (None, True)),  # being created: no confirmed position yet (found run alone)
        ((4096, True), (4096, True)),
    ],
)
def test_the_lag_reads_a_slot_with_no_confirmed_position_yet(monkeypatch, slot_row, expected):
    monkeypatch.setattr(outbox, "_first_rows", lambda dsn, *statements: [(3, 1.5), slot_row])
    found = outbox.lag("dsn")
    assert (found.rows, found.seconds) == (3, 1.5)
    assert (found.wal_bytes, found.slot_active) == expected
