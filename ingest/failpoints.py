"""Named points where the chaos suite (`make chaos`, tests/chaos) kills this process on purpose.

Off unless the environment variable LAKEHOUSE_FAILPOINT names one, as `POINT@AT` or
`POINT@AT+MS`:

- POINT is one of POINTS;
- the point fires at the first call whose position (given by the caller: a micro-batch id) is
  at least AT;
- with `+MS` the kill comes MS milliseconds after that call, in the background, while the
  caller carries on: a kill somewhere in the middle of what follows (a Delta commit, say).

The kill is SIGKILL to the session's process group (the ingester and its JVM) and to the
caller's own group (Spark's Python workers run in a group of their own), so they die together,
as when the machine or container running them dies. The chaos suite starts the ingester in a
session of its own, so nothing else is in those groups; never set the variable in a shell.
"""

from __future__ import annotations

import os
import signal
import threading

VARIABLE = "LAKEHOUSE_FAILPOINT"
POINTS = {
    "bronze.delta_commit": "writing a micro-batch: Spark reads its events from Kafka and writes them "
    "to Delta (position: the micro-batch id)",
    "bronze.after_commit": "after the Delta commit, before Spark's checkpoint records it (micro-batch id)",
}


def parse(spec: str) -> tuple[str, int, int | None]:
    """`POINT@AT[+MS]` -> (point, at, delay_ms or None); ValueError saying what is wrong."""
    point, sep, rest = spec.partition("@")
    if point not in POINTS or not sep:
        raise ValueError(f"{VARIABLE}={spec!r}: expected POINT@AT[+MS] with POINT one of {sorted(POINTS)}")
    at, plus, delay = rest.partition("+")
    try:
        return point, int(at), (int(delay) if plus else None)
    except ValueError:
        raise ValueError(f"{VARIABLE}={spec!r}: AT and MS must be whole numbers") from None


def reach(point: str, position: int) -> None:
    """Kill this process group here (or MS later) if LAKEHOUSE_FAILPOINT asks for `point` at
    `position` or before; a no-op otherwise (one dictionary lookup)."""
    spec = os.environ.get(VARIABLE)
    if not spec:
        return
    wanted, at, delay_ms = parse(spec)
    if wanted != point or position < at:
        return
    if delay_ms is None:
        _kill()
    timer = threading.Timer(delay_ms / 1000, _kill)
    timer.daemon = True
    timer.start()


def _kill() -> None:
    os.killpg(os.getsid(0), signal.SIGKILL)
    os.killpg(os.getpgrp(), signal.SIGKILL)
