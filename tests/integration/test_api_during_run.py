"""The DuckDB trap: while `make run --fast` rebuilds Gold every 10 s (dbt holding the
warehouse's write lock during each run), the analytics API answers every request, and its
answers grow as Gold grows."""

from __future__ import annotations

import http.client
import json
import os
import signal
import subprocess
import sys
import threading
import time

import pytest

from ingest.api.server import free_port

from .helpers import PROJECT_DIR

pytestmark = pytest.mark.integration

QUESTION = json.dumps({"metrics": ["lines", "net_revenue"]})


def ask(port: int) -> tuple[int, dict]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        conn.request("POST", "/v1/query", body=QUESTION, headers={"content-type": "application/json"})
        response = conn.getresponse()
        return response.status, json.loads(response.read())
    finally:
        conn.close()


def test_api_answers_every_request_while_dbt_rebuilds_gold(outbox_data_root):
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k not in ("KAFKA_BOOTSTRAP_SERVERS", "ORDERS_DATABASE_DSN")}
    runner = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "ingest",
            "run",
            "--fast",
            "--rate",
            "10",
            "--duration",
            "40",
            "--api-port",
            str(port),
        ],
        cwd=PROJECT_DIR,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    output: list[str] = []
    threading.Thread(target=lambda: output.extend(runner.stdout), daemon=True).start()
    answers: list[tuple[float, int, dict]] = []
    try:
        deadline = time.monotonic() + 240
        while runner.poll() is None and time.monotonic() < deadline:
            try:
                status, body = ask(port)
            except OSError:  # not listening yet
                time.sleep(0.5)
                continue
            answers.append((time.monotonic(), status, body))
            time.sleep(0.1)
        assert runner.wait(timeout=60) == 0, "".join(output)[-3000:]
    finally:
        if runner.poll() is None:
            runner.send_signal(signal.SIGTERM)
            runner.wait(60)
    text = "".join(output)
    served = [(status, body) for _, status, body in answers]
    first_ok = next(i for i, (status, _) in enumerate(served) if status == 200)
    before, after = served[:first_ok], served[first_ok:]
    # before the first Gold build there is nothing to serve: a 503 that says so, nothing else
    assert all(status == 503 and "no Gold build" in body["detail"] for status, body in before)
    errors = [(status, body) for status, body in after if status != 200]
    assert not errors, f"{len(errors)} of {len(after)} requests failed during the run: {errors[:3]}"
    assert len(after) >= 100, f"only {len(after)} answers while Gold was rebuilt; {text[-2000:]}"
    counts = [body["rows"][0]["lines"] for _, body in after]
    assert counts == sorted(counts), "an answer went back in time"
    assert counts[-1] > counts[0] > 0, counts[:3] + counts[-3:]
    builds = {body["gold_built_at"] for _, body in after}
    assert len(builds) >= 3, "the API did not follow Gold's builds"
    assert f"Gold fct_sales_lines {counts[-1]:,}" in text, text[-2000:]
