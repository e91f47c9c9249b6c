"""The analytics API's cache (issue 20): bounded in bytes, least recently used evicted first, an
answer over its share of the budget not kept, keys kept as digests, emptied by a new Gold
version; answers kept as their encoded bytes, pages sliced from them exactly as QueryOut
renders them; the budget from LAKEHOUSE_API_CACHE_MB or a stated fraction of the machine."""

from __future__ import annotations

import csv
import io
import json
import sys
from types import SimpleNamespace

import pytest
from fastapi.testclient import TestClient

from ingest.api import cache as cache_module
from ingest.api import rendering
from ingest.api.app import create_app
from ingest.api.auth import AuthConfigError
from ingest.api.cache import ENTRY_OVERHEAD, Answer, Cache, MiB, default_budget, digest, sizeof
from ingest.api.config import ApiConfig
from ingest.api.rendering import encode_answer, render_page
from ingest.api.schemas import QueryOut
from ingest.semantic import CompiledQuery


# ---------------------------------------------------------------------------- the cache
def test_entries_are_evicted_least_recently_used_first_by_bytes():
    cache = Cache(max_bytes=3 * (1000 + ENTRY_OVERHEAD), max_entry_bytes=10_000)
    assert cache.get("v1", "a") is None  # the first get sets the version
    for key in "abc":
        assert cache.put("v1", key, key, size=1000)
    assert cache.bytes == 3 * (1000 + ENTRY_OVERHEAD)
    assert cache.get("v1", "a") == "a"  # a is now the most recent
    assert cache.put("v1", "d", "d", size=1000)
    assert cache.get("v1", "b") is None  # b was the least recently used
    assert [cache.get("v1", k) for k in "acd"] == ["a", "c", "d"]
    assert cache.bytes <= cache.max_bytes and cache.evicted == 1
    assert cache.put("v1", "big", "e", size=2500)  # one entry may evict several
    assert cache.get("v1", "big") == "e" and len(cache) == 1
    assert cache.bytes == 2500 + ENTRY_OVERHEAD


def test_an_entry_over_its_share_of_the_budget_is_not_kept():
    cache = Cache(max_bytes=8 * MiB)
    assert cache.max_entry_bytes == MiB  # 1/8 of the budget
    cache.get("v1", "x")
    assert not cache.put("v1", "large", b"x", size=MiB)
    assert cache.get("v1", "large") is None and cache.refused == 1 and cache.bytes == 0
    assert cache.put("v1", "small", b"x", size=MiB - ENTRY_OVERHEAD)


def test_a_zero_budget_keeps_nothing():
    cache = Cache(max_bytes=0)
    cache.get("v1", "x")
    assert not cache.put("v1", "x", 1)
    assert cache.get("v1", "x") is None and len(cache) == 0


def test_replacing_an_entry_counts_its_bytes_once():
    cache = Cache(max_bytes=MiB, max_entry_bytes=MiB)
    cache.get("v1", "x")
    cache.put("v1", "k", "one", size=100)
    cache.put("v1", "k", "two", size=300)
    assert cache.get("v1", "k") == "two" and cache.bytes == 300 + ENTRY_OVERHEAD


def test_a_new_gold_version_empties_it_and_an_old_answer_is_not_kept():
    cache = Cache(max_bytes=MiB)
    cache.get("v1", "k")
    cache.put("v1", "k", "old", size=10)
    assert cache.get("v2", "k") is None  # a new build: empty
    assert cache.bytes == 0 and len(cache) == 0
    assert not cache.put("v1", "k", "stale", size=10)  # computed on the old build meanwhile
    assert cache.get("v2", "k") is None


def test_keys_are_kept_as_16_byte_digests_whatever_their_length():
    cache = Cache(max_bytes=MiB)
    long_key = "x" * 60_000
    cache.get("v1", long_key)
    cache.put("v1", long_key, "answer", size=10)
    assert cache.get("v1", long_key) == "answer"
    assert cache.get("v1", long_key[:-1]) is None
    assert [len(k) for k in cache.items] == [16]
    assert digest(long_key) == digest("x" * 60_000) != digest("x" * 59_999)
    assert len(digest("\ud800")) == 16  # any text, even one no engine could bind


