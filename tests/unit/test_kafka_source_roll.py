"""The Bronze reader's side of a topic roll (ingest.topic_roll), without a broker: it lets go
of a topic only when its checkpoint stands at the recorded end, reads nothing while the topic
is gone, goes on from the new topic's start, and refuses any other change of topic id."""

from __future__ import annotations

import pytest
from pyspark.sql.streaming.datasource import ReadAllAvailable

from ingest.bronze.kafka_source import KafkaStreamReader, OffsetMismatchError, TopicState
from ingest.topic_roll import CLOSING, DELETED, RollRecord

OLD, NEW = "AaIp3k+BcUO/wpFWt0v7mQ==", "AaIp4ACRexCWcScR66cDmQ=="
END = {"0": 120, "1": 80}


def reader(tmp_path, state: TopicState | Exception) -> KafkaStreamReader:
    r = KafkaStreamReader({"subscribe": "t", "topicRolls": str(tmp_path)})

    def current() -> TopicState:
        if isinstance(state, Exception):
            raise state
        return state

    r._state = current  # what the broker would answer
    return r


def at(topic_id: str, partitions: dict[str, int]) -> dict:
    return {"topic_id": topic_id, "partitions": dict(partitions)}


def test_closing_topic_is_released_only_at_its_recorded_end(tmp_path):
    record = RollRecord(OLD, END, CLOSING)
    record.write(tmp_path)
    behind = at(OLD, {"0": 120, "1": 79})
    r = reader(tmp_path, TopicState(OLD, {"0": 0, "1": 0}, END))
    assert r.latestOffset(behind, ReadAllAvailable()) == behind
    assert not record.released(tmp_path), "released with an event of the old topic unread"
    assert r.latestOffset(at(OLD, END), ReadAllAvailable()) == at(OLD, END)
    assert record.released(tmp_path)


def test_while_the_topic_is_gone_nothing_is_read(tmp_path):
    RollRecord(OLD, END, DELETED).write(tmp_path)
    r = reader(tmp_path, RuntimeError("Unknown topic or partition"))
    assert r.latestOffset(at(OLD, END), ReadAllAvailable()) == at(OLD, END)


def test_after_the_roll_the_new_topic_is_read_from_its_start(tmp_path):
    RollRecord(OLD, END, DELETED).write(tmp_path)
    r = reader(tmp_path, TopicState(NEW, {"0": 0, "1": 0}, {"0": 7, "1": 3}))
    end = r.latestOffset(at(OLD, END), ReadAllAvailable())
    assert end == at(NEW, {"0": 7, "1": 3})
    parts = r.partitions(at(OLD, END), end)
    assert [(p.partition, p.start, p.end) for p in parts] == [(0, 0, 7), (1, 0, 3)]


def test_a_roll_with_events_unread_stops_the_query(tmp_path):
    RollRecord(OLD, END, DELETED).write(tmp_path)
    r = reader(tmp_path, TopicState(NEW, {"0": 0, "1": 0}, {"0": 7, "1": 3}))
    with pytest.raises(OffsetMismatchError, match="rolled"):
        r.latestOffset(at(OLD, {"0": 100, "1": 80}), ReadAllAvailable())


def test_a_new_topic_id_without_a_roll_record_stops_the_query(tmp_path):
    r = reader(tmp_path, TopicState(NEW, {"0": 0, "1": 0}, {"0": 7, "1": 3}))
    with pytest.raises(OffsetMismatchError, match="another incarnation"):
        r.latestOffset(at(OLD, END), ReadAllAvailable())


def test_without_a_roll_record_a_missing_topic_is_an_error(tmp_path):
    r = reader(tmp_path, RuntimeError("Unknown topic or partition"))
    with pytest.raises(RuntimeError, match="Unknown topic"):
        r.latestOffset(at(OLD, END), ReadAllAvailable())
