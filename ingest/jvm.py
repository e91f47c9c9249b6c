"""The project's JVM jars: where set-up put them and how Spark and the broker are handed them.

Set-up fetches exactly what jvm/jars.lock pins (scripts/jars.py) into `.jars/<set>/`:
`kafka` (the embedded broker) and `spark` (Spark's `kafka` source, Delta Lake for Spark).
Nothing is resolved when a process starts: Spark gets local paths in `spark.jars`.
"""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LOCK = ROOT / "jvm" / "jars.lock"
JARS_DIR = ROOT / ".jars"

# Delta Lake inside Spark: its SQL (MERGE, OPTIMIZE, VACUUM, DESCRIBE HISTORY) and its catalog.
DELTA_SESSION_CONF = {
    "spark.sql.extensions": "io.delta.sql.DeltaSparkSessionExtension",
    "spark.sql.catalog.spark_catalog": "org.apache.spark.sql.delta.catalog.DeltaCatalog",
}


# What a local SparkSession's JVM reads from the environment when it starts (loopback only):
# set by the entry points (the command line, the tests) before any session, never below them.
LOCAL_SPARK_ENVIRONMENT = {"SPARK_LOCAL_IP": "127.0.0.1"}


class JarsMissing(RuntimeError):
    """Set-up has not fetched the locked jars (or they were removed)."""


def jars(jar_set: str) -> list[Path]:
    """The locked jars of `jar_set`, each checked to be in place."""
    paths = []
    for line in LOCK.read_text().splitlines():
        fields = line.split()
        if not fields or fields[0].startswith("#") or fields[0] != jar_set:
            continue
        _, artifact, version = fields[1].split(":")
        paths.append(JARS_DIR / jar_set / f"{artifact}-{version}.jar")
    missing = [p.name for p in paths if not p.exists()]
    if not paths or missing:
        raise JarsMissing(
            f"the {jar_set} jars are not in {JARS_DIR / jar_set} ({len(missing)} missing, e.g. "
            f"{(missing or ['all'])[0]}): run `make setup`, which fetches jvm/jars.lock from Maven Central"
        )
    return paths


def classpath(jar_set: str) -> str:
    return ":".join(str(p) for p in jars(jar_set))


def spark_conf() -> dict[str, str]:
    """What a local SparkSession needs for the `kafka` source and Delta: jars by path, Delta's SQL."""
    return {"spark.jars": ",".join(str(p) for p in jars("spark")), **DELTA_SESSION_CONF}
