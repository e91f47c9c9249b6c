#!/usr/bin/env bash
# make docs: generate the dbt docs site (models, columns, tests, lineage from the Bronze
# source to the Power BI dashboards and the API) and serve it on 127.0.0.1. Offline.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${VENV:-.venv}
export LAKEHOUSE_DATA_DIR=${LAKEHOUSE_DATA_DIR:-$PWD/data}
PORT=${DOCS_PORT:-8080}
DBT=("$VENV/bin/dbt" --quiet)
# a target path of its own: dbt runs of the pipeline rewrite target/ while the site is served
PROFILE=(--profiles-dir . --target local --target-path "$LAKEHOUSE_DATA_DIR/docs")

mkdir -p "$LAKEHOUSE_DATA_DIR/warehouse"
if [ -d "$LAKEHOUSE_DATA_DIR/bronze/sales_transactions/_delta_log" ]; then
    "${DBT[@]}" docs generate "${PROFILE[@]}"
else
    # compiling reads Bronze; without it, document the project as parsed (lineage, columns,
    # tests) and leave the catalog's row counts and column types out
    echo "docs: no Bronze table yet, so no catalog statistics (run 'make demo' first for them)"
    "${DBT[@]}" parse "${PROFILE[@]}"
    "${DBT[@]}" docs generate --no-compile "${PROFILE[@]}"
fi
if [ "${DOCS_GENERATE_ONLY:-0}" = 1 ]; then
    echo "docs: generated in $LAKEHOUSE_DATA_DIR/docs (index.html, manifest.json, catalog.json)"
    exit 0
fi
echo "docs: serving http://127.0.0.1:$PORT (Ctrl-C stops)"
exec "${DBT[@]}" docs serve "${PROFILE[@]}" --host 127.0.0.1 --port "$PORT" --no-browser
