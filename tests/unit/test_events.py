import orjson

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
