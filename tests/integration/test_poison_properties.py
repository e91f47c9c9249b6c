"""Generated payloads (hypothesis) through the Bronze transform and dbt (issue 11): whatever
the bytes, every record lands in Bronze as received, ends in exactly one Silver outcome with
a reason, no stage crashes, and the books balance.

Kept fast and bounded: hypothesis generates MAX_EXAMPLES small batches of Kafka records
(key, value) first; they are then parsed by the ingester's own transform on the local
SparkSession and written straight into Bronze (BronzeWriter.append_parsed, no broker), in
BATCHES micro-batches, with one incremental `dbt build` after each half. A failure names the
seed to replay it with: POISON_PROPERTY_SEED=<seed> pytest tests/integration/test_poison_properties.py.
"""

from __future__ import annotations

import itertools
import json
import os
import random
from collections import Counter

import duckdb
import pytest
from hypothesis import HealthCheck, given, seed, settings
from hypothesis import strategies as st

from ingest import events
from ingest.benchmarks.bronze_writer import BronzeWriter
from ingest.local.dbt import run_dbt
from ingest.paths import DataDir

from .helpers import bronze_path, bronze_table

pytestmark = pytest.mark.integration

MAX_EXAMPLES = int(os.environ.get("POISON_PROPERTY_EXAMPLES") or 80)  # more for an exploratory run
BATCHES = 4
SEED = int(os.environ.get("POISON_PROPERTY_SEED") or random.SystemRandom().randrange(2**32))

# --- what hostile producers send ------------------------------------------------------------
ID_POOL = [events.event_id("poison-properties", n) for n in range(20)]  # ids recur: duplicates
_FRESH = itertools.count()
SOURCE_TEXTS = [
    "536366", "C536379", "A563185", "12/9/2019", "2/30/2019", "12/9/19", "2019-12-09", "1/1/9999",
    "85123A", "85123a", "POST", "2.55", "-2.55", "0", "-0", "1e3", "NaN", "Infinity", "6", "-6",
    "17850", "17850.0", "99990", "", " ", "United Kingdom", "EIRE", "Atlantis", "x'); drop table t; --",
]  # fmt: skip

json_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**40), max_value=10**40),
    st.floats(),  # NaN and infinities included: json.dumps writes them as NaN, Infinity
    st.text(max_size=20),
)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3),
    max_leaves=6,
)
texts_and_numbers = st.one_of(
    *[st.sampled_from(SOURCE_TEXTS)] * 4,
    st.text(max_size=30),
    st.integers(min_value=-(10**40), max_value=10**40),
    st.floats(allow_nan=False, allow_infinity=False),
)
field_values = st.one_of(texts_and_numbers, json_values)
event_ids = st.one_of(
    st.sampled_from(ID_POOL),
    st.sampled_from(ID_POOL),
    st.sampled_from(["", " ", "\t", "e\u0000", "a" * 65, "x' or '1'='1", "bronze:t:0:1"]),
    st.text(max_size=70),
    json_values,
)


@st.composite
def event_values(draw) -> bytes:
    """An event as JSON: the envelope and line with any values, some fields left out."""
    # most events only have wrong text; some have fields of any JSON type
    values = draw(st.sampled_from([texts_and_numbers, texts_and_numbers, field_values]))
    line = {name: draw(values) for name in events.LINE_FIELDS}
    event = {
        "event_id": draw(event_ids),
        "event_type": draw(st.sampled_from([events.EVENT_TYPE, "other"]) | values),
        "schema_version": draw(st.sampled_from([1, 1, "1", 2, "2", "1.0", None]) | values),
        "occurred_at": draw(st.sampled_from(["2026-11-25T08:00:00.000Z"]) | values),
        "line": draw(st.just(line) | st.just(line) | json_values),
    }
    for name in draw(st.lists(st.sampled_from([*event, *line]), max_size=2)):
        event.pop(name, None)
        if isinstance(event.get("line"), dict):
            event["line"].pop(name, None)
    return json.dumps(event, ensure_ascii=draw(st.booleans())).encode()


@st.composite
def mutated(draw, values) -> bytes:
    """A value with one byte-level accident: truncated, bytes inserted or replaced, a
    byte-order mark, trailing data, a key written twice."""
    value = draw(values)
    at = draw(st.integers(min_value=0, max_value=len(value)))
    how = draw(st.sampled_from(["truncate", "insert", "replace", "bom", "trailing", "duplicate key"]))
    if how == "truncate":
        return value[:at]
    if how == "insert":
        return value[:at] + draw(st.binary(min_size=1, max_size=4)) + value[at:]
    if how == "replace":
        return value[:at] + draw(st.binary(min_size=1, max_size=1)) + value[at + 1 :]
    if how == "bom":
        return b"\xef\xbb\xbf" + value
    if how == "trailing":
        return value + draw(st.sampled_from([b"]", b"}", b" x", b",{}", b"\n", b"\x00"]))
    return value.replace(b"{", b'{"event_id":"' + ID_POOL[0].encode() + b'",', 1)


