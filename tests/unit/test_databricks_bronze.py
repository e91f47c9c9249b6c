"""The Bronze entry point for Databricks, offline: Event Hubs options, secret lookup, no leaks.

No workspace here, and no Kafka or Delta jars: Spark, dbutils and the streaming run are
replaced by small fakes that record what the code asks of them.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import pytest

from ingest.bronze import job, sinks
from ingest.config import BronzeConfig, KafkaConfig, eventhubs_bootstrap_servers
from ingest.databricks import bronze_job
from ingest.databricks import eventhubs_secret as secrets

REPO = Path(__file__).resolve().parents[2]
SHARED_KEY = "s3cr3tK3yBase64+/AbCdEfGh1234567890abcdefg="
CONNECTION_STRING = (
    f"Endpoint=sb://orders-ns.servicebus.windows.net/;SharedAccessKeyName=listen;SharedAccessKey={SHARED_KEY}"
)
SCOPE, KEY = "orders", "eventhubs-connection-string"


class FakeSecrets:
    def __init__(self, values: dict[tuple[str, str], str]) -> None:
        self.values = values
        self.calls: list[tuple[str, str]] = []

    def get(self, scope: str, key: str) -> str:
        self.calls.append((scope, key))
        return self.values[(scope, key)]


def fake_dbutils(value: str = CONNECTION_STRING) -> SimpleNamespace:
    return SimpleNamespace(secrets=FakeSecrets({(SCOPE, KEY): value}))


class Recorder:
    """Stands for SparkSession, DataStreamReader and DataFrameWriter: records every call."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, tuple, dict]] = []

    def __getattr__(self, name: str):
        def record(*args, **kwargs):
            self.calls.append((name, args, kwargs))
            return self

        return record

    @property
    def readStream(self):
        return self

    @property
    def write(self):
        return self

    def named(self, name: str) -> list[tuple[tuple, dict]]:
        return [(args, kwargs) for call, args, kwargs in self.calls if call == name]


@pytest.fixture
def databricks_env(monkeypatch, tmp_path):
    """The job cluster's environment as resources/bronze.job.yml sets it, minus the secret."""
    for name in list(os.environ):
        if name.startswith(("BRONZE_", "KAFKA_", "EVENTHUBS_")):
            monkeypatch.delenv(name)
    monkeypatch.delenv("DATABRICKS_RUNTIME_VERSION", raising=False)
    monkeypatch.setenv("BRONZE_TABLE_PATH", "orders.bronze.sales_transactions")
    monkeypatch.setenv(
        "BRONZE_CHECKPOINT_PATH", "/Volumes/orders/bronze/checkpoints/bronze_sales_transactions"
    )
    monkeypatch.setenv("KAFKA_TOPIC", "sales-transactions-raw")
    return monkeypatch


def run_main(argv: list[str], dbutils=None, runner=None) -> tuple[Recorder, list[BronzeConfig]]:
    spark = Recorder()
    seen: list[BronzeConfig] = []

    def fake_run(config, available_now, spark):
        seen.append(config)
        return job.BronzeRun(landed=3)

    bronze_job.main(argv, spark=spark, dbutils=dbutils, runner=runner or fake_run)
    return spark, seen


# --- Event Hubs' Kafka endpoint -------------------------------------------------------------


def test_bootstrap_server_is_the_namespace_kafka_endpoint():
    assert eventhubs_bootstrap_servers(CONNECTION_STRING) == "orders-ns.servicebus.windows.net:9093"
    assert eventhubs_bootstrap_servers("SharedAccessKey=x") is None


def test_native_kafka_source_gets_sasl_ssl_plain_and_the_connection_string(databricks_env):
    databricks_env.setenv("EVENTHUBS_CONNECTION_STRING", CONNECTION_STRING)
    databricks_env.setenv("DATABRICKS_RUNTIME_VERSION", "17.3")  # the runtime's shaded Kafka client
    config = bronze_job.bronze_config(bronze_job.build_parser().parse_args([]), CONNECTION_STRING)
    spark = Recorder()
    job.read_kafka(spark, config)

    assert spark.named("format") == [(("kafka",), {})]
    ((_, options),) = spark.named("options")
    assert options["kafka.bootstrap.servers"] == "orders-ns.servicebus.windows.net:9093"
    assert options["subscribe"] == "sales-transactions-raw"
    assert options["kafka.security.protocol"] == "SASL_SSL"
    assert options["kafka.sasl.mechanism"] == "PLAIN"
    jaas = options["kafka.sasl.jaas.config"]
    assert jaas.startswith("kafkashaded.org.apache.kafka.common.security.plain.PlainLoginModule required ")
    assert 'username="$ConnectionString"' in jaas
    assert f'password="{CONNECTION_STRING}";' in jaas
    assert options["startingOffsets"] == "earliest"
    assert options["failOnDataLoss"] == "true"


