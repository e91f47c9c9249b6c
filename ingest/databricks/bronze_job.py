"""Bronze on Databricks: Event Hubs (Kafka endpoint) -> Unity Catalog Delta table, continuously.

A `spark_python_task` of the Bronze job in resources/bronze.job.yml runs this file from the
bundle's synced copy of the repository. It runs the same job code as `python -m ingest bronze`
(ingest/bronze/job.py: Spark's `kafka` source, the same transform and batch stamping, Spark's
Delta writer with `txnAppId`/`txnVersion`); only the configuration differs.

Settings come from the job cluster's environment (`spark_env_vars`, see BronzeConfig):
BRONZE_TABLE_PATH (`catalog.bronze.sales_transactions`), BRONZE_CHECKPOINT_PATH (a
`/Volumes/...` folder), KAFKA_BOOTSTRAP_SERVERS (`<namespace>.servicebus.windows.net:9093`,
derived from the connection string when absent), KAFKA_TOPIC (the event hub). The Event Hubs
connection string comes from a secret scope (ingest/databricks/eventhubs_secret.py), never a file, and
is never printed. With --lag-every N (the bundle sets 60) it prints Bronze's lag against Event
Hubs every N seconds, read with Event Hubs' own SDK (ingest/databricks/eventhubs_lag.py; the
task installs azure-eventhub, the one library it needs beyond the Runtime).

    python ingest/databricks/bronze_job.py --secret-scope orders --secret-key eventhubs-connection-string
"""

from __future__ import annotations

import argparse
import os
import sys
import threading
from collections.abc import Callable, Sequence
from pathlib import Path, PurePosixPath
from typing import Any

from ingest.paths import DataDir


def _bundle_root(argv: Sequence[str]) -> Path:
    """The folder holding the `ingest` package: --bundle-root, else two levels above this file."""
    args = list(argv)
    if "--bundle-root" in args and args.index("--bundle-root") + 1 < len(args):
        return Path(args[args.index("--bundle-root") + 1])
    return Path(__file__).resolve().parents[2]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="bronze_job.py", description=__doc__.splitlines()[0])
    parser.add_argument("--secret-scope", default=None, help="secret scope of the connection string")
    parser.add_argument("--secret-key", default=None, help="key of the connection string in the scope")
    parser.add_argument("--table", default=None, help="default: BRONZE_TABLE_PATH")
    parser.add_argument("--checkpoint", default=None, help="default: BRONZE_CHECKPOINT_PATH")
    parser.add_argument(
        "--available-now",
        action="store_true",
        help="drain what the topic holds, then exit (default: run continuously)",
    )
    parser.add_argument("--trigger-interval", default=None, help='e.g. "10 seconds"')
    parser.add_argument("--max-events-per-batch", type=int, default=None)
    parser.add_argument(
        "--no-create-locations",
        dest="create_locations",
        action="store_false",
        help="do not create the Bronze schema and the checkpoint volume if missing",
    )
    parser.add_argument(
        "--lag-every",
        type=float,
        default=0.0,
        metavar="SECONDS",
        help="print Bronze's lag against Event Hubs (its own SDK) this often; 0: never (default)",
    )
    parser.add_argument("--bundle-root", default=None, help="the synced bundle files (sys.path)")
    return parser


def _quote(identifier: str) -> str:
    return "`" + identifier.replace("`", "``") + "`"


def location_statements(table_path: str, checkpoint_path: str) -> list[str]:
    """SQL creating what the stream needs and may not find: the table's schema, the checkpoint's volume."""
    statements: list[str] = []
    parts = table_path.split(".")
    if "/" not in table_path and len(parts) == 3:
        statements.append(f"CREATE SCHEMA IF NOT EXISTS {_quote(parts[0])}.{_quote(parts[1])}")
    path = PurePosixPath(checkpoint_path)
    if path.parts[:2] == ("/", "Volumes") and len(path.parts) >= 5:
        catalog, schema, volume = path.parts[2:5]
        statements.append(f"CREATE SCHEMA IF NOT EXISTS {_quote(catalog)}.{_quote(schema)}")
        statements.append(f"CREATE VOLUME IF NOT EXISTS {_quote(catalog)}.{_quote(schema)}.{_quote(volume)}")
    return list(dict.fromkeys(statements))


