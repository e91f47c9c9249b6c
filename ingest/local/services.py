"""What the project's local services (the broker, the orders database) share: a PID file
under `data/run`, a liveness check, and stopping a process by its own PID, politely first."""

from __future__ import annotations

import contextlib
import os
import signal
import time
from collections.abc import Iterable
from pathlib import Path

from ingest.paths import DataDir


def run_dir(data: DataDir) -> Path:
    """`data/run` of the data directory passed in, else of the one LAKEHOUSE_DATA_DIR names."""
    path = data.run
    path.mkdir(parents=True, exist_ok=True)
    return path


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie child still answers kill(0); treat it as gone.
    with contextlib.suppress(ChildProcessError):
        done, _ = os.waitpid(pid, os.WNOHANG)
        if done == pid:
            return False
    return True


def rss_mb(pid: int) -> float:
    """A process's resident memory in MB (0 when it is gone)."""
    try:
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def record(name: str, pid: int, port: int, data: DataDir) -> None:
    """Write `data/run/<name>.pid`: the PID and port of a service this project started."""
    (run_dir(data) / f"{name}.pid").write_text(f"{pid} {port}\n")


def recorded(name: str, data: DataDir) -> tuple[int, int] | None:
    """(PID, port) of the service recorded under `name` if it still runs; a stale file is removed."""
    pid_file = run_dir(data) / f"{name}.pid"
    if not pid_file.exists():
        return None
    pid_text, port_text = pid_file.read_text().split()
    if not pid_alive(int(pid_text)):
        pid_file.unlink(missing_ok=True)
        return None
    return int(pid_text), int(port_text)


def forget(name: str, data: DataDir) -> None:
    (run_dir(data) / f"{name}.pid").unlink(missing_ok=True)


def terminate(pid: int, steps: Iterable[tuple[signal.Signals, float]]) -> None:
    """Send each signal in turn, waiting up to its seconds for the process to go; SIGKILL last."""
    for sig, wait_s in (*steps, (signal.SIGKILL, 5.0)):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, sig)
        deadline = time.monotonic() + wait_s
        while time.monotonic() < deadline and pid_alive(pid):
            time.sleep(0.1)
        if not pid_alive(pid):
            return
