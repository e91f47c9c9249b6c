"""`python -m ingest orders ...`: the orders database, the simulator, the outbox relay, the
replay and the relay's lag."""

from __future__ import annotations

import argparse
import signal
import sys
import threading

from ingest.local import discovery
from ingest.orders import DEFAULT_RETENTION_MINUTES
from ingest.paths import DataDir


def _cmd_orders_db(args: argparse.Namespace) -> int:
    from ingest.orders import migrate, postgres

    data = DataDir.from_env()
    if args.action == "start":
        try:
            pg = postgres.start(port=args.port, data=data)
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
        print("orders database stopped" if postgres.stop(data=data) else "no orders database was running")
    elif args.action == "remove":
        postgres.remove(data=data)
        print(f"orders database removed ({postgres.cluster_dir(data=data)})")
    else:
        pg = postgres.status(data=data)
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
        discovery.orders_dsn(DataDir.from_env()),
        rows,
        rate=args.rate,
        max_orders=args.orders,
        duration_s=args.duration,
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
    config = RelayConfig(
        dsn=discovery.orders_dsn(DataDir.from_env()),
        kafka=discovery.kafka_config(DataDir.from_env()),
        retention_s=args.retention_minutes * 60,
    )
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
        result = replay.replay(
            discovery.orders_dsn(data),
            discovery.kafka_config(data),
            data.bronze_table,
            everything=args.all,
        )
    except replay.ReplayError as exc:
        print(str(exc), file=sys.stderr)
        return 1
    print(f"replay: {result.summary()}")
    if result.plan.from_id is not None:
        print("replay: now read the new topic from its start: python -m ingest bronze --reset-checkpoint")
    return 0


def _cmd_orders_lag(args: argparse.Namespace) -> int:
    from ingest.orders.outbox import lag, retention

    dsn = discovery.orders_dsn(DataDir.from_env())
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


def add_parser(sub) -> None:
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
