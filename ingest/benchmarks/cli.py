"""`python -m ingest bench ...` and `python -m ingest soak`: the benchmarks and the soak."""

from __future__ import annotations

import argparse

from ingest.local.run_options import DEFAULT_ORDER_RATE
from ingest.paths import DataDir


def _cmd_bench(args: argparse.Namespace) -> int:
    data = DataDir.from_env()
    if args.scaling:
        from ingest.benchmarks import scaling

        multiples = [int(m) for m in args.multiples.split(",")]
        return scaling.main(multiples, args.slice_lines, out=args.out, data=data)
    if args.replay:
        from ingest.benchmarks import replay

        return replay.main(out=args.out, data=data)
    if args.api:
        from ingest.benchmarks import api

        return api.main(
            lines=args.lines,
            clients=args.clients,
            seconds=args.seconds,
            out=args.out,
            levels=tuple(int(n) for n in args.levels.split(",") if n.strip()),
            reuse=args.reuse,
            data=data,
        )
    from ingest.benchmarks import pipeline

    if args.freshness:
        return pipeline.freshness_bench(rate=args.rate, duration_s=args.duration, out=args.out, data=data)
    return pipeline.main(events=args.events, out=args.out, silver_history=args.silver_history, data=data)


def _cmd_soak(args: argparse.Namespace) -> int:
    from ingest.benchmarks.soak import session

    options = session.SoakOptions(
        duration_s=args.duration,
        rate=args.rate,
        out=args.out,
        sample_every_s=args.sample_every,
        freshness_limit_s=args.fresh_p95,
        equality=not args.no_equality,
    )
    return session.main(options, DataDir.from_env())


def add_parser(sub) -> None:
    p = sub.add_parser("bench", help="measure ingest throughput and dbt build time")
    p.add_argument("--events", type=int, default=1_000_000)
    p.add_argument("--out", default="bench/results.md")
    p.add_argument(
        "--silver-history",
        type=int,
        default=500_000,
        help="events per day of history (1x) for the Silver bench",
    )
    p.add_argument(
        "--freshness",
        action="store_true",
        help="instead: end-to-end freshness (outbox commit -> Gold) on the local runner in fast mode",
    )
    p.add_argument(
        "--replay",
        action="store_true",
        help="instead: where a year's replay (CSV -> Gold) spends its time, beside a plain-Python drain",
    )
    p.add_argument("--rate", type=float, default=DEFAULT_ORDER_RATE, help="--freshness: orders per second")
    p.add_argument("--duration", type=float, default=180.0, help="--freshness: seconds of orders")
    p.add_argument(
        "--scaling",
        action="store_true",
        help="instead: one Silver + Gold incremental run on 1x, 4x, 16x a year of history vs a full refresh",
    )
    p.add_argument("--multiples", default="1,4,16", help="--scaling: years of history, e.g. 1,4,16")
    p.add_argument("--slice-lines", type=int, default=24_000, help="--scaling: lines in the 5-minute slice")
    p.add_argument(
        "--api",
        action="store_true",
        help="instead: the analytics API's latency and memory over a published year (make bench-api)",
    )
    p.add_argument("--lines", type=int, default=541_909, help="--api: lines (the UCI year's)")
    p.add_argument("--clients", type=int, default=4, help="--api: client processes of the cached run")
    p.add_argument(
        "--levels", default="1,4,8", help="--api: client processes of the uncached runs, comma-separated"
    )
    p.add_argument(
        "--reuse", action="store_true", help="--api: serve the year a previous run published, if any"
    )
    p.add_argument("--seconds", type=float, default=15.0, help="--api: seconds per run")
    p.set_defaults(func=_cmd_bench)
    p = sub.add_parser(
        "soak",
        help="the whole pipeline (runner --fast) for an hour: is it steady? (chart + bench/soak.md)",
        description="Run `python -m ingest run --fast` in data/soak for --duration seconds of orders, "
        "print one line a minute (orders/s, dbt run time, freshness, memory per process, Bronze "
        "files, disk), then draw a chart beside --out, append the results and the four targets "
        "(dbt run time, freshness p95, memory growth, Bronze files) to --out and print the targets. "
        "Exit code 1 when a target fails or the runner failed.",
    )
    p.add_argument("--duration", type=float, default=3600.0, help="seconds of orders (default 3600)")
    p.add_argument("--rate", type=float, default=40.0, help="orders per second (default 40)")
    p.add_argument("--out", default="bench/soak.md", help="results appended here; the chart beside it")
    p.add_argument(
        "--sample-every", type=float, default=5.0, help="seconds between memory and disk samples (default 5)"
    )
    p.add_argument(
        "--fresh-p95",
        type=float,
        default=10.0,
        help="the freshness target: p95 under this many seconds (default 10)",
    )
    p.add_argument(
        "--no-equality",
        action="store_true",
        help="no full refresh of the same Bronze compared with the increments after the runner",
    )
    p.set_defaults(func=_cmd_soak)
