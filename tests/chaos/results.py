"""The chaos suite's results table: one row per fault, printed and written as Markdown."""

from __future__ import annotations

import platform
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path


@dataclass
class Fault:
    """One fault's trials and what the books said after recovery.

    `events`: the events the trials put through the component; `lost`: those missing afterwards;
    `duplicated`: those counted twice where duplicates count (Bronze for Bronze's own faults,
    Silver for the rest: a redelivery Silver removes is not a duplicate, it goes in `notes`)."""

    name: str
    trials: int = 0
    events: int = 0
    lost: int = 0
    duplicated: int = 0
    seconds: float = 0.0
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.trials > 0 and self.lost == 0 and self.duplicated == 0


HEADER = ("fault", "trials", "events", "lost", "duplicated", "seconds", "notes")


def table(faults: list[Fault]) -> str:
    rows = [
        (
            f.name,
            f"{f.trials}",
            f"{f.events:,}",
            f"{f.lost:,}",
            f"{f.duplicated:,}",
            f"{f.seconds:.0f}",
            "; ".join(f.notes),
        )
        for f in faults
    ]
    lines = ["| " + " | ".join(HEADER) + " |", "|" + "---|" * len(HEADER)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    total = sum(f.trials for f in faults)
    verdict = (
        "nothing lost, nothing duplicated" if all(f.ok for f in faults) else "FAILED: see lost/duplicated"
    )
    return "\n".join(lines) + f"\n\n{total} trials; {verdict}."


def write(faults: list[Fault], path: Path, title: str) -> None:
    """Append the table under a dated heading (the file keeps every run's table)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    with path.open("a") as out:
        out.write(f"\n## {title}: {stamp}, {platform.node()}\n\n{table(faults)}\n")