def test_sizes_are_measured_when_not_given():
    cache = Cache(max_bytes=MiB, max_entry_bytes=MiB)
    cache.get("v1", "k")
    value = {"lines": [{"name": "x" * 10_000, "n": i} for i in range(10)]}
    cache.put("v1", "k", value)
    assert cache.bytes > 100_000 == 10 * 10_000
    assert sizeof("x" * 10_000) == sys.getsizeof("x" * 10_000)
    shared = "y" * 10_000
    assert sizeof([shared, shared]) < 2 * 10_000  # an object counted once


# ---------------------------------------------------------------------------- the budget
def test_the_default_budget_is_2_percent_of_memory_at_most_256_mib_at_least_16():
    assert default_budget(8 * 1024 * MiB) == int(8 * 1024 * MiB * 0.02)  # ~164 MiB
    assert default_budget(64 * 1024 * MiB) == 256 * MiB
    assert default_budget(512 * MiB) == 16 * MiB
    assert default_budget(0) == 16 * MiB
    assert 16 * MiB <= default_budget() <= 256 * MiB
    assert ApiConfig().cache_bytes == default_budget()


def test_the_budget_is_read_from_lakehouse_api_cache_mb():
    def config(**env) -> ApiConfig:
        return ApiConfig.from_env(None, None, environ=env)

    assert config().cache_bytes == default_budget()
    assert config(LAKEHOUSE_API_CACHE_MB="64").cache_bytes == 64 * MiB
    assert config(LAKEHOUSE_API_CACHE_MB="0.5").cache_bytes == MiB // 2
    assert config(LAKEHOUSE_API_CACHE_MB="0").cache_bytes == 0
    for bad in ("-1", "lots", "nan", "inf"):
        with pytest.raises(AuthConfigError, match="LAKEHOUSE_API_CACHE_MB"):
            config(LAKEHOUSE_API_CACHE_MB=bad)


# ---------------------------------------------------------------------------- answers as bytes
COLUMNS = ("metric_time__month", "country__country_name", "net_revenue", "orders")
ROWS = [
    ("2019-01-01", "France", 12.5, 3),
    ("2019-01-01", "=HYPERLINK(1)", -1.25, 1),
    ("2019-02-01", 'quote " and é', None, 0),
    ("2019-02-01", "line\nbreak", 1e20, 12345678901234567890),
    ("2019-03-01", "inf", float("inf"), True),
]


def query_out(rows, offset, limit, cached=True) -> bytes:
    """The page as the API rendered it before (QueryOut, pydantic)."""
    page = rows[offset : offset + limit]
    following = offset + limit
    return (
        QueryOut(
            columns=list(COLUMNS),
            rows=[dict(zip(COLUMNS, row, strict=True)) for row in page],
            total=len(rows),
            limit=limit,
            offset=offset,
            next_offset=following if following < len(rows) else None,
            gold_built_at="2019-12-09T10:00:00Z",
            cached=cached,
        )
        .model_dump_json()
        .encode()
    )


@pytest.mark.parametrize(
    ("offset", "limit"), [(0, 10), (0, 1), (1, 2), (4, 1), (4, 10), (5, 3), (99, 10), (0, 5)]
)
def test_a_json_page_is_what_queryout_renders(offset, limit):
    answer = encode_answer(COLUMNS, ROWS, "2019-12-09T10:00:00Z", as_csv=False)
    for cached in (True, False):
        content, media_type, headers = render_page(answer, offset, limit, False, cached)
        assert content == query_out(ROWS, offset, limit, cached)
        assert media_type == "application/json" and headers == {}
    assert json.loads(render_page(answer, offset, limit, False, True)[0])["total"] == 5


def test_an_empty_answer_renders_too():
    answer = encode_answer(COLUMNS, [], "2019-12-09T10:00:00Z", as_csv=False)
    assert render_page(answer, 0, 10, False, False)[0] == query_out([], 0, 10, False)
    csv_answer = encode_answer(COLUMNS, [], None, as_csv=True)
    content, _, headers = render_page(csv_answer, 0, 10, True, False)
    assert content == b"metric_time__month,country__country_name,net_revenue,orders\n"
    assert headers == {"X-Total-Count": "0"}


