"""The JVM jars: pinned in jvm/jars.lock (coordinates and sha256), fetched by set-up, handed to
Spark and the broker by path; a missing jar or an unreachable Maven Central is said in one line."""

from __future__ import annotations

import importlib.util
import re
import subprocess
from pathlib import Path

import pyspark
import pytest

from ingest import jvm

REPO = Path(__file__).resolve().parents[2]


def load_jars_script():
    spec = importlib.util.spec_from_file_location("jars_script", REPO / "scripts" / "jars.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def locked() -> list[tuple[str, str, str]]:
    rows = []
    for line in jvm.LOCK.read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            jar_set, coordinates, digest = line.split()
            rows.append((jar_set, coordinates, digest))
    return rows


def test_every_locked_jar_has_coordinates_and_a_sha256():
    rows = locked()
    assert {jar_set for jar_set, _, _ in rows} == {"kafka", "spark"}
    for _, coordinates, digest in rows:
        assert len(coordinates.split(":")) == 3, coordinates
        assert re.fullmatch(r"[0-9a-f]{64}", digest), coordinates


def test_the_spark_connectors_match_the_installed_pyspark_line():
    spark = {c.split(":")[1]: c.split(":")[2] for s, c, _ in locked() if s == "spark"}
    major_minor = ".".join(pyspark.__version__.split(".")[:2])
    assert spark["spark-sql-kafka-0-10_2.13"].startswith(major_minor + ".")
    assert spark["spark-token-provider-kafka-0-10_2.13"].startswith(major_minor + ".")
    assert "delta-spark_2.13" in spark and "delta-storage" in spark


def test_no_spark_jar_duplicates_one_pyspark_ships():
    shipped = load_jars_script().pyspark_jars()
    ours = {c.split(":")[1] for s, c, _ in locked() if s == "spark"}
    assert not ours & shipped


def test_the_broker_set_holds_kafka_and_a_logging_backend():
    kafka = {c.split(":")[1] for s, c, _ in locked() if s == "kafka"}
    assert {"kafka_2.13", "kafka-clients", "kafka-server", "log4j-slf4j-impl", "log4j-core"} <= kafka


def test_spark_gets_the_jars_by_local_path_and_deltas_sql():
    conf = jvm.spark_conf()
    paths = conf["spark.jars"].split(",")
    assert all(Path(p).is_absolute() and p.endswith(".jar") for p in paths)
    assert "spark.jars.packages" not in conf  # nothing resolved when a session starts
    assert conf["spark.sql.extensions"] == "io.delta.sql.DeltaSparkSessionExtension"


def test_missing_jars_say_to_run_set_up(monkeypatch, tmp_path):
    monkeypatch.setattr(jvm, "JARS_DIR", tmp_path)
    with pytest.raises(jvm.JarsMissing, match="make setup"):
        jvm.jars("spark")


def test_an_unreachable_maven_central_is_said_in_one_line(monkeypatch, tmp_path):
    script = load_jars_script()
    output = (
        "[ERROR] Failed to execute goal ... Could not transfer artifact "
        "org.apache.kafka:kafka_2.13:pom:4.1.1 "
        "from/to central (https://repo.maven.apache.org/maven2): transfer failed: "
        "java.net.UnknownHostException: repo.maven.apache.org\n[ERROR] more\n"
    )
    monkeypatch.setattr(script.shutil, "which", lambda name: "/usr/bin/mvn")
    monkeypatch.setattr(
        script.subprocess,
        "run",
        lambda *a, **k: subprocess.CompletedProcess(a, 1, stdout=output, stderr=""),
    )
    (tmp_path / "pom.xml").write_text("<project/>")
    with pytest.raises(SystemExit) as raised:
        script.mvn(tmp_path, "dependency:copy-dependencies")
    message = str(raised.value)
    assert message.startswith("setup: Maven Central cannot be reached")
    assert "\n" not in message


def test_a_locked_jar_that_does_not_match_its_sha256_is_refused(monkeypatch, tmp_path):
    script = load_jars_script()
    lock = tmp_path / "jars.lock"
    lock.write_text("spark\torg.example:thing:1.0\t" + "0" * 64 + "\n")
    monkeypatch.setattr(script, "LOCK", lock)
    monkeypatch.setattr(script, "JARS", tmp_path / ".jars")

    def fake_copy(dependencies, transitive, into):
        (into / "thing-1.0.jar").write_bytes(b"not the pinned jar")
        return [into / "thing-1.0.jar"]

    monkeypatch.setattr(script, "copy", fake_copy)
    with pytest.raises(SystemExit, match="does not match its sha256"):
        script.fetch()
    assert not (tmp_path / ".jars" / "spark").exists()
