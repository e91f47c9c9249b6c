"""Bronze's own faults: the ingester SIGKILLed at chosen points, and its disk full.

The kills go through ingest.failpoints: the ingester runs in its own session with
LAKEHOUSE_FAILPOINT set, and dies (driver, JVM and Python workers together) when it reaches
the point. Before every trial new events are published, so the ingester always has work, as
it does when orders keep coming. After a fault's trials a clean drain runs, then Bronze is
counted by Kafka coordinates: every record exactly once.
"""

from __future__ import annotations

import contextlib
import os
import random
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from deltalake import DeltaTable

from ingest import failpoints, producer
from ingest.bronze.sinks import query_app_id
from ingest.config import BronzeConfig, KafkaConfig
from ingest.local import broker
from ingest.paths import PROJECT_DIR, DataDir, delta_table_exists
from tests.waiting import wait_for

from .ledger import bronze_tally
from .results import Fault

BATCH = 1_000  # events per micro-batch: many small batches, many points to kill at
WAIT_S = 300.0
WHEN = {
    "bronze.delta_commit": "during the batch's Kafka read and Delta write",
    "bronze.after_commit": "between Delta commit and checkpoint",
}
QUERY_NAME = BronzeConfig.__dataclass_fields__["query_name"].default


@dataclass
class BronzeRig:
    """A broker and a Bronze table in their own data directory, and a publisher of new events."""

    data: DataDir
    kafka: KafkaConfig
    log_dir: Path
    published: int = 0
    seed: int = 1_000
    logs: list[str] = field(default_factory=list)

    @classmethod
    @contextlib.contextmanager
    def started(cls, data: DataDir, services: DataDir | None = None):
        """Bronze in `data`; the broker's PID file and every log in `services` (default: `data`),
        so that a trial can fill Bronze's disk without silencing anyone's log."""
        services = services or data
        services.run.mkdir(parents=True, exist_ok=True)
        running = broker.start(data=services)
        try:
            yield cls(data, KafkaConfig(bootstrap_servers=running.bootstrap_servers), services.run)
        finally:
            broker.stop(services)

    def publish(self, count: int) -> None:
        self.seed += 1  # new lines, new event ids
        result = producer.publish_synthetic(count, self.kafka, seed=self.seed, quiet=True)
        assert result.failed == 0, f"{result.failed} events not acknowledged"
        self.published += result.published

    def env(self, failpoint: str | None = None) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if k != failpoints.VARIABLE}
        env.update(self.data.env(), KAFKA_BOOTSTRAP_SERVERS=self.kafka.bootstrap_servers)
        env.setdefault("PYSPARK_PYTHON", sys.executable)
        if failpoint:
            env[failpoints.VARIABLE] = failpoint
        return env

    def start_ingester(self, *args: str, failpoint: str | None = None) -> subprocess.Popen:
        """`python -m ingest bronze ARGS` in its own session (a failpoint kills only it)."""
        log = (self.log_dir / f"bronze-{len(self.logs)}.log").open("w")
        self.logs.append(log.name)
        return subprocess.Popen(
            [sys.executable, "-m", "ingest", "bronze", *args],
            cwd=PROJECT_DIR,
            env=self.env(failpoint),
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )

    def drain(self, failpoint: str | None = None) -> int:
        """One available-now drain; its exit code (-9: killed by the failpoint)."""
        proc = self.start_ingester(
            "--available-now", "--max-events-per-batch", str(BATCH), failpoint=failpoint
        )
        try:
            return proc.wait(timeout=WAIT_S)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(30)
            raise AssertionError(f"the ingester did not finish in {WAIT_S:.0f} s: {self.logs[-1]}") from None

    def log_text(self, index: int = -1) -> str:
        return Path(self.logs[index]).read_text(errors="replace")

    # -- where the ingester is
    def committed_batches(self) -> int:
        """Spark's next batch id: batches its checkpoint records as done."""
        commits = self.data.bronze_checkpoint / "commits"
        ids = [int(p.name) for p in commits.iterdir() if p.name.isdigit()] if commits.exists() else []
        return max(ids) + 1 if ids else 0

    def delta_batch(self) -> int:
        """The last batch id the Delta table recorded for the current checkpoint (-1: none)."""
        table = self.data.bronze_table
        if not delta_table_exists(table):
            return -1
        app = query_app_id(str(self.data.bronze_checkpoint), QUERY_NAME)
        done = DeltaTable(str(table)).transaction_version(app)
        return -1 if done is None else done


def kill_trials(rig: BronzeRig, points: tuple[str, ...], trials_per_point: int, rnd: random.Random) -> Fault:
    """`trials_per_point` kills of the ingester at each of `points` in turn, then a clean
    drain; Bronze counted by Kafka coordinates."""
    fault = Fault("Bronze SIGKILL " + " / ".join(WHEN[p] for p in points))
    started, events_before, first_log = time.monotonic(), rig.published, len(rig.logs)
    landed_where: dict[str, int] = {}
    for _ in range(trials_per_point):
        for point in points:
            where = _kill_once(rig, point, rnd)
            landed_where[where] = landed_where.get(where, 0) + 1
            fault.trials += 1
            print(f"chaos: Bronze kill {fault.trials} ({point}): {where}", flush=True)
    assert rig.drain() == 0, f"the clean drain after {points} failed: {rig.logs[-1]}"
    skipped = sum("already in" in rig.log_text(i) for i in range(first_log, len(rig.logs)))
    tally = bronze_tally(rig.data.bronze_table, rig.published)
    fault.events, fault.lost, fault.duplicated = rig.published - events_before, tally.lost, tally.duplicated
    fault.seconds = time.monotonic() - started
    fault.notes.append("killed " + ", ".join(f"{n}x {where}" for where, n in sorted(landed_where.items())))
    fault.notes.append(f"{skipped} restarts found their batch already in Delta and skipped it")
    return fault


