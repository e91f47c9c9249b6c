"""Command line: `python -m ingest COMMAND`. Run `python -m ingest --help` for the list."""

from __future__ import annotations

import argparse
import logging
import os
import sys

from ingest import jvm
from ingest.api import server as api_server
from ingest.benchmarks import cli as benchmarks_cli
from ingest.config import DEFAULT_PARTITIONS, BronzeConfig, KafkaConfig, LogRetention, Settings
from ingest.local import discovery
from ingest.local.run_options import RunnerOptions, add_arguments
from ingest.orders import cli as orders_cli
from ingest.paths import DataDir, delta_table_exists


def _cmd_broker(args: argparse.Namespace) -> int:
    from ingest.local import broker
    from ingest.local.broker_setup import SASL_SECRET_ENV

    data = DataDir.from_env()
    if args.action == "start":
        sasl = os.environ.get(SASL_SECRET_ENV) or None
        b = broker.start(
            port=args.port,
            partitions=args.partitions,
            retention=LogRetention.from_env(),
            sasl_connection_string=sasl,
            data=data,
        )
        print(f"broker running: pid {b.pid}, bootstrap {b.bootstrap_servers}")
        if b.sasl_port:
            print(f"SASL/PLAIN listener (user $ConnectionString): {b.sasl_bootstrap_servers}")
    elif args.action == "stop":
        print("broker stopped" if broker.stop(data=data) else "no broker was running")
    else:
        b = broker.status(data=data)
        print(f"broker running: pid {b.pid}, bootstrap {b.bootstrap_servers}" if b else "no broker running")
        return 0 if b else 1
    return 0


def _cmd_produce(args: argparse.Namespace) -> int:
    from ingest import producer

    kafka = discovery.kafka_config(DataDir.from_env())
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

    data = DataDir.from_env()
    # Event Hubs from the environment, else KAFKA_BOOTSTRAP_SERVERS, else the broker this project started
    kafka = (
        KafkaConfig.from_env()
        if os.environ.get("EVENTHUBS_CONNECTION_STRING")
        else discovery.kafka_config(data)
    )
    config = BronzeConfig.from_env(
        data,
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
    from ingest.local import demo

    return demo.main(Settings.from_env(), events=args.events, csv_path=args.csv, seed=args.seed)


def _cmd_summary(args: argparse.Namespace) -> int:
    from ingest import summary

    settings = Settings.from_env()
    print(summary.render(summary.collect(settings.data, settings.bronze.table_path)))
    return 0


def _cmd_run(args: argparse.Namespace) -> int:
    from ingest.local import runner

    return runner.main(RunnerOptions.from_args(args), Settings.from_env())


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

    p = sub.add_parser("run", help="the whole pipeline, continuously (Ctrl-C stops it)")
    add_arguments(p)
    p.set_defaults(func=_cmd_run)

    orders_cli.add_parser(sub)
    benchmarks_cli.add_parser(sub)
    api_server.add_parser(sub)
    from ingest.dashboard import server as dashboard_server

    dashboard_server.add_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    for name, value in jvm.LOCAL_SPARK_ENVIRONMENT.items():  # before any SparkSession's JVM starts
        os.environ.setdefault(name, value)
    args = build_parser().parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
