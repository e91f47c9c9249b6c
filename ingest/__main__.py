"""Command line: `python -m ingest COMMAND`. Run `python -m ingest --help` for the list."""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import threading

from ingest.api import server as api_server
from ingest.config import DEFAULT_PARTITIONS, BronzeConfig, KafkaConfig
from ingest.orders import DEFAULT_RETENTION_MINUTES
from ingest.paths import DataDir, delta_table_exists
from ingest.run_options import DEFAULT_ORDER_RATE, RunnerOptions, add_arguments


def _cmd_broker(args: argparse.Namespace) -> int:
    from ingest import broker

    if args.action == "start":
        sasl = os.environ.get(broker.SASL_SECRET_ENV) or None
        b = broker.start(
            port=args.port,
            partitions=args.partitions,
            retention=broker.Retention.from_env(),
            sasl_connection_string=sasl,
        )
        print(f"broker running: pid {b.pid}, bootstrap {b.bootstrap_servers}")
        if b.sasl_port:
            print(f"SASL/PLAIN listener (user $ConnectionString): {b.sasl_bootstrap_servers}")
    elif args.action == "stop":
        print("broker stopped" if broker.stop() else "no broker was running")
    else:
        b = broker.status()
        print(f"broker running: pid {b.pid}, bootstrap {b.bootstrap_servers}" if b else "no broker running")
        return 0 if b else 1
    return 0


def _kafka_config():
    """Kafka settings from the environment, defaulting to the broker this project started."""
    from ingest import broker

    config = KafkaConfig.from_env()
    if "KAFKA_BOOTSTRAP_SERVERS" not in os.environ:
        running = broker.status()
        if running is None:
            raise SystemExit(
                "no broker: start one with `python -m ingest broker start` or set KAFKA_BOOTSTRAP_SERVERS"
            )
        config = KafkaConfig(bootstrap_servers=running.bootstrap_servers, topic=config.topic)
    return config


def _cmd_produce(args: argparse.Namespace) -> int:
    from ingest import producer

    kafka = _kafka_config()
    if args.csv:
        try:
            result = producer.publish_csv(args.csv, kafka)
        except (OSError, producer.CsvFormatError) as exc:
            print(f"produce: {exc}", file=sys.stderr)
            return 2
    else:
        result = producer.publish_synthetic(args.synthetic, kafka, seed=args.seed)
    print(result.summary())
    return 1 if result.failed else 0


def _cmd_generate(args: argparse.Namespace) -> int:
    from ingest.generator import write_csv

    count = write_csv(args.out, args.rows, seed=args.seed)
    print(f"wrote {count:,} lines to {args.out}")
    return 0


def _cmd_bronze(args: argparse.Namespace) -> int:
    from ingest.bronze import job

    # Event Hubs from the environment, else KAFKA_BOOTSTRAP_SERVERS, else the broker this project started
    kafka = KafkaConfig.from_env() if os.environ.get("EVENTHUBS_CONNECTION_STRING") else _kafka_config()
    config = BronzeConfig.from_env(
        DataDir.from_env(),
        kafka=kafka,
        trigger_interval=args.trigger_interval,
        max_events_per_batch=args.max_events_per_batch,
    )
    if args.reset_checkpoint:
        job.reset_checkpoint(config)
    try:
        landed = job.run(config, available_now=args.available_now).landed
    except job.OffsetMismatchError as exc:
        print(f"bronze: {exc}", file=sys.stderr)
        return 3
    print(f"bronze: landed {landed:,} events in {config.table_path}")
    return 0


def _cmd_compact(args: argparse.Namespace) -> int:
    from ingest.bronze import maintenance

    table = DataDir.from_env().bronze_table
    if not delta_table_exists(table):
        print(f"compact: no Bronze table at {table} yet", file=sys.stderr)
        return 1
    print(maintenance.compact(table, retention_hours=args.retention_hours).summary())
    return 0


def _cmd_demo(args: argparse.Namespace) -> int:
    from ingest import demo

    return demo.main(events=args.events, csv_path=args.csv, seed=args.seed, data=DataDir.from_env())


