"""When dbt runs, one run at a time: Silver and Gold each on its own cadence, or (fast mode)
both as soon as Bronze has committed something since the last run started.

On cadences, layers due together run in one invocation (Gold after Silver, by the DAG). A run
that starts late moves its layer's next time on from the run, not from the missed slot, so a
stall is followed by at most one catch-up run, not one per interval missed.

When data lands (`landed`: Bronze's Delta version, read in microseconds), a run of both layers
starts once the version has moved past the one the previous run started on and that run has
ended: no fixed wait, and no run at all while nothing lands.

What a run builds: a layer's first successful run in the worker's life builds all of it; later
runs build what new Bronze rows can change, the tables, incremental models and snapshots
downstream of the Bronze source, and the models tagged every_run (a view whose post-hook
checks the fail rules). A view's SQL is fixed by the worker's parse, so the first run made it
for good, and the models that read only seeds (dim_country) cannot change either.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol

LAYERS = ("silver", "gold")
BRONZE_SOURCE = "source:bronze.sales_transactions+"
NOT_BUILT = ("resource_type:test", "resource_type:unit_test")
# no run_results.json or manifest.json after each run (a quarter of a second of a run with
# nothing new on 2 cores): the worker reads each run's result from dbt's return value, and the
# semantic manifest the API reads is the one the worker's parse wrote
NO_ARTIFACTS = "--no-write-json"


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
    """What the scheduler needs of a dbt worker (ingest.local.dbt.DbtWorker)."""

    log_path: Path

    def send(self, *args: str) -> None: ...

    def answer_now(self) -> dict | None: ...

    def stop(self, command_running: bool) -> None: ...


def build_args(layers: tuple[str, ...], built_before: set[str]) -> tuple[str, ...]:
    """The `dbt build` of `layers`: without the data tests (models and, for Gold, the SCD2
    snapshots, which a plain `dbt run` would never take; tests belong to `make test` and the
    scheduled jobs), and for layers `built_before` by this worker only what Bronze feeds, less
    the views but those tagged every_run (module docstring)."""
    if not all(layer in built_before for layer in layers):
        return (
            "build",
            NO_ARTIFACTS,
            "--select",
            *[f"tag:{layer}" for layer in layers],
            "--exclude",
            *NOT_BUILT,
        )
    lean = [
        f"{BRONZE_SOURCE},tag:{layer},{kind}"
        for layer in layers
        for kind in ("config.materialized:incremental", "config.materialized:table", "resource_type:snapshot")
    ]
    return (
        "build",
        NO_ARTIFACTS,
        "--select",
        *lean,
        *[f"tag:every_run,tag:{layer}" for layer in layers],
        "--exclude",
        *NOT_BUILT,
    )


class DbtScheduler:
    """Silver and Gold in one dbt worker, on their cadences or, given `landed` (a reading of
    Bronze's commit version), whenever Bronze has committed since the last run started; the
    clock starts on `start_clock`."""

    def __init__(
        self,
        worker: Worker,
        silver_every_s: float,
        gold_every_s: float,
        landed: Callable[[], int] | None = None,
    ) -> None:
        self.worker = worker
        self.every = {"silver": silver_every_s, "gold": gold_every_s}
        self.landed = landed
        self.launched_version = -1  # the Bronze version the last run started on
        self.built: set[str] = set()  # layers built successfully at least once by this worker
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
        """The layers due at `now`, Silver before Gold; none before the clock starts. When data
        lands: both, if Bronze's version has moved since the last run started."""
        if self.landed is not None:
            if self.clock_started and self.landed() > self.launched_version:
                return LAYERS
            return ()
        return tuple(layer for layer in LAYERS if layer in self.next_due and now >= self.next_due[layer])

    def launch(self, layers: tuple[str, ...], now: float) -> None:
        """Start a run of `layers` and move each one's next time on by its interval."""
        if self.landed is not None:
            self.launched_version = self.landed()  # read before the run: what lands later is new
        self.current = DbtRun(layers, datetime.now(UTC))
        self._current_started = time.monotonic()
        self.worker.send(*build_args(layers, self.built))
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
                self.built.add(layer)
        else:
            self.failures += 1
        return run

    def stop(self) -> None:
        """Let a run in progress finish (up to a minute), then end the worker."""
        self.worker.stop(command_running=self.busy)
