"""A PySpark streaming data source that reads Kafka through confluent-kafka.

Spark's native `kafka` source needs jars this machine cannot fetch, so the embedded
default reads the topic with this Python data source instead. It produces the same
columns as the native source (key, value, topic, partition, offset, timestamp,
timestampType), so the Bronze transform is one piece of code on both sides.

Offsets are `{"topic_id": ..., "partitions": {"0": next_offset, ...}}`. The topic id
changes when the topic is recreated (Tansu keeps topics in memory, so a broker restart
recreates them): a checkpoint made against another incarnation of the topic, or one that
points past the topic's end, stops the query with a clear message instead of silently
skipping or re-reading events. The one change of topic id it follows is a planned roll
(ingest.topic_roll: the runner deletes and recreates the topic to free the broker's memory
once Bronze has landed all of it): then it closes its clients while the topic goes, and goes
on from the start of the new incarnation.

Tansu reports a wrong high watermark after a multi-message batch (PLATFORM.md), so the
true end of each partition is found by consuming from (high watermark - 1) to the end.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from pyspark.sql.datasource import DataSource, DataSourceStreamReader, InputPartition
from pyspark.sql.pandas.types import to_arrow_schema
from pyspark.sql.streaming.datasource import (
    ReadAllAvailable,
    ReadLimit,
    ReadMaxRows,
    SupportsTriggerAvailableNow,
)
from pyspark.sql.types import (
    BinaryType,
    IntegerType,
    LongType,
    StringType,
    StructField,
    StructType,
    TimestampType,
)

from ingest import failpoints
from ingest.config import KafkaConfig
from ingest.topic_roll import CLOSING, RollRecord

SOURCE_NAME = "kafka_python"

# The native source's columns; read_partition yields them in this schema's Arrow form.
KAFKA_SCHEMA = StructType(
    [
        StructField("key", BinaryType()),
        StructField("value", BinaryType()),
        StructField("topic", StringType()),
        StructField("partition", IntegerType()),
        StructField("offset", LongType()),
        StructField("timestamp", TimestampType()),
        StructField("timestampType", IntegerType()),
    ]
)

ARROW_CHUNK_ROWS = 20_000


class OffsetMismatchError(RuntimeError):
    """The checkpoint does not describe the topic the broker now holds."""


def _client_config(options: dict[str, str]) -> dict[str, object]:
    """Consumer settings: the project's Kafka connection (Event Hubs SASL from the
    environment, as everywhere) plus what a bounded, checkpoint-driven reader needs."""
    kafka = KafkaConfig(
        bootstrap_servers=options["kafka.bootstrap.servers"],
        eventhubs_connection_string=os.environ.get("EVENTHUBS_CONNECTION_STRING") or None,
    )
    return {
        **kafka.client_config(),
        "group.id": options.get("kafka.group.id", "bronze-ingester"),
        "enable.auto.commit": False,
        "enable.partition.eof": True,
        "fetch.queue.backoff.ms": 1,
        "auto.offset.reset": "error",
    }


@dataclass(frozen=True)
class TopicState:
    topic_id: str
    low: dict[str, int]
    end: dict[str, int]


def topic_state(consumer, admin, topic: str, timeout_s: float = 10.0) -> TopicState:
    """The topic's id, and each partition's first and true end offsets."""
    from confluent_kafka import KafkaError, TopicCollection, TopicPartition

    description = admin.describe_topics(TopicCollection([topic]))[topic].result(timeout_s)
    topic_id = str(description.topic_id)
    low: dict[str, int] = {}
    end: dict[str, int] = {}
    to_scan: list[TopicPartition] = []
    for part in description.partitions:
        lo, hi = consumer.get_watermark_offsets(
            TopicPartition(topic, part.id), timeout=timeout_s, cached=False
        )
        low[str(part.id)] = lo
        end[str(part.id)] = hi
        if hi > lo:
            to_scan.append(TopicPartition(topic, part.id, hi - 1))
    if to_scan:
        # The high watermark can be too low after batched produces: consume to the real end.
        consumer.assign(to_scan)
        # Every partition must first return the record at (high watermark - 1), which exists;
        # only then does an empty poll mean "no more records" rather than "not fetched yet".
        unseen = {tp.partition for tp in to_scan}
        deadline = time.monotonic() + timeout_s
        # On a live topic records keep arriving and a poll is never empty: once every partition
        # returned a record, any offset read + 1 is a true end (every record below it exists).
        all_seen_at: float | None = None
        while True:
            got = 0
            for msg in consumer.consume(num_messages=10_000, timeout=0.25):
                err = msg.error()
                if err is not None:
                    if err.code() == KafkaError._PARTITION_EOF:
                        continue  # a hint only: the broker's end marker can be too early
                    raise RuntimeError(f"reading {topic}: {err}")
                got += 1
                unseen.discard(msg.partition())
                key = str(msg.partition())
                end[key] = max(end[key], msg.offset() + 1)
            if got == 0 and not unseen:
                break
            if not unseen:
                all_seen_at = all_seen_at or time.monotonic()
                if time.monotonic() - all_seen_at > 0.5:
                    break
            if time.monotonic() > deadline:
                raise RuntimeError(f"could not find the end of {topic} in {timeout_s:.0f} s")
        consumer.unassign()
    return TopicState(topic_id, low, end)


def split_limit(start: dict[str, int], end: dict[str, int], max_rows: int) -> dict[str, int]:
    """Cap the range start..end to `max_rows` events, shared fairly between partitions."""
    available = {p: end[p] - start.get(p, 0) for p in end}
    total = sum(available.values())
    if total <= max_rows:
        return dict(end)
    take = {p: (max_rows * n) // total for p, n in available.items()}
    leftover = max_rows - sum(take.values())
    for p in sorted(available, key=lambda p: available[p] - take[p], reverse=True):
        if leftover <= 0:
            break
        if take[p] < available[p]:
            take[p] += 1
            leftover -= 1
    return {p: start.get(p, 0) + take[p] for p in end}


class KafkaPartition(InputPartition):
    def __init__(self, topic: str, partition: int, start: int, end: int) -> None:
        super().__init__((topic, partition, start, end))
        self.topic = topic
        self.partition = partition
        self.start = start
        self.end = end


class KafkaStreamReader(DataSourceStreamReader, SupportsTriggerAvailableNow):
    def __init__(self, options: dict[str, str]) -> None:
        self.options = dict(options)
        self.topic = options["subscribe"]
        self.starting_offsets = options.get("startingOffsets", "earliest")
        self.max_rows = int(options.get("maxOffsetsPerTrigger", "0"))
        self._target: dict | None = None
        self._consumer = None
        self._admin = None
        # where the runner announces topic rolls (ingest.topic_roll); none: rolls are refused
        rolls = options.get("topicRolls")
        self.rolls = Path(rolls) if rolls else None

    # -- driver side -------------------------------------------------------------------
    def _clients(self):
        from confluent_kafka import Consumer
        from confluent_kafka.admin import AdminClient

        if self._consumer is None:
            conf = _client_config(self.options)
            self._consumer = Consumer(conf)
            self._admin = AdminClient(
                {k: v for k, v in conf.items() if k.startswith(("bootstrap", "sasl", "security"))}
            )
        return self._consumer, self._admin

    def _state(self) -> TopicState:
        consumer, admin = self._clients()
        return topic_state(consumer, admin, self.topic)

    def initialOffset(self) -> dict:
        state = self._state()
        offsets = state.low if self.starting_offsets == "earliest" else state.end
        return {"topic_id": state.topic_id, "partitions": dict(offsets)}

    def getDefaultReadLimit(self) -> ReadLimit:
        return ReadMaxRows(self.max_rows) if self.max_rows > 0 else ReadAllAvailable()

    def prepareForTriggerAvailableNow(self) -> None:
        state = self._state()
        self._target = {"topic_id": state.topic_id, "partitions": dict(state.end)}

    def _check(self, start: dict, state: TopicState) -> None:
        if start.get("topic_id") != state.topic_id:
            raise OffsetMismatchError(
                f"the checkpoint was made against another incarnation of topic {self.topic} "
                f"(topic id {start.get('topic_id')}, now {state.topic_id}): the broker lost its "
                "data or the topic was recreated. Bronze keeps what it already landed; to read "
                "the new topic from the start, run `python -m ingest bronze --reset-checkpoint`."
            )
        for p, offset in start["partitions"].items():
            if offset > state.end.get(p, 0):
                raise OffsetMismatchError(
                    f"the checkpoint is at offset {offset} of {self.topic} partition {p}, but the "
                    f"topic ends at {state.end.get(p, 0)}: events were lost on the broker. Run "
                    "`python -m ingest bronze --reset-checkpoint` to start again from the topic."
                )

    def _roll(self, start: dict) -> RollRecord | None:
        return RollRecord.find(self.rolls, start.get("topic_id")) if self.rolls else None

    def latestOffset(self, start: dict, limit: ReadLimit) -> dict:
        roll = self._roll(start)
        if roll is not None and roll.state == CLOSING:
            # The runner is about to delete this incarnation: let go of it once every event of
            # it is read (else the runner gives the roll up), and read nothing until it is back.
            if roll.end == start["partitions"]:
                self.stop()
                roll.release(self.rolls)
            return start
        try:
            state = self._state()
        except Exception:
            if roll is not None:  # deleted, not created again yet
                return start
            raise
        if roll is not None and state.topic_id != start.get("topic_id"):
            if roll.end != start["partitions"]:
                raise OffsetMismatchError(
                    f"topic {self.topic} was rolled at {roll.end}, but the checkpoint stands at "
                    f"{start['partitions']}: events of the old topic were not read"
                )
            start = {"topic_id": state.topic_id, "partitions": dict(state.low)}
        self._check(start, state)
        end = dict(state.end)
        if self._target is not None:  # availableNow: never beyond what existed at start
            end = {p: min(o, self._target["partitions"].get(p, o)) for p, o in end.items()}
        begin = {p: start["partitions"].get(p, state.low[p]) for p in end}
        if isinstance(limit, ReadMaxRows):
            end = split_limit(begin, end, limit.max_rows)
        return {"topic_id": state.topic_id, "partitions": end}

    def reportLatestOffset(self) -> dict | None:
        return None  # finding the true end costs a scan; latestOffset already does one

    def partitions(self, start: dict, end: dict) -> Sequence[InputPartition]:
        # after a roll, the batch starts on the old topic id and ends on the new one, which
        # is read from its start
        same_topic = start.get("topic_id") == end.get("topic_id")
        first = start.get("partitions", {}) if same_topic else {}
        return [
            KafkaPartition(self.topic, int(p), first.get(p, 0), last)
            for p, last in sorted(end["partitions"].items(), key=lambda kv: int(kv[0]))
            if last > first.get(p, 0)
        ]

    def commit(self, end: dict) -> None:
        """Spark's checkpoint is the source of truth; nothing to commit on the broker."""

    def stop(self) -> None:
        if self._consumer is not None:
            self._consumer.close()
            self._consumer = None
        self._admin = None

    # -- executor side -----------------------------------------------------------------
    def read(self, partition: KafkaPartition) -> Iterator:
        return read_partition(self.options, partition)


