"""The whole pipeline once, on the embedded default: broker -> topic -> Bronze -> dbt -> summary."""

from __future__ import annotations

import sys
import time

from ingest import producer, summary
from ingest.config import Settings
from ingest.local import broker, serving
from ingest.local.dbt import run_dbt
from ingest.paths import DataDir


def step(text: str) -> None:
    print(f"\n== {text}", flush=True)


def api_example(data: DataDir) -> str:
    """Start the API for a moment, ask it one question with curl's words, show the answer."""
    import json
    import os
    import subprocess
    import urllib.request

    from ingest.api.server import free_port, wait_ready
    from ingest.paths import PROJECT_DIR

    port = free_port()
    query = {"metrics": ["net_revenue", "orders", "distinct_customers"], "grain": "quarter", "format": "csv"}
    body = json.dumps(query)
    server = subprocess.Popen(
        [sys.executable, "-m", "ingest", "api", "--port", str(port)],
        cwd=PROJECT_DIR,
        env={**os.environ, **data.env()},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        wait_ready(port, server)
        request = urllib.request.Request(
            f"http://127.0.0.1:{port}/v1/query",
            data=body.encode(),
            headers={"content-type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            answer = response.read().decode()
    except (OSError, RuntimeError) as exc:
        return f"the API did not answer: {exc}"
    finally:
        server.terminate()
        server.wait(timeout=30)
    return (
        "make api serves it on http://127.0.0.1:8300 (OpenAPI at /docs); for example:\n"
        f"$ curl -s localhost:8300/v1/query -H 'content-type: application/json' -d '{body}'\n"
        + answer.rstrip()
    )


def main(settings: Settings, events: int = 100_000, csv_path: str | None = None, seed: int = 42) -> int:
    """The demo on `settings`' data directory, from empty Bronze, checkpoints and warehouse (the
    broker is new too)."""
    started = time.monotonic()
    data = settings.data
    data.reset_lakehouse()
    if broker.status(data) is None:
        broker.remove_log(data)  # a new topic, as Bronze starts from empty
    step("starting the local broker (Apache Kafka, KRaft, log in data/kafka) on 127.0.0.1")
    with broker.running(data=data, retention=settings.retention) as running:
        print(f"broker pid {running.pid} at {running.bootstrap_servers}")
        local = settings.on_broker(running.bootstrap_servers)
        kafka = local.kafka
        if csv_path:
            step(f"publishing {csv_path} to {kafka.topic}")
            result = producer.publish_csv(csv_path, kafka)
        else:
            step(f"publishing {events:,} synthetic order lines to {kafka.topic}")
            # 1 event in 200 is delivered twice, as at-least-once transport does: Silver dedupes.
            result = producer.publish_synthetic(events, kafka, seed=seed, redeliver_every=200)
        print(result.summary())
        if result.failed:
            print("some events were not acknowledged by the broker", file=sys.stderr)
            return 1

        step("draining the topic into Bronze (PySpark Structured Streaming, available-now)")
        from ingest.bronze import job

        spark = job.local_spark()
        try:
            job.run(local.bronze, available_now=True, spark=spark)
        finally:
            spark.stop()
        step("stopping the broker")
    step("dbt build --target local (Silver and Gold on DuckDB)")
    run_dbt("build", data=data)
    serving.publish(data.warehouse)  # the read-only copy the analytics API serves

    step("summary")
    result_summary = summary.collect(data, local.bronze.table_path)
    print(summary.render(result_summary, events_sent=result.published))
    step("Gold report")
    print(summary.render_gold_report(summary.collect_gold_report(data=data)))
    step("the analytics API (metrics of the semantic layer)")
    print(api_example(data))
    print("\ndashboard: `make api` and `make dashboard`, then open http://127.0.0.1:8501 (docs/dashboard.md)")
    print(f"\ndemo finished in {time.monotonic() - started:.0f} s")
    return 0 if result_summary.bronze_rows == result.published and result_summary.balanced else 1
