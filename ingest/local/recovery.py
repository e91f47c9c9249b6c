"""The local runner's supervision: what it does when part of the pipeline dies.

A relay or a Bronze ingester that exits is restarted (the relay resumes from its slot, Bronze
from its checkpoint, its batches idempotent). PostgreSQL, if it dies, is started again on its
port (crash recovery; the relay and the simulator reconnect by themselves). A broker that dies
is started again on its log (data/kafka): nothing it acknowledged is lost, Bronze resumes from
its checkpoint. Only when the log itself is gone is a new broker started, Bronze restarted on
the new topic from its start, and what Bronze lacks published again from the outbox (the relay
keeps published rows for `--outbox-retention-minutes`; ingest.orders.replay). Each recovery is
one line on the console; each kind may happen a few times (MAX_RESTARTS) before the run gives
up. The API exiting, or the simulator failing, ends the run.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime

from ingest.config import KafkaConfig
from ingest.local import broker, services
from ingest.local.broker_setup import log_present
from ingest.local.measure import TopicEnd, bronze_rows
from ingest.local.pipeline import Pipeline
from ingest.local.processes import ingest_command
from ingest.local.status import RunReport
from ingest.orders import postgres, replay
from ingest.paths import DataDir

# how often a child (or PostgreSQL, or the broker) may die before the run gives up
MAX_RESTARTS = {"relay": 5, "bronze": 5, "postgres": 3, "broker": 3}
RESTART_LINE = {
    "relay": "the relay exited; restarting it (it resumes from its replication slot)",
    "bronze": "the Bronze ingester exited; restarting it (it resumes from its checkpoint, and a "
    "batch it had already written is skipped, not written twice)",
}


class Recovery:
    def __init__(
        self,
        data: DataDir,
        bronze_trigger: str,
        report: RunReport,
        say: Callable[[str], None],
        kafka_log: logging.Logger | None,
    ) -> None:
        self.data = data
        self.bronze_trigger = bronze_trigger
        self.report = report
        self.say = say
        self.kafka_log = kafka_log
        self.restarts = dict.fromkeys(MAX_RESTARTS, 0)

    def watch(self, p: Pipeline) -> float:
        """Recover whatever died since the last look. Returns the seconds the broker was away
        (0 when it did not die): a timed run gives its catch-up that much longer."""
        if not services.pid_alive(p.broker.pid):
            return self._broker_lost(p)
        if not services.pid_alive(p.pg.pid):
            self._database_lost(p)
        for child in (p.relay, p.bronze):
            if child.poll() is not None:
                self._count(child.name, child.tail())
                self.say(f"run: {RESTART_LINE[child.name]}; exit code {child.poll()}: {child.last_words()}")
                child.start()
        if p.api is not None and p.api.poll() is not None:
            raise RuntimeError(f"run: the analytics API exited ({p.api.poll()}):\n{p.api.tail()}")
        if p.simulator.poll() not in (None, 0):
            raise RuntimeError(f"run: simulator failed; last lines:\n{p.simulator.tail()}")
        return 0.0

    def _count(self, name: str, details: str = "") -> None:
        self.restarts[name] += 1
        if self.restarts[name] > MAX_RESTARTS[name]:
            raise RuntimeError(f"run: {name} died {self.restarts[name]} times; stopping\n{details}".rstrip())

    def _database_lost(self, p: Pipeline) -> None:
        """PostgreSQL died (killed, out of memory): start it again from its data directory on
        the same port. Its crash recovery replays the WAL, so every committed order, the outbox
        and the replication slot are back; the relay and the simulator retry their connections
        until it answers, and nothing they had not committed was confirmed."""
        detected = time.monotonic()
        lost = p.pg
        self._count("postgres")
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

    def _broker_lost(self, p: Pipeline) -> float:
        """The broker died. Its log is on disk (data/kafka): when it is still there, the broker
        starts again on it (same port when free) and nothing it acknowledged is lost; the relay's
        producer retries what was unacknowledged, Bronze resumes from its checkpoint (restarted
        if its query gave up meanwhile). One line says so. Only a lost log (the folder gone, or
        a new disk) needs the outbox: `_log_lost`."""
        if not log_present(self.data):
            return self._log_lost(p)
        detected = time.monotonic()
        lost = p.broker
        self.report.broker_restarts += 1
        self._count("broker")
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
        return seconds

    def _adopt_broker_address(self, p: Pipeline) -> bool:
        """After a restart on a new port: children started from now on are told. Whether it moved."""
        if p.broker.bootstrap_servers == p.kafka.bootstrap_servers:
            return False
        p.kafka = KafkaConfig(bootstrap_servers=p.broker.bootstrap_servers, topic=p.kafka.topic)
        p.env["KAFKA_BOOTSTRAP_SERVERS"] = p.kafka.bootstrap_servers
        return True

    def _broker_back(self, p: Pipeline, detected: float) -> float:
        """The runner's own view of the topic again: the seconds the broker was away."""
        p.topic_end = TopicEnd(p.kafka, self.kafka_log)
        return time.monotonic() - detected

    def _log_lost(self, p: Pipeline) -> float:
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
        self._count("broker")
        p.relay.kill()
        p.bronze.kill()
        p.topic_end.close()
        p.bronze_base = bronze_rows(self.data.bronze_table)
        plan = replay.make_plan(p.dsn, self.data.bronze_table, until)
        broker.remove_log(self.data)  # whatever is left of it
        p.broker = broker.restart(lost, data=self.data)
        self._adopt_broker_address(p)  # the relay and Bronze are down; they start with it below
        p.bronze.args = ingest_command(
            "bronze", "--trigger-interval", self.bronze_trigger, "--reset-checkpoint"
        )
        p.bronze.start()  # its SparkSession starts while the replay publishes
        p.bronze.args = ingest_command("bronze", "--trigger-interval", self.bronze_trigger)
        try:
            result = replay.publish(p.dsn, p.kafka, plan, until, self.kafka_log)
        except replay.ReplayError as exc:
            raise RuntimeError(f"run: the broker's log was lost and the outbox replay failed: {exc}") from exc
        p.relay.start()
        self.report.replayed += result.published
        self.report.bronze_before_loss = p.bronze_base
        seconds = self._broker_back(p, detected)
        self.say(
            f"run: the broker (pid {lost.pid}) died and its log is gone; new broker on "
            f"{p.broker.bootstrap_servers} in {seconds:.1f}s; {result.summary()}; relay and Bronze "
            "restarted (Bronze reads the new topic from its start)"
        )
        return seconds
