"""`make bench-api`: the analytics API under load, from client processes of their own.

One year of synthetic lines (~540,000) goes straight into Bronze, dbt builds Silver and Gold,
the build is published, and `python -m ingest api` serves it. Then, for a fixed time each,
several client processes send a month × country query:
- cached: the same question every time (answered from the cache after the first);
- uncached: a different date range every time (planned by MetricFlow and run by DuckDB);
and, in the same run, DuckDB alone runs the SQL of the uncached questions in-process (the
floor), so the API's overhead is a ratio measured on the same machine at the same time.
"""

from __future__ import annotations

import http.client
import json
import multiprocessing
import os
import statistics
import subprocess
import sys
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from ingest.api.server import free_port, wait_ready
from ingest.paths import PROJECT_DIR, DataDir

QUERY = {"metrics": ["net_revenue", "orders", "distinct_customers"], "group_by": ["country__country_name"]}
FIRST_DAY = date(2018, 12, 1)


def _body(i: int | None) -> bytes:
    """The cached question (i None) or the i-th uncached one: another start date each time."""
    body = {**QUERY, "grain": "month", "limit": 1000}
    if i is not None:
        body["start"] = (FIRST_DAY + timedelta(days=i % 300)).isoformat()
        body["end"] = "2019-12-31"
        body["offset"] = 0
    return json.dumps(body).encode()


def _client(port: int, seconds: float, uncached: bool, worker: int, out) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    latencies, errors, i = [], 0, worker * 100_000
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        body = _body(i if uncached else None)
        i += 1
        started = time.perf_counter()
        conn.request("POST", "/v1/query", body=body, headers={"content-type": "application/json"})
        response = conn.getresponse()
        response.read()
        latencies.append(time.perf_counter() - started)
        if response.status != 200:
            errors += 1
    out.put((latencies, errors))


def load(port: int, clients: int, seconds: float, uncached: bool) -> dict:
    ctx = multiprocessing.get_context("spawn")
    results = ctx.Queue()
    procs = [ctx.Process(target=_client, args=(port, seconds, uncached, n, results)) for n in range(clients)]
    started = time.monotonic()
    for proc in procs:
        proc.start()
    collected = [results.get(timeout=seconds + 120) for _ in procs]
    wall = time.monotonic() - started
    for proc in procs:
        proc.join()
    latencies = sorted(x for lat, _ in collected for x in lat)
    return {
        "requests": len(latencies),
        "errors": sum(err for _, err in collected),
        "rps": len(latencies) / seconds,
        "wall": wall,
        **percentiles(latencies),
    }


def percentiles(values: list[float]) -> dict:
    if not values:
        return {"p50": float("nan"), "p95": float("nan"), "p99": float("nan")}
    q = statistics.quantiles(values, n=100, method="inclusive")
    return {"p50": statistics.median(values) * 1000, "p95": q[94] * 1000, "p99": q[98] * 1000}


def duckdb_floor(data: DataDir, manifest: Path, runs: int = 60) -> dict:
    """DuckDB alone on the uncached questions' SQL, in this process (no HTTP, no planning)."""
    import duckdb

    from ingest import serving
    from ingest.semantic import MetricQuery, SemanticLayer

    layer = SemanticLayer.load(manifest, "duckdb", "lakehouse", {})
    snapshot = serving.current(data.warehouse)
    con = duckdb.connect(":memory:")
    con.execute(f"attach '{snapshot.path}' as lakehouse (read_only)")
    timings = []
    for i in range(runs):
        body = json.loads(_body(i))
        query = MetricQuery(
            metrics=tuple(body["metrics"]),
            group_by=tuple(body["group_by"]),
            grain="month",
            start=date.fromisoformat(body["start"]),
            end=date.fromisoformat(body["end"]),
            order_by=("metric_time", "country__country_name"),
        )
        compiled = layer.compile(query)
        started = time.perf_counter()
        con.execute(compiled.sql, compiled.params).fetchall()
        timings.append(time.perf_counter() - started)
    return percentiles(sorted(timings))