@pytest.mark.parametrize(("offset", "limit"), [(0, 10), (1, 2), (4, 1), (7, 3)])
def test_a_csv_page_is_the_header_and_its_rows(offset, limit):
    answer = encode_answer(COLUMNS, ROWS, None, as_csv=True)
    content, media_type, headers = render_page(answer, offset, limit, True, False)
    assert media_type.startswith("text/csv") and headers == {"X-Total-Count": "5"}
    expected = rendering.csv_lines([COLUMNS, *ROWS[offset : offset + limit]]).encode()
    assert content == expected
    parsed = list(csv.reader(io.StringIO(content.decode())))
    assert parsed[0] == list(COLUMNS) and len(parsed) == 1 + len(ROWS[offset : offset + limit])


def test_an_answer_is_its_encoded_bytes_not_python_rows():
    rows = [("2019-01-01", f"customer {i}", i * 1.5, i) for i in range(20_000)]
    answer = encode_answer(COLUMNS, rows, "x", as_csv=False)
    assert isinstance(answer, Answer) and answer.rows == 20_000
    assert answer.nbytes < len(answer.body) + 8 * 20_001 + 2_000
    python_rows = sizeof(rows)
    assert answer.nbytes < python_rows * 0.75, (answer.nbytes, python_rows)


# ---------------------------------------------------------------------------- in the app
class RowsBackend:
    """Any query answers `rows` rows of four columns; counts the queries run."""

    engine = "duckdb"

    def __init__(self, rows: int) -> None:
        self.rows, self.runs, self.current = rows, 0, "v1"

    def version(self) -> str:
        return self.current

    def built_at(self):
        return None

    def run(self, sql, params, max_rows, timeout_s):
        self.runs += 1
        rows = [("2019-01-01", f"transaction {i:07d}", i * 0.5, i) for i in range(self.rows)]
        return SimpleNamespace(columns=COLUMNS, rows=rows)


LAYER = SimpleNamespace(metrics={}, dimensions={}, compile=lambda query: CompiledQuery("select", {}))


def api(backend, cache_mb: float) -> tuple[TestClient, Cache]:
    app = create_app(ApiConfig(cache_bytes=int(cache_mb * MiB)), LAYER, backend)
    return TestClient(app), app.state.cache


def ask(client, **extra) -> dict:
    response = client.post("/v1/query", json={"metrics": ["net_revenue"], "limit": 10, **extra})
    assert response.status_code == 200, response.text
    return response


def test_answers_stay_within_the_budget_and_a_large_one_is_served_but_not_kept():
    backend = RowsBackend(2_000)  # ~150 KB of JSON each
    client, cache = api(backend, cache_mb=1)  # 1/8: 128 KiB per entry at most
    first = ask(client, start="2019-01-01").json()
    assert first["total"] == 2_000 and len(first["rows"]) == 10 and first["cached"] is False
    assert len(cache) == 0 and cache.refused == 1
    assert ask(client, start="2019-01-01").json()["cached"] is False  # asked again: run again
    assert backend.runs == 2

    small = RowsBackend(100)  # ~7 KB each
    client, cache = api(small, cache_mb=1)
    for day in range(1, 29):
        ask(client, start=f"2019-01-{day:02d}")
        assert cache.bytes <= cache.max_bytes
    assert len(cache) == 28 and small.runs == 28
    assert ask(client, start="2019-01-28").json()["cached"] is True and small.runs == 28
    assert ask(client, start="2019-01-28", offset=90).json()["rows"][0]["orders"] == 90  # a page of it
    assert small.runs == 28
    csv_answer = ask(client, start="2019-01-28", format="csv")
    assert csv_answer.headers["x-total-count"] == "100" and small.runs == 29  # CSV: its own entry


def test_a_wide_filter_value_is_not_kept_in_the_key():
    backend = RowsBackend(1)
    client, cache = api(backend, cache_mb=1)
    value = "v" * 50_000
    filters = [{"dimension": "country__country_name", "op": "eq", "values": [value]}]
    ask(client, filters=filters)
    assert ask(client, filters=filters).json()["cached"] is True
    assert len(cache) == 1 and cache.bytes < 5_000  # the answer; the key a 16-byte digest


def test_the_cache_lives_in_its_own_module():
    from ingest.api import app, dependencies

    assert not hasattr(app, "_Cache")
    assert dependencies.Cache is cache_module.Cache
