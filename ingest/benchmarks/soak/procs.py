"""The pipeline's processes, found through /proc, and their memory by class.

The runner is the soak's child; its own children (the broker, the relay, the simulator,
Bronze with its Spark JVM and the JVM's Python workers, the dbt worker, compaction) are its
descendants. PostgreSQL is not: `pg_ctl` starts the postmaster detached, so it is found by
the PID file the runner writes (`<data>/run/postgres.pid`, ingest.local.services), and its backends
are its children. The broker's PID file is read as well, in case a recovery started it again.

Each process gets the class its command line names (`classify`); one that names none (a
multiprocessing resource tracker, a shell) takes its parent's. Memory is PSS (proportional set
size, /proc/<pid>/smaps_rollup): resident memory with each shared page divided between the
processes sharing it, so PostgreSQL's shared buffers, mapped by the postmaster and every
backend, count once. VmRSS is the fallback where smaps_rollup cannot be read.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

PROC = Path("/proc")


@dataclass(frozen=True)
class Proc:
    pid: int
    ppid: int
    argv: tuple[str, ...]


def classify(argv: Iterable[str]) -> str | None:
    """The process class a command line names (ingest.benchmarks.soak.samples.PROCESS_CLASSES, or
    "compact"), else None."""
    args = [a for a in argv if a]
    if not args:
        return None
    program = args[0].rsplit("/", 1)[-1]
    if program == "java":
        return "broker" if "kafka.Kafka" in args else "spark"
    if program in ("postgres", "postmaster") or args[0].startswith("postgres:"):
        return "postgres"  # a backend's title replaces its command line: "postgres: walwriter"
    if "-m" not in args[:-1]:
        return None
    module = args[args.index("-m") + 1]
    rest = args[args.index("-m") + 2 :]
    if module == "ingest.local.dbt":
        return "dbt"
    if module.startswith("pyspark"):  # the JVM's Python workers and the streaming source runner
        return "bronze-py"
    if module != "ingest" or not rest:
        return None
    if rest[:2] == ["orders", "relay"]:
        return "relay"
    if rest[:2] == ["orders", "simulate"]:
        return "simulator"
    return {"bronze": "bronze-py", "compact": "compact", "run": "runner"}.get(rest[0])


def assign(procs: dict[int, Proc], roots: Iterable[int]) -> dict[int, str]:
    """PID -> class for the roots and all their descendants; a process whose command line
    names no class takes its parent's, a root that names none is "other"."""
    children: dict[int, list[int]] = {}
    for proc in procs.values():
        children.setdefault(proc.ppid, []).append(proc.pid)
    classes: dict[int, str] = {}
    stack = [(pid, "other") for pid in roots if pid in procs]
    while stack:
        pid, inherited = stack.pop()
        if pid in classes:
            continue
        classes[pid] = classify(procs[pid].argv) or inherited
        stack.extend((child, classes[pid]) for child in children.get(pid, ()))
    return classes


def read_procs(proc_root: Path = PROC) -> dict[int, Proc]:
    """Every process's PID, parent PID and command line (those that vanish meanwhile left out)."""
    procs = {}
    for entry in proc_root.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmdline = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        # "pid (comm) state ppid ...": comm may hold spaces and parentheses
        ppid = int(stat[stat.rindex(")") + 2 :].split()[1])
        argv = tuple(part.decode(errors="replace") for part in cmdline.split(b"\0") if part)
        procs[int(entry.name)] = Proc(int(entry.name), ppid, argv)
    return procs


def pss_mb(pid: int, proc_root: Path = PROC) -> float | None:
    """PSS of one process in MB (VmRSS if smaps_rollup cannot be read; None once it is gone)."""
    for name, key in (("smaps_rollup", "Pss:"), ("status", "VmRSS:")):
        with contextlib.suppress(OSError, ValueError):
            for line in (proc_root / str(pid) / name).read_text().splitlines():
                if line.startswith(key):
                    return int(line.split()[1]) / 1024
    return None


def recorded_pid(pid_file: Path) -> int | None:
    """The PID in a service's PID file ("<pid> <port>"), without judging whether it runs."""
    try:
        return int(pid_file.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None


def memory_by_class(roots: Iterable[int], proc_root: Path = PROC) -> dict[str, float]:
    """MB of PSS per class over the roots' process trees."""
    procs = read_procs(proc_root)
    totals: dict[str, float] = {}
    for pid, name in assign(procs, roots).items():
        mb = pss_mb(pid, proc_root)
        if mb is not None:
            totals[name] = totals.get(name, 0.0) + mb
    return totals
