"""Bronze's lag against Event Hubs, from Event Hubs' own SDK (`azure-eventhub`).

Bronze reads Event Hubs through its Kafka endpoint (Spark's `kafka` source). How far behind it
is comes from the service itself: `EventHubConsumerClient.get_eventhub_properties()` lists the
partitions, `get_partition_properties(id)` gives each one's `beginning_sequence_number`,
`last_enqueued_sequence_number`, `last_enqueued_time_utc` and `is_empty` (AMQP management
requests: no event is received, no consumer group position is touched).

On the Kafka endpoint a record's offset is its event's sequence number (docs/event-hubs.md says
what that rests on), so per partition

    events_behind = last_enqueued_sequence_number + 1 - (the next offset Bronze will read)

and Bronze's next offset is `max(kafka_offset) + 1` per `kafka_partition` in the Bronze table
(`bronze_positions`): what has landed in Delta, which is what Silver reads. A partition Bronze
has never landed anything from is read from its first retained event (Bronze's
`startingOffsets` is `earliest`). The AMQP `last_enqueued_offset` is a byte position, not the
Kafka offset, and is not used.

`seconds_behind` is now minus the enqueued time of the newest event Bronze has not landed (the
partition's last enqueued event), 0 when caught up. It is a lower bound of how long the oldest
pending event has waited (the SDK gives no enqueued time by sequence number without receiving
the event): in a steady stream it stays small while `events_behind` grows, so `events_behind`
is the alarm and `seconds_behind` says how recent the backlog's head is.

The connection string is a plain `str` parameter (the caller resolves it from the environment
or a secret scope), kept out of every repr, message and log line here. `azure.eventhub` is
imported only when a client is built, so importing this module costs nothing where the SDK is
not installed.

For the Bronze job, one call:

    report, line = bronze_lag(spark, "orders.bronze.sales_transactions", connection_string, "sales")
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

DEFAULT_CONSUMER_GROUP = "$Default"  # management requests need one to build the client; they read no events
REDACTED = "[REDACTED]"
# AMQP sends 0 (or year 1) for "never": an empty partition's last enqueued time is not a time.
_NOT_SET_BEFORE = datetime(1971, 1, 1, tzinfo=UTC)


class LagError(RuntimeError):
    """Bronze's lag could not be measured; the message never holds the connection string."""


class LagReadError(LagError):
    """Event Hubs could not be asked (bad connection string, network, rights); redacted."""


class LagMismatchError(LagError):
    """Bronze's positions do not fit the event hub: a partition the hub does not have, or an
    offset past the hub's last sequence number (another hub, or the hub was recreated)."""


# ---------------------------------------------------------------------------- the report
@dataclass(frozen=True)
class PartitionLag:
    partition_id: str
    beginning_sequence_number: int
    last_enqueued_sequence_number: int
    last_enqueued_time_utc: datetime | None  # None for a partition that never had an event
    is_empty: bool
    next_offset: int | None  # Bronze's next Kafka offset; None: Bronze never landed from it
    events_behind: int
    seconds_behind: float
    expired_unread: int = 0  # events that left retention before Bronze landed them

    @property
    def is_caught_up(self) -> bool:
        return self.events_behind == 0

    def as_json(self) -> dict[str, Any]:
        return {
            "partition_id": self.partition_id,
            "events_behind": self.events_behind,
            "seconds_behind": self.seconds_behind,
            "next_offset": self.next_offset,
            "beginning_sequence_number": self.beginning_sequence_number,
            "last_enqueued_sequence_number": self.last_enqueued_sequence_number,
            "last_enqueued_time_utc": _iso(self.last_enqueued_time_utc),
            "is_empty": self.is_empty,
            "expired_unread": self.expired_unread,
        }