def _kill_once(rig: BronzeRig, point: str, rnd: random.Random) -> str:
    """New events, then a drain that the failpoint kills; where the kill left the batch."""
    rig.publish(3 * BATCH)
    batch = rig.committed_batches()
    # delta_commit: some milliseconds into the batch's read from Kafka and its write
    delay = f"+{rnd.randint(0, 400)}" if point == "bronze.delta_commit" else ""
    spec = f"{point}@{batch}{delay}"
    code = rig.drain(failpoint=spec)
    assert code == -signal.SIGKILL, f"{spec}: the ingester was not killed (exit {code}): {rig.logs[-1]}"
    return _where_it_died(rig)


def _where_it_died(rig: BronzeRig) -> str:
    """Where the kill left the ingester: Delta holding a batch that Spark's checkpoint does
    not record as done (killed between the two commits), or not (killed before the next
    batch's Delta commit)."""
    if rig.delta_batch() >= rig.committed_batches():
        return "after the Delta commit, before the checkpoint"
    return "before the batch's Delta commit"


# -- the disk fills up -----------------------------------------------------------------------
@contextlib.contextmanager
def small_filesystem(path: Path, megabytes: int):
    """A size-limited tmpfs mounted at `path` (root only: the trial needs it to fill a disk
    without filling the machine's)."""
    path.mkdir(parents=True, exist_ok=True)
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={megabytes}m,mode=0755", "tmpfs", str(path)],
        capture_output=True,
        text=True,
        check=False,
    )
    if mounted.returncode != 0:
        raise RuntimeError(
            f"the disk-full trial needs a small filesystem of its own: `mount -t tmpfs` failed "
            f"({mounted.stderr.strip()}); run it as root (CI and `make chaos` do)"
        )
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], check=False)


def fill(path: Path) -> int:
    """Write a ballast file until the filesystem is full; bytes written."""
    chunk, written = b"\0" * (256 * 1024), 0
    with (path / "ballast").open("wb", buffering=0) as out:
        try:
            while True:
                written += out.write(chunk)
        except OSError:
            pass
    return written


def disk_full_trial(root: Path, rounds: int, megabytes: int = 96) -> Fault:
    """The ingester runs continuously with Bronze and its checkpoint on a small filesystem;
    the filesystem is filled while events keep coming, then space is freed, `rounds` times.
    Expect: one clear line naming the full disk, a Delta table whose every file is whole,
    and the ingester resuming by itself once there is room, with every event landed once."""
    fault = Fault("Bronze disk full")
    started = time.monotonic()
    disk = root / "small-disk"
    with (
        small_filesystem(disk, megabytes),
        BronzeRig.started(DataDir(disk), DataDir(root / "services")) as rig,
    ):
        proc = rig.start_ingester("--trigger-interval", "1 second", "--max-events-per-batch", str(BATCH))
        try:
            for _ in range(rounds):
                rig.publish(2 * BATCH)
                _wait(lambda: _landed(rig) == rig.published, proc, rig, "the events before the disk fills")
                fill(disk)
                rig.publish(2 * BATCH)
                _wait(lambda: "no space left on device" in rig.log_text(), proc, rig, "the full-disk line")
                stuck = bronze_tally(rig.data.bronze_table, rig.published)  # readable, every file whole
                assert stuck.duplicated == 0, "a batch half-written or written twice while the disk was full"
                (disk / "ballast").unlink()
                _wait(lambda: _landed(rig) == rig.published, proc, rig, "the ingester to resume")
                fault.trials += 1
                print(f"chaos: disk full {fault.trials}: said so, waited, resumed", flush=True)
                text = rig.log_text()
                assert text.count("Traceback") == 0, f"a traceback on the ingester's output: {rig.logs[-1]}"
        finally:
            proc.send_signal(signal.SIGINT)
            proc.wait(60)
        tally = bronze_tally(rig.data.bronze_table, rig.published)
        fault.events, fault.lost, fault.duplicated = rig.published, tally.lost, tally.duplicated
        said = [line for line in rig.log_text().splitlines() if "no space left" in line]
        fault.notes.append(f"{megabytes} MB tmpfs; the ingester said: {said[0].split(': ', 1)[1][:90]}...")
    fault.seconds = time.monotonic() - started
    return fault


def _landed(rig: BronzeRig) -> int:
    from ingest.local.measure import bronze_rows

    return bronze_rows(rig.data.bronze_table)


def _wait(predicate, proc: subprocess.Popen, rig: BronzeRig, what: str, timeout_s: float = 240.0) -> None:
    def holds() -> bool:
        if proc.poll() is not None:
            raise AssertionError(
                f"the ingester exited ({proc.returncode}) waiting for {what}: {rig.logs[-1]}"
            )
        return predicate()

    wait_for(holds, what, timeout_s, interval_s=0.25, detail=lambda: rig.logs[-1])
