"""What long work shows a person: a small progress line (rows done and rows/s, on stderr), and
durations as a person reads them."""

from __future__ import annotations

import sys
import time


class Progress:
    """Call `update(n)` as work advances; prints at most every `every_s` seconds."""

    def __init__(self, label: str, total: int | None = None, every_s: float = 1.0) -> None:
        self.label = label
        self.total = total
        self.done = 0
        self.every_s = every_s if sys.stderr.isatty() else max(every_s, 5.0)
        self.started = time.monotonic()
        self._last = self.started
        self._tty = sys.stderr.isatty()

    def update(self, n: int = 1) -> None:
        self.done += n
        now = time.monotonic()
        if now - self._last >= self.every_s:
            self._last = now
            self._print(final=False)

    @property
    def elapsed(self) -> float:
        return max(time.monotonic() - self.started, 1e-9)

    def rate(self) -> float:
        return self.done / self.elapsed

    def _print(self, final: bool) -> None:
        of = f"/{self.total:,}" if self.total else ""
        text = f"{self.label}: {self.done:,}{of} rows  {self.rate():,.0f} rows/s  {self.elapsed:.1f}s"
        if self._tty:
            sys.stderr.write("\r" + text + ("\n" if final else ""))
        else:
            sys.stderr.write(text + "\n")
        sys.stderr.flush()

    def finish(self) -> None:
        self._print(final=True)


def duration(seconds: float | None) -> str:
    """A duration or an age a person reads: 42 s, 3 min 5 s, 2 h 10 min, 4 d 3 h (a negative
    one, a clock ahead of ours, keeps its sign)."""
    if seconds is None:
        return "–"
    s = round(seconds)
    if s < 0:
        return f"-{duration(-s)}"
    if s < 60:
        return f"{s} s"
    if s < 3600:
        return f"{s // 60} min {s % 60} s"
    if s < 86400:
        return f"{s // 3600} h {s % 3600 // 60} min"
    return f"{s // 86400:,} d {s % 86400 // 3600} h"