@dataclass(frozen=True)
class LagReport:
    eventhub_name: str
    measured_at: datetime
    partitions: tuple[PartitionLag, ...]

    @property
    def events_behind(self) -> int:
        return sum(p.events_behind for p in self.partitions)

    @property
    def seconds_behind(self) -> float:
        return max((p.seconds_behind for p in self.partitions), default=0.0)

    @property
    def is_caught_up(self) -> bool:
        return all(p.is_caught_up for p in self.partitions)

    @property
    def expired_unread(self) -> int:
        return sum(p.expired_unread for p in self.partitions)

    def summary(self) -> str:
        """One line, e.g. `bronze lag: 1,234 events, 3.2 s behind (4 partitions)`."""
        count = len(self.partitions)
        where = f"{count} partition{'s' if count != 1 else ''}"
        if self.is_caught_up:
            line = f"bronze lag: caught up (0 events behind, {where})"
        else:
            behind = sum(1 for p in self.partitions if not p.is_caught_up)
            line = (
                f"bronze lag: {self.events_behind:,} event{'s' if self.events_behind != 1 else ''}, "
                f"{self.seconds_behind:,.1f} s behind ({where}, {behind} behind)"
            )
        if self.expired_unread:
            line += f"; {self.expired_unread:,} events expired from Event Hubs before Bronze landed them"
        return line

    def as_json(self) -> dict[str, Any]:
        return {
            "eventhub_name": self.eventhub_name,
            "measured_at": _iso(self.measured_at),
            "events_behind": self.events_behind,
            "seconds_behind": self.seconds_behind,
            "is_caught_up": self.is_caught_up,
            "expired_unread": self.expired_unread,
            "partitions": [p.as_json() for p in self.partitions],
        }


def _iso(moment: datetime | None) -> str | None:
    if moment is None:
        return None
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _enqueued_time(value: Any) -> datetime | None:
    if not isinstance(value, datetime):
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return None if value < _NOT_SET_BEFORE else value


def compute_lag(
    eventhub_name: str,
    partition_properties: Iterable[Mapping[str, Any]],
    positions: Mapping[str, int],
    now: datetime | None = None,
) -> LagReport:
    """The report from the SDK's partition properties (dicts as `get_partition_properties`
    returns them) and Bronze's next offset per partition id.

    LagMismatchError when Bronze has a partition the hub does not, or is past the hub's end."""
    now = now or datetime.now(UTC)
    properties = list(partition_properties)
    known = {str(p["id"]) for p in properties}
    positions = {str(k): int(v) for k, v in positions.items()}
    unknown = sorted(set(positions) - known, key=_partition_order)
    if unknown:
        raise LagMismatchError(
            f"Bronze holds partition(s) {', '.join(unknown)} of {eventhub_name!r}, which has only "
            f"{', '.join(sorted(known, key=_partition_order)) or 'none'}: the Bronze table and the "
            "event hub do not describe the same stream"
        )
    partitions = []
    ahead = []
    for props in sorted(properties, key=lambda p: _partition_order(str(p["id"]))):
        pid = str(props["id"])
        beginning = int(props["beginning_sequence_number"])
        last = int(props["last_enqueued_sequence_number"])
        is_empty = bool(props["is_empty"])
        end = last + 1  # the sequence number (Kafka offset) the next event will get
        retained_from = end if is_empty else beginning
        next_offset = positions.get(pid)
        if next_offset is not None and next_offset > end:
            ahead.append(f"{pid} (Bronze next offset {next_offset:,}, hub's next {end:,})")
            continue
        start = retained_from if next_offset is None else max(next_offset, retained_from)
        expired = 0 if next_offset is None else max(0, retained_from - next_offset)
        behind = max(0, end - start)
        enqueued = _enqueued_time(props.get("last_enqueued_time_utc"))
        seconds = round(max(0.0, (now - enqueued).total_seconds()), 3) if behind and enqueued else 0.0
        partitions.append(
            PartitionLag(
                partition_id=pid,
                beginning_sequence_number=beginning,
                last_enqueued_sequence_number=last,
                last_enqueued_time_utc=enqueued,
                is_empty=is_empty,
                next_offset=next_offset,
                events_behind=behind,
                seconds_behind=seconds,
                expired_unread=expired,
            )
        )
    if ahead:
        raise LagMismatchError(
            f"Bronze is past the end of {eventhub_name!r} on partition(s) {'; '.join(ahead)}: "
            "another event hub, or one recreated since Bronze read it"
        )
    return LagReport(eventhub_name=eventhub_name, measured_at=now, partitions=tuple(partitions))


def _partition_order(pid: str) -> tuple[int, str]:
    return (int(pid), "") if pid.isdigit() else (1 << 30, pid)


# ---------------------------------------------------------------------------- Bronze's side
POSITIONS_SQL = """
select kafka_partition, max(kafka_offset) + 1 as next_offset
from {table}
where kafka_topic = {topic}
group by kafka_partition
"""


def quote_table(name: str) -> str:
    """`catalog.schema.table` -> `` `catalog`.`schema`.`table` `` (already quoted: unchanged)."""
    if "`" in name:
        return name
    return ".".join("`" + part + "`" for part in name.split("."))


