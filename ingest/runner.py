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

Each run starts from empty: the broker's log, Bronze, its checkpoint, the warehouse and the
orders database. Ctrl-C or SIGTERM
stop it cleanly: simulator, relay, Bronze, dbt, then PostgreSQL and the broker. A relay or a
Bronze ingester that exits is restarted (the relay resumes from its slot, Bronze from its
checkpoint, its batches idempotent); PostgreSQL, if it dies, is started again on its port
(crash recovery; the relay and the simulator reconnect by themselves). A broker that dies is
started again on its log (data/kafka): nothing it acknowledged is lost, Bronze resumes from
its checkpoint. Only when the log itself is gone does the runner start a new broker, restart
Bronze on the new topic from its start, publish again from the outbox what Bronze lacks (the
relay keeps published rows for `--outbox-retention-minutes`; ingest.orders.replay), restart
the relay, and say so in one line (`_recover_from_lost_log`). Each recovery is one line on the
console. With `--duration` it stops placing orders after that many seconds, lets the relay,
Bronze, Silver and Gold catch up, and prints the final counts (used by the tests and the
benchmark).

The parts: options (ingest.run_options), child processes (ingest.processes), the dbt worker
(ingest.dbt), when dbt runs (ingest.schedule), what is measured (ingest.measure).
"""

from __future__ import annotations

import json
import logging
import os
import signal
import sys
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime

from ingest import broker, services, serving
from ingest.config import KafkaConfig
from ingest.dbt import DbtWorker
from ingest.measure import Freshness, TopicEnd, bronze_rows, count_orders, gold_lines
from ingest.orders import migrate, postgres, replay
from ingest.orders.outbox import lag
from ingest.paths import DataDir, DeltaCommits, delta_table_exists
from ingest.processes import Child, cap_logs, ingest_command
from ingest.run_options import RunnerOptions
from ingest.schedule import LAYERS, DbtScheduler

# how often a child (or PostgreSQL, or the broker) may die before the run gives up
MAX_RESTARTS = {"relay": 5, "bronze": 5, "postgres": 3, "broker": 3}
RESTART_LINE = {
    "relay": "the relay exited; restarting it (it resumes from its replication slot)",
    "bronze": "the Bronze ingester exited; restarting it (it resumes from its checkpoint, and a "
    "batch it had already written is skipped, not written twice)",
}
TICK_S = 0.2
# JSON lines in data/run: each status line's numbers, each finished dbt run (Runner._record)
RECORDS = ("status.jsonl", "dbt-runs.jsonl")
# each log in data/run is kept under this size (the previous part in <name>.log.1)
LOG_CAP_BYTES = 20 * 1024 * 1024
# a timed run's catch-up gets this much longer after a broker loss (Bronze restarts)
BROKER_LOSS_DRAIN_S = 90.0


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
    # broker restarts: how many; of those, logs lost (then Bronze's rows from the lost topics and
    # the outbox events replayed)
    broker_restarts: int = 0
    logs_lost: int = 0
    bronze_before_loss: int = 0
    replayed: int = 0


@dataclass
class Pipeline:
    """What the loop watches once everything runs."""

    dsn: str
    simulator: Child
    relay: Child
    bronze: Child
    dbt: DbtScheduler
    topic_end: TopicEnd
    api: Child | None = None
    broker: broker.Broker | None = None
    pg: postgres.Postgres | None = None
    kafka: KafkaConfig | None = None
    env: dict[str, str] = field(default_factory=dict)  # the children's (shared, updated on a new port)


class Runner:
    def __init__(self, options: RunnerOptions, data: DataDir | None = None) -> None:
        self.options = options
        self.data = data or DataDir.from_env()
        self.stopping = False
        self.report = RunReport()
        self.fresh = Freshness(self.data.warehouse)
        # what has been started, stopped in this order: children (simulator, relay, Bronze), dbt, topic
        self.children: list[Child] = []
        self.dbt: DbtScheduler | None = None
        self.topic_end: TopicEnd | None = None
        # the loop's state
        self.restarts = dict.fromkeys(MAX_RESTARTS, 0)
        self.compactor: Child | None = None
        self.next_compact = 0.0
        self.bronze_base = 0  # Bronze rows landed from lost topics (the current one starts after)
        self.kafka_log: logging.Logger | None = None
        self.simulating_since = 0.0
        self.next_status = 0.0
        self.last_orders = 0
        self.last_orders_at = 0.0
        self.status_numbers: dict[str, object] = {}  # the last status line, as numbers
        self.drain_deadline: float | None = None  # set once a timed run's simulator is done
        self._drain_for: int | None = None  # Bronze rows the last catch-up run was launched for
        self._drain_run = 0  # finished dbt runs once that catch-up run is done

    def _signal(self, signum, frame) -> None:
        if self.stopping:
            return
        self.stopping = True
        print(f"\nrun: {signal.Signals(signum).name}: stopping", file=sys.stderr, flush=True)

    def say(self, text: str) -> None:
        print(text, flush=True)

    # ------------------------------------------------------------------------ start and stop
    def run(self) -> RunReport:
        self.data.run.mkdir(parents=True, exist_ok=True)
        for record in RECORDS:  # this run's records only
            (self.data.run / record).unlink(missing_ok=True)
        self.kafka_log = _kafka_clients_log(self.data.run / "runner-kafka.log")
        previous = {s: signal.signal(s, self._signal) for s in (signal.SIGINT, signal.SIGTERM)}
        started = time.monotonic()
        self._refuse_services_already_running()
        self.reset_state()
        try:
            self._loop(self._start())
        finally:
            self._stop()
            for sig, handler in previous.items():
                signal.signal(sig, handler)
        self.report.seconds = time.monotonic() - started
        return self.report

    def _refuse_services_already_running(self) -> None:
        if broker.status(self.data) is not None:
            raise SystemExit("run: a broker from this data directory is already running: stop it first")
        if postgres.status(self.data) is not None:
            raise SystemExit("run: the orders database is already running: `python -m ingest orders db stop`")

    def reset_state(self) -> None:
        postgres.remove(self.data)
        broker.remove_log(self.data)
        self.data.reset_lakehouse()

    def _start(self) -> Pipeline:
        """Broker, orders database, relay and Bronze, dbt (parse and seed), then the simulator."""
        opts = self.options
        b = broker.start(data=self.data)
        pg = postgres.start(data=self.data)
        migrate.apply(pg.dsn())
        migrate.ensure_slot(pg.dsn(), postgres.SLOT)
        self.say(
            f"run: broker {b.bootstrap_servers} (pid {b.pid}), orders database {pg.dsn()} (pid {pg.pid})"
        )
        kafka = KafkaConfig(bootstrap_servers=b.bootstrap_servers, topic=KafkaConfig.from_env().topic)
        env = self._child_env(kafka, pg.dsn())
        simulator = Child("simulator", ingest_command(*self._simulate_args()), env, self.data.run)
        relay_args = ("orders", "relay", "--retention-minutes", f"{opts.outbox_retention_minutes:g}")
        relay = Child("relay", ingest_command(*relay_args), env, self.data.run)
        bronze = Child(
            "bronze", ingest_command("bronze", "--trigger-interval", opts.bronze_trigger), env, self.data.run
        )
        compact_args = ("compact", "--retention-hours", f"{opts.compact_retention_hours:g}")
        self.compactor = Child("compact", ingest_command(*compact_args), env, self.data.run)
        self.children = [simulator, relay, bronze, self.compactor]
        api = None
        if opts.api_port:
            api = Child("api", ingest_command("api", "--port", str(opts.api_port)), env, self.data.run)
            self.children.append(api)
        dashboard = None
        if opts.api_port and opts.dashboard_port:
            api_url = f"http://127.0.0.1:{opts.api_port}"
            dashboard_args = ("dashboard", "--port", str(opts.dashboard_port), "--api", api_url)
            dashboard = Child("dashboard", ingest_command(*dashboard_args), env, self.data.run)
            self.children.append(dashboard)
        relay.start()
        bronze.start()  # its SparkSession starts while dbt parses
        self.dbt = DbtScheduler(
            DbtWorker(self.data, env, opts.silver_lookback_hours),
            opts.silver_every_s,
            opts.gold_every_s,
            landed=DeltaCommits(self.data.bronze_table) if opts.run_when_data_lands else None,
        )
        self.say("run: relay and Bronze starting; dbt parse and seed (reference data)")
        self.dbt.worker.start()
        self.dbt.worker.run("seed")
        if api is not None:
            api.start()  # it reads the semantic manifest the worker's parse left
        if dashboard is not None:
            dashboard.start()
        self._wait_for_bronze(bronze)
        simulator.start()
        self.say(
            f"run: simulator {opts.rate:g} orders/s, relay, Bronze every {opts.bronze_trigger}, "
            + (
                "Silver and Gold whenever Bronze commits; "
                if opts.run_when_data_lands
                else f"Silver every {opts.silver_every_s:g}s, Gold every {opts.gold_every_s:g}s; "
            )
            + f"logs in {self.data.run}; Ctrl-C stops"
        )
        if api is not None:
            self.say(
                f"run: analytics API on http://127.0.0.1:{opts.api_port}/docs "
                "(it answers from the first Gold build on)"
            )
        if dashboard is not None:
            self.say(f"run: dashboard on http://127.0.0.1:{opts.dashboard_port}")
        self.topic_end = TopicEnd(kafka, self.kafka_log)
        return Pipeline(pg.dsn(), simulator, relay, bronze, self.dbt, self.topic_end, api, b, pg, kafka, env)

    def _child_env(self, kafka: KafkaConfig, dsn: str) -> dict[str, str]:
        """The children's environment: ours, plus where the data, the broker and the orders are."""
        return {
            **os.environ,
            **self.data.env(),
            "KAFKA_BOOTSTRAP_SERVERS": kafka.bootstrap_servers,
            "ORDERS_DATABASE_DSN": dsn,
            "PYSPARK_PYTHON": os.environ.get("PYSPARK_PYTHON", sys.executable),
        }

    def _simulate_args(self) -> list[str]:
        opts = self.options
        source = ["--csv", opts.csv] if opts.csv else ["--lines", str(opts.lines), "--seed", str(opts.seed)]
        duration = ["--duration", str(opts.duration_s)] if opts.duration_s else []
        return ["orders", "simulate", "--rate", str(opts.rate), *source, *duration]

    def _wait_for_bronze(self, bronze: Child, timeout_s: float = 180.0) -> None:
        """Orders start once the Bronze query runs (its SparkSession takes a while to start)."""
        deadline = time.monotonic() + timeout_s
        while "bronze: continuous" not in bronze.tail(50):
            if bronze.poll() is not None:
                raise RuntimeError(f"run: bronze exited ({bronze.poll()}):\n{bronze.tail()}")
            if self.stopping:
                raise RuntimeError("run: stopped before the Bronze query started")
            if time.monotonic() > deadline:
                raise RuntimeError(f"run: the Bronze query did not start in {timeout_s:.0f}s")
            time.sleep(0.5)

    def _stop(self) -> None:
        self.say("run: stopping simulator, relay, Bronze, API, dashboard, dbt, PostgreSQL, broker")
        for child in self.children:  # Bronze takes SIGINT: it ends its stream between batches
            child.stop(signal.SIGINT if child.name == "bronze" else signal.SIGTERM, timeout_s=60)
        if self.dbt is not None:
            self.dbt.stop()
        if self.topic_end is not None:
            self.topic_end.close()
        postgres.stop(self.data)
        broker.stop(self.data)

    # ------------------------------------------------------------------------ the loop
    def _loop(self, p: Pipeline) -> None:
        now = time.monotonic()
        self.next_status = now + self.options.status_every_s
        self.next_compact = now + self.options.compact_every_s
        self.last_orders_at = self.simulating_since = now
        while not self.stopping:
            now = time.monotonic()
            self._watch_children(p)
            self._compact_bronze_when_due(now)
            self._start_clock_once_bronze_exists(p.dbt, now)
            self._take_finished_run(p.dbt)
            self._launch_due_runs(p.dbt, now)
            if now >= self.next_status:
                self.next_status = now + self.options.status_every_s
                self._print_status(p)
                cap_logs(self.data.run, LOG_CAP_BYTES)
            if self._finished(p, now):
                break
            time.sleep(TICK_S)
        self._report_freshness()
        self.report.dbt_failures = p.dbt.failures

    def _watch_children(self, p: Pipeline) -> None:
        """Recover from a broker or a PostgreSQL that died; restart a relay or a Bronze that
        exited (a few times each); the API exiting, or the simulator failing, ends the run."""
        if p.broker is not None and not services.pid_alive(p.broker.pid):
            self._recover_from_broker_loss(p)
            return
        if p.pg is not None and not services.pid_alive(p.pg.pid):
            self._recover_from_database_loss(p)
        for child in (p.relay, p.bronze):
            if child.poll() is not None:
                self._count_restart(child.name, child.tail())
                self.say(f"run: {RESTART_LINE[child.name]}; exit code {child.poll()}: {child.last_words()}")
                child.start()
        if p.api is not None and p.api.poll() is not None:
            raise RuntimeError(f"run: the analytics API exited ({p.api.poll()}):\n{p.api.tail()}")
        if p.simulator.poll() not in (None, 0):
            raise RuntimeError(f"run: simulator failed; last lines:\n{p.simulator.tail()}")

    def _count_restart(self, name: str, details: str = "") -> None:
        self.restarts[name] += 1
        if self.restarts[name] > MAX_RESTARTS[name]:
            raise RuntimeError(f"run: {name} died {self.restarts[name]} times; stopping\n{details}".rstrip())

    def _recover_from_database_loss(self, p: Pipeline) -> None:
        """PostgreSQL died (killed, out of memory): start it again from its data directory on
        the same port. Its crash recovery replays the WAL, so every committed order, the outbox
        and the replication slot are back; the relay and the simulator retry their connections
        until it answers, and nothing they had not committed was confirmed."""
        detected = time.monotonic()
        lost = p.pg
        self._count_restart("postgres")
        deadline = detected + 60
        while True:  # until the dead server's last backends have let go of its shared memory
            try:
                p.pg = postgres.start(port=lost.port, data=self.data)
                break
            except postgres.PostgresError as exc:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"run: PostgreSQL died and would not start again: {exc}") from exc
                time.sleep(1.0)
        self.say(
            f"run: PostgreSQL (pid {lost.pid}) died; started again on port {p.pg.port} in "
            f"{time.monotonic() - detected:.1f}s (crash recovery); relay and simulator reconnect"
        )

    def _recover_from_broker_loss(self, p: Pipeline) -> None:
        """The broker died. Its log is on disk (data/kafka): when it is still there, the broker
        starts again on it (same port when free) and nothing it acknowledged is lost; the relay's
        producer retries what was unacknowledged, Bronze resumes from its checkpoint (restarted
        if its query gave up meanwhile). One line says so. Only a lost log (the folder gone, or
        a new disk) needs the outbox: `_recover_from_lost_log`."""
        if not broker.log_present(self.data):
            self._recover_from_lost_log(p)
            return
        detected = time.monotonic()
        lost = p.broker
        self.report.broker_restarts += 1
        self._count_restart("broker")
        p.topic_end.close()
        p.broker = broker.restart(lost, data=self.data)
        if self._adopt_broker_address(p):  # the children hold the old address: restart them on the new one
            for child in (p.relay, p.bronze):
                child.kill()
                child.start()
        seconds = self._broker_back(p, detected)
        self.say(
            f"run: the broker (pid {lost.pid}) died; started again on its log in {seconds:.1f}s on "
            f"{p.broker.bootstrap_servers}: nothing it acknowledged was lost, no outbox replay needed "
            "(the relay retries what was in flight, Bronze resumes from its checkpoint)"
        )

    def _adopt_broker_address(self, p: Pipeline) -> bool:
        """After a restart on a new port: children started from now on are told. Whether it moved."""
        if p.broker.bootstrap_servers == p.kafka.bootstrap_servers:
            return False
        p.kafka = KafkaConfig(bootstrap_servers=p.broker.bootstrap_servers, topic=p.kafka.topic)
        p.env["KAFKA_BOOTSTRAP_SERVERS"] = p.kafka.bootstrap_servers
        return True

    def _broker_back(self, p: Pipeline, detected: float) -> float:
        """The runner's own view of the topic again, and more time to drain: the seconds it took."""
        p.topic_end = self.topic_end = TopicEnd(p.kafka, self.kafka_log)
        seconds = time.monotonic() - detected
        if self.drain_deadline is not None:
            self.drain_deadline += seconds + BROKER_LOSS_DRAIN_S
        return seconds

    def _recover_from_lost_log(self, p: Pipeline) -> None:
        """The broker died with its log: the events it acknowledged that Bronze had not read
        are gone with it. In this order:
        1. kill the relay (before any new broker exists, so nothing it publishes from now on
           is acknowledged: whatever the outbox got after `until` is still unconfirmed in the
           slot) and Bronze (its batches are idempotent; its position is in a lost topic);
        2. plan the replay: from the oldest outbox row created up to `until` whose event_id
           Bronze has not landed (ingest.orders.replay);
        3. start a broker on a new, empty log (the same port when free) with the topic, and
           Bronze with its checkpoint reset, so it reads the new topic from its start;
        4. publish the plan's rows, then restart the relay (it resumes from the slot);
        5. say it in one line. Silver drops the events Bronze gets twice by event_id."""
        detected = time.monotonic()
        until = datetime.now(UTC)
        lost = p.broker
        self.report.broker_restarts += 1
        self.report.logs_lost += 1
        self._count_restart("broker")
        p.relay.kill()
        p.bronze.kill()
        p.topic_end.close()
        self.bronze_base = bronze_rows(self.data.bronze_table)
        plan = replay.make_plan(p.dsn, self.data.bronze_table, until)
        broker.remove_log(self.data)  # whatever is left of it
        p.broker = broker.restart(lost, data=self.data)
        self._adopt_broker_address(p)  # the relay and Bronze are down; they start with it below
        p.bronze.args = ingest_command(
            "bronze", "--trigger-interval", self.options.bronze_trigger, "--reset-checkpoint"
        )
        p.bronze.start()  # its SparkSession starts while the replay publishes
        p.bronze.args = ingest_command("bronze", "--trigger-interval", self.options.bronze_trigger)
        try:
            result = replay.publish(p.dsn, p.kafka, plan, until, self.kafka_log)
        except replay.ReplayError as exc:
            raise RuntimeError(f"run: the broker's log was lost and the outbox replay failed: {exc}") from exc
        p.relay.start()
        self.report.replayed += result.published
        self.report.bronze_before_loss = self.bronze_base
        seconds = self._broker_back(p, detected)
        self.say(
            f"run: the broker (pid {lost.pid}) died and its log is gone; new broker on "
            f"{p.broker.bootstrap_servers} in {seconds:.1f}s; {result.summary()}; relay and Bronze "
            "restarted (Bronze reads the new topic from its start)"
        )

    def _compact_bronze_when_due(self, now: float) -> None:
        """Bronze compaction in a child process on its cadence (ingest.bronze.maintenance): the
        ingester keeps appending meanwhile; a failure is said once and retried next time."""
        every, child = self.options.compact_every_s, self.compactor
        running = child is not None and child.proc is not None and child.poll() is None
        if not every or child is None or now < self.next_compact or running:
            return
        if child.proc is not None and child.poll() != 0:
            self.say(f"run: Bronze compaction failed ({child.poll()}): {child.tail(1)}")
        self.next_compact = now + every
        if delta_table_exists(self.data.bronze_table):
            child.start()

    def _start_clock_once_bronze_exists(self, dbt: DbtScheduler, now: float) -> None:
        if not dbt.clock_started and delta_table_exists(self.data.bronze_table):
            dbt.start_clock(now)

    def _take_finished_run(self, dbt: DbtScheduler) -> None:
        finished = dbt.poll()
        if finished is None:
            return
        fresh = None
        if finished.fct_built:
            self.fresh.record(finished)
            self.report.gold_runs.append((finished.seconds, len(self.fresh.last)))
            fresh = Freshness.percentiles(self.fresh.last)
        self._record(
            "dbt-runs.jsonl",
            ended_at=finished.ended_at.isoformat() if finished.ended_at else None,
            layers=list(finished.layers),
            seconds=round(finished.seconds, 3),
            ok=finished.ok,
            gold_lines_added=len(self.fresh.last) if finished.fct_built else None,
            fresh_p50=fresh[0] if fresh else None,
            fresh_p95=fresh[1] if fresh else None,
        )
        if finished.ok and self.options.api_port:
            self._publish()
        elif not finished.ok:
            failed = sorted(name for name, status in finished.nodes.items() if status != "success")
            self.say(
                f"run: dbt run of {'+'.join(finished.layers)} failed ({', '.join(failed)}); "
                f"see {dbt.worker.log_path}"
            )

    def _publish(self) -> None:
        """A read-only copy of the warehouse for the API (and the dashboard behind it), now that
        dbt has let go of it; without the API nobody reads it, and a copy of the whole file
        after every run would cost more as the warehouse grows."""
        try:
            serving.publish(self.data.warehouse)
        except Exception as exc:  # the API keeps the previous copy; the run goes on
            self.say(f"run: could not publish the warehouse for the API: {_first_line(exc)}")

    def _launch_due_runs(self, dbt: DbtScheduler, now: float) -> None:
        if dbt.busy or self.drain_deadline is not None:
            return
        layers = dbt.due(now)
        if layers:
            dbt.launch(layers, now)

    def _finished(self, p: Pipeline, now: float) -> bool:
        """A timed run is finished once, after the simulator, everything has caught up (or the
        drain timeout has passed); the final status line is printed then."""
        if self.drain_deadline is None:
            if not (self.options.duration_s and p.simulator.poll() == 0):
                return False
            self.drain_deadline = now + self.options.drain_timeout_s
            self.report.orders_per_s = count_orders(p.dsn)[0] / max(now - self.simulating_since, 1e-9)
            self.say("run: simulator done; waiting for relay, Bronze, Silver and Gold to catch up")
        try:
            caught_up = self._caught_up(p)
        except Exception:  # a measurement failed (e.g. the broker just died): not caught up yet
            caught_up = False
        if not (caught_up or now > self.drain_deadline):
            return False
        if now > self.drain_deadline:
            self.say("run: did not catch up within the drain timeout")
        self._print_status(p)
        return True

    def _caught_up(self, p: Pipeline) -> bool:
        """After the simulator: everything in the outbox relayed, landed, and in Gold."""
        if p.dbt.busy:
            return False
        if lag(p.dsn).rows:
            return False
        orders, lines = count_orders(p.dsn)
        in_topic = p.topic_end.total()
        landed = bronze_rows(self.data.bronze_table)
        # every line in the topic (or landed from a lost one), and Bronze at the topic's end
        if self.bronze_base + in_topic < lines or landed - self.bronze_base < in_topic:
            return False
        if self._drain_for == landed and p.dbt.finished >= self._drain_run:
            self.report.orders, self.report.lines = orders, lines
            self.report.topic_events, self.report.bronze_rows = in_topic, landed
            self.report.gold_lines = gold_lines(self.data.warehouse)
            return True
        # One more Silver + Gold run over everything landed.
        self._drain_for, self._drain_run = landed, p.dbt.finished + 1
        p.dbt.launch(LAYERS, time.monotonic())
        return False

    def _report_freshness(self) -> None:
        pct = self.fresh.all.percentiles()
        if pct:
            self.report.freshness_p50, self.report.freshness_p95 = pct
        self.report.freshness_samples = len(self.fresh.all)
        pct = self.fresh.steady.percentiles()
        if pct:
            self.report.steady_p50, self.report.steady_p95 = pct
        self.report.steady_samples = len(self.fresh.steady)

    # ------------------------------------------------------------------------ the status line
    def _print_status(self, p: Pipeline) -> None:
        now = time.monotonic()
        self.status_numbers = {}
        parts = [
            datetime.now(UTC).strftime("%H:%M:%S"),
            *self._orders_status(p.dsn, now),
            self._bronze_status(p.topic_end),
            *(self._run_status(p.dbt, layer) for layer in LAYERS),
            self._freshness_status(),
        ]
        self.last_orders_at = now
        line = " | ".join(parts)
        self.report.status_lines.append(line)
        self.say(line)
        self._record("status.jsonl", at=datetime.now(UTC).isoformat(), line=line, **self.status_numbers)

    def _record(self, name: str, **fields: object) -> None:
        """One JSON line in data/run/<name>: what the status line and each dbt run said, for
        tools that follow a run (`make soak`). A write that fails never stops the run."""
        try:
            with open(self.data.run / name, "a") as out:
                out.write(json.dumps(fields) + "\n")
        except OSError:
            pass

    def _orders_status(self, dsn: str, now: float) -> list[str]:
        parts = []
        try:
            orders, lines = count_orders(dsn)
            rate = (orders - self.last_orders) / max(now - self.last_orders_at, 1e-9)
            self.last_orders = orders
            self.status_numbers.update(orders=orders, lines=lines, orders_per_s=round(rate, 2))
            parts.append(f"orders {rate:5.1f}/s ({orders:,} / {lines:,} lines)")
            relay_lag = lag(dsn)
            self.status_numbers.update(relay_lag_rows=relay_lag.rows, relay_lag_s=round(relay_lag.seconds, 2))
            parts.append(f"relay lag {relay_lag.rows:,} rows {relay_lag.seconds:.1f}s")
        except Exception as exc:  # the status line reports, it never stops the run
            parts.append(f"orders db: {_first_line(exc)}")
        return parts

    def _bronze_status(self, topic_end: TopicEnd) -> str:
        try:
            in_topic, landed = topic_end.total(), bronze_rows(self.data.bronze_table)
        except Exception as exc:
            return f"bronze: {_first_line(exc)[:80]}"
        behind = max(in_topic - (landed - self.bronze_base), 0)
        self.status_numbers.update(topic_events=in_topic, bronze_landed=landed, bronze_lag=behind)
        return f"bronze lag {behind:,} ev ({landed:,} landed)"

    @staticmethod
    def _run_status(dbt: DbtScheduler, layer: str) -> str:
        last = dbt.last.get(layer)
        return f"{layer} {_hms(last.ended_at)} ({last.seconds:.1f}s)" if last else f"{layer} -"

    def _freshness_status(self) -> str:
        pct = Freshness.percentiles(self.fresh.last)
        if pct:
            return f"fresh p50 {pct[0]:.1f}s p95 {pct[1]:.1f}s ({len(self.fresh.last):,} lines)"
        if self.fresh.error:
            return f"fresh n/a ({self.fresh.error[:60]})"
        return "fresh -"


