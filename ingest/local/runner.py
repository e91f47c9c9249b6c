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
the relay, and say so in one line (ingest.local.recovery). Each recovery is one line on the
console. With `--duration` it stops placing orders after that many seconds, lets the relay,
Bronze, Silver and Gold catch up, and prints the final counts (used by the tests and the
benchmark).

The runner composes small parts, each holding its own state: options
(ingest.local.run_options), what was started (ingest.local.pipeline), child processes
(ingest.local.processes), supervision and recovery (ingest.local.recovery), the dbt worker
(ingest.local.dbt) and when it runs (ingest.local.schedule), what is measured
(ingest.local.measure), and what it says (ingest.local.status: the status line, the JSON
records, the final report).
"""

from __future__ import annotations

import logging
import os
import signal
import sys
import time

from ingest.config import KafkaConfig, Settings
from ingest.errors import first_line
from ingest.local import broker, serving
from ingest.local.dbt import DbtWorker
from ingest.local.measure import Freshness, TopicEnd, bronze_rows, count_orders, gold_lines
from ingest.local.pipeline import Pipeline
from ingest.local.processes import Child, cap_logs, ingest_command
from ingest.local.recovery import Recovery
from ingest.local.run_options import RunnerOptions
from ingest.local.schedule import LAYERS, DbtScheduler
from ingest.local.status import RunReport, Status
from ingest.orders import migrate, postgres
from ingest.orders.outbox import lag
from ingest.paths import DeltaCommits, delta_table_exists

TICK_S = 0.2
# each log in data/run is kept under this size (the previous part in <name>.log.1)
LOG_CAP_BYTES = 20 * 1024 * 1024
# a timed run's catch-up gets this much longer after a broker loss (Bronze restarts)
BROKER_LOSS_DRAIN_S = 90.0


class Runner:
    def __init__(self, options: RunnerOptions, settings: Settings) -> None:
        self.options = options
        self.settings = settings
        self.data = data = settings.data
        self.stopping = False
        self.report = RunReport()
        self.status = Status(data.run, data.bronze_table, Freshness(data.warehouse), self.report, self.say)
        # what has been started, stopped in this order: children (simulator, relay, Bronze, ...), dbt
        self.children: list[Child] = []
        self.dbt: DbtScheduler | None = None
        self.pipeline: Pipeline | None = None  # once everything runs
        self.recovery: Recovery | None = None
        self.next_compact = 0.0
        self.next_status = 0.0
        self.simulating_since = 0.0
        # a timed run's catch-up, once its simulator is done
        self.drain_deadline: float | None = None
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
        self.status.clear_records()
        kafka_log = _kafka_clients_log(self.data.run / "runner-kafka.log")
        self.recovery = Recovery(self.data, self.options.bronze_trigger, self.report, self.say, kafka_log)
        previous = {s: signal.signal(s, self._signal) for s in (signal.SIGINT, signal.SIGTERM)}
        started = time.monotonic()
        self._refuse_services_already_running()
        self.reset_state()
        try:
            self.pipeline = self._start(kafka_log)
            self._loop(self.pipeline)
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

    def _start(self, kafka_log: logging.Logger) -> Pipeline:
        """Broker, orders database, relay and Bronze, dbt (parse and seed), then the simulator."""
        opts = self.options
        b = broker.start(data=self.data, retention=self.settings.retention)
        pg = postgres.start(data=self.data)
        migrate.apply(pg.dsn())
        migrate.ensure_slot(pg.dsn(), postgres.SLOT)
        self.say(
            f"run: broker {b.bootstrap_servers} (pid {b.pid}), orders database {pg.dsn()} (pid {pg.pid})"
        )
        kafka = self.settings.on_broker(b.bootstrap_servers).kafka
        env = self._child_env(kafka, pg.dsn())
        simulator = Child("simulator", ingest_command(*self._simulate_args()), env, self.data.run)
        relay_args = ("orders", "relay", "--retention-minutes", f"{opts.outbox_retention_minutes:g}")
        relay = Child("relay", ingest_command(*relay_args), env, self.data.run)
        bronze = Child(
            "bronze", ingest_command("bronze", "--trigger-interval", opts.bronze_trigger), env, self.data.run
        )
        compact_args = ("compact", "--retention-hours", f"{opts.compact_retention_hours:g}")
        compactor = Child("compact", ingest_command(*compact_args), env, self.data.run)
        self.children = [simulator, relay, bronze, compactor]
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
        return Pipeline(
            pg.dsn(),
            simulator,
            relay,
            bronze,
            compactor,
            self.dbt,
            TopicEnd(kafka, kafka_log),
            b,
            pg,
            kafka,
            env,
            api=api,
            dashboard=dashboard,
        )

    def _child_env(self, kafka: KafkaConfig, dsn: str) -> dict[str, str]:
        """The children's environment: ours, plus where the data, the broker and the orders are."""
        return {
            "PYSPARK_PYTHON": sys.executable,  # their Spark workers' interpreter, unless ours names one
            **os.environ,
            **self.data.env(),
            "KAFKA_BOOTSTRAP_SERVERS": kafka.bootstrap_servers,
            "ORDERS_DATABASE_DSN": dsn,
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
        if self.pipeline is not None:
            self.pipeline.topic_end.close()
        postgres.stop(self.data)
        broker.stop(self.data)

    # ------------------------------------------------------------------------ the loop
    def _loop(self, p: Pipeline) -> None:
        now = time.monotonic()
        self.next_status = now + self.options.status_every_s
        self.next_compact = now + self.options.compact_every_s
        self.simulating_since = now
        self.status.last_orders_at = now  # the first status line's orders/s counts from here
        while not self.stopping:
            now = time.monotonic()
            away = self.recovery.watch(p)
            if away and self.drain_deadline is not None:
                self.drain_deadline += away + BROKER_LOSS_DRAIN_S
            self._compact_bronze_when_due(p.compactor, now)
            self._start_clock_once_bronze_exists(p.dbt, now)
            self._take_finished_run(p.dbt)
            self._launch_due_runs(p.dbt, now)
            if now >= self.next_status:
                self.next_status = now + self.options.status_every_s
                self.status.print_line(p)
                cap_logs(self.data.run, LOG_CAP_BYTES)
            if self._finished(p, now):
                break
            time.sleep(TICK_S)
        self.status.report_freshness()
        self.report.dbt_failures = p.dbt.failures

    def _compact_bronze_when_due(self, child: Child, now: float) -> None:
        """Bronze compaction in a child process on its cadence (ingest.bronze.maintenance): the
        ingester keeps appending meanwhile; a failure is said once and retried next time."""
        every = self.options.compact_every_s
        running = child.proc is not None and child.poll() is None
        if not every or now < self.next_compact or running:
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
        self.status.record_run(finished)
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
            self.say(f"run: could not publish the warehouse for the API: {first_line(exc)}")

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
            try:  # the report says what there is, not zeros
                self._count(count_orders(p.dsn), p.topic_end.total(), bronze_rows(self.data.bronze_table))
            except Exception as exc:
                self.say(f"run: could not count what went through: {first_line(exc)}")
        self.status.print_line(p)
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
        if p.bronze_base + in_topic < lines or landed - p.bronze_base < in_topic:
            return False
        if self._drain_for == landed and p.dbt.finished >= self._drain_run:
            self._count((orders, lines), in_topic, landed)
            return True
        # One more Silver + Gold run over everything landed.
        self._drain_for, self._drain_run = landed, p.dbt.finished + 1
        p.dbt.launch(LAYERS, time.monotonic())
        return False

    def _count(self, orders_lines: tuple[int, int], in_topic: int, landed: int) -> None:
        """The final report's counts: orders and lines, the topic, Bronze and Gold."""
        self.report.orders, self.report.lines = orders_lines
        self.report.topic_events, self.report.bronze_rows = in_topic, landed
        self.report.gold_lines = gold_lines(self.data.warehouse)


def _kafka_clients_log(path) -> logging.Logger:
    """Where the runner's own Kafka clients log (librdkafka's lines and errors): a file in
    data/run, never the console."""
    log = logging.getLogger("ingest.local.runner.kafka_clients")
    log.propagate = False
    log.setLevel(logging.INFO)
    for handler in list(log.handlers):
        log.removeHandler(handler)
        handler.close()
    handler = logging.FileHandler(path)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
    log.addHandler(handler)
    return log


def main(options: RunnerOptions, settings: Settings) -> int:
    runner = Runner(options, settings)
    try:
        report = runner.run()
    except RuntimeError as exc:
        print(str(exc), file=sys.stderr)
        return 1
    if options.duration_s:
        print(report.summary(), flush=True)
    return 0 if report.dbt_failures == 0 else 1
