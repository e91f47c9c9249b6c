"""dbt, driven from Python: one command at a time (`run_dbt`), or a long-lived worker process
that parses the project once and then runs command after command (`DbtWorker`).

The worker's protocol (`python -m ingest.local.dbt dbt-worker DBT_ARGS...`, DBT_ARGS added to every
command): it reads one command per line on stdin, a JSON list of dbt arguments, and answers
on stdout with one line per command: `RESULT_MARK` followed by JSON. The first answer comes
after the parse, `{"ready": bool, "error": str}`; each command's is `{"ok": bool, "nodes":
{name: status}, "error": str}`. Every other line on stdout is dbt's own output, for the log.
A run then costs its models only, not dbt's start and parse (seconds on 2 cores). Between
commands the worker closes the DuckDB file, so others can read Gold.
"""

from __future__ import annotations

import contextlib
import gc
import json
import os
import queue
import shutil
import signal
import subprocess
import sys
import threading
from pathlib import Path

from ingest.paths import PROJECT_DIR, DataDir

RESULT_MARK = "@@dbt-worker "
WORKER_COMMAND = "dbt-worker"


def dbt_executable() -> str:
    local = Path(sys.executable).parent / "dbt"
    return str(local) if local.exists() else "dbt"


def profile_args(target: str = "local") -> list[str]:
    """The target and this project's profiles (profiles.yml reads LAKEHOUSE_DATA_DIR)."""
    return ["--target", target, "--profiles-dir", str(PROJECT_DIR)]


def run_dbt(
    *args: str,
    target: str = "local",
    quiet: bool = False,
    data: DataDir,
    extra_env: dict[str, str] | None = None,
) -> None:
    """Run dbt in the project with this project's profiles on `data`, `extra_env` added to
    its environment (e.g. BRONZE_TABLE_PATH: another data directory's Bronze); raise if it
    fails."""
    data.warehouse.parent.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, **data.env(), **(extra_env or {})}
    cmd = [dbt_executable(), *args, *profile_args(target)]
    if quiet:
        cmd.insert(1, "--quiet")
    completed = subprocess.run(cmd, cwd=PROJECT_DIR, env=env, check=False)
    if completed.returncode != 0:
        raise RuntimeError(f"`dbt {' '.join(args)} --target {target}` failed ({completed.returncode})")


# ---------------------------------------------------------------------------- the worker process
def _emit(answer: dict) -> None:
    sys.stdout.write(RESULT_MARK + json.dumps(answer) + "\n")
    sys.stdout.flush()


def dbt_worker_main(common: list[str]) -> int:
    """The worker: parse once, then run each command read from stdin with that manifest."""
    from dbt.adapters.duckdb.connections import DuckDBConnectionManager
    from dbt.cli.main import dbtRunner

    parsed = dbtRunner().invoke(["parse", *common])
    _emit({"ready": bool(parsed.success), "error": str(parsed.exception or "")})
    if not parsed.success:
        return 1
    runner = dbtRunner(manifest=parsed.result)
    for line in sys.stdin:
        args = json.loads(line)
        nodes: dict[str, str] = {}
        try:
            done = runner.invoke([*args, *common])
            ok, error = bool(done.success), str(done.exception or "")
            for result in getattr(done.result, "results", None) or []:
                nodes[result.node.name] = str(result.status)
        except Exception as exc:  # reported to the client, the worker goes on
            ok, error = False, str(exc)
        finally:
            DuckDBConnectionManager.close_all_connections()
            gc.collect()  # releases the DuckDB file lock
        _emit({"ok": ok, "nodes": nodes, "error": error})
    return 0


# ---------------------------------------------------------------------------- the client side
# The worker's CPU priority below the rest of the pipeline (nice 10): on two cores a dbt run
# that starts whenever Bronze commits would otherwise take the CPU Bronze needs to land the
# next events, and Bronze falling behind delays every line more than a slower run does.
WORKER_NICENESS = 10


class DbtWorker:
    """A worker process on the `local` target of `data`, started with `env` (which must name
    the data directory: profiles.yml reads it), its stderr and dbt's output in `run/dbt.log`;
    it runs at a lower CPU priority than its parent (WORKER_NICENESS)."""

    def __init__(
        self, data: DataDir, env: dict[str, str], silver_lookback_hours: float | None = None
    ) -> None:
        self.env = env
        self.target_path = data.run / "dbt-target"
        self.log_path = data.run / "dbt.log"
        self.common = [
            *profile_args("local"),
            "--target-path",
            str(self.target_path),
            "--log-path",
            str(data.run / "dbt-logs"),
        ]
        if silver_lookback_hours is not None:
            self.common += ["--vars", json.dumps({"silver_lookback_hours": silver_lookback_hours})]
        self.answers: queue.Queue[dict] = queue.Queue()
        self.proc: subprocess.Popen | None = None

    def start(self, timeout_s: float = 300.0) -> None:
        """Start the worker on an empty target directory and wait until it has parsed."""
        shutil.rmtree(self.target_path, ignore_errors=True)
        log = open(self.log_path, "a")  # noqa: SIM115 (closed by the reader thread)
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "ingest.local.dbt", WORKER_COMMAND, *self.common],
            cwd=PROJECT_DIR,
            env=self.env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=log,
            text=True,
            bufsize=1,
            start_new_session=True,
            preexec_fn=lambda: os.nice(WORKER_NICENESS),
        )
        threading.Thread(target=self._read, args=(self.proc.stdout, log), daemon=True).start()
        answer = self.answer(timeout_s)
        if not answer.get("ready"):
            raise RuntimeError(
                f"run: dbt could not parse the project: {answer.get('error')}; see {self.log_path}"
            )

    def _read(self, stream, log) -> None:
        with log:
            for line in stream:
                if line.startswith(RESULT_MARK):
                    self.answers.put(json.loads(line[len(RESULT_MARK) :]))
                else:
                    log.write(line)
                    log.flush()
        self.answers.put({"ok": False, "error": "the dbt worker exited", "exited": True})

    def send(self, *args: str) -> None:
        """Start a command; its answer comes later (`answer`, `answer_now`)."""
        self.proc.stdin.write(json.dumps(list(args)) + "\n")
        self.proc.stdin.flush()

    def answer(self, timeout_s: float) -> dict:
        try:
            return self.answers.get(timeout=timeout_s)
        except queue.Empty as exc:
            raise RuntimeError(f"run: no answer from dbt in {timeout_s:.0f}s; see {self.log_path}") from exc

    def answer_now(self) -> dict | None:
        """The next answer if there is one yet."""
        try:
            return self.answers.get_nowait()
        except queue.Empty:
            return None

    def run(self, *args: str, timeout_s: float = 600.0) -> None:
        """Run a command to its end; raise if it fails."""
        self.send(*args)
        answer = self.answer(timeout_s)
        if not answer.get("ok"):
            raise RuntimeError(
                f"run: `dbt {' '.join(args)}` failed: {answer.get('error')}; see {self.log_path}"
            )

    def stop(self, command_running: bool) -> None:
        """Let a command in progress finish (up to a minute), then end the worker."""
        if self.proc is None or self.proc.poll() is not None:
            return
        if command_running:
            with contextlib.suppress(RuntimeError):
                self.answer(60)
        with contextlib.suppress(OSError):
            self.proc.stdin.close()
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=10)


def main(argv: list[str]) -> int:
    if argv[:1] != [WORKER_COMMAND]:
        raise SystemExit(f"usage: python -m ingest.local.dbt {WORKER_COMMAND} DBT_ARGS...")
    return dbt_worker_main(argv[1:])


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
