"""The DuckDB trap: while `make run --fast` rebuilds Gold every 10 s (dbt holding the
warehouse's write lock during each run), the analytics API answers every request, and its
answers grow as Gold grows."""

from __future__ import annotations

import http.client
import json
import signal
import time

import pytest

from ingest.api.server import free_port

from .helpers import start_runner

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
    """Runs until the API has followed four Gold builds (however long the machine takes to
    get there, up to a deadline), then stops the runner with SIGTERM as Ctrl-C would."""
    port, dashboard_port = free_port(), free_port()
    runner, output, _ = start_runner("--rate", "10", api_port=port, dashboard_port=dashboard_port)
    answers: list[tuple[int, dict]] = []
    builds: set[str] = set()
    try:
        deadline = time.monotonic() + 480
        while runner.poll() is None and time.monotonic() < deadline:
            try:
                status, body = ask(port)
            except OSError:  # not listening yet
                time.sleep(0.5)
                continue
            answers.append((status, body))
            if status == 200:
                builds.add(body["gold_built_at"])
            if len(builds) >= 4:
                break
            time.sleep(0.1)
        assert runner.poll() is None, "the runner stopped by itself: " + "".join(output)[-3000:]
        dashboard = http.client.HTTPConnection("127.0.0.1", dashboard_port, timeout=30)
        dashboard.request("GET", "/_stcore/health")
        assert dashboard.getresponse().status == 200, "the runner's dashboard does not answer"
        runner.send_signal(signal.SIGTERM)
        assert runner.wait(timeout=120) == 0, "".join(output)[-3000:]
    finally:
        if runner.poll() is None:
            runner.kill()
            runner.wait(60)
    text = "".join(output)
    assert len(builds) >= 4, f"the API saw {len(builds)} Gold builds in 480 s; {text[-2000:]}"
    first_ok = next(i for i, (status, _) in enumerate(answers) if status == 200)
    before, after = answers[:first_ok], answers[first_ok:]
    # before the first Gold build there is nothing to serve: a 503 that says so, nothing else
    assert all(status == 503 and "no Gold build" in body["detail"] for status, body in before)
    errors = [(status, body) for status, body in after if status != 200]
    assert not errors, f"{len(errors)} of {len(after)} requests failed during the run: {errors[:3]}"
    counts = [body["rows"][0]["lines"] for _, body in after]
    assert counts == sorted(counts), "an answer went back in time"
    assert counts[-1] > counts[0] > 0, counts[:3] + counts[-3:]
    assert len(after) >= 20, f"only {len(after)} answers across {len(builds)} builds"
