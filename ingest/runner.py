"""`make run` / `python -m ingest run`: the whole pipeline, continuously, on one machine.

Starts the broker and the orders database (with its migrations and replication slot), then
runs as child processes the orders simulator, the outbox relay and the Bronze ingester in
continuous mode, and schedules dbt: Silver every 5 minutes and Gold every 15 (the production
cadences; `--fast` runs both every 10 seconds). Every interval it prints one status line:

  orders/s, relay lag (outbox rows and age of the oldest), Bronze lag (events in the topic not
  yet in Bronze), the last Silver and Gold runs (end time, duration) and end-to-end freshness
  (outbox commit -> visible in gold.fct_sales_lines, p50/p95 of the lines the last Gold run
  added: the run's end time minus each line's Kafka record timestamp, which the relay sets to
  the transaction's commit time).

Each run starts from empty (the local broker keeps topics in memory only, so Bronze, its
checkpoint, the warehouse and the orders database start again with it). Ctrl-C or SIGTERM
stop it cleanly: simulator, relay, Bronze, dbt, then PostgreSQL and the broker. With
`--duration` it stops placing orders after that many seconds, lets the relay, Bronze, Silver
and Gold catch up, and prints the final counts (used by the tests and the benchmark).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import queue
import shutil
import signal
import statistics
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from ingest.config import data_dir

PROJECT_DIR = Path(__file__).resolve().parent.parent
MAX_RELAY_RESTARTS = 5
FAST_LOOKBACK_HOURS = 0.25


@dataclass
class RunnerOptions:
    rate: float = 20.0
    silver_every_s: float = 300.0
    gold_every_s: float = 900.0
    status_every_s: float = 30.0
    bronze_trigger: str = "10 seconds"
    duration_s: float | None = None
    csv: str | None = None
    seed: int = 42
    lines: int = 10_000_000
    drain_timeout_s: float = 180.0
    # Silver's re-read window for late events (dbt var silver_lookback_hours); None = the
    # project's 3 hours. One Bronze stream lands events in order, so a short window is safe
    # here, and it keeps each run's cost flat instead of growing with the last 3 hours.
    silver_lookback_hours: float | None = None

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> RunnerOptions:
        fast = args.fast
        return cls(
            rate=args.rate,
            silver_every_s=args.silver_every or (10.0 if fast else 300.0),
            gold_every_s=args.gold_every or (10.0 if fast else 900.0),
            status_every_s=args.status_every or (10.0 if fast else 30.0),
            bronze_trigger=args.bronze_trigger or ("2 seconds" if fast else "10 seconds"),
            duration_s=args.duration,
            csv=args.csv,
            seed=args.seed,
            lines=args.lines,
            silver_lookback_hours=(
                args.silver_lookback_minutes / 60
                if args.silver_lookback_minutes is not None
                else (FAST_LOOKBACK_HOURS if fast else None)
            ),
        )


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--rate", type=float, default=20.0, help="orders per second placed by the simulator")
    p.add_argument("--fast", action="store_true", help="Silver and Gold every 10 s, Bronze every 2 s")
    p.add_argument("--silver-every", type=float, default=None, help="seconds (default 300; --fast 10)")
    p.add_argument("--gold-every", type=float, default=None, help="seconds (default 900; --fast 10)")
    p.add_argument("--status-every", type=float, default=None, help="seconds (default 30; --fast 10)")
    p.add_argument("--bronze-trigger", default=None, help='default "10 seconds" (--fast "2 seconds")')
    p.add_argument(
        "--duration",
        type=float,
        default=None,
        help="place orders for this many seconds, then catch up, report and stop",
    )
    p.add_argument("--csv", default=None, help="replay this v.4a CSV instead of synthetic lines")
    p.add_argument("--seed", type=int, default=42)
    p.add_argument(
        "--silver-lookback-minutes",
        type=float,
        default=None,
        help="Silver's re-read window for late events (default: the project's 3 hours; --fast 15)",
    )
    p.add_argument("--lines", type=int, default=10_000_000, help="synthetic lines available to the simulator")


# ---------------------------------------------------------------------------- children
class Child:
    """A child process in its own session (Ctrl-C reaches the runner only), logging to a file."""

    def __init__(self, name: str, args: list[str], env: dict[str, str]) -> None:
        self.name = name
        self.args = args
        self.env = env
        self.log_path = data_dir() / "run" / f"{name}.log"
        self.proc: subprocess.Popen | None = None

    def start(self) -> None:
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(
                self.args,
                cwd=PROJECT_DIR,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )

    def poll(self) -> int | None:
        return None if self.proc is None else self.proc.poll()

    def stop(self, sig: int = signal.SIGTERM, timeout_s: float = 30.0) -> int | None:
        if self.proc is None or self.proc.poll() is not None:
            return None if self.proc is None else self.proc.returncode
        with contextlib.suppress(ProcessLookupError):
            self.proc.send_signal(sig)
        try:
            return self.proc.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)  # its own process group (JVM included)
            return self.proc.wait(timeout=10)

    def tail(self, lines: int = 15) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""


def _python(*args: str) -> list[str]:
    return [sys.executable, "-m", "ingest", *args]


# ---------------------------------------------------------------------------- dbt
RESULT_MARK = "@@dbt-worker "


def dbt_worker_main(common: list[str]) -> int:
    """A long-lived dbt process: parses the project once, then runs each command read from stdin
    (a JSON list of arguments) with that manifest, answering one `RESULT_MARK` JSON line per
    command. A run costs its models only, not dbt's start and parse (seconds on 2 cores).
    Between commands the DuckDB file is closed, so others can read Gold."""
    import gc
    import json

    from dbt.adapters.duckdb.connections import DuckDBConnectionManager
    from dbt.cli.main import dbtRunner

    def emit(answer: dict) -> None:
        sys.stdout.write(RESULT_MARK + json.dumps(answer) + "\n")
        sys.stdout.flush()

    parsed = dbtRunner().invoke(["parse", *common])
    emit({"ready": bool(parsed.success), "error": str(parsed.exception or "")})
    if not parsed.success:
        return 1
    runner = dbtRunner(manifest=parsed.result)
    for line in sys.stdin:
        args = json.loads(line)
        nodes: dict[str, str] = {}
        try:
            done = runner.invoke([*args, *common])
            ok, error = bool(done.success), str(done.exception or "")
            for result in getattr(done.result, "results", None) or []:
                nodes[result.node.name] = str(result.status)
        except Exception as exc:  # reported to the runner, the worker goes on
            ok, error = False, str(exc)
        finally:
            DuckDBConnectionManager.close_all_connections()
            gc.collect()  # releases the DuckDB file lock
        emit({"ok": ok, "nodes": nodes, "error": error})
    return 0


@dataclass
class DbtRun:
    layers: tuple[str, ...]
    started_at: datetime
    seconds: float = 0.0
    ended_at: datetime | None = None
    ok: bool = False
    nodes: dict[str, str] = field(default_factory=dict)

    @property
    def fct_built(self) -> bool:
        return self.nodes.get("fct_sales_lines") == "success"


class DbtScheduler:
    """Silver and Gold on their cadences, one run at a time, in a long-lived dbt worker
    process; layers due together run in one invocation (Gold after Silver, by the DAG)."""

    def __init__(self, options: RunnerOptions, env: dict[str, str]) -> None:
        self.every = {"silver": options.silver_every_s, "gold": options.gold_every_s}
        self.lookback_hours = options.silver_lookback_hours
        self.env = env
        self.next_due: dict[str, float] = {}
        self.current: DbtRun | None = None
        self.last: dict[str, DbtRun] = {}
        self.failures = 0
        self.finished = 0
        self.log_path = data_dir() / "run" / "dbt.log"
        self.answers: queue.Queue[dict] = queue.Queue()
        self.worker: subprocess.Popen | None = None

    def start_worker(self, timeout_s: float = 300.0) -> None:
        common = [
            "--target",
            "local",
            "--profiles-dir",
            str(PROJECT_DIR),
            "--target-path",
            str(data_dir() / "run" / "dbt-target"),
            "--log-path",
            str(data_dir() / "run" / "dbt-logs"),
        ]
        if self.lookback_hours is not None:
            common += ["--vars", json.dumps({"silver_lookback_hours": self.lookback_hours})]
        log = open(self.log_path, "a")  # noqa: SIM115 (closed by the reader thread)
        self.worker = subprocess.Popen(
            [sys.executable, "-m", "ingest.runner", "dbt-worker", *common],
            cwd=PROJECT_DIR,
            env=self.env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=log,
            text=True,
            bufsize=1,
            start_new_session=True,
        )
        threading.Thread(target=self._read, args=(self.worker.stdout, log), daemon=True).start()
        answer = self._answer(timeout_s)
        if not answer.get("ready"):
            raise RuntimeError(
                f"run: dbt could not parse the project: {answer.get('error')}; see {self.log_path}"
            )

    def _read(self, stream, log) -> None:
        import json

        with log:
            for line in stream:
                if line.startswith(RESULT_MARK):
                    self.answers.put(json.loads(line[len(RESULT_MARK) :]))
                else:
                    log.write(line)
                    log.flush()
        self.answers.put({"ok": False, "error": "the dbt worker exited", "exited": True})

    def _answer(self, timeout_s: float) -> dict:
        try:
            return self.answers.get(timeout=timeout_s)
        except queue.Empty as exc:
            raise RuntimeError(f"run: no answer from dbt in {timeout_s:.0f}s; see {self.log_path}") from exc

    def _send(self, *args: str) -> None:
        import json

        self.worker.stdin.write(json.dumps(list(args)) + "\n")
        self.worker.stdin.flush()

    def run_blocking(self, *args: str, timeout_s: float = 600.0) -> None:
        self._send(*args)
        answer = self._answer(timeout_s)
        if not answer.get("ok"):
            raise RuntimeError(
                f"run: `dbt {' '.join(args)}` failed: {answer.get('error')}; see {self.log_path}"
            )

    def start_clock(self, now: float) -> None:
        for layer, every in self.every.items():
            self.next_due[layer] = now + every

    def due(self, now: float) -> tuple[str, ...]:
        return tuple(layer for layer in ("silver", "gold") if now >= self.next_due[layer])

    def launch(self, layers: tuple[str, ...], now: float) -> None:
        self.current = DbtRun(layers, datetime.now(UTC))
        self._started = time.monotonic()
        # build without the data tests: models and, for Gold, the SCD2 snapshots (a plain
        # `dbt run` would never take them); tests belong to `make test` and the scheduled jobs
        self._send(
            "build",
            "--select",
            *[f"tag:{layer}" for layer in layers],
            "--exclude",
            "resource_type:test",
            "resource_type:unit_test",
        )
        for layer in layers:
            self.next_due[layer] = max(self.next_due[layer] + self.every[layer], now)

    def poll(self) -> DbtRun | None:
        """The run that just finished, if one did."""
        if self.current is None:
            return None
        try:
            answer = self.answers.get_nowait()
        except queue.Empty:
            return None
        if answer.get("exited"):
            raise RuntimeError(f"run: the dbt worker exited; see {self.log_path}")
        run, self.current = self.current, None
        self.finished += 1
        run.seconds = time.monotonic() - self._started
        run.ended_at = datetime.now(UTC)
        run.ok = bool(answer.get("ok"))
        run.nodes = answer.get("nodes", {})
        if run.ok:
            for layer in run.layers:
                self.last[layer] = run
        else:
            self.failures += 1
        return run

    @property
    def busy(self) -> bool:
        return self.current is not None

    def stop(self) -> None:
        """Let a run in progress finish (up to a minute), then end the worker."""
        if self.worker is None or self.worker.poll() is not None:
            return
        if self.current is not None:
            with contextlib.suppress(RuntimeError):
                self._answer(60)
        with contextlib.suppress(OSError):
            self.worker.stdin.close()
        try:
            self.worker.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(self.worker.pid, signal.SIGKILL)
            self.worker.wait(timeout=10)


# ---------------------------------------------------------------------------- measurements
def gold_path() -> Path:
    return data_dir() / "warehouse" / "lakehouse.duckdb"


class Freshness:
    """Per Gold run: the lines it added (Bronze ingested after the previous run's newest) and,
    for each, run end time minus its Kafka record timestamp (the outbox commit)."""

    def __init__(self) -> None:
        self.watermark: datetime | None = None
        self.last: list[float] = []
        self.all: list[float] = []
        self.runs: list[list[float]] = []  # per Gold run that added lines
        self.error: str | None = None

    def record(self, run: DbtRun) -> None:
        import duckdb

        try:
            con = duckdb.connect(str(gold_path()), read_only=True)
        except duckdb.Error as exc:
            self.error = str(exc).splitlines()[0]
            return
        try:
            where = "where bronze_ingested_at > ?" if self.watermark else ""
            params = [self.watermark] if self.watermark else []
            rows = con.execute(
                f"""select epoch_ms(source_event_at), bronze_ingested_at
                    from gold.fct_sales_lines {where}""",
                params,
            ).fetchall()
        except duckdb.Error as exc:
            self.error = str(exc).splitlines()[0]
            return
        finally:
            con.close()
        end_ms = run.ended_at.timestamp() * 1000
        self.last = [(end_ms - ms) / 1000 for ms, _ in rows if ms is not None]
        self.all.extend(self.last)
        if self.last:
            self.runs.append(self.last)
        if rows:
            self.watermark = max(ingested for _, ingested in rows)

    @staticmethod
    def percentiles(values: list[float]) -> tuple[float, float] | None:
        if not values:
            return None
        if len(values) == 1:
            return values[0], values[0]
        cuts = statistics.quantiles(values, n=100, method="inclusive")
        return cuts[49], cuts[94]


def bronze_rows() -> int:
    from deltalake import DeltaTable

    path = data_dir() / "bronze" / "sales_transactions"
    if not (path / "_delta_log").exists():
        return 0
    actions = DeltaTable(str(path)).get_add_actions(flatten=True)
    return int(sum(v for v in actions.column("num_records").to_pylist() if v is not None))


class TopicEnd:
    """The topic's true end offsets summed (Tansu's watermark is unreliable: see kafka_source)."""

    def __init__(self, bootstrap_servers: str, topic: str) -> None:
        from confluent_kafka import Consumer
        from confluent_kafka.admin import AdminClient

        self.topic = topic
        self.consumer = Consumer(
            {
                "bootstrap.servers": bootstrap_servers,
                "group.id": "runner-status",
                "enable.auto.commit": False,
                "enable.partition.eof": True,
                "fetch.queue.backoff.ms": 1,
            }
        )
        self.admin = AdminClient({"bootstrap.servers": bootstrap_servers})

    def total(self) -> int:
        from ingest.bronze.kafka_source import topic_state

        return sum(topic_state(self.consumer, self.admin, self.topic).end.values())

    def close(self) -> None:
        self.consumer.close()
        self.admin = None  # destroyed now, before the broker stops (no disconnect noise)


def _count_orders(dsn: str) -> tuple[int, int]:
    import psycopg2

    conn = psycopg2.connect(dsn)
    try:
        with conn, conn.cursor() as cur:
            cur.execute("select (select count(*) from orders), (select count(*) from order_lines)")
            orders, lines = cur.fetchone()
    finally:
        conn.close()
    return int(orders), int(lines)


def _hms(moment: datetime | None) -> str:
    return moment.strftime("%H:%M:%S") if moment else "-"


# ---------------------------------------------------------------------------- the runner
@dataclass
class RunReport:
    orders: int = 0
    lines: int = 0
    topic_events: int = 0
    bronze_rows: int = 0
    gold_lines: int = 0
    freshness_p50: float | None = None
    freshness_p95: float | None = None
    freshness_samples: int = 0
    # the same without the first Gold run that added lines (JVM, Spark and dbt warm-up)
    steady_p50: float | None = None
    steady_p95: float | None = None
    steady_samples: int = 0
    gold_runs: list[tuple[float, int]] = field(default_factory=list)  # (seconds, lines added)
    orders_per_s: float = 0.0
    seconds: float = 0.0
    dbt_failures: int = 0
    status_lines: list[str] = field(default_factory=list)


class Runner:
    def __init__(self, options: RunnerOptions) -> None:
        self.options = options
        self.stopping = False
        self.report = RunReport()

    def _signal(self, signum, frame) -> None:
        if self.stopping:
            return
        self.stopping = True
        print(f"\nrun: {signal.Signals(signum).name}: stopping", file=sys.stderr, flush=True)

    def say(self, text: str) -> None:
        print(text, flush=True)

    def reset_state(self) -> None:
        from ingest.orders import postgres

        postgres.remove()
        for name in ("bronze", "checkpoints", "warehouse"):
            shutil.rmtree(data_dir() / name, ignore_errors=True)
        shutil.rmtree(data_dir() / "run" / "dbt-target", ignore_errors=True)
        (data_dir() / "warehouse").mkdir(parents=True)

    def run(self) -> RunReport:
        from ingest import broker
        from ingest.orders import migrate, postgres

        opts = self.options
        root = data_dir()
        os.environ["LAKEHOUSE_DATA_DIR"] = str(root)
        (root / "run").mkdir(parents=True, exist_ok=True)
        previous = {s: signal.signal(s, self._signal) for s in (signal.SIGINT, signal.SIGTERM)}
        started = time.monotonic()
        broker_was_running = broker.status() is not None
        if broker_was_running:
            raise SystemExit("run: a broker from this data directory is already running: stop it first")
        if postgres.status() is not None:
            raise SystemExit("run: the orders database is already running: `python -m ingest orders db stop`")
        self.reset_state()
        children: list[Child] = []
        dbt: DbtScheduler | None = None
        topic_end: TopicEnd | None = None
        try:
            b = broker.start()
            pg = postgres.start()
            migrate.apply(pg.dsn())
            migrate.ensure_slot(pg.dsn(), postgres.SLOT)
            self.say(
                f"run: broker {b.bootstrap_servers} (pid {b.pid}), orders database {pg.dsn()} (pid {pg.pid})"
            )
            env = {
                **os.environ,
                "LAKEHOUSE_DATA_DIR": str(root),
                "KAFKA_BOOTSTRAP_SERVERS": b.bootstrap_servers,
                "ORDERS_DATABASE_DSN": pg.dsn(),
                "PYSPARK_PYTHON": os.environ.get("PYSPARK_PYTHON", sys.executable),
            }
            source = ["--lines", str(opts.lines), "--seed", str(opts.seed)]
            if opts.csv:
                source = ["--csv", opts.csv]
            simulate = ["orders", "simulate", "--rate", str(opts.rate), *source]
            if opts.duration_s:
                simulate += ["--duration", str(opts.duration_s)]
            simulator = Child("simulator", _python(*simulate), env)
            relay = Child("relay", _python("orders", "relay"), env)
            bronze = Child("bronze", _python("bronze", "--trigger-interval", opts.bronze_trigger), env)
            children = [simulator, relay, bronze]
            relay.start()
            bronze.start()  # its SparkSession starts while dbt parses
            dbt = DbtScheduler(opts, env)
            self.say("run: relay and Bronze starting; dbt parse and seed (reference data)")
            dbt.start_worker()
            dbt.run_blocking("seed")
            self._wait_for_bronze(bronze)
            simulator.start()
            self.say(
                f"run: simulator {opts.rate:g} orders/s, relay, Bronze every {opts.bronze_trigger}, "
                f"Silver every {opts.silver_every_s:g}s, Gold every {opts.gold_every_s:g}s; "
                f"logs in {root / 'run'}; Ctrl-C stops"
            )
            topic_end = TopicEnd(b.bootstrap_servers, env.get("KAFKA_TOPIC", "sales-transactions-raw"))
            self._loop(pg.dsn(), children, dbt, topic_end)
        finally:
            self.say("run: stopping simulator, relay, Bronze, dbt, PostgreSQL, broker")
            for child, sig in zip(children, (signal.SIGTERM, signal.SIGTERM, signal.SIGINT), strict=False):
                child.stop(sig, timeout_s=60)
            if dbt is not None:
                dbt.stop()
            if topic_end is not None:
                topic_end.close()
            postgres.stop()
            broker.stop()
            for sig, handler in previous.items():
                signal.signal(sig, handler)
        self.report.seconds = time.monotonic() - started
        return self.report

    def _wait_for_bronze(self, bronze: Child, timeout_s: float = 180.0) -> None:
        """Orders start once the Bronze query runs (its SparkSession takes a while to start)."""
        deadline = time.monotonic() + timeout_s
        while "bronze: continuous" not in bronze.tail(50):
            if bronze.poll() is not None:
                raise RuntimeError(f"run: bronze exited ({bronze.poll()}):\n{bronze.tail()}")
            if time.monotonic() > deadline or self.stopping:
                raise RuntimeError(f"run: the Bronze query did not start in {timeout_s:.0f}s")
            time.sleep(0.5)

    def _loop(self, dsn: str, children: list[Child], dbt: DbtScheduler, topic_end: TopicEnd) -> None:
        opts = self.options
        simulator, relay, bronze = children
        fresh = Freshness()
        bronze_table = data_dir() / "bronze" / "sales_transactions" / "_delta_log"
        clock_started = False
        next_status = time.monotonic() + opts.status_every_s
        last_orders, last_orders_at = 0, time.monotonic()
        simulating_since = time.monotonic()
        draining = False
        drain_deadline = None
        relay_restarts = 0
        while not self.stopping:
            now = time.monotonic()
            if relay.poll() is not None:  # it resumes from the slot: restart it, a few times
                relay_restarts += 1
                if relay_restarts > MAX_RELAY_RESTARTS:
                    raise RuntimeError(f"run: the relay exited {relay_restarts} times:\n{relay.tail()}")
                self.say(f"run: the relay exited ({relay.poll()}); restarting it: {relay.tail(1)}")
                relay.start()
            if bronze.poll() is not None:
                raise RuntimeError(
                    f"run: bronze exited ({bronze.poll()}); last lines of {bronze.log_path}:\n{bronze.tail()}"
                )
            if simulator.poll() not in (None, 0):
                raise RuntimeError(f"run: simulator failed; last lines:\n{simulator.tail()}")
            if not clock_started and bronze_table.exists():
                dbt.start_clock(now)
                clock_started = True
            finished = dbt.poll()
            if finished is not None:
                if finished.fct_built:
                    fresh.record(finished)
                    self.report.gold_runs.append((finished.seconds, len(fresh.last)))
                if not finished.ok:
                    failed = sorted(name for name, status in finished.nodes.items() if status != "success")
                    self.say(
                        f"run: dbt run of {'+'.join(finished.layers)} failed ({', '.join(failed)}); "
                        f"see {dbt.log_path}"
                    )
            if clock_started and not dbt.busy and not draining:
                layers = dbt.due(now)
                if layers:
                    dbt.launch(layers, now)
            if now >= next_status:
                next_status = now + opts.status_every_s
                last_orders, last_orders_at = self._status(
                    dsn, dbt, fresh, topic_end, last_orders, last_orders_at
                )
            if simulator.poll() == 0 and opts.duration_s and not draining:
                draining = True
                drain_deadline = now + opts.drain_timeout_s
                self.report.orders_per_s = _count_orders(dsn)[0] / max(now - simulating_since, 1e-9)
                self.say("run: simulator done; waiting for relay, Bronze, Silver and Gold to catch up")
            if draining and (self._caught_up(dsn, dbt, topic_end) or now > drain_deadline):
                if now > drain_deadline:
                    self.say("run: did not catch up within the drain timeout")
                self._status(dsn, dbt, fresh, topic_end, last_orders, last_orders_at)
                break
            time.sleep(0.2)
        pct = Freshness.percentiles(fresh.all)
        if pct:
            self.report.freshness_p50, self.report.freshness_p95 = pct
        self.report.freshness_samples = len(fresh.all)
        steady = [value for run in fresh.runs[1:] for value in run]
        pct = Freshness.percentiles(steady)
        if pct:
            self.report.steady_p50, self.report.steady_p95 = pct
        self.report.steady_samples = len(steady)
        self.report.dbt_failures = dbt.failures

    def _caught_up(self, dsn: str, dbt: DbtScheduler, topic_end: TopicEnd) -> bool:
        """After the simulator: everything in the outbox relayed, landed, and in Gold."""
        if dbt.busy:
            return False
        from ingest.orders.relay import lag

        if lag(dsn).rows:
            return False
        orders, lines = _count_orders(dsn)
        in_topic = topic_end.total()
        landed = bronze_rows()
        if in_topic < lines or landed < in_topic:
            return False
        if getattr(self, "_drain_for", None) == landed and dbt.finished >= self._drain_run:
            self.report.orders, self.report.lines = orders, lines
            self.report.topic_events, self.report.bronze_rows = in_topic, landed
            self.report.gold_lines = self._gold_count()
            return True
        # One more Silver + Gold run over everything landed.
        self._drain_for, self._drain_run = landed, dbt.finished + 1
        dbt.launch(("silver", "gold"), time.monotonic())
        return False

    @staticmethod
    def _gold_count() -> int:
        import duckdb

        con = duckdb.connect(str(gold_path()), read_only=True)
        try:
            return con.execute("select count(*) from gold.fct_sales_lines").fetchone()[0]
        finally:
            con.close()

    def _status(self, dsn, dbt: DbtScheduler, fresh: Freshness, topic_end: TopicEnd, last_orders, last_at):
        from ingest.orders.relay import lag

        now = time.monotonic()
        parts = [datetime.now(UTC).strftime("%H:%M:%S")]
        orders = last_orders
        try:
            orders, lines = _count_orders(dsn)
            rate = (orders - last_orders) / max(now - last_at, 1e-9)
            parts.append(f"orders {rate:5.1f}/s ({orders:,} / {lines:,} lines)")
            relay_lag = lag(dsn)
            parts.append(f"relay lag {relay_lag.rows:,} rows {relay_lag.seconds:.1f}s")
        except Exception as exc:  # the status line reports, it never stops the run
            parts.append(f"orders db: {str(exc).strip().splitlines()[0]}")
        try:
            in_topic, landed = topic_end.total(), bronze_rows()
            parts.append(f"bronze lag {max(in_topic - landed, 0):,} ev ({landed:,} landed)")
        except Exception as exc:
            parts.append(f"bronze: {str(exc).strip().splitlines()[0][:60]}")
        for layer in ("silver", "gold"):
            last = dbt.last.get(layer)
            parts.append(f"{layer} {_hms(last.ended_at)} ({last.seconds:.1f}s)" if last else f"{layer} -")
        pct = Freshness.percentiles(fresh.last)
        if pct:
            parts.append(f"fresh p50 {pct[0]:.1f}s p95 {pct[1]:.1f}s ({len(fresh.last):,} lines)")
        elif fresh.error:
            parts.append(f"fresh n/a ({fresh.error[:60]})")
        else:
            parts.append("fresh -")
        line = " | ".join(parts)
        self.report.status_lines.append(line)
        self.say(line)
        return orders, now


def main(options: RunnerOptions) -> int:
    runner = Runner(options)
    try:
        report = runner.run()
    except RuntimeError as exc:
        print(str(exc), file=sys.stderr)
        return 1
    if options.duration_s:
        pct = (
            f"p50 {report.freshness_p50:.1f}s, p95 {report.freshness_p95:.1f}s "
            f"over {report.freshness_samples:,} lines"
            if report.freshness_p50 is not None
            else "no Gold lines measured"
        )
        print(
            f"run: {report.orders:,} orders ({report.lines:,} lines) at {report.orders_per_s:.1f} orders/s; "
            f"topic {report.topic_events:,} events, Bronze {report.bronze_rows:,}, "
            f"Gold fct_sales_lines {report.gold_lines:,}; freshness {pct}; {report.seconds:.0f}s in all",
            flush=True,
        )
    return 0 if report.dbt_failures == 0 else 1


if __name__ == "__main__":
    if sys.argv[1:2] != ["dbt-worker"]:
        raise SystemExit("usage: python -m ingest.runner dbt-worker DBT_ARGS...")
    sys.exit(dbt_worker_main(sys.argv[2:]))