def test_databricks_defaults_are_the_unity_catalog_table_and_the_shaded_login_module(databricks_env):
    databricks_env.setenv("DATABRICKS_RUNTIME_VERSION", "17.3")
    config = bronze_job.bronze_config(bronze_job.build_parser().parse_args([]), CONNECTION_STRING)
    assert config.kafka.shaded_kafka_classes
    assert config.kafka.security_protocol == "SASL_SSL"
    assert config.table_path == "orders.bronze.sales_transactions"


def test_off_databricks_the_login_module_is_kafkas_own(databricks_env):
    config = bronze_job.bronze_config(bronze_job.build_parser().parse_args([]), CONNECTION_STRING)
    jaas = config.kafka.spark_options()["kafka.sasl.jaas.config"]
    assert jaas.startswith("org.apache.kafka.common.security.plain.PlainLoginModule required ")


def test_table_and_checkpoint_are_required_on_databricks(databricks_env):
    databricks_env.delenv("BRONZE_TABLE_PATH")
    with pytest.raises(SystemExit, match="BRONZE_TABLE_PATH"):
        bronze_job.bronze_config(bronze_job.build_parser().parse_args([]), CONNECTION_STRING)


def test_delta_sink_appends_with_the_query_app_id_and_the_batch_id(tmp_path):
    checkpoint = tmp_path / "checkpoint"
    checkpoint.mkdir()
    (checkpoint / "metadata").write_text(json.dumps({"id": "q-123"}))
    batch = Recorder()
    sinks.delta_writer("orders.bronze.sales_transactions", str(checkpoint), "bronze_q")(batch, 7)

    assert batch.named("format") == [(("delta",), {})]
    assert batch.named("mode") == [(("append",), {})]
    options = dict(args for args, _ in batch.named("option"))
    assert (options["txnAppId"], options["txnVersion"]) == ("bronze_q:q-123", 7)
    assert batch.named("saveAsTable") == [(("orders.bronze.sales_transactions",), {})]


# --- where the connection string comes from --------------------------------------------------


def test_the_environment_variable_wins_and_dbutils_is_not_asked():
    dbutils = fake_dbutils("from-the-scope")
    secret = secrets.resolve_connection_string(
        secrets.SecretRef(SCOPE, KEY), dbutils, env={"EVENTHUBS_CONNECTION_STRING": CONNECTION_STRING}
    )
    assert secret.value == CONNECTION_STRING
    assert secret.origin == "environment variable EVENTHUBS_CONNECTION_STRING"
    assert dbutils.secrets.calls == []


def test_without_the_variable_the_secret_scope_is_read_through_dbutils():
    dbutils = fake_dbutils()
    secret = secrets.resolve_connection_string(secrets.SecretRef(SCOPE, KEY), dbutils, env={})
    assert secret.value == CONNECTION_STRING
    assert dbutils.secrets.calls == [(SCOPE, KEY)]
    assert "secret scope orders/eventhubs-connection-string" in secret.origin


def test_an_unresolved_secret_reference_in_the_variable_falls_back_to_dbutils():
    dbutils = fake_dbutils()
    env = {"EVENTHUBS_CONNECTION_STRING": "{{secrets/orders/eventhubs-connection-string}}"}
    secret = secrets.resolve_connection_string(secrets.SecretRef(SCOPE, KEY), dbutils, env=env)
    assert secret.value == CONNECTION_STRING


def test_scope_and_key_come_from_parameters_first_then_the_environment():
    env = {"EVENTHUBS_SECRET_SCOPE": "env-scope", "EVENTHUBS_SECRET_KEY": "env-key"}
    assert secrets.SecretRef.from_args("p-scope", "p-key", env) == secrets.SecretRef("p-scope", "p-key")
    assert secrets.SecretRef.from_args(None, None, env) == secrets.SecretRef("env-scope", "env-key")
    assert secrets.SecretRef.from_args(None, None, {}) is None


def test_no_source_at_all_says_what_to_set():
    with pytest.raises(secrets.SecretNotFoundError) as error:
        secrets.resolve_connection_string(None, None, env={})
    message = str(error.value)
    assert "EVENTHUBS_CONNECTION_STRING is not set" in message
    assert "--secret-scope" in message
    assert "dbutils is not available" in message


def test_get_dbutils_is_none_outside_databricks(monkeypatch):
    monkeypatch.delenv("DATABRICKS_RUNTIME_VERSION", raising=False)
    assert secrets.get_dbutils(object()) is None


# --- the entry point, end to end with fakes, and what it prints ------------------------------


def test_main_runs_the_job_code_with_kafka_and_delta_and_creates_the_locations(databricks_env, capsys):
    spark, seen = run_main(["--secret-scope", SCOPE, "--secret-key", KEY], dbutils=fake_dbutils())

    (config,) = seen
    assert config.kafka.eventhubs_connection_string == CONNECTION_STRING
    assert config.kafka.bootstrap_servers == "orders-ns.servicebus.windows.net:9093"
    assert [args[0] for args, _ in spark.named("sql")] == [
        "CREATE SCHEMA IF NOT EXISTS `orders`.`bronze`",
        "CREATE VOLUME IF NOT EXISTS `orders`.`bronze`.`checkpoints`",
    ]
    err = capsys.readouterr().err
    assert "Event Hubs connection string from secret scope orders/eventhubs-connection-string" in err
    assert "landed 3 events" in err


