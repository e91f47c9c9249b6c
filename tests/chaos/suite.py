"""The chaos suite's plans (full: `make chaos`; quick: `make test`) and the order it runs in."""

from __future__ import annotations

import random
import traceback
from collections.abc import Callable
from pathlib import Path

from ingest.paths import DataDir

from .bronze import BronzeRig, disk_full_trial, kill_trials
from .dbt_kill import dbt_kill_trials
from .pipeline import kill_under_make_run
from .results import Fault

POINTS = ("bronze.delta_commit", "bronze.after_commit")
FULL = {
    "bronze_per_point": 8,
    "disk_rounds": 3,
    "dbt": 4,
    "run": ["relay", "bronze", "postgres", "relay"] + ["broker", "relay", "bronze", "postgres"],
}
QUICK = {"bronze_per_point": 1, "disk_rounds": 1, "dbt": 1, "run": ["relay", "postgres", "bronze"]}


PARTS = ("bronze", "dbt", "disk", "run")


def run_suite(root: Path, plan: dict, rnd: random.Random, parts: tuple[str, ...] = PARTS) -> list[Fault]:
    faults: list[Fault] = []

    def done(name: str, trial: Callable[[], Fault]) -> None:
        try:
            fault = trial()
        except Exception as exc:  # the suite goes on; the table says what failed
            traceback.print_exc()
            fault = Fault(name, notes=[f"FAILED: {str(exc).splitlines()[0][:200]}"])
        faults.append(fault)
        print(
            f"chaos: {fault.name}: {fault.trials} trials, {fault.events:,} events, "
            f"{fault.lost} lost, {fault.duplicated} duplicated",
            flush=True,
        )

    with BronzeRig.started(DataDir(root / "bronze")) as rig:
        rig.publish(2_000)
        if "bronze" not in parts:
            pass
        elif plan["bronze_per_point"] > 1:  # a row per point
            for point in POINTS:
                done(
                    f"Bronze SIGKILL at {point}",
                    lambda p=point: kill_trials(rig, (p,), plan["bronze_per_point"], rnd),
                )
        else:
            done("Bronze SIGKILL", lambda: kill_trials(rig, POINTS, 1, rnd))
        if "dbt" in parts:
            done("dbt SIGKILL", lambda: dbt_kill_trials(rig, plan["dbt"], rnd))
    if "disk" in parts:
        done("Bronze disk full", lambda: disk_full_trial(root / "disk", plan["disk_rounds"]))
    if "run" in parts:
        done("make run SIGKILLs", lambda: kill_under_make_run(root / "run", plan["run"]))
    return faults