def _cmd_summary(args: argparse.Namespace) -> int:
    from ingest import summary

    print(summary.render(summary.collect(DataDir.from_env())))
    return 0


def _cmd_bench(args: argparse.Namespace) -> int:
    from ingest import bench

    data = DataDir.from_env()
    if args.scaling:
        from ingest import scaling_bench

        multiples = [int(m) for m in args.multiples.split(",")]
        return scaling_bench.main(multiples, args.slice_lines, out=args.out, data=data)
    if args.replay:
        from ingest import replay_bench

        return replay_bench.main(out=args.out, data=data)
    if args.freshness:
        return bench.freshness_bench(rate=args.rate, duration_s=args.duration, out=args.out, data=data)
    return bench.main(events=args.events, out=args.out, silver_history=args.silver_history, data=data)


def _cmd_soak(args: argparse.Namespace) -> int:
    from ingest import soak

    options = soak.SoakOptions(
        duration_s=args.duration,
        rate=args.rate,
        out=args.out,
        sample_every_s=args.sample_every,
        freshness_limit_s=args.fresh_p95,
        equality=not args.no_equality,
    )
    return soak.main(options, DataDir.from_env())


def _orders_dsn() -> str:
    """The orders database: ORDERS_DATABASE_DSN, or the cluster this project started."""
    from ingest.orders import postgres

    if os.environ.get("ORDERS_DATABASE_DSN"):
        return os.environ["ORDERS_DATABASE_DSN"]
    running = postgres.status()
    if running is None:
        raise SystemExit(
            "no orders database: start it with `python -m ingest orders db start` or set ORDERS_DATABASE_DSN"
        )
    return running.dsn()


def _cmd_orders_db(args: argparse.Namespace) -> int:
    from ingest.orders import migrate, postgres

    if args.action == "start":
        try:
            pg = postgres.start(port=args.port)
            applied = migrate.apply(pg.dsn())
            created = migrate.ensure_slot(pg.dsn(), postgres.SLOT)
        except (postgres.PostgresError, migrate.MigrationError) as exc:
            print(f"orders db: {exc}", file=sys.stderr)
            return 2
        print(f"orders database running: pid {pg.pid}, {pg.dsn()}")
        for migration in applied:
            print(f"  applied migration {migration.version:04d}_{migration.name}")
        if created:
            print(f"  created replication slot {postgres.SLOT}")
    elif args.action == "stop":
        print("orders database stopped" if postgres.stop() else "no orders database was running")
    elif args.action == "remove":
        postgres.remove()
        print(f"orders database removed ({postgres.cluster_dir()})")
    else:
        pg = postgres.status()
        print(f"orders database running: pid {pg.pid}, {pg.dsn()}" if pg else "no orders database running")
        return 0 if pg else 1
    return 0


def _stop_on_sigterm() -> None:
    def handler(signum, frame):
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, handler)


def _cmd_orders_simulate(args: argparse.Namespace) -> int:
    from ingest.orders import simulator

    _stop_on_sigterm()
    rows = simulator.csv_rows(args.csv) if args.csv else simulator.synthetic_rows(args.lines, args.seed)
    result = simulator.simulate(
        _orders_dsn(), rows, rate=args.rate, max_orders=args.orders, duration_s=args.duration
    )
    print(result.summary())
    return 0


def _cmd_orders_relay(args: argparse.Namespace) -> int:
    from ingest.orders.relay import Relay, RelayConfig

    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):  # finish in-flight deliveries, confirm them, then exit
        signal.signal(sig, lambda signum, frame: stop.set())
    if args.retention_minutes < 0:
        print("relay: --retention-minutes cannot be negative", file=sys.stderr)
        return 2
    config = RelayConfig(dsn=_orders_dsn(), kafka=_kafka_config(), retention_s=args.retention_minutes * 60)
    stats = Relay(config).run(stop, max_seconds=args.duration)
    print(
        f"relay: published {stats.published:,} events in {stats.transactions:,} transactions, "
        f"pruned {stats.pruned:,} outbox rows older than the retention window, {stats.restarts} restarts"
    )
    return 0


