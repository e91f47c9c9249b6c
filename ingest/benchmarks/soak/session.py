"""One soak: the runner as a child process, sampled until it exits, then the results."""

from __future__ import annotations

import contextlib
import json
import math
import os
import platform
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from ingest.benchmarks.soak import disk, equality, procs
from ingest.benchmarks.soak.chart import write_chart
from ingest.benchmarks.soak.report import markdown, minute_line, targets_table, window_note
from ingest.benchmarks.soak.samples import MemorySample, Samples, dbt_run, status_record, summarise
from ingest.benchmarks.soak.targets import FRESHNESS_LIMIT_S, Windows, evaluate
from ingest.paths import PROJECT_DIR, DataDir

ORDERS_STARTED = "run: simulator"  # the runner's line once the simulator runs (ingest.local.runner)
MINUTE_GRACE_S = 3.0  # a minute's line waits this long for the records of its last seconds
STARTUP_TIMEOUT_S = 600.0


@dataclass(frozen=True)
class SoakOptions:
    duration_s: float = 3600.0
    rate: float = 40.0
    out: str = "bench/soak.md"
    sample_every_s: float = 5.0
    freshness_limit_s: float = FRESHNESS_LIMIT_S
    # after the runner: a full refresh of the same Bronze compared with the increments
    equality: bool = True


