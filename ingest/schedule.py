"""When dbt runs: Silver and Gold each on its own cadence, one run at a time.

Layers due together run in one invocation (Gold after Silver, by the DAG). A run that starts
late moves its layer's next time on from the run, not from the missed slot, so a stall is
followed by at most one catch-up run, not one per interval missed.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol

LAYERS = ("silver", "gold")


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


class Worker(Protocol):
    """What the scheduler needs of a dbt worker (ingest.dbt.DbtWorker)."""

    log_path: Path

    def send(self, *args: str) -> None: ...

    def answer_now(self) -> dict | None: ...

    def stop(self, command_running: bool) -> None: ...


class DbtScheduler:
    """Silver and Gold on their cadences in one dbt worker; the clock starts on `start_clock`."""

    def __init__(self, worker: Worker, silver_every_s: float, gold_every_s: float) -> None:
        self.worker = worker
        self.every = {"silver": silver_every_s, "gold": gold_every_s}
        self.next_due: dict[str, float] = {}
        self.current: DbtRun | None = None
        self.last: dict[str, DbtRun] = {}  # the last successful run per layer
        self.failures = 0
        self.finished = 0
        self._current_started = 0.0

    @property
    def clock_started(self) -> bool:
        return bool(self.next_due)

    @property
    def busy(self) -> bool:
        return self.current is not None

    def start_clock(self, now: float) -> None:
        """Each layer is first due one of its intervals after `now`."""
        for layer, every in self.every.items():
            self.next_due[layer] = now + every

    def due(self, now: float) -> tuple[str, ...]:
        """The layers due at `now`, Silver before Gold; none before the clock starts."""
        return tuple(layer for layer in LAYERS if layer in self.next_due and now >= self.next_due[layer])

    def launch(self, layers: tuple[str, ...], now: float) -> None:
        """Start a run of `layers` and move each one's next time on by its interval."""
        self.current = DbtRun(layers, datetime.now(UTC))
        self._current_started = time.monotonic()
        # build without the data tests: models and, for Gold, the SCD2 snapshots (a plain
        # `dbt run` would never take them); tests belong to `make test` and the scheduled jobs
        self.worker.send(
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
        answer = self.worker.answer_now()
        if answer is None:
            return None
        if answer.get("exited"):
            raise RuntimeError(f"run: the dbt worker exited; see {self.worker.log_path}")
        run, self.current = self.current, None
        self.finished += 1
        run.seconds = time.monotonic() - self._current_started
        run.ended_at = datetime.now(UTC)
        run.ok = bool(answer.get("ok"))
        run.nodes = answer.get("nodes", {})
        if run.ok:
            for layer in run.layers:
                self.last[layer] = run
        else:
            self.failures += 1
        return run

    def stop(self) -> None:
        """Let a run in progress finish (up to a minute), then end the worker."""
        self.worker.stop(command_running=self.busy)