@st.composite
def good_event_values(draw) -> bytes:
    """A well-formed event (a topic is mostly these), so Silver and Gold have lines to build."""
    line = {
        "TransactionNo": draw(st.sampled_from(["", "C"])) + str(draw(st.integers(536000, 581000))),
        "Date": f"{draw(st.integers(1, 12))}/{draw(st.integers(1, 28))}/2019",
        "ProductNo": draw(st.sampled_from(["85123A", "22633", "POST", "84029e"])),
        "ProductName": draw(st.text(max_size=20)),
        "Price": draw(st.sampled_from(["2.55", "0.85", "18.00", "12.5"])),
        "Quantity": draw(st.sampled_from(["1", "6", "12"])),
        "CustomerNo": draw(st.sampled_from(["17850", "14527.0", "", "99990"])),
        "Country": draw(st.sampled_from(["United Kingdom", "EIRE", "France", "Atlantis"])),
    }
    if line["TransactionNo"].startswith("C"):
        line["Quantity"] = "-" + line["Quantity"]
    # a fresh id mostly, sometimes one seen before (a redelivery or a collision)
    if draw(st.sampled_from(["fresh", "fresh", "fresh", "reused"])) == "fresh":
        event_id = events.event_id("poison-properties-good", next(_FRESH))
    else:
        event_id = draw(st.sampled_from(ID_POOL))
    _, value = events.encode(tuple(line.values()), event_id, "2026-11-25T08:00:00.000Z")
    return value


kafka_keys = st.one_of(st.none(), st.just(b"536366"), st.binary(max_size=8))
kafka_values = st.one_of(
    good_event_values(),
    good_event_values(),
    event_values(),
    event_values(),
    event_values(),
    mutated(event_values()),
    st.none(),
    st.binary(max_size=40),
    st.text(max_size=40).map(str.encode),
    json_values.map(lambda value: json.dumps(value).encode()),
)
records = st.tuples(kafka_keys, kafka_values)


