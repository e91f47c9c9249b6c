"""The whole pipeline once, on the embedded default: broker -> topic -> Bronze -> dbt -> summary."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

from ingest import broker, producer, summary
from ingest.config import BronzeConfig, KafkaConfig, data_dir

PROJECT_DIR = Path(__file__).resolve().parent.parent


def dbt_executable() -> str:
    local = Path(sys.executable).parent / "dbt"
    return str(local) if local.exists() else "dbt"


def run_dbt(*args: str, target: str = "local", quiet: bool = False) -> None:
    """Run dbt in the project with this project's profiles; raise if it fails."""
    (data_dir() / "warehouse").mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "LAKEHOUSE_DATA_DIR": str(data_dir())}
    cmd = [dbt_executable(), *args, "--target", target, "--profiles-dir", str(PROJECT_DIR)]
    if quiet:
        cmd.insert(1, "--quiet")
    completed = subprocess.run(cmd, cwd=PROJECT_DIR, env=env, check=False)
    if completed.returncode != 0:
        raise RuntimeError(f"`dbt {' '.join(args)} --target {target}` failed ({completed.returncode})")


def reset_local_state() -> None:
    """The demo starts from empty Bronze, checkpoints and warehouse (the broker is new too)."""
    for name in ("bronze", "checkpoints", "warehouse"):
        shutil.rmtree(data_dir() / name, ignore_errors=True)


def step(text: str) -> None:
    print(f"\n== {text}", flush=True)


def main(events: int = 100_000, csv_path: str | None = None, seed: int = 42) -> int:
    started = time.monotonic()
    os.environ["LAKEHOUSE_DATA_DIR"] = str(data_dir())
    reset_local_state()
    step("starting the local Kafka-protocol broker (Tansu) on 127.0.0.1")
    with broker.running() as running:
        print(f"broker pid {running.pid} at {running.bootstrap_servers}")
        os.environ["KAFKA_BOOTSTRAP_SERVERS"] = running.bootstrap_servers
        kafka = KafkaConfig.from_env()
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

        config = BronzeConfig.from_env()
        spark = job.local_spark()
        try:
            job.run(config, available_now=True, spark=spark)
        finally:
            spark.stop()
        step("stopping the broker")
    step("dbt build --target local (Silver and Gold on DuckDB)")
    run_dbt("build")

    step("summary")
    result_summary = summary.collect()
    print(summary.render(result_summary, events_sent=result.published))
    step("Gold report")
    print(summary.render_gold_report(summary.collect_gold_report()))
    print(f"\ndemo finished in {time.monotonic() - started:.0f} s")
    return 0 if result_summary.bronze_rows == result.published and result_summary.balanced else 1
