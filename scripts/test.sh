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
echo "== pytest (unit, integration with the local broker and Spark, dbt build)"
"$VENV/bin/python" -m pytest "$@"