def build_year(data: DataDir, lines: int) -> None:
    from ingest import serving
    from ingest.dbt import run_dbt
    from ingest.events import LINE_FIELDS
    from ingest.generator import SyntheticSales
    from ingest.testing.bronze_writer import BronzeWriter, event

    data.reset_lakehouse()
    writer = BronzeWriter(str(data.bronze_table))
    batch, written, started = [], 0, time.monotonic()
    for i, row in enumerate(SyntheticSales(lines, seed=11).rows()):
        batch.append(event(f"api-{i}", dict(zip(LINE_FIELDS, row, strict=True))))
        if len(batch) == 100_000:
            writer.append(batch, minutes_after_base=written / 100_000)
            written += len(batch)
            batch = []
            rate = written / (time.monotonic() - started)
            print(f"bench-api: {written:,} Bronze rows ({rate:,.0f} rows/s)", file=sys.stderr, flush=True)
    if batch:
        writer.append(batch, minutes_after_base=written / 100_000 + 1)
    print("bench-api: dbt build (Silver, Gold)", file=sys.stderr, flush=True)
    run_dbt("build", "--exclude", "resource_type:test", "resource_type:unit_test", quiet=True, data=data)
    serving.publish(data.warehouse)


def main(
    lines: int = 540_000,
    clients: int = 4,
    seconds: float = 15.0,
    out: str = "bench/results.md",
    data: DataDir | None = None,
) -> int:
    base = data or DataDir.from_env()
    bench = base.below("bench-api")
    build_year(bench, lines)
    manifest = PROJECT_DIR / "target" / "semantic_manifest.json"
    port = free_port()
    env = {
        **os.environ,
        **bench.env(),
        "LAKEHOUSE_API_PER_MINUTE": "100000000",
        "LAKEHOUSE_SEMANTIC_MANIFEST": str(manifest),
    }
    env.pop("LAKEHOUSE_API_KEYS", None)
    server = subprocess.Popen(
        [sys.executable, "-m", "ingest", "api", "--port", str(port)],
        cwd=PROJECT_DIR,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        wait_ready(port, server)
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)  # warm the cached answer
        conn.request("POST", "/v1/query", body=_body(None), headers={"content-type": "application/json"})
        conn.getresponse().read()
        conn.close()
        print(f"bench-api: cached, {clients} clients x {seconds:g} s", file=sys.stderr, flush=True)
        cached = load(port, clients, seconds, uncached=False)
        print(f"bench-api: uncached, {clients} clients x {seconds:g} s", file=sys.stderr, flush=True)
        uncached = load(port, clients, seconds, uncached=True)
    finally:
        server.terminate()
        server.wait(timeout=30)
    floor = duckdb_floor(bench, manifest)
    text = render(lines, clients, seconds, cached, uncached, floor)
    print(text)
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    with open(out, "a") as handle:
        handle.write(text + "\n")
    ok = cached["errors"] == 0 and uncached["errors"] == 0
    return 0 if ok else 1


def render(lines: int, clients: int, seconds: float, cached: dict, uncached: dict, floor: dict) -> str:
    when = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")

    def row(name: str, r: dict, target: str) -> str:
        return (
            f"| {name} | {r['rps']:,.0f} | {r['p50']:.1f} | {r['p95']:.1f} | {r['p99']:.1f} | "
            f"{r['requests']:,} ({r['errors']} errors) | {target} |"
        )

    ratio = uncached["p50"] / floor["p50"] if floor["p50"] else float("nan")
    return "\n".join(
        [
            f"## {when}: analytics API, month x country on {lines:,} lines, {clients} client processes, "
            f"{os.cpu_count()} cores",
            "",
            "POST /v1/query {net_revenue, orders, distinct_customers} by country and month; uvicorn, one "
            "process; clients on the same machine.",
            "",
            "| run | requests/s | p50 ms | p95 ms | p99 ms | requests | target |",
            "|---|---|---|---|---|---|---|",
            row("cached (same question)", cached, "≥ 1,000 req/s, p95 < 20 ms"),
            row("uncached (new date range each)", uncached, "p95 < 250 ms"),
            f"| DuckDB alone, same SQL (floor) | - | {floor['p50']:.1f} | {floor['p95']:.1f} | "
            f"{floor['p99']:.1f} | 60 | - |",
            "",
            f"Uncached p50 / DuckDB floor p50 = {ratio:.1f}x.",
            "",
        ]
    )