def _cmd_orders_replay(args: argparse.Namespace) -> int:
    from ingest.orders import replay

    data = DataDir.from_env()
    try:
        result = replay.replay(_orders_dsn(), _kafka_config(), data.bronze_table, everything=args.all)
    except replay.ReplayError as exc:
        print(str(exc), file=sys.stderr)
        return 1
    print(f"replay: {result.summary()}")
    if result.plan.from_id is not None:
        print("replay: now read the new topic from its start: python -m ingest bronze --reset-checkpoint")
    return 0


def _cmd_orders_lag(args: argparse.Namespace) -> int:
    from ingest.orders.outbox import lag, retention

    dsn = _orders_dsn()
    current, kept = lag(dsn), retention(dsn)
    wal = f"{current.wal_bytes:,} WAL bytes" if current.wal_bytes is not None else "no slot"
    print(
        f"relay lag: {current.rows:,} outbox rows, oldest {current.seconds:.1f}s, {wal}, "
        f"slot {'active' if current.slot_active else 'inactive'}"
    )
    print(
        f"retained: {kept.rows:,} published outbox rows, oldest published "
        f"{kept.oldest_published_s:.0f}s ago; {kept.pruned:,} pruned so far"
    )
    return 0


def _cmd_run(args: argparse.Namespace) -> int:
    from ingest import runner

    return runner.main(RunnerOptions.from_args(args), DataDir.from_env())


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m ingest", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser(
        "broker",
        help="start, stop or check the local Apache Kafka broker (KRaft, log in data/kafka); "
        "KAFKA_RETENTION_HOURS / KAFKA_RETENTION_GB bound its log; with "
        "BROKER_SASL_CONNECTION_STRING set it also opens a SASL/PLAIN listener as Event Hubs'",
    )
    p.add_argument("action", choices=["start", "stop", "status"])
    p.add_argument("--port", type=int, default=None, help="default: a free port")
    p.add_argument("--partitions", type=int, default=DEFAULT_PARTITIONS)
    p.set_defaults(func=_cmd_broker)

    p = sub.add_parser("produce", help="publish order lines to the topic")
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--csv", help="a Sales Transaction v.4a CSV file")
    src.add_argument("--synthetic", type=int, metavar="N", help="generate and publish N lines")
    p.add_argument("--seed", type=int, default=42)
    p.set_defaults(func=_cmd_produce)

    p = sub.add_parser("compact", help="compact Bronze's small files and delete the ones no longer needed")
    p.add_argument(
        "--retention-hours",
        type=float,
        default=1.0,
        help="keep files a compaction replaced this long for readers that started before it (default 1)",
    )
    p.set_defaults(func=_cmd_compact)

    p = sub.add_parser("generate", help="write a synthetic v.4a CSV")
    p.add_argument("--rows", type=int, required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--seed", type=int, default=42)
    p.set_defaults(func=_cmd_generate)

    p = sub.add_parser("bronze", help="run the Bronze streaming ingester")
    p.add_argument(
        "--available-now",
        action="store_true",
        help="drain: read everything in the topic now, then exit (default: run continuously)",
    )
    p.add_argument("--trigger-interval", default=None, help='continuous mode, e.g. "10 seconds"')
    p.add_argument("--max-events-per-batch", type=int, default=None)
    p.add_argument(
        "--reset-checkpoint",
        action="store_true",
        help="forget the stream position (Bronze keeps its rows) and read the topic from the start",
    )
    p.set_defaults(func=_cmd_bronze)

    p = sub.add_parser("demo", help="the whole pipeline on the embedded default")
    p.add_argument("--events", type=int, default=100_000)
    p.add_argument("--csv", default=None, help="publish this v.4a CSV instead of synthetic lines")
    p.add_argument("--seed", type=int, default=42)
    p.set_defaults(func=_cmd_demo)

    p = sub.add_parser("summary", help="print counts per layer and top countries")
    p.set_defaults(func=_cmd_summary)

    from ingest import quality

    p = sub.add_parser("dq", help="print the data-quality record of the last Silver runs")
    p.add_argument("--runs", type=int, default=10, help="how many runs, newest first (at most 100)")
    p.set_defaults(func=lambda args: quality.main(args.runs, DataDir.from_env()))

    from ingest.powerbi import command as powerbi

    p = sub.add_parser("powerbi", help="regenerate the Power BI kit (powerbi/) from the semantic layer")
    powerbi.add_arguments(p)
    p.set_defaults(func=powerbi.main)

    from ingest.databricks import metric_views

    p = sub.add_parser(
        "metric-views",
        help="regenerate the Unity Catalog metric views (models/marts/metric_views/) from the semantic layer",
    )
    metric_views.add_arguments(p)
    p.set_defaults(func=metric_views.main)

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

    p = sub.add_parser("orders", help="the orders database, the orders simulator and the outbox relay")
    orders = p.add_subparsers(dest="orders_command", required=True)
    q = orders.add_parser("db", help="start, stop, check or remove the orders database (PostgreSQL)")
    q.add_argument("action", choices=["start", "stop", "status", "remove"])
    q.add_argument("--port", type=int, default=None, help="default: a free port")
    q.set_defaults(func=_cmd_orders_db)
    q = orders.add_parser("simulate", help="place orders (order + lines + outbox in one transaction)")
    q.add_argument("--rate", type=float, default=10.0, help="orders per second (0: as fast as possible)")
    q.add_argument("--orders", type=int, default=None, help="stop after this many orders")
    q.add_argument("--duration", type=float, default=None, help="stop after this many seconds")
    q.add_argument("--csv", default=None, help="replay this v.4a CSV instead of synthetic lines")
    q.add_argument("--lines", type=int, default=10_000_000, help="synthetic lines available")
    q.add_argument("--seed", type=int, default=42)
    q.set_defaults(func=_cmd_orders_simulate)
    q = orders.add_parser(
        "relay",
        help="publish the outbox to the topic (logical replication)",
        description="Publish committed outbox rows to the topic through logical replication, at least "
        "once. A row the broker acknowledged is marked published (published_at) and kept in the outbox "
        "for the retention window, then pruned; a row not yet published is never pruned. The retained "
        "rows are what `orders replay` publishes again when a broker lost acknowledged events.",
    )
    q.add_argument("--duration", type=float, default=None, help="stop after this many seconds")
    q.add_argument(
        "--retention-minutes",
        type=float,
        default=DEFAULT_RETENTION_MINUTES,
        help="keep published outbox rows this long for a replay (default %(default)g; 0: prune them "
        "as soon as they are published, and a broker that loses events cannot be replayed)",
    )
    q.set_defaults(func=_cmd_orders_relay)
    q = orders.add_parser(
        "replay",
        help="publish retained outbox rows again after the broker lost events",
        description="Publish again the retained outbox rows from the oldest one Bronze has not landed "
        "(Bronze's table in the data directory tells; --all: the whole retention window), in outbox "
        "order. Then restart Bronze with --reset-checkpoint so it reads the new topic from its start; "
        "Silver drops the events it already had by event_id. `make run` does all of this by itself "
        "when its broker dies.",
    )
    q.add_argument(
        "--all", action="store_true", help="every retained row, whatever Bronze holds (e.g. no local Bronze)"
    )
    q.set_defaults(func=_cmd_orders_replay)
    q = orders.add_parser("lag", help="how far the relay is behind the outbox")
    q.set_defaults(func=_cmd_orders_lag)

    p = sub.add_parser("run", help="the whole pipeline, continuously (Ctrl-C stops it)")
    add_arguments(p)
    p.set_defaults(func=_cmd_run)

    api_server.add_parser(sub)
    from ingest.dashboard import server as dashboard_server

    dashboard_server.add_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    args = build_parser().parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