def bronze_config(args: argparse.Namespace, connection_string: str):
    """BronzeConfig for Databricks: the table and checkpoint from the arguments or the environment."""
    from ingest.config import BronzeConfig, KafkaConfig

    table = args.table or os.environ.get("BRONZE_TABLE_PATH")
    checkpoint = args.checkpoint or os.environ.get("BRONZE_CHECKPOINT_PATH")
    missing = [
        name
        for name, value in (("BRONZE_TABLE_PATH", table), ("BRONZE_CHECKPOINT_PATH", checkpoint))
        if not value
    ]
    if missing:
        raise SystemExit(
            f"bronze: set {' and '.join(missing)} (e.g. orders.bronze.sales_transactions and "
            "/Volumes/orders/bronze/checkpoints/bronze_sales_transactions)"
        )
    return BronzeConfig.from_env(
        kafka=KafkaConfig.from_env(eventhubs_connection_string=connection_string),
        table_path=table,
        checkpoint_path=checkpoint,
        trigger_interval=args.trigger_interval,
        max_events_per_batch=args.max_events_per_batch,
        data=DataDir.from_env(),
    )


def describe(config: Any, secret_origin: str) -> str:
    """One line saying what runs; names where the connection string came from, never its value."""
    return (
        f"bronze on Databricks: kafka source, {config.kafka.bootstrap_servers} "
        f"topic {config.kafka.topic} -> delta sink {config.table_path} "
        f"(checkpoint {config.checkpoint_path}); Event Hubs connection string from {secret_origin}"
    )


def report_lag(
    read: Callable[[], tuple[Any, str]], every_s: float, stop: threading.Event, secrets: list[str]
) -> None:
    """Until `stop` is set, print Bronze's lag every `every_s` seconds; a failed reading is one
    redacted line, and the stream goes on."""
    from ingest.databricks.eventhubs_secret import redact

    while not stop.wait(every_s):
        try:
            line = read()[1]
        except Exception as exc:
            line = redact(f"bronze lag: not measured ({type(exc).__name__}: {exc})", secrets)
        print(line, file=sys.stderr, flush=True)


def main(
    argv: Sequence[str] | None = None,
    *,
    spark: Any = None,
    dbutils: Any = None,
    runner: Callable[..., Any] | None = None,
    lag: Callable[[], tuple[Any, str]] | None = None,
) -> int:
    """Run the Bronze stream on Databricks. `spark`, `dbutils`, `runner`, `lag` are for tests."""
    args = build_parser().parse_args(argv)
    from ingest.bronze import job
    from ingest.databricks import eventhubs_secret as secrets

    if dbutils is None and os.environ.get("DATABRICKS_RUNTIME_VERSION"):
        spark = spark if spark is not None else job.local_spark("bronze-databricks")
        dbutils = secrets.get_dbutils(spark)
    ref = secrets.SecretRef.from_args(args.secret_scope, args.secret_key, os.environ)
    secret = secrets.resolve_connection_string(ref, dbutils, os.environ)
    config = bronze_config(args, secret.value)  # its repr leaves the connection string out
    print(describe(config, secret.origin), file=sys.stderr)
    spark = spark if spark is not None else job.local_spark("bronze-databricks")
    stop = threading.Event()
    if args.lag_every > 0:
        if lag is None:
            from ingest.databricks import eventhubs_lag

            def lag() -> tuple[Any, str]:
                return eventhubs_lag.bronze_lag(spark, config.table_path, secret.value, config.kafka.topic)

        reporter = threading.Thread(
            target=report_lag,
            args=(lag, args.lag_every, stop, [secret.value]),
            name="bronze-lag",
            daemon=True,
        )
        reporter.start()
    try:
        if args.create_locations:
            for statement in location_statements(config.table_path, config.checkpoint_path):
                spark.sql(statement)
        stats = (runner or job.run)(config, available_now=args.available_now, spark=spark)
    except Exception as exc:
        # A failure's message may quote the source's options: never let the secret out with it.
        raise RuntimeError(secrets.redact(f"{type(exc).__name__}: {exc}", [secret.value])) from None
    finally:
        stop.set()
    print(f"bronze: landed {stats.landed:,} events in {config.table_path}", file=sys.stderr)
    return 0


def use_bundle_root(argv: Sequence[str]) -> None:
    """A python_file task puts only this file's folder on sys.path, first: put the bundle root
    there instead, so `ingest` imports and no module of this folder shadows another one."""
    here = str(Path(__file__).resolve().parent)
    sys.path[:] = [p for p in sys.path if not p or Path(p).resolve().as_posix() != here]
    root = str(_bundle_root(argv))
    if root not in sys.path:
        sys.path.insert(0, root)


if __name__ == "__main__":
    use_bundle_root(sys.argv[1:])
    code = main()
    if code:
        sys.exit(code)