def _hms(moment: datetime | None) -> str:
    return moment.strftime("%H:%M:%S") if moment else "-"


def _first_line(exc: BaseException) -> str:
    """An exception in one line: its message's first line, else its type (a TimeoutError
    from a Kafka client has no message)."""
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _kafka_clients_log(path) -> logging.Logger:
    """Where the runner's own Kafka clients log (librdkafka's lines and errors): a file in
    data/run, never the console."""
    log = logging.getLogger("ingest.runner.kafka_clients")
    log.propagate = False
    log.setLevel(logging.INFO)
    for handler in list(log.handlers):
        log.removeHandler(handler)
        handler.close()
    handler = logging.FileHandler(path)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
    log.addHandler(handler)
    return log


def main(options: RunnerOptions, data: DataDir | None = None) -> int:
    runner = Runner(options, data)
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
        topic = f"topic {report.topic_events:,} events"
        if report.broker_restarts > report.logs_lost:
            n = report.broker_restarts - report.logs_lost
            topic += f" (the broker restarted on its log {n} time{'s' if n > 1 else ''}, nothing lost)"
        if report.logs_lost:
            n = report.logs_lost
            losses = "1 lost broker log" if n == 1 else f"{n} lost broker logs"
            topic += (
                f" in the new topic (after {losses}: {report.replayed:,} outbox events replayed into it, "
                f"{report.bronze_before_loss:,} Bronze rows from the lost one)"
            )
        print(
            f"run: {report.orders:,} orders ({report.lines:,} lines) at {report.orders_per_s:.1f} orders/s; "
            f"{topic}, Bronze {report.bronze_rows:,}, "
            f"Gold fct_sales_lines {report.gold_lines:,}; freshness {pct}; {report.seconds:.0f}s in all",
            flush=True,
        )
    return 0 if report.dbt_failures == 0 else 1