class JsonLines:
    """Follows a JSON-lines file another process appends to: each call returns the complete
    lines added since the last one."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.offset = 0

    def read_new(self) -> list[dict]:
        try:
            with open(self.path, "rb") as handle:
                handle.seek(self.offset)
                chunk = handle.read()
        except FileNotFoundError:
            return []
        end = chunk.rfind(b"\n") + 1  # a line still being written waits for the next call
        self.offset += end
        records = []
        for line in chunk[:end].splitlines():
            try:
                records.append(json.loads(line))
            except ValueError:
                continue
        return records


class Soak:
    def __init__(self, options: SoakOptions, data: DataDir) -> None:
        self.options = options
        self.data = data
        self.windows = Windows.for_duration(options.duration_s)
        self.samples = Samples()
        self.proc: subprocess.Popen | None = None
        self.log_path = data.root / "soak-runner.log"
        self.signals = 0
        self.t0 = 0.0  # wall-clock epoch seconds when the orders started
        self.printed_minutes = 0
        self.failed: set[str] = set()  # measurements that failed at least once
        self.machine = ""
        self.load_at_start = ""
        self.status = JsonLines(data.run / "status.jsonl")
        self.dbt_runs = JsonLines(data.run / "dbt-runs.jsonl")

    # ------------------------------------------------------------------ the runner
    def runner_command(self) -> list[str]:
        o = self.options
        return [
            sys.executable, "-m", "ingest", "run", "--fast",
            "--rate", f"{o.rate:g}", "--duration", f"{o.duration_s:g}",
            "--api-port", "0", "--dashboard-port", "0",
        ]  # fmt: skip

    def start_runner(self) -> None:
        self.data.root.mkdir(parents=True, exist_ok=True)
        with open(self.log_path, "wb") as log:  # this run's only: its lines say when orders start
            self.proc = subprocess.Popen(
                self.runner_command(),
                cwd=PROJECT_DIR,
                env={**os.environ, **self.data.env()},
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,  # Ctrl-C reaches the soak, which passes it on
            )

    def _forward(self, signum, frame) -> None:
        """Ctrl-C or SIGTERM: the runner stops cleanly (its children, dbt, PostgreSQL, the
        broker); the soak samples on until it has, then writes what it measured."""
        self.signals += 1
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
        if self.signals == 1:
            self.say(f"soak: {signal.Signals(signum).name}: stopping the runner; results follow")
        else:
            self.say("soak: still waiting for the runner to stop (its children get up to 60 s each)")

    def runner_tail(self, lines: int = 15) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def runner_summary(self) -> str:
        """The runner's last "run: N orders ..." line, or its last line."""
        tail = self.runner_tail(40).splitlines()
        final = [line for line in tail if line.startswith("run: ") and " orders (" in line]
        return (final or tail or ["(no output)"])[-1]

    def wait_for_orders(self) -> bool:
        deadline = time.monotonic() + STARTUP_TIMEOUT_S
        while time.monotonic() < deadline and self.proc.poll() is None and not self.signals:
            try:
                if ORDERS_STARTED in self.log_path.read_text(errors="replace"):
                    return True
            except OSError:
                pass
            time.sleep(0.5)
        return False

    # ------------------------------------------------------------------ sampling
    def now(self) -> float:
        return time.time() - self.t0

    def sample(self) -> None:
        """One memory and disk sample, and the runner's new records. A measurement that fails
        is said once and skipped: it never ends the soak."""
        roots = [self.proc.pid]
        for name in ("postgres", "broker"):
            pid = procs.recorded_pid(self.data.run / f"{name}.pid")
            if pid is not None:
                roots.append(pid)
        t = self.now()
        for what, take in (
            ("memory", lambda: self.samples.memory.append(MemorySample(t, procs.memory_by_class(roots)))),
            ("disk", lambda: self.samples.disk.append(disk.sample(self.data, t))),
            ("records", self.read_records),
        ):
            try:
                take()
            except Exception as exc:
                if what not in self.failed:
                    self.say(
                        f"soak: a {what} sample failed ({type(exc).__name__}: {exc}); skipping such samples"
                    )
                self.failed.add(what)

    def read_records(self) -> None:
        for record in self.status.read_new():
            if "at" in record:
                self.samples.status.append(status_record(record, self.t0))
        for record in self.dbt_runs.read_new():
            run = dbt_run(record, self.t0)
            if run is not None:
                self.samples.dbt.append(run)

    def minute_label(self, minute: int, end: float) -> str:
        total = math.ceil(self.options.duration_s / 60)
        label = f"soak {minute + 1}/{total} min" if minute < total else f"soak catch-up {minute + 1} min"
        partial = end - minute * 60
        return label if partial >= 60 else f"{label} ({partial:.0f} s)"

    def print_due_minutes(self, final: bool = False) -> None:
        now = self.now()
        while (self.printed_minutes + 1) * 60 + MINUTE_GRACE_S <= now or (
            final and self.printed_minutes * 60 < now - 1
        ):
            m = self.printed_minutes
            end = min((m + 1) * 60.0, now)
            self.say(minute_line(self.minute_label(m, end), summarise(self.samples, m * 60.0, end)))
            self.printed_minutes += 1

    def say(self, text: str) -> None:
        print(text, flush=True)

    # ------------------------------------------------------------------ the whole soak
    def run(self) -> int:
        o = self.options
        previous = {s: signal.signal(s, self._forward) for s in (signal.SIGINT, signal.SIGTERM)}
        try:
            self.machine, self.load_at_start = _machine(), _load()
            self.start_runner()
            self.say(
                f"soak: the runner (--fast, {o.rate:g} orders/s for {o.duration_s:g} s) in {self.data.root}; "
                f"its output in {self.log_path}; one line a minute from the first order on"
            )
            started = time.time()
            if not self.wait_for_orders():
                self.proc.send_signal(signal.SIGINT)
                self.proc.wait()
                self.say(f"soak: the runner stopped before the orders started:\n{self.runner_tail()}")
                return 1
            self.t0 = time.time()
            startup_s = self.t0 - started
            self.say(f"soak: orders started {startup_s:.0f} s after the runner; {window_note(self.windows)}")
            while self.proc.poll() is None:
                next_at = time.monotonic() + o.sample_every_s
                self.sample()
                self.print_due_minutes()
                with contextlib.suppress(subprocess.TimeoutExpired):
                    self.proc.wait(timeout=max(next_at - time.monotonic(), 0.1))
            end = self.now()
            self.read_records()
            self.print_due_minutes(final=True)
        finally:
            if self.proc is not None and self.proc.poll() is None:  # the soak itself failed
                self.say("soak: stopping the runner")
                self.proc.send_signal(signal.SIGINT)
                self.proc.wait()
            for sig, handler in previous.items():
                signal.signal(sig, handler)
        code = self.proc.returncode
        self.say(f"soak: the runner exited ({code}) after {end / 60:.1f} min of orders and catch-up")
        if end < self.windows.duration:  # Ctrl-C, or the runner failed: judge what ran
            self.windows = Windows.for_duration(end)
            self.say(
                f"soak: stopped early: judged as a {end / 60:.1f}-minute run; {window_note(self.windows)}"
            )
        return self.finish(startup_s, end, code)

    def finish(self, startup_s: float, end: float, runner_code: int) -> int:
        o = self.options
        results = evaluate(self.samples, self.windows, freshness_limit_s=o.freshness_limit_s)
        stamp = datetime.now(UTC)
        out = Path(o.out)
        chart_path = out.parent / f"soak-{stamp:%Y%m%dT%H%M%SZ}.png"
        try:
            write_chart(
                self.samples,
                self.windows,
                chart_path,
                title=f"soak {stamp:%Y-%m-%d %H:%M} UTC: {o.duration_s / 60:g} min at {o.rate:g} orders/s",
                freshness_limit_s=o.freshness_limit_s,
            )
        except Exception as exc:  # the figures are still worth writing
            self.say(f"soak: the chart failed: {exc}")
            chart_path = None
        rows = []
        step = self.windows.row_s
        for i in range(math.ceil(self.windows.duration / step)):
            start, stop = i * step, min((i + 1) * step, self.windows.duration)
            rows.append((f"{start / 60:.3g}-{stop / 60:.3g}", summarise(self.samples, start, stop)))
        if end > self.windows.duration:
            rows.append(("catch-up", summarise(self.samples, self.windows.duration, end + 1)))
        text = markdown(
            when=f"{stamp:%Y-%m-%d %H:%M} UTC",
            windows=self.windows,
            rate=o.rate,
            requested_s=o.duration_s,
            machine=f"{self.machine}, load average {self.load_at_start} at the start, {_load()} at the end",
            startup_s=startup_s,
            rows=rows,
            chart=chart_path.name if chart_path else None,
            results=results,
            runner=f"exit code {runner_code}; `{self.runner_summary()}`",
        )
        equal = True
        if o.equality and runner_code == 0:
            text += "\n" + self.equality()
            equal = "Incremental = full refresh: PASS" in text
        out.parent.mkdir(parents=True, exist_ok=True)
        with out.open("a") as handle:
            handle.write(text + "\n")
        self.say("")
        self.say(targets_table(results))
        self.say("")
        if chart_path:
            self.say(f"soak: chart {chart_path}")
        self.say(f"soak: results appended to {out}; the soak's data (and runner log) in {self.data.root}")
        return 0 if runner_code == 0 and equal and all(r.passed for r in results) else 1

    def equality(self) -> str:
        """The full refresh of the soak's Bronze, compared with the increments (markdown)."""
        self.say("soak: a full refresh of the same Bronze, to compare with what the increments built")
        try:
            full, seconds = equality.full_refresh(self.data)
            results = equality.compare(self.data, full)
        except Exception as exc:  # reported as a failed check, the soak's figures still written
            self.say(f"soak: the equality check failed to run: {exc}")
            return f"Incremental = full refresh: FAIL (the check did not run: {exc}).\n"
        text = equality.markdown(results, seconds)
        self.say(text.splitlines()[0])
        for result in results:
            if not result.equal:
                self.say(f"soak:   {result.table} differs: {result}")
        return text


def _machine() -> str:
    try:
        kib = next(
            int(line.split()[1])
            for line in Path("/proc/meminfo").read_text().splitlines()
            if line.startswith("MemTotal:")
        )
        memory = f", {kib / 2**20:.0f} GiB"
    except (OSError, StopIteration, ValueError):
        memory = ""
    return f"{len(os.sched_getaffinity(0))} cores (nproc){memory}, Python {platform.python_version()}"


def _load() -> str:
    return "{:.1f} {:.1f} {:.1f}".format(*os.getloadavg())


def main(options: SoakOptions, data: DataDir) -> int:
    """The soak in `data`'s soak folder (data/soak), kept afterwards."""
    return Soak(options, data.below("soak")).run()