def positions_sql(table: str, topic_placeholder: str) -> str:
    """SQL for a SQL warehouse (the API): next offset per partition of one topic; the topic is
    a bind parameter (`topic_placeholder`, e.g. `:topic`), the table an already quoted name."""
    return POSITIONS_SQL.format(table=table, topic=topic_placeholder)


def positions_from_rows(rows: Iterable[Any]) -> dict[str, int]:
    """(kafka_partition, next_offset) rows -> {"0": 1234, ...}, partition ids as Event Hubs'."""
    return {str(int(partition)): int(next_offset) for partition, next_offset in rows if partition is not None}


def bronze_positions(spark: Any, table: str, topic: str | None = None) -> dict[str, int]:
    """Bronze's next offset per partition: `max(kafka_offset) + 1` per `kafka_partition` in the
    Bronze Delta table (a catalog name, or a path to the table's folder), of `topic` when given."""
    from pyspark.sql import functions as F

    frame = spark.read.format("delta").load(table) if "/" in table else spark.table(table)
    if topic is not None:
        frame = frame.where(F.col("kafka_topic") == F.lit(topic))
    rows = (
        frame.groupBy("kafka_partition")
        .agg((F.max("kafka_offset") + F.lit(1)).alias("next_offset"))
        .collect()
    )
    return positions_from_rows((row["kafka_partition"], row["next_offset"]) for row in rows)


# ---------------------------------------------------------------------------- Event Hubs' side
def _secret_fragments(connection_string: str) -> list[str]:
    fragments = [connection_string]
    for part in connection_string.split(";"):
        name, _, value = part.strip().partition("=")
        if name.strip().lower() in ("sharedaccesskey", "sharedaccesssignature") and value.strip():
            fragments.append(value.strip())
    return sorted({f for f in fragments if f}, key=len, reverse=True)


def redact(text: str, connection_string: str) -> str:
    """`text` without the connection string or its key / signature."""
    for fragment in _secret_fragments(connection_string):
        text = text.replace(fragment, REDACTED)
    return text


def _namespace(connection_string: str) -> str | None:
    for part in connection_string.split(";"):
        name, _, value = part.strip().partition("=")
        if name.strip().lower() == "endpoint":
            return value.strip().removeprefix("sb://").split("/", 1)[0] or None
    return None


