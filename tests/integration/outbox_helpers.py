"""Helpers for the outbox tests: read the whole topic, query the orders database."""

from __future__ import annotations

import time
from dataclasses import dataclass

from ingest.config import TOPIC


@dataclass(frozen=True)
class Record:
    partition: int
    offset: int
    key: str
    value: bytes
    timestamp_ms: int
    timestamp_type: int


def read_topic(bootstrap_servers: str, topic: str = TOPIC, timeout_s: float = 30.0) -> list[Record]:
    """Every record of the topic, up to its end offsets, read with assign(): no consumer-group join."""
    from confluent_kafka import Consumer, TopicPartition

    conf = {
        "bootstrap.servers": bootstrap_servers,
        "group.id": "outbox-test-reader",
        "enable.auto.commit": False,
        "enable.partition.eof": True,
        "fetch.queue.backoff.ms": 1,
    }
    consumer = Consumer(conf)
    try:
        partitions = consumer.list_topics(topic, timeout=10).topics[topic].partitions
        marks = {p: consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10) for p in partitions}
        wanted = {p: high for p, (low, high) in marks.items() if high > low}
        consumer.assign([TopicPartition(topic, p, marks[p][0]) for p in wanted])
        records: list[Record] = []
        next_offset = {p: marks[p][0] for p in wanted}
        deadline = time.monotonic() + timeout_s
        while any(next_offset[p] < end for p, end in wanted.items()):
            if time.monotonic() > deadline:
                raise TimeoutError(f"read {len(records)} records of {topic}, not all of them")
            for msg in consumer.consume(num_messages=5_000, timeout=0.5):
                if msg.error() is not None:
                    continue  # partition EOF markers
                p = msg.partition()
                if msg.offset() >= wanted[p]:
                    continue
                ts_type, ts = msg.timestamp()
                records.append(Record(p, msg.offset(), msg.key().decode(), msg.value(), ts, ts_type))
                next_offset[p] = msg.offset() + 1
        return sorted(records, key=lambda r: (r.partition, r.offset))
    finally:
        consumer.close()


def query(dsn: str, sql: str, params: tuple = ()) -> list[tuple]:
    import psycopg2

    conn = psycopg2.connect(dsn)
    try:
        with conn, conn.cursor() as cur:
            cur.execute(sql, params)
            return cur.fetchall()
    finally:
        conn.close()


@dataclass(frozen=True)
class LineBooks:
    """Where each order line (event_id) ended in the warehouse."""

    silver: list[str]
    quarantined: list[str]
    gold: list[str]
    excluded: list[str]

    @classmethod
    def read(cls, warehouse) -> LineBooks:
        import duckdb

        con = duckdb.connect(str(warehouse), read_only=True)
        try:

            def ids(table: str) -> list[str]:
                return [row[0] for row in con.execute(f"select event_id from {table}").fetchall()]

            return cls(
                silver=ids("silver.stg_bronze__order_lines"),
                quarantined=ids("silver.stg_bronze__quarantined_lines"),
                gold=ids("gold.fct_sales_lines"),
                excluded=ids("silver.int_excluded_lines"),
            )
        finally:
            con.close()

    def assert_each_line_once(self, lines: set[str]) -> None:
        """Every line once in Silver (valid or quarantined), and once in Gold's terms."""
        in_silver = self.silver + self.quarantined
        assert len(in_silver) == len(set(in_silver)) == len(lines), "a line twice in Silver, or missing"
        assert set(in_silver) == lines
        accounted = self.gold + self.excluded + self.quarantined
        assert len(accounted) == len(set(accounted)) == len(lines), "a line counted twice or missing in Gold"
        assert set(accounted) == lines
