"""Publish order lines (a v.4a CSV, or the synthetic generator) to the topic.

Idempotent producer with `acks=all`; key = `TransactionNo`; a progress line with rows/s;
a final count in which every line read is either acknowledged by the broker or reported.
A malformed CSV line is reported with its line number and the rest goes on.
"""

from __future__ import annotations

import csv
import os
import sys
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

from confluent_kafka import KafkaError, Producer

from ingest import events
from ingest.config import KafkaConfig
from ingest.generator import HEADER, SyntheticSales
from ingest.progress import Progress

MAX_REPORTED_MALFORMED = 20


@dataclass
class ProduceResult:
    lines_read: int = 0
    published: int = 0
    malformed: list[tuple[int, str]] = field(default_factory=list)
    redelivered: int = 0
    failed: int = 0
    seconds: float = 0.0

    @property
    def rate(self) -> float:
        return self.published / self.seconds if self.seconds else 0.0

    def summary(self) -> str:
        text = (
            f"read {self.lines_read:,} lines, published {self.published:,} events "
            f"in {self.seconds:.1f}s ({self.rate:,.0f} events/s)"
        )
        if self.redelivered:
            text += f" (of which {self.redelivered:,} delivered twice on purpose, as a retrying relay would)"
        if self.malformed:
            text += f", {len(self.malformed):,} malformed lines not published"
        if self.failed:
            text += f", {self.failed:,} NOT acknowledged by the broker"
        return text


class CsvFormatError(ValueError):
    """The file is not a v.4a-format CSV at all (wrong header)."""


def read_csv(path: str, result: ProduceResult) -> Iterator[tuple[int, tuple[str, ...]]]:
    """Yield (line number, row) for every well-formed line; record malformed ones in `result`."""
    with open(path, newline="", encoding="utf-8-sig", errors="replace") as handle:
        reader = csv.reader(handle)
        header = next(reader, None)
        if header is None or tuple(h.strip() for h in header) != HEADER:
            raise CsvFormatError(
                f"{path}: not a Sales Transaction v.4a CSV; expected header "
                f"{','.join(HEADER)}, found {','.join(header or [])!r}"
            )
        while True:
            try:
                row = next(reader)
            except StopIteration:
                return
            except csv.Error as exc:
                result.lines_read += 1
                _report_malformed(result, reader.line_num, f"unreadable CSV: {exc}")
                continue
            if not row:
                continue  # a blank line is not a line of data
            result.lines_read += 1
            if len(row) != len(HEADER):
                _report_malformed(result, reader.line_num, f"expected {len(HEADER)} fields, found {len(row)}")
                continue
            yield reader.line_num, tuple(row)


def _report_malformed(result: ProduceResult, line_no: int, reason: str) -> None:
    result.malformed.append((line_no, reason))
    if len(result.malformed) <= MAX_REPORTED_MALFORMED:
        print(f"malformed line {line_no}: {reason} (skipped)", file=sys.stderr)
    elif len(result.malformed) == MAX_REPORTED_MALFORMED + 1:
        print("more malformed lines: only counted from here on", file=sys.stderr)


def produce(producer, topic: str, value: bytes, key: bytes | None, **options) -> None:
    """`producer.produce`, waiting for room when librdkafka's local queue is full (it raises
    BufferError then) instead of dropping the record."""
    while True:
        try:
            producer.produce(topic, value=value, key=key, **options)
            return
        except BufferError:
            producer.poll(0.05)


def producer_config(kafka: KafkaConfig) -> dict:
    return {
        **kafka.client_config(),
        "enable.idempotence": True,
        "acks": "all",
        "linger.ms": 20,
        "batch.size": 1_000_000,
        "batch.num.messages": 10_000,
        "compression.type": "lz4",
        "queue.buffering.max.messages": 500_000,
        "queue.buffering.max.kbytes": 1_048_576,
    }


def publish(
    rows: Iterable[tuple[int, tuple[str, ...]]],
    kafka: KafkaConfig,
    source_id: str,
    result: ProduceResult | None = None,
    total: int | None = None,
    quiet: bool = False,
) -> ProduceResult:
    """Publish (position, row) pairs; returns counts once every event is acknowledged."""
    result = result or ProduceResult()
    errors: list[str] = []

    def on_delivery(err: KafkaError | None, _msg: object) -> None:
        if err is None:
            result.published += 1
        else:
            result.failed += 1
            if len(errors) < 5:
                errors.append(str(err))

    producer = Producer({**producer_config(kafka), "on_delivery": on_delivery})
    progress = Progress("published", total=total)
    started = time.monotonic()
    topic = kafka.topic
    occurred_at = events.utc_now_text()
    stamped_at = started
    for sent, (position, row) in enumerate(rows, start=1):
        if sent & 1023 == 0:  # the clock, a thousand times cheaper
            now = time.monotonic()
            if now - stamped_at > 0.001:
                occurred_at, stamped_at = events.utc_now_text(), now
        key, value = events.encode(row, events.event_id(source_id, position), occurred_at)
        produce(producer, topic, value, key)
        if sent & 1023 == 0:
            producer.poll(0)
            if not quiet:
                progress.update(1024)
    remaining = producer.flush(120)
    result.failed += remaining
    result.seconds = time.monotonic() - started
    if not quiet:
        progress.done = result.published
        progress.finish()
    for error in errors:
        print(f"delivery failed: {error}", file=sys.stderr)
    return result


def publish_csv(path: str, kafka: KafkaConfig, quiet: bool = False) -> ProduceResult:
    result = ProduceResult()
    source_id = f"csv:{os.path.basename(path)}:{os.path.getsize(path)}"
    return publish(read_csv(path, result), kafka, source_id, result=result, quiet=quiet)


def publish_synthetic(
    count: int, kafka: KafkaConfig, seed: int = 42, quiet: bool = False, redeliver_every: int = 0
) -> ProduceResult:
    """Publish `count` generated lines; with `redeliver_every` = N, every Nth event is sent
    twice with the same event_id, as an at-least-once relay does after a retry."""
    result = ProduceResult()

    def numbered() -> Iterator[tuple[int, tuple[str, ...]]]:
        for position, row in enumerate(SyntheticSales(count, seed).rows(), start=1):
            result.lines_read += 1
            yield position, row
            if redeliver_every and position % redeliver_every == 0:
                result.redelivered += 1
                yield position, row

    return publish(numbered(), kafka, f"synthetic:{seed}:{count}", result=result, total=count, quiet=quiet)
