"""dbt SIGKILLed in the middle of a model: the DuckDB file stays usable, the next build
completes, and every Bronze event is in Silver once (and accounted for once in Gold's terms)."""

from __future__ import annotations

import contextlib
import os
import random
import re
import signal
import subprocess
import time

import duckdb

from ingest.local.dbt import dbt_executable, profile_args
from ingest.paths import PROJECT_DIR

from .bronze import BATCH, BronzeRig
from .ledger import bronze_event_ids, silver_tally
from .results import Fault

MODEL_STARTED = re.compile(r"START sql (?:incremental|table|view) model (\S+)")


def dbt_build(rig: BronzeRig, *extra: str) -> subprocess.Popen:
    """`dbt build` on the rig's data directory, in its own session, its output piped."""
    target = rig.data.root / "dbt-target"
    rig.data.warehouse.parent.mkdir(parents=True, exist_ok=True)
    return subprocess.Popen(
        [
            dbt_executable(),
            "--no-use-colors",
            "build",
            *profile_args("local"),
            "--target-path",
            str(target),
            *extra,
        ],
        cwd=PROJECT_DIR,
        env={**rig.env(), "DBT_LOG_PATH": str(rig.log_dir)},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )


def kill_during_a_model(rig: BronzeRig, rnd: random.Random, models_before: int) -> str:
    """Start a build, SIGKILL it some time after the `models_before`+1-th model started;
    the name of the model that was running."""
    proc = dbt_build(rig)
    started = 0
    running = ""
    seen: list[str] = []
    for line in proc.stdout:
        seen.append(line)
        found = MODEL_STARTED.search(line)
        if found:
            started += 1
            running = found[1]
            if started > models_before:
                time.sleep(rnd.uniform(0.0, 0.8))
                break
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(30)
    assert running, "dbt started no model before it was killed:\n" + "".join(seen[-20:])
    return running


def usable(rig: BronzeRig) -> None:
    """The warehouse opens (DuckDB replays or discards its write-ahead log) and answers."""
    con = duckdb.connect(str(rig.data.warehouse))
    try:
        con.execute("select count(*) from information_schema.tables").fetchone()
    finally:
        con.close()


def dbt_kill_trials(rig: BronzeRig, trials: int, rnd: random.Random) -> Fault:
    """`trials` builds killed mid-model, each after new events landed in Bronze, then a
    complete build; the books counted against Bronze."""
    fault = Fault("dbt SIGKILL in the middle of a model")
    started = time.monotonic()
    killed_in: list[str] = []
    for trial in range(trials):
        rig.publish(3 * BATCH)
        assert rig.drain() == 0, f"Bronze drain failed: {rig.logs[-1]}"
        # the first build from empty, later ones incremental; a model early, late or in between
        killed_in.append(kill_during_a_model(rig, rnd, models_before=rnd.randint(0, 12 if trial else 4)))
        usable(rig)
        fault.trials += 1
        print(f"chaos: dbt kill {fault.trials} in {killed_in[-1]}; the DuckDB file opens", flush=True)
    build = dbt_build(rig)
    output = build.stdout.read()
    failed = [line.strip() for line in output.splitlines() if re.search(r"(Failure|Error) in ", line)]
    assert build.wait() == 0, f"the build after the kills failed: {'; '.join(failed)}\n{output[-3000:]}"
    tally = silver_tally(rig.data.warehouse, bronze_event_ids(rig.data.bronze_table))
    fault.events, fault.lost, fault.duplicated = tally.expected, tally.lost, tally.duplicated
    fault.seconds = time.monotonic() - started
    fault.notes.append("killed in " + ", ".join(killed_in) + "; each time the DuckDB file opened")
    fault.notes.append("the next build passed every test (the reconciliations included)")
    return fault
