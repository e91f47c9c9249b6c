"""A small progress line for long work: rows done and rows/s, on stderr."""

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