def generate() -> list[list[tuple[bytes | None, bytes | None]]]:
    generated: list[list[tuple[bytes | None, bytes | None]]] = []

    @seed(SEED)
    @settings(
        max_examples=MAX_EXAMPLES,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(st.lists(records, min_size=1, max_size=6))
    def collect(batch):
        generated.append(batch)

    collect()
    return generated


# --- what a usable event is, restated with Python's json -------------------------------------
class _Unusable(ValueError):
    pass


def _no_duplicate_keys(pairs):
    keys = [key for key, _ in pairs]
    if len(keys) != len(set(keys)):
        raise _Unusable("duplicate key")
    return dict(pairs)


def _reject_constant(name):
    raise _Unusable(name)


def _encodable(value) -> bool:
    """No lone surrogate anywhere (JSON allows the escape; Bronze's text must be UTF-8)."""
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return False
        return True
    if isinstance(value, list):
        return all(_encodable(item) for item in value)
    if isinstance(value, dict):
        return all(_encodable(k) and _encodable(v) for k, v in value.items())
    return True


def usable(value: bytes | None) -> bool:
    """Whether Bronze must find the value a usable event (parse_error null)."""
    if value is None:
        return False
    try:
        text = value.decode("utf-8").removeprefix("\ufeff")
        if not text.strip(" \t\n\r\x0b\x0c"):
            return False
        event = json.loads(text, object_pairs_hook=_no_duplicate_keys, parse_constant=_reject_constant)
    except (UnicodeDecodeError, ValueError):
        return False
    if not (isinstance(event, dict) and _encodable(event)):
        return False
    if not isinstance(event.get("event_id"), str) or not isinstance(event.get("line"), dict):
        return False
    fields = [event.get(name) for name in events.ENVELOPE_FIELDS] + [
        event["line"].get(name) for name in events.LINE_FIELDS
    ]
    return not any(isinstance(field, dict | list | bool) for field in fields)


def event_id_of(value: bytes) -> str:
    return json.loads(value.decode("utf-8").removeprefix("\ufeff"))["event_id"]


# --- the run ---------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def landed(data_root, spark):
    """Every generated record parsed by the Bronze transform and landed, with a dbt build
    after each half of the batches. Returns [(key, value, row written)] in landing order."""
    generated = generate()
    writer = BronzeWriter(bronze_path(data_root))
    per_batch = -(-len(generated) // BATCHES)
    landed: list[tuple[bytes | None, bytes | None, dict]] = []
    for number in range(BATCHES):
        batch = [
            record
            for example in generated[number * per_batch : (number + 1) * per_batch]
            for record in example
        ]
        rows = writer.append_parsed(spark, batch, partition=number % 2)
        landed.extend((key, value, row) for (key, value), row in zip(batch, rows, strict=True))
        if number in (BATCHES // 2 - 1, BATCHES - 1):
            run_dbt(
                "build", quiet=True, data=DataDir.from_env()
            )  # raises if a model or a test (the books) failed
    return landed


@pytest.fixture(scope="module")
def warehouse(landed):
    with duckdb.connect(str(DataDir.from_env().warehouse), read_only=True) as con:
        yield con


def replay(message: str) -> str:
    return f"{message} (replay: POISON_PROPERTY_SEED={SEED})"


def test_enough_payloads_of_every_kind_were_generated(landed, warehouse):
    values = [value for _, value, _ in landed]
    outcomes = warehouse.execute(
        "select line_status, quarantine_rules, count(*) from silver.stg_bronze__order_lines_checked"
        " group by all order by 3 desc"
    ).fetchall()
    errors = Counter(row["parse_error"] for _, _, row in landed)
    print(f"\nseed {SEED}: {len(values)} records, {sum(map(usable, values))} usable")
    print(f"Bronze parse_error: {errors.most_common()}")
    print(f"Silver outcomes: {outcomes}")
    assert len(values) >= MAX_EXAMPLES, replay("too few payloads")
    assert sum(usable(v) for v in values) >= 20, replay("too few usable events")
    assert sum(not usable(v) for v in values) >= 20, replay("too few unusable payloads")


def test_bronze_keeps_every_record_as_received(landed, data_root):
    rows = {(r["kafka_partition"], r["kafka_offset"]): r for r in bronze_table(data_root).to_pylist()}
    assert len(rows) == len(landed), replay("Bronze lost or invented records")
    for key, value, written in landed:
        row = rows[(written["kafka_partition"], written["kafka_offset"])]
        assert (row["raw_value_bytes"], row["kafka_key_bytes"]) == (value, key), replay(repr(value))
        for part, data in (("key", key), ("value", value)):
            valid = data is None or _decodes(data)
            assert (part in (row["invalid_utf8"] or "").split(",")) == (not valid), replay(repr(data))


def _decodes(data: bytes) -> bool:
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def test_bronze_finds_an_event_usable_exactly_when_strict_json_does(landed):
    for _, value, row in landed:
        assert (row["parse_error"] is None) == usable(value), replay(f"{value!r}: {row['parse_error']}")
        assert row["parse_error"] != "", replay(repr(value))


def test_each_record_ends_in_exactly_one_outcome_with_a_reason(landed, warehouse):
    checked = {
        (partition, offset): (key, event_id, status, quarantine_rules, parse_error)
        for partition, offset, key, event_id, status, quarantine_rules, parse_error in warehouse.execute(
            "select kafka_partition, kafka_offset, event_key, event_id, line_status, quarantine_rules,"
            " parse_error from silver.stg_bronze__order_lines_checked"
        ).fetchall()
    }
    kept_keys = {key for key, *_ in checked.values()}
    for _, value, row in landed:
        where = (row["kafka_partition"], row["kafka_offset"])
        trusted_id = usable(value) and events.is_valid_event_id(event_id_of(value))
        if where not in checked:
            # the only other outcome: a later copy of an event Silver keeps
            assert trusted_id and event_id_of(value) in kept_keys, replay(f"lost: {value!r}")
            continue
        key, _, status, quarantine_rules, parse_error = checked[where]
        assert status in ("valid", "quarantined"), replay(repr(value))  # the shipped seed never fails
        if status == "quarantined":
            assert quarantine_rules, replay(f"quarantined without a reason: {value!r}")
        if not usable(value):
            assert (status, quarantine_rules, parse_error) == (
                "quarantined",
                "invalid_payload",
                row["parse_error"],
            )
        elif not trusted_id:
            assert status == "quarantined" and "invalid_event_id" in quarantine_rules, replay(repr(value))
        if trusted_id:
            assert key == event_id_of(value), replay(repr(value))
        else:
            assert key == f"bronze:{row['kafka_topic']}:{where[0]}:{where[1]}", replay(repr(value))


def test_only_trusted_events_become_silver_lines(warehouse):
    ids = [
        event_id
        for (event_id,) in warehouse.execute("select event_id from silver.stg_bronze__order_lines").fetchall()
    ]
    assert all(events.is_valid_event_id(event_id) for event_id in ids), replay(repr(ids))
    assert len(ids) == len(set(ids))


def test_the_books_balance(landed, warehouse):
    bronze, lines, quarantined, failed, duplicates, unaccounted = warehouse.execute(
        "select sum(bronze_events), sum(silver_lines), sum(quarantined_lines), sum(failed_lines),"
        " sum(duplicates_removed), sum(unaccounted_events) from silver.int_bronze_reconciliation"
    ).fetchone()
    assert bronze == len(landed) == lines + quarantined + failed + duplicates, replay("books")
    assert (failed, unaccounted) == (0, 0), replay("books")