def read_partition(options: dict[str, str], part: KafkaPartition) -> Iterator:
    """Yield Arrow record batches with every event of offsets [start, end) of one partition."""
    import pyarrow as pa
    from confluent_kafka import Consumer, KafkaError, TopicPartition

    arrow_schema = to_arrow_schema(KAFKA_SCHEMA, timezone="UTC")
    consumer = Consumer(_client_config(options))
    try:
        consumer.assign([TopicPartition(part.topic, part.partition, part.start)])
        next_offset = part.start
        idle_polls = 0
        eof_seen = False
        keys: list = []
        values: list = []
        offsets: list[int] = []
        stamps: list[int] = []
        types: list[int] = []
        while next_offset < part.end:
            batch = consumer.consume(num_messages=min(10_000, part.end - next_offset), timeout=1.0)
            if not batch:
                idle_polls += 1
                if eof_seen and idle_polls >= 5:
                    raise OffsetMismatchError(
                        f"{part.topic}[{part.partition}] ends at {next_offset}, before offset "
                        f"{part.end - 1} that this batch was planned to read: the broker lost events"
                    )
                if idle_polls > 30:
                    raise RuntimeError(
                        f"{part.topic}[{part.partition}]: no events after offset {next_offset} "
                        f"for 30 s, expected up to {part.end - 1}"
                    )
                continue
            idle_polls = 0
            for msg in batch:
                err = msg.error()
                if err is not None:
                    if err.code() == KafkaError._PARTITION_EOF:
                        eof_seen = True  # confirmed only if nothing more arrives
                        continue
                    raise RuntimeError(f"{part.topic}[{part.partition}]: {err}")
                offset = msg.offset()
                if offset >= part.end:
                    next_offset = part.end
                    break
                ts_type, ts = msg.timestamp()
                keys.append(msg.key())
                values.append(msg.value())
                offsets.append(offset)
                stamps.append(ts * 1000 if ts >= 0 else None)
                types.append(ts_type)
                next_offset = offset + 1
            failpoints.reach("bronze.fetch", next_offset)
            if len(offsets) >= ARROW_CHUNK_ROWS or next_offset >= part.end:
                n = len(offsets)
                yield pa.RecordBatch.from_arrays(
                    [
                        pa.array(keys, pa.binary()),
                        pa.array(values, pa.binary()),
                        pa.array([part.topic] * n, pa.string()),
                        pa.array([part.partition] * n, pa.int32()),
                        pa.array(offsets, pa.int64()),
                        pa.array(stamps, pa.timestamp("us", tz="UTC")),
                        pa.array(types, pa.int32()),
                    ],
                    schema=arrow_schema,
                )
                keys, values, offsets, stamps, types = [], [], [], [], []
    finally:
        consumer.close()


class KafkaPythonDataSource(DataSource):
    """`spark.readStream.format("kafka_python")` with the native source's option names."""

    @classmethod
    def name(cls) -> str:
        return SOURCE_NAME

    def schema(self) -> StructType:
        return KAFKA_SCHEMA

    def streamReader(self, schema: StructType) -> DataSourceStreamReader:
        return KafkaStreamReader(self.options)
