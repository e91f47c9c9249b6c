"""The analytics API's memory stays flat under what callers ask (issue 20): a real API process
on a year of synthetic lines (~530,000 in Gold), sent the issue's probes, its resident memory
read from /proc/<pid>/status.

The probes, repeated (`ROUNDS`):
- 20 large answers: each a different two-month window of lines grouped by transaction and
  product (~90,000 rows, near the row cap of 100,000), a page of 10,000 rows; each round asks
  20 windows not asked before;
- 50 questions, each with a distinct filter value of ~60 KB (the request body just under the
  64 KiB limit).

The cache budget is `CACHE_MB`; the growth from after a warm-up to the end must stay under the
budget plus `SLACK_MB` (the interpreter's and DuckDB's own working memory), and a second round
of new questions may add at most `ROUND_MB`. The cache bounded by entry count (512) kept every
answer as Python rows (~25 MB each here): it grew 982 MB and failed the first assertion.

`python -m tests.integration.test_api_memory DATA_DIR [PYTHONPATH]` runs the probes on a
warehouse already built in DATA_DIR (with `bench.build_year`) and prints the RSS figures, for
the code on PYTHONPATH (default: this tree): how docs/api.md's figures were taken.
"""

from __future__ import annotations

import http.client
import json
import os
import sys
from datetime import date, timedelta
from pathlib import Path

import pytest

from ingest.api.server import free_port, spawn
from ingest.paths import PROJECT_DIR, DataDir

pytestmark = pytest.mark.integration

LINES = 540_000  # a year, as `make bench-api` builds it
CACHE_MB = 32
SLACK_MB = 64
ROUND_MB = 32  # a second round of new questions may add at most this after the first
ROUNDS = 2
LARGE = 20
WIDE_FILTERS = 50
WIDE_VALUE_BYTES = 60_000
MANIFEST = PROJECT_DIR / "target" / "semantic_manifest.json"


def large_question(i: int) -> dict:
    """The i-th large answer: lines by transaction and product over a 66-day window."""
    start = date(2019, 1, 1) + timedelta(days=i)
    return {
        "metrics": ["net_revenue", "units_sold", "lines"],
        "group_by": ["sales_line__transaction_no", "product__product_no"],
        "start": start.isoformat(),
        "end": (start + timedelta(days=65)).isoformat(),
        "limit": 10_000,
    }


def wide_question(i: int) -> dict:
    """A question whose one filter value is ~60 KB of text, distinct for each i."""
    value = f"{i:06d}" + "x" * (WIDE_VALUE_BYTES - 6)
    return {
        "metrics": ["net_revenue"],
        "group_by": ["country__country_name"],
        "filters": [{"dimension": "product__product_name", "op": "eq", "values": [value]}],
    }


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS for {pid}")


def post(conn: http.client.HTTPConnection, body: dict) -> tuple[int, dict]:
    data = json.dumps(body).encode()
    conn.request("POST", "/v1/query", body=data, headers={"content-type": "application/json"})
    response = conn.getresponse()
    return response.status, json.loads(response.read())


def start_api(data: DataDir, port: int, cache_mb: float | None, pythonpath: str | None = None):
    env = {
        **os.environ,
        **data.env(),
        "LAKEHOUSE_API_PER_MINUTE": "100000000",
        "LAKEHOUSE_SEMANTIC_MANIFEST": str(MANIFEST),
    }
    env.pop("LAKEHOUSE_API_KEYS", None)
    env.pop("LAKEHOUSE_API_CACHE_MB", None)
    if cache_mb is not None:
        env["LAKEHOUSE_API_CACHE_MB"] = str(cache_mb)
    if pythonpath:
        env["PYTHONPATH"] = pythonpath
    return spawn(env, port, cwd=Path(pythonpath) if pythonpath else PROJECT_DIR)


def probe(data: DataDir, cache_mb: float | None, pythonpath: str | None = None, log=None) -> dict:
    """Start the API, warm it up, send the probes `ROUNDS` times; RSS (MB) along the way."""
    port = free_port()
    server = start_api(data, port, cache_mb, pythonpath)
    figures: dict = {"large_rows": []}
    try:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
        figures["started"] = rss_mb(server.pid)
        # warm-up: the planner, DuckDB's caches, one large answer and one wide filter (then
        # forgotten: a budget of their own is what is measured after)
        for body in (large_question(1000), wide_question(999_999), {"metrics": ["lines"]}):
            status, answer = post(conn, body)
            assert status == 200, answer
        figures["warm"] = rss_mb(server.pid)
        for round_no in range(ROUNDS):
            for i in range(LARGE):
                status, answer = post(conn, large_question(round_no * LARGE + i))
                assert status == 200, answer
                figures["large_rows"].append(answer["total"])
            figures[f"round{round_no}_large"] = rss_mb(server.pid)
            for i in range(WIDE_FILTERS):
                status, answer = post(conn, wide_question(round_no * WIDE_FILTERS + i))
                assert status == 200, answer
            figures[f"round{round_no}_wide"] = rss_mb(server.pid)
            if log:
                log(f"round {round_no}: {figures}")
        figures["end"] = rss_mb(server.pid)
        conn.close()
    finally:
        server.terminate()
        server.wait(timeout=30)
    figures["growth"] = figures["end"] - figures["warm"]
    return figures


@pytest.fixture(scope="module")
def year(data_root) -> DataDir:
    from ingest.benchmarks.api import build_year

    data = DataDir(data_root).below("memory")
    build_year(data, LINES)
    return data


def test_memory_stays_within_the_cache_budget_under_large_answers_and_wide_filters(year):
    figures = probe(year, CACHE_MB)
    print(json.dumps(figures))
    rows = figures["large_rows"]
    assert min(rows) > 80_000 and max(rows) < 100_000, f"the large answers are not large: {rows}"
    assert figures["growth"] < CACHE_MB + SLACK_MB, (
        f"RSS grew {figures['growth']:.0f} MB from {figures['warm']:.0f} MB after warm-up "
        f"(cache budget {CACHE_MB} MB + {SLACK_MB} MB): {figures}"
    )
    last = figures["end"] - figures["round0_wide"]
    assert last < ROUND_MB, f"RSS grew {last:.0f} MB more in a second round of new questions: {figures}"


if __name__ == "__main__":  # figures for docs/api.md on a warehouse built beforehand
    root = DataDir(Path(sys.argv[1]).resolve())
    path = sys.argv[2] if len(sys.argv) > 2 else None
    budget = float(sys.argv[3]) if len(sys.argv) > 3 else None
    print(json.dumps(probe(root, budget, path, log=lambda text: print(text, file=sys.stderr, flush=True))))
