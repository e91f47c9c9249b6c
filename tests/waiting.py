"""The tests' one way to wait: poll a condition until it holds or a deadline passes.

`wait_for(condition, what=...)` returns the condition's first truthy value; on timeout it fails
the test saying what it waited for (and `detail()`, e.g. a process's last log lines)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def wait_for(
    condition: Callable[[], T],
    what: str,
    timeout_s: float = 30.0,
    interval_s: float = 0.2,
    detail: Callable[[], object] | None = None,
) -> T:
    deadline = time.monotonic() + timeout_s
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() >= deadline:
            extra = f": {detail()}" if detail is not None else ""
            raise AssertionError(f"timed out after {timeout_s:g} s waiting for {what}{extra}")
        time.sleep(interval_s)
