"""The runner's options (`python -m ingest run`): cadences, order rate, duration, source of lines."""

from __future__ import annotations

import argparse
from dataclasses import dataclass, replace

from ingest.orders import DEFAULT_RETENTION_MINUTES

DEFAULT_ORDER_RATE = 20.0  # orders per second: `make run`, `make bench-freshness`
# Silver's re-read window in fast mode: 2 minutes. One Bronze stream commits its micro-batches
# in order, each stamped after the previous one committed, so a batch Silver has not seen always
# lands after the newest one it has; the window is a margin, and its cost is rate x window on
# every run (15 minutes at 800 lines/s re-read 720,000 rows a run; 2 minutes, 96,000).
FAST_LOOKBACK_HOURS = 2 / 60


@dataclass(frozen=True)
class RunnerOptions:
    rate: float = DEFAULT_ORDER_RATE
    silver_every_s: float = 300.0
    gold_every_s: float = 900.0
    # Silver + Gold as soon as Bronze has committed since the last run started (and that run
    # has ended), instead of the cadences above (ingest.local.schedule)
    run_when_data_lands: bool = False
    status_every_s: float = 30.0
    bronze_trigger: str = "10 seconds"
    duration_s: float | None = None
    csv: str | None = None
    seed: int = 42
    lines: int = 10_000_000
    drain_timeout_s: float = 180.0
    # Silver's re-read window for late events (dbt var silver_lookback_hours); None = the
    # project's 3 hours. One Bronze stream lands events in order, so a short window is safe
    # here, and it keeps each run's cost flat instead of growing with the last 3 hours.
    silver_lookback_hours: float | None = None
    # the analytics API the runner starts beside the pipeline (0: none)
    api_port: int = 8300
    dashboard_port: int = 8501  # the dashboard beside the API (0: none)
    # how long the relay keeps published outbox rows: what a replay can publish again when
    # the broker dies (memory only) with events Bronze had not read
    outbox_retention_minutes: float = DEFAULT_RETENTION_MINUTES
    # Bronze compaction (`python -m ingest compact`) this often (0: never), keeping the files
    # a compaction replaced for `compact_retention_hours` before deleting them
    compact_every_s: float = 600.0
    compact_retention_hours: float = 1.0

    @classmethod
    def fast(cls, **overrides: object) -> RunnerOptions:
        """`--fast`: Silver and Gold whenever Bronze has committed, the status line every 10 s,
        Bronze every 2 s, a 2-minute Silver lookback."""
        fast = cls(
            silver_every_s=10.0,
            gold_every_s=10.0,
            run_when_data_lands=True,
            status_every_s=10.0,
            bronze_trigger="2 seconds",
            silver_lookback_hours=FAST_LOOKBACK_HOURS,
        )
        return replace(fast, **overrides)

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> RunnerOptions:
        base = cls.fast() if args.fast else cls()
        return replace(
            base,
            rate=args.rate,
            silver_every_s=args.silver_every or base.silver_every_s,
            gold_every_s=args.gold_every or base.gold_every_s,
            status_every_s=args.status_every or base.status_every_s,
            bronze_trigger=args.bronze_trigger or base.bronze_trigger,
            duration_s=args.duration,
            csv=args.csv,
            seed=args.seed,
            lines=args.lines,
            api_port=args.api_port,
            dashboard_port=args.dashboard_port,
            outbox_retention_minutes=args.outbox_retention_minutes,
            compact_every_s=args.compact_every if args.compact_every is not None else base.compact_every_s,
            silver_lookback_hours=(
                args.silver_lookback_minutes / 60
                if args.silver_lookback_minutes is not None
                else base.silver_lookback_hours
            ),
        )


def add_arguments(p: argparse.ArgumentParser) -> None:
    slow, fast = RunnerOptions(), RunnerOptions.fast()
    p.add_argument(
        "--rate", type=float, default=DEFAULT_ORDER_RATE, help="orders per second placed by the simulator"
    )
    p.add_argument("--fast", action="store_true", help="Silver and Gold every 10 s, Bronze every 2 s")
    for flag, attribute in (
        ("silver", "silver_every_s"),
        ("gold", "gold_every_s"),
        ("status", "status_every_s"),
    ):
        p.add_argument(
            f"--{flag}-every",
            type=float,
            default=None,
            help=f"seconds (default {getattr(slow, attribute):g}; --fast {getattr(fast, attribute):g})",
        )
    p.add_argument(
        "--bronze-trigger",
        default=None,
        help=f'default "{slow.bronze_trigger}" (--fast "{fast.bronze_trigger}")',
    )
    p.add_argument(
        "--duration",
        type=float,
        default=None,
        help="place orders for this many seconds, then catch up, report and stop",
    )
    p.add_argument("--csv", default=None, help="replay this v.4a CSV instead of synthetic lines")
    p.add_argument("--seed", type=int, default=slow.seed)
    p.add_argument(
        "--silver-lookback-minutes",
        type=float,
        default=None,
        help="Silver's re-read window for late events (default: the project's 3 hours; "
        f"--fast {FAST_LOOKBACK_HOURS * 60:g})",
    )
    p.add_argument("--lines", type=int, default=slow.lines, help="synthetic lines available to the simulator")
    p.add_argument(
        "--compact-every",
        type=float,
        default=None,
        help=f"seconds between Bronze compactions (default {slow.compact_every_s:g}; 0: never)",
    )
    p.add_argument(
        "--api-port",
        type=int,
        default=RunnerOptions.api_port,
        help="port of the analytics API on 127.0.0.1 (default 8300; 0: do not start it)",
    )
    p.add_argument(
        "--outbox-retention-minutes",
        type=float,
        default=RunnerOptions.outbox_retention_minutes,
        help="how long the relay keeps published outbox rows, for the replay after a broker loss "
        "(default %(default)g)",
    )
    p.add_argument(
        "--dashboard-port",
        type=int,
        default=RunnerOptions.dashboard_port,
        help="port of the dashboard on 127.0.0.1 (default 8501; 0: do not start it)",
    )
