"""The chaos suite, bounded (`make chaos` runs it in full, with many more trials): each fault
injected for real, then the books counted. Nothing may be lost or duplicated, and every
trial must have happened (a kill that never came would prove nothing)."""

from __future__ import annotations

import random
import shutil
import tempfile
from pathlib import Path

import pytest

from ingest.paths import DataDir
from tests.chaos.bronze import BronzeRig, disk_full_trial, kill_trials
from tests.chaos.dbt_kill import dbt_kill_trials
from tests.chaos.pipeline import kill_under_make_run
from tests.chaos.results import Fault, table
from tests.chaos.suite import POINTS, QUICK

pytestmark = pytest.mark.integration


@pytest.fixture
def chaos_root():
    root = Path(tempfile.mkdtemp(prefix="lakehouse-chaos-test-", dir="/tmp"))
    root.chmod(0o755)  # PostgreSQL runs as its own user when the tests run as root
    yield root
    shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def rnd():
    seed = random.randrange(1 << 30)
    print(f"chaos seed {seed}")
    return random.Random(seed)


def nothing_lost(fault: Fault, trials: int) -> None:
    print("\n" + table([fault]))
    assert fault.trials == trials, f"{fault.trials} of {trials} trials happened"
    assert fault.events > 0
    assert (fault.lost, fault.duplicated) == (0, 0), table([fault])


def test_bronze_killed_while_reading_and_committing_and_before_checkpointing(chaos_root, rnd):
    with BronzeRig.started(DataDir(chaos_root / "bronze")) as rig:
        rig.publish(2_000)
        fault = kill_trials(rig, POINTS, QUICK["bronze_per_point"], rnd)
    nothing_lost(fault, len(POINTS) * QUICK["bronze_per_point"])
    # the after-commit point kills between the Delta commit and the checkpoint every time
    assert "after the Delta commit" in fault.notes[0], fault.notes


def test_dbt_killed_mid_model_leaves_a_usable_warehouse_and_balanced_books(chaos_root, rnd):
    with BronzeRig.started(DataDir(chaos_root / "dbt")) as rig:
        fault = dbt_kill_trials(rig, QUICK["dbt"], rnd)
    nothing_lost(fault, QUICK["dbt"])


def test_bronze_disk_full_says_so_writes_nothing_half_and_resumes(chaos_root):
    fault = disk_full_trial(chaos_root, QUICK["disk_rounds"])
    nothing_lost(fault, QUICK["disk_rounds"])
    assert "no space left on device for" in fault.notes[0]


def test_relay_postgres_and_bronze_killed_under_make_run(chaos_root):
    fault = kill_under_make_run(chaos_root / "run", QUICK["run"])
    nothing_lost(fault, len(QUICK["run"]))
