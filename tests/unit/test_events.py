from pathlib import Path

import orjson
import pytest

from ingest import events

ROW = ("536366", "12/9/2019", "85123A", "Cream Hanging Heart", "12.50", "6", "17850", "EIRE")


def test_envelope_and_line_as_the_source_has_it():
    key, value = events.encode(ROW, "id-1", "2026-11-25T10:00:00.000Z")
    event = orjson.loads(value)
    assert key == b"536366"
    assert event["event_id"] == "id-1"
    assert event["event_type"] == "order_line"
    assert event["schema_version"] == 1
    assert event["occurred_at"] == "2026-11-25T10:00:00.000Z"
    assert event["line"] == {
        "TransactionNo": "536366",
        "Date": "12/9/2019",
        "ProductNo": "85123A",
        "ProductName": "Cream Hanging Heart",
        "Price": "12.50",
        "Quantity": "6",
        "CustomerNo": "17850",
        "Country": "EIRE",
    }


def test_event_ids_are_unique_per_position_and_stable_per_source():
    ids = {events.event_id("csv:a.csv:100", n) for n in range(10_000)}
    assert len(ids) == 10_000
    assert events.event_id("csv:a.csv:100", 7) == events.event_id("csv:a.csv:100", 7)
    assert events.event_id("csv:a.csv:100", 7) != events.event_id("csv:b.csv:100", 7)


def test_event_id_is_uuid_shaped():
    import uuid

    assert uuid.UUID(events.event_id("synthetic:1:10", 3))


def test_occurred_at_is_utc_iso():
    assert events.utc_now_text().endswith("Z")


def test_the_producers_event_ids_have_the_trusted_form():
    assert events.is_valid_event_id(events.event_id("csv:a.csv:100", 7))
    assert events.is_valid_event_id("3f2b6c1e-9a7d-4e21-8c55-0d9e7b1a2c3f")  # an outbox row's uuid
    assert events.is_valid_event_id("good-sale")  # the readable ids of tests


@pytest.mark.parametrize(
    "event_id",
    [
        "",
        " ",
        "\t",
        " e1",
        "e1 ",
        "e1\n",
        "-e1",
        "e:1",
        "bronze:t:0:1",
        "é1",
        "1' or '1'='1",
        "a" * 65,
        "x" * 10_000,
        17,
        None,
    ],
)
def test_blank_malformed_or_overlong_ids_are_not_trusted(event_id):
    assert not events.is_valid_event_id(event_id)


def test_the_sql_form_of_the_event_id_pattern_is_the_same_pattern():
    macro = (Path(__file__).resolve().parents[2] / "macros" / "bronze" / "is_valid_event_id.sql").read_text()
    assert f"'{events.EVENT_ID_PATTERN}'" in macro
    assert events.EVENT_ID_PATTERN.endswith(f"{{0,{events.EVENT_ID_MAX_LENGTH - 1}}}")