class EventHubsLagReader:
    """Asks one event hub for its partitions' properties and measures Bronze's lag against them.

    A context manager: the SDK client (built on first use, or the `client` given, e.g. a fake in
    tests) is closed on exit. Errors from the SDK come out as LagReadError with the connection
    string and its key redacted, without the SDK's exception chained."""

    def __init__(
        self,
        connection_string: str,
        eventhub_name: str | None = None,
        *,
        consumer_group: str = DEFAULT_CONSUMER_GROUP,
        client: Any = None,
        client_options: Mapping[str, Any] | None = None,
    ) -> None:
        self._connection_string = connection_string
        self.eventhub_name = eventhub_name
        self.consumer_group = consumer_group
        self.namespace = _namespace(connection_string)
        self._client = client
        self._client_options = dict(client_options or {})

    def __repr__(self) -> str:
        return (
            f"EventHubsLagReader(namespace={self.namespace!r}, eventhub_name={self.eventhub_name!r}, "
            f"consumer_group={self.consumer_group!r})"
        )

    __str__ = __repr__

    def __enter__(self) -> EventHubsLagReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def _sdk_errors(self, doing: str) -> Iterator[None]:
        try:
            yield
        except LagError:
            raise
        except Exception as exc:
            message = redact(f"{type(exc).__name__}: {exc}", self._connection_string)
            raise LagReadError(f"Event Hubs: {doing} failed: {message}") from None

    def client(self) -> Any:
        """The SDK's EventHubConsumerClient (built offline: the first request connects)."""
        if self._client is None:
            with self._sdk_errors("building the client"):
                from azure.eventhub import EventHubConsumerClient

                self._client = EventHubConsumerClient.from_connection_string(
                    self._connection_string,
                    consumer_group=self.consumer_group,
                    eventhub_name=self.eventhub_name,
                    **self._client_options,
                )
        return self._client

    def partition_properties(self) -> tuple[str, list[dict[str, Any]]]:
        """(event hub name, [get_partition_properties(id) for each of its partitions])."""
        client = self.client()
        with self._sdk_errors("get_eventhub_properties"):
            hub = client.get_eventhub_properties()
        name = hub.get("eventhub_name") or self.eventhub_name or getattr(client, "eventhub_name", "")
        properties = []
        for pid in hub.get("partition_ids", []):
            with self._sdk_errors(f"get_partition_properties({pid!r})"):
                properties.append(client.get_partition_properties(pid))
        return name, properties

    def lag(self, positions: Mapping[str, int], now: datetime | None = None) -> LagReport:
        """Bronze's lag, from its next offset per partition (`bronze_positions`)."""
        name, properties = self.partition_properties()
        return compute_lag(name, properties, positions, now=now)

    def close(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            with self._sdk_errors("closing the client"):
                client.close()


def read_lag(
    connection_string: str,
    eventhub_name: str | None,
    positions: Mapping[str, int],
    *,
    consumer_group: str = DEFAULT_CONSUMER_GROUP,
    client: Any = None,
    client_options: Mapping[str, Any] | None = None,
    now: datetime | None = None,
) -> LagReport:
    """One measurement: a client opened for it, closed after."""
    with EventHubsLagReader(
        connection_string,
        eventhub_name,
        consumer_group=consumer_group,
        client=client,
        client_options=client_options,
    ) as reader:
        return reader.lag(positions, now=now)


def bronze_lag(
    spark: Any,
    table: str,
    connection_string: str,
    eventhub_name: str,
    *,
    consumer_group: str = DEFAULT_CONSUMER_GROUP,
    client: Any = None,
    now: datetime | None = None,
) -> tuple[LagReport, str]:
    """For the Bronze job: Bronze's lag against the event hub, and its one-line summary.

    `table` is the Bronze table (catalog name or path), `eventhub_name` the event hub (the Kafka
    topic Bronze subscribes to). Raises LagReadError / LagMismatchError (both LagError)."""
    positions = bronze_positions(spark, table, topic=eventhub_name)
    report = read_lag(
        connection_string, eventhub_name, positions, consumer_group=consumer_group, client=client, now=now
    )
    return report, report.summary()


# ---------------------------------------------------------------------------- for a server
@dataclass(frozen=True)
class LagStatus:
    """What a long-running server shows: the last report, or why there is none."""

    report: LagReport | None
    error: str | None = None
    read_at: float = field(default=0.0, repr=False)  # time.monotonic() of the read

    def as_json(self) -> dict[str, Any]:
        if self.report is not None:
            return {**self.report.as_json(), "error": None}
        return {
            "eventhub_name": None,
            "measured_at": None,
            "events_behind": None,
            "seconds_behind": None,
            "is_caught_up": None,
            "expired_unread": None,
            "partitions": [],
            "error": self.error,
        }


class LagMonitor:
    """Bronze's lag for a server's health answer: read at most every `ttl_s` seconds, a read
    waited for at most `timeout_s` (it goes on in the background and its result is kept), one
    read at a time. `read` returns a LagReport; its errors become a LagStatus with the message,
    redacted with `secrets`."""

    def __init__(
        self,
        read: Callable[[], LagReport],
        *,
        ttl_s: float = 30.0,
        timeout_s: float = 10.0,
        secrets: Iterable[str] = (),
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._read = read
        self.ttl_s, self.timeout_s = ttl_s, timeout_s
        self._secrets = [s for s in secrets if s]
        self._clock = clock
        self._lock = threading.Lock()
        self._status: LagStatus | None = None
        self._done: threading.Event | None = None

    def __repr__(self) -> str:
        return f"LagMonitor(ttl_s={self.ttl_s}, timeout_s={self.timeout_s})"

    def _run(self, done: threading.Event) -> None:
        try:
            status = LagStatus(self._read(), read_at=self._clock())
        except Exception as exc:
            message = f"{type(exc).__name__}: {exc}" if not isinstance(exc, LagError) else str(exc)
            for secret in self._secrets:
                message = redact(message, secret)
            status = LagStatus(None, message, read_at=self._clock())
        with self._lock:
            self._status, self._done = status, None
        done.set()

    def current(self) -> LagStatus:
        with self._lock:
            status = self._status
            if status is not None and self._clock() - status.read_at < self.ttl_s:
                return status
            done = self._done
            if done is None:
                done = self._done = threading.Event()
                threading.Thread(target=self._run, args=(done,), name="bronze-lag", daemon=True).start()
        if done.wait(self.timeout_s):
            with self._lock:
                return self._status or LagStatus(None, "no lag read yet")
        return status or LagStatus(None, f"Event Hubs did not answer within {self.timeout_s:g} s")
