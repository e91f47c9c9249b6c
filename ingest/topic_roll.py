"""Rolling the local broker's topic: free the memory of events Bronze has landed.

Tansu keeps every event in memory and never frees it: its memory engine has no DeleteRecords
(the request panics) and enforces no retention. Deleting a topic does free it, so `make run`
rolls the topic once it holds `--roll-topic-events` events: the topic is deleted and created
again under the same name, empty, with a new topic id and offsets from 0.

Safely, in this order (the runner drives it, `Runner._roll_topic_when_due`):
1. the relay stops cleanly (it flushes, confirms what the broker acknowledged, and exits;
   the outbox keeps the rest for when it starts again);
2. Bronze drains the topic: the runner waits until Bronze holds every event of it;
3. the runner writes a roll record for this incarnation of the topic (its id and its end
   offsets) in the checkpoints folder, state "closing";
4. the Bronze reader (ingest.bronze.kafka_source) sees the record at its next trigger; if its
   checkpoint stands exactly at the recorded end, it closes its Kafka clients and answers
   with a "released" file. A client that holds a topic while it is deleted can crash the
   process (a segfault inside librdkafka was seen here), so no client of the runner or of
   Bronze touches the topic while it goes. The runner gives up the roll if no answer comes;
5. the runner deletes the topic, creates it again, and marks the record "deleted";
6. Bronze sees the new incarnation: the record shows its checkpoint is at the old one's end,
   so it goes on from the start of the new one (any other change of topic id still stops it
   with OffsetMismatchError); the relay starts again.

No event is lost (the relay confirms only what the broker acknowledged; Bronze had every
event of the old incarnation before it was deleted) and none is landed twice by the roll.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ingest import broker
from ingest.config import KafkaConfig

CLOSING = "closing"
DELETED = "deleted"


def rolls_dir(checkpoint_path: str | Path) -> Path:
    """Where the roll records of a Bronze checkpoint live (beside it, never inside Spark's)."""
    path = Path(checkpoint_path)
    return path.parent / f"{path.name}.topic-rolls"


@dataclass(frozen=True)
class RollRecord:
    topic_id: str
    end: dict[str, int]  # each partition's end offset when the incarnation was retired
    state: str

    @classmethod
    def find(cls, folder: Path, topic_id: str | None) -> RollRecord | None:
        """The record of this incarnation of the topic, if it is being (or was) rolled."""
        if not topic_id:
            return None
        try:
            raw = json.loads(_record_path(folder, topic_id).read_text())
        except FileNotFoundError:
            return None
        return cls(topic_id, {p: int(o) for p, o in raw["end"].items()}, raw["state"])

    def write(self, folder: Path) -> None:
        """Atomically (a reader never sees half a record)."""
        folder.mkdir(parents=True, exist_ok=True)
        target = _record_path(folder, self.topic_id)
        tmp = target.with_suffix(".tmp")
        tmp.write_text(json.dumps({"end": self.end, "state": self.state}))
        os.replace(tmp, target)

    def remove(self, folder: Path) -> None:
        _record_path(folder, self.topic_id).unlink(missing_ok=True)
        _released_path(folder, self.topic_id).unlink(missing_ok=True)

    def release(self, folder: Path) -> None:
        """Bronze's answer: its clients are closed and its checkpoint is at `end`."""
        _released_path(folder, self.topic_id).touch()

    def released(self, folder: Path) -> bool:
        return _released_path(folder, self.topic_id).exists()


def _record_path(folder: Path, topic_id: str) -> Path:
    return folder / f"{_safe(topic_id)}.json"


def _released_path(folder: Path, topic_id: str) -> Path:
    return folder / f"{_safe(topic_id)}.released"


def _safe(topic_id: str) -> str:
    """Topic ids are base64 (with '/' and '+'): a file name of their own."""
    return topic_id.replace("/", "_").replace("+", "-").rstrip("=")


class RollSkipped(RuntimeError):
    """The roll was given up before the topic was touched; the run goes on with the old one."""


@dataclass(frozen=True)
class Rolled:
    events: int  # the events of the retired incarnation (all of them in Bronze)
    seconds: float
    drained_s: float  # of which waiting for Bronze to land the topic's last events
    released_s: float  # and waiting for Bronze to let go of the topic


def roll(
    kafka: KafkaConfig,
    folder: Path,
    bronze_landed: Callable[[], int],
    drain_s: float = 60.0,
    release_s: float = 30.0,
) -> Rolled:
    """Steps 2 to 5 of the module's procedure (the caller has stopped the relay, closed its own
    clients of the topic, and starts the relay again afterwards). `bronze_landed` counts the
    Bronze rows from the current incarnation of the topic."""
    from confluent_kafka import Consumer
    from confluent_kafka.admin import AdminClient

    from ingest.bronze.kafka_source import topic_state

    started = time.monotonic()
    conf = kafka.client_config()
    admin = AdminClient(conf)
    consumer = Consumer({**conf, "group.id": "topic-roll", "enable.partition.eof": True})
    try:
        while True:
            state = topic_state(consumer, admin, kafka.topic)
            events, landed = sum(state.end.values()), bronze_landed()
            if landed >= events:
                break
            if time.monotonic() - started > drain_s:
                behind = f"{landed:,} of {events:,} landed"
                raise RollSkipped(f"Bronze did not drain the topic in {drain_s:.0f}s ({behind})")
            time.sleep(0.5)
    finally:
        consumer.close()  # none of our clients holds the topic while it is deleted
    record = RollRecord(state.topic_id, state.end, CLOSING)
    record.write(folder)
    drained = waited = time.monotonic()
    while not record.released(folder):
        if time.monotonic() - waited > release_s:
            record.remove(folder)
            raise RollSkipped(f"Bronze did not let go of the topic in {release_s:.0f}s")
        time.sleep(0.2)
    released = time.monotonic()
    for older in folder.glob("*.json"):  # Bronze is past every earlier incarnation
        if older != _record_path(folder, record.topic_id):
            older.unlink(missing_ok=True)
            older.with_suffix(".released").unlink(missing_ok=True)
    _delete_topic(admin, kafka.topic)
    broker.ensure_topic(kafka.bootstrap_servers, kafka.topic, partitions=len(state.end))
    RollRecord(record.topic_id, record.end, DELETED).write(folder)
    done = time.monotonic()
    return Rolled(events, done - started, drained - started, released - drained)


def _delete_topic(admin, topic: str, timeout_s: float = 10.0) -> None:
    for future in admin.delete_topics([topic]).values():
        future.result(timeout_s)
    deadline = time.monotonic() + timeout_s
    while topic in admin.list_topics(timeout=timeout_s).topics:
        if time.monotonic() > deadline:
            raise RuntimeError(f"topic {topic} still listed {timeout_s:.0f}s after its deletion")
        time.sleep(0.1)
