"""The relay, Bronze, PostgreSQL and the broker SIGKILLed under `make run`.

One timed run of the whole pipeline (`python -m ingest run --fast --duration D`), its
components killed one after another while orders keep coming; after each kill the runner
must say in one line what it did. At the end every order line the database committed must be
in Silver exactly once, and accounted for once in Gold's terms.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from ingest.local import services
from ingest.orders import postgres
from ingest.paths import ENV_VAR, PROJECT_DIR, DataDir
from tests.waiting import wait_for

from .ledger import silver_tally
from .results import Fault


@dataclass(frozen=True)
class Victim:
    name: str
    recovered: str  # what the runner says once it has dealt with the death

    def pid(self, data: DataDir) -> int:
        if self.name in ("postgres", "broker"):
            found = services.recorded(self.name, data)
            assert found, f"no {self.name} recorded in {data.run}"
            return found[0]
        words = {"relay": ["orders", "relay"], "bronze": ["bronze"]}[self.name]
        return find_process(data, ["-m", "ingest", *words])

    def kill(self, data: DataDir) -> None:
        pid = self.pid(data)
        if self.name == "bronze":  # its whole session: the driver, its JVM, its Python workers
            os.killpg(pid, signal.SIGKILL)
        else:
            os.kill(pid, signal.SIGKILL)


VICTIMS = {
    "relay": Victim("relay", "run: the relay exited"),
    "bronze": Victim("bronze", "run: the Bronze ingester exited"),
    "postgres": Victim("postgres", "run: PostgreSQL (pid"),
    "broker": Victim("broker", "run: the broker (pid"),
}


def find_process(data: DataDir, argv: list[str]) -> int:
    """The process whose command line holds `argv` in order and whose data directory is `data`
    (other runs on this machine, a test suite's say, are left alone)."""
    wanted = [w.encode() for w in argv]
    mine = f"{ENV_VAR}={data.root}".encode()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(OSError):
            args = (entry / "cmdline").read_bytes().split(b"\0")
            if _contains(args, wanted) and mine in (entry / "environ").read_bytes().split(b"\0"):
                return int(entry.name)
    raise AssertionError(f"no process {' '.join(argv)} for {data.root}")


def _contains(args: list[bytes], wanted: list[bytes]) -> bool:
    return any(args[i : i + len(wanted)] == wanted for i in range(len(args)))


class RunnerUnderTest:
    """`python -m ingest run --fast` on its own data directory, its console collected."""

    def __init__(self, data: DataDir, rate: float, duration_s: int) -> None:
        env = {
            k: v for k, v in os.environ.items() if k not in ("KAFKA_BOOTSTRAP_SERVERS", "ORDERS_DATABASE_DSN")
        }
        env.update(data.env(), PYSPARK_PYTHON=env.get("PYSPARK_PYTHON", sys.executable))
        self.data = data
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "ingest",
                "run",
                "--fast",
                "--rate",
                f"{rate:g}",
                "--duration",
                str(duration_s),
            ]
            + ["--api-port", "0", "--dashboard-port", "0"],
            cwd=PROJECT_DIR,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self.output: list[str] = []
        self.reader = threading.Thread(target=lambda: self.output.extend(self.proc.stdout), daemon=True)
        self.reader.start()

    def text(self) -> str:
        return "".join(self.output)

    def wait_for(self, predicate, what: str, timeout_s: float = 240.0) -> None:
        def holds() -> bool:
            assert self.proc.poll() is None, f"the runner exited waiting for {what}:\n{self.text()[-3000:]}"
            return predicate()

        wait_for(holds, what, timeout_s, detail=lambda: self.text()[-3000:])

    def said(self, words: str) -> int:
        return sum(words in line for line in self.output)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            self.proc.wait(120)
        self.reader.join(10)


def kill_under_make_run(root: Path, kills: list[str], rate: float = 10, gap_s: float = 12.0) -> Fault:
    """One run with `kills` (victim names, in order) `gap_s` apart after orders start, each
    once the runner has recovered from the one before; then the books."""
    data = DataDir(root)
    root.mkdir(parents=True, exist_ok=True)
    root.chmod(0o755)  # PostgreSQL runs as its own user when we are root
    duration = int(gap_s * (len(kills) + 1))
    fault = Fault(
        "make run: " + ", ".join(f"{kills.count(v)}x {v}" for v in dict.fromkeys(kills)) + " SIGKILLed"
    )
    started = time.monotonic()
    run = RunnerUnderTest(data, rate, duration)
    try:
        run.wait_for(lambda: run.said("run: simulator"), "orders to start")
        for name in kills:
            victim = VICTIMS[name]
            before = run.said(victim.recovered)
            time.sleep(gap_s)
            victim.kill(data)
            run.wait_for(
                lambda v=victim, n=before: run.said(v.recovered) > n, f"the runner to recover from {name}"
            )
            fault.trials += 1
            print(f"chaos: make run, {name} killed; recovered", flush=True)
        assert run.proc.wait(timeout=duration + 600) == 0, run.text()[-3000:]
    finally:
        run.stop()
    text = run.text()
    for noise in ("Traceback", "rdkafka"):
        assert noise not in text, f"{noise!r} on the runner's console:\n{text[-3000:]}"
    with postgres.running(data=data) as pg:
        lines = {row[0] for row in _query(pg.dsn(), "select event_id::text from order_lines")}
    tally = silver_tally(data.warehouse, lines)
    fault.events, fault.lost, fault.duplicated = tally.expected, tally.lost, tally.duplicated
    fault.seconds = time.monotonic() - started
    recoveries = [line.strip() for line in run.output if any(v.recovered in line for v in VICTIMS.values())]
    fault.notes.append(
        f"{len(recoveries)} recovery lines, e.g. {recoveries[-1][:120]!r}" if recoveries else ""
    )
    return fault


def _query(dsn: str, sql: str) -> list[tuple]:
    import psycopg2

    conn = psycopg2.connect(dsn)
    try:
        with conn.cursor() as cur:
            cur.execute(sql)
            return cur.fetchall()
    finally:
        conn.close()
