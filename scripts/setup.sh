#!/usr/bin/env bash
# One-time (and idempotent) set-up of everything the project needs on this machine:
# Java for Spark, a virtualenv with the exact pins of requirements.lock, the project itself.
set -euo pipefail
cd "$(dirname "$0")/.."

VENV=${VENV:-.venv}
PYTHON=${PYTHON:-python3}
STAMP="$VENV/.installed"

say() { printf 'setup: %s\n' "$*"; }

# Python 3.11 or 3.12 (pyspark 4.2, dbt 1.11).
if ! "$PYTHON" -c 'import sys; sys.exit(0 if (3, 11) <= sys.version_info[:2] < (3, 13) else 1)' 2>/dev/null; then
    say "Python 3.11 or 3.12 is required as '$PYTHON' (found: $("$PYTHON" --version 2>&1 || echo none))."
    exit 1
fi

# Java 17+ for Spark (PySpark starts a JVM).
if ! command -v java >/dev/null 2>&1; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
        say "installing Java (openjdk-17-jre-headless) for Spark"
        apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq openjdk-17-jre-headless >/dev/null
    else
        say "Java 17 or newer is missing: Spark needs it. Install it (Debian/Ubuntu: sudo apt-get install openjdk-17-jre-headless) and run again."
        exit 1
    fi
fi

# Maven, to fetch the pinned JVM jars (Apache Kafka, Spark's Kafka connector, Delta Lake) once.
if ! command -v mvn >/dev/null 2>&1; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
        say "installing Maven to fetch the pinned JVM jars (jvm/jars.lock)"
        apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq maven >/dev/null
    else
        say "Maven (mvn) is missing: set-up needs it once to fetch the JVM jars of jvm/jars.lock. Install it (Debian/Ubuntu: sudo apt-get install maven) and run again."
        exit 1
    fi
fi
# The jars themselves, checked against their sha256 (nothing happens when they are in place).
"$PYTHON" scripts/jars.py fetch

# PostgreSQL server binaries for the orders database (the project starts its own cluster on
# 127.0.0.1; nothing system-wide is started). Logical replication uses the built-in pgoutput.
if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 && ! command -v initdb >/dev/null 2>&1; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
        say "installing PostgreSQL (server binaries) for the orders database"
        apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
    else
        say "PostgreSQL server binaries (initdb, pg_ctl) are missing: the orders database needs them. Install them (Debian/Ubuntu: sudo apt-get install postgresql) and run again."
        exit 1
    fi
fi

# Debian's Chromium and its driver for the dashboard's browser test (tests/integration/
# test_dashboard_browser.py drives /usr/bin/chromium headless through /usr/bin/chromedriver).
if [ ! -x /usr/bin/chromium ] || [ ! -x /usr/bin/chromedriver ]; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
        say "installing Chromium and chromedriver for the dashboard's browser test"
        apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null
    else
        say "Chromium or chromedriver is missing (/usr/bin/chromium, /usr/bin/chromedriver): the dashboard's browser test needs them. Install them (Debian/Ubuntu: sudo apt-get install chromium chromium-driver) and run again."
        exit 1
    fi
fi

want=$(cat requirements.lock pyproject.toml | sha256sum | cut -c1-16)
if [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$want" ]; then
    exit 0
fi

if [ ! -x "$VENV/bin/python" ]; then
    say "creating virtualenv $VENV"
    "$PYTHON" -m venv "$VENV"
fi
say "installing pinned packages from requirements.lock (first time: about 2 minutes)"
# The machine's pip may list local mirrors that are absent; their warnings are noise.
quiet() { grep -v -e 'is ignored: it is neither a file nor a directory' -e '^\[notice\]' || true; }
"$VENV/bin/python" -m pip install -q --disable-pip-version-check -r requirements.lock 2> >(quiet >&2)
"$VENV/bin/python" -m pip install -q --disable-pip-version-check --no-deps -e . 2> >(quiet >&2)
"$VENV/bin/python" -m pip check >/dev/null || { "$VENV/bin/python" -m pip check; exit 1; }
echo "$want" > "$STAMP"
say "ready ($("$VENV/bin/python" -c 'import pyspark, dbt.version, deltalake, duckdb; print(f"pyspark {pyspark.__version__}, dbt-core {dbt.version.__version__}, deltalake {deltalake.__version__}, duckdb {duckdb.__version__}")'))"
