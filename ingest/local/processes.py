"""The runner's child processes: each in its own session, logging to a file."""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import subprocess
import sys
from pathlib import Path

from ingest.paths import PROJECT_DIR


def ingest_command(*args: str) -> list[str]:
    """`python -m ingest ARGS...` with this interpreter."""
    return [sys.executable, "-m", "ingest", *args]


class Child:
    """A child process in its own session (Ctrl-C reaches the runner only), logging to
    `<log_dir>/<name>.log`, started with exactly `env` as its environment."""

    def __init__(self, name: str, args: list[str], env: dict[str, str], log_dir: Path) -> None:
        self.name = name
        self.args = args
        self.env = env
        self.log_path = log_dir / f"{name}.log"
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

    def kill(self) -> int | None:
        """SIGKILL its whole process group (a JVM included) and reap it: for a child whose
        work is safe to lose (the relay resumes from its slot, Bronze's batches are
        idempotent) when waiting for a clean stop would only cost time."""
        if self.proc is None:
            return None
        with contextlib.suppress(ProcessLookupError):  # the group, even if its leader is gone
            os.killpg(self.proc.pid, signal.SIGKILL)
        return self.proc.wait(timeout=30)

    def tail(self, lines: int = 15) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def last_words(self) -> str:
        """The child's last line of its own: librdkafka's log lines (`%4|...|rdkafka#...`, e.g. a
        retry it logs while the broker starts) are the Kafka client's, not what the child said."""
        own = [line for line in self.tail(50).splitlines() if not LIBRDKAFKA_LINE.match(line)]
        return own[-1] if own else ""


LIBRDKAFKA_LINE = re.compile(r"^%\d\|\d+\.\d+\|[A-Z_]+\|rdkafka#")


def cap_logs(folder: Path, max_bytes: int) -> list[Path]:
    """Keep each `*.log` in `folder` under `max_bytes` while its writer runs (copy-truncate):
    a log over the cap is copied to `<name>.log.1` (replacing the previous copy) and emptied in
    place. Its writers open it to append, so they go on writing at the new end. A line written
    between the copy and the truncation is lost; nothing else is. Returns the logs capped."""
    capped = []
    for log in sorted(folder.glob("*.log")):
        try:
            if log.stat().st_size <= max_bytes:
                continue
            shutil.copyfile(log, log.with_name(log.name + ".1"))
            os.truncate(log, 0)
        except OSError:
            continue  # gone meanwhile, or not ours to touch: try again next time
        capped.append(log)
    return capped