def test_no_secret_value_is_ever_printed(databricks_env, capsys, caplog):
    databricks_env.setenv("EVENTHUBS_CONNECTION_STRING", CONNECTION_STRING)
    _, (config,) = run_main([])

    out, err = capsys.readouterr()
    printed = out + err + caplog.text + repr(config) + repr(config.kafka) + str(config)
    assert "environment variable EVENTHUBS_CONNECTION_STRING" in err
    assert CONNECTION_STRING not in printed
    assert SHARED_KEY not in printed


def test_a_failure_quoting_the_options_is_reported_without_the_secret(databricks_env, capsys):
    databricks_env.setenv("EVENTHUBS_CONNECTION_STRING", CONNECTION_STRING)

    def failing_run(config, available_now, spark):
        options = config.kafka.spark_options()
        raise RuntimeError(f"bronze query failed: {options['kafka.sasl.jaas.config']} key={SHARED_KEY}")

    with pytest.raises(RuntimeError) as error:
        run_main([], runner=failing_run)
    assert "bronze query failed" in str(error.value)
    assert secrets.REDACTED in str(error.value)
    assert CONNECTION_STRING not in str(error.value)
    assert SHARED_KEY not in str(error.value)
    assert error.value.__cause__ is None and error.value.__suppress_context__
    out, err = capsys.readouterr()
    assert SHARED_KEY not in out + err


def test_locations_are_only_created_for_unity_catalog_names_and_volumes():
    assert bronze_job.location_statements("/mnt/bronze/t", "/tmp/checkpoint") == []
    assert bronze_job.location_statements("main.bronze.t", "dbfs:/checkpoints/x") == [
        "CREATE SCHEMA IF NOT EXISTS `main`.`bronze`"
    ]


@pytest.mark.parametrize("root_args", [[], ["--bundle-root", str(REPO)]], ids=["from __file__", "given"])
def test_the_file_runs_as_a_python_file_task_from_any_folder(tmp_path, root_args):
    """A spark_python_task runs the file with only its own folder on sys.path."""
    env = {"PATH": os.environ["PATH"], "HOME": str(tmp_path)}
    result = subprocess.run(
        [sys.executable, str(REPO / "ingest/databricks/bronze_job.py"), *root_args],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    # No secret anywhere: it stops at the lookup, which proves `ingest` was imported.
    assert result.returncode != 0
    assert "SecretNotFoundError: no Event Hubs connection string" in result.stderr


def test_kafka_config_repr_hides_the_connection_string():
    config = KafkaConfig.from_env(eventhubs_connection_string=CONNECTION_STRING)
    assert CONNECTION_STRING not in repr(config)
    assert SHARED_KEY not in repr(config)


# --- Bronze's lag against Event Hubs (--lag-every) ------------------------------------------


def slow_run(config, available_now, spark):
    time.sleep(0.4)
    return job.BronzeRun(landed=3)


def test_the_lag_is_printed_while_the_stream_runs(databricks_env, capsys):
    databricks_env.setenv("EVENTHUBS_CONNECTION_STRING", CONNECTION_STRING)
    readings = []

    def lag():
        readings.append(time.monotonic())
        return None, "bronze lag: 12 events, 0.4 s behind (4 partitions, 1 behind)"

    bronze_job.main(["--lag-every", "0.1"], spark=Recorder(), runner=slow_run, lag=lag)
    err = capsys.readouterr().err
    assert "bronze lag: 12 events, 0.4 s behind" in err
    count = len(readings)
    time.sleep(0.3)
    assert len(readings) == count >= 1, "the lag is read while the stream runs, and not after"


def test_a_failed_lag_reading_is_one_redacted_line_and_the_stream_goes_on(databricks_env, capsys):
    databricks_env.setenv("EVENTHUBS_CONNECTION_STRING", CONNECTION_STRING)

    def lag():
        raise ConnectionError(f"cannot reach {CONNECTION_STRING}")

    assert bronze_job.main(["--lag-every", "0.1"], spark=Recorder(), runner=slow_run, lag=lag) == 0
    err = capsys.readouterr().err
    assert "bronze lag: not measured (ConnectionError: cannot reach [REDACTED]" in err
    assert SHARED_KEY not in err and "bronze: landed 3 events" in err


def test_without_lag_every_the_lag_is_never_read(databricks_env):
    databricks_env.setenv("EVENTHUBS_CONNECTION_STRING", CONNECTION_STRING)

    def lag():
        raise AssertionError("read")

    assert bronze_job.main([], spark=Recorder(), runner=slow_run, lag=lag) == 0
