#!/usr/bin/env bash
# Every check of the project, in the order a failure is cheapest to find.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${VENV:-.venv}
export LAKEHOUSE_DATA_DIR=${LAKEHOUSE_DATA_DIR:-$PWD/data}

echo "== ruff"
"$VENV/bin/ruff" check ingest tests
"$VENV/bin/ruff" format --check ingest tests
echo "== sqlfluff (databricks dialect)"
"$VENV/bin/sqlfluff" lint models tests/dbt
echo "== semantic layer (dbt parse, then MetricFlow validates every semantic model and metric)"
mkdir -p "$LAKEHOUSE_DATA_DIR/warehouse"
"$VENV/bin/dbt" parse --quiet --profiles-dir . --target local
DBT_PROFILES_DIR=$PWD "$VENV/bin/mf" validate-configs --skip-dw --show-all 2>&1 | tr '\r' '\n' | grep -E "ERRORS|Exception|✖" \
    | tee /dev/stderr | grep -q "ERRORS: 0, FUTURE_ERRORS: 0, WARNINGS: 0"
echo "== pytest (unit, integration with the local broker and Spark, dbt build)"
"$VENV/bin/python" -m pytest "$@"
