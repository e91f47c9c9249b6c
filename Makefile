# The two commands a new user needs: `make demo` and `make test`. Both set up what they need.
SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
export LAKEHOUSE_DATA_DIR ?= $(CURDIR)/data
export PYSPARK_PYTHON := $(CURDIR)/$(PY)

EVENTS ?= 100000
CSV ?=

.PHONY: setup demo test test-alone check-bundle lint bench bench-freshness bench-api bench-scaling soak chaos broker-start broker-stop pg-start pg-stop run dbt-build docs api dashboard powerbi clean

setup: $(VENV)/.installed
	@python3 scripts/jars.py check 2>/dev/null || python3 scripts/jars.py fetch
	@if command -v go >/dev/null 2>&1; then bash scripts/databricks_cli.sh; fi

$(VENV)/.installed: requirements.lock pyproject.toml scripts/setup.sh jvm/jars.lock scripts/jars.py
	@bash scripts/setup.sh

## Run the whole pipeline on the embedded default (broker, 100k events, Bronze, dbt, summary).
demo: setup
	$(PY) -m ingest demo --events $(EVENTS) $(if $(CSV),--csv $(CSV))

## Run every test: ruff, sqlfluff, pytest (unit, integration with the real broker, dbt build).
test: setup
	@bash scripts/test.sh

## Run every unit test alone, each in its own process (long: about a second each); a test that
## needs another to run first fails here. `make test-alone TESTS=tests/integration/test_x.py`.
test-alone: setup
	$(PY) -m tests.run_alone $(or $(TESTS),tests/unit)

## Validate every target of the Databricks bundle with the real CLI (built from the Go module
## proxy at the version of tools/databricks-cli/go.mod) against a stand-in workspace on 127.0.0.1.
check-bundle: setup
	$(PY) -m tests.bundle.check

lint: setup
	$(VENV)/bin/ruff check ingest tests
	$(VENV)/bin/ruff format --check ingest tests
	$(VENV)/bin/sqlfluff lint models tests/dbt

## Benchmark: 1M events publish + drain to Bronze, dbt build time; then end-to-end freshness
## (outbox commit -> Gold) on the runner in fast mode; then the analytics API under load;
## appends to bench/results.md.
bench: setup
	$(PY) -m ingest bench --events $(or $(BENCH_EVENTS),1000000) --out bench/results.md
	$(PY) -m ingest bench --freshness --rate $(or $(BENCH_RATE),20) --duration $(or $(BENCH_SECONDS),180) --out bench/results.md
	$(PY) -m ingest bench --api --out bench/results.md

## The analytics API under load (a year of lines: the cached question, then uncached ones at 1, 4
## and 8 clients, each beside DuckDB alone on the same SQL at the same concurrency); REUSE=1 serves
## the year a previous run built.
bench-api: setup
	$(PY) -m ingest bench --api --out bench/results.md $(if $(REUSE),--reuse)

## Incremental scaling: one Silver + Gold run for a 5-minute slice on 1, 4 and 16 years of history,
## beside a full refresh of each (about 30 minutes; 16 years is 8.6M lines); appends to bench/results.md.
bench-scaling: setup
	$(PY) -m ingest bench --scaling --multiples $(or $(MULTIPLES),1,4,16) --out bench/results.md

## Where a year's replay (536,350 lines, CSV -> topic -> Bronze -> Silver + Gold) spends its time, beside
## a plain-Python consume -> Arrow -> delta-rs drain of the same topic; appends to bench/results.md.
bench-replay: setup
	$(PY) -m ingest bench --replay --out bench/results.md

bench-freshness: setup
	$(PY) -m ingest bench --freshness --rate $(or $(BENCH_RATE),20) --duration $(or $(BENCH_SECONDS),180) --out bench/results.md

## Soak: the whole pipeline (runner --fast) for DURATION seconds (default 3600) at RATE orders/s
## (default 40): a line a minute, then a chart and targets (dbt time, freshness, memory, Bronze files)
## appended to bench/soak.md; its data in data/soak.
soak: setup
	$(PY) -m ingest soak --duration $(or $(DURATION),3600) --rate $(or $(RATE),40) --out bench/soak.md \
		--fresh-p95 $(or $(FRESH_P95),10)

## The chaos suite: Bronze SIGKILLed at 24 chosen points, its disk filled, dbt killed mid-model, the
## relay, Bronze, PostgreSQL and the broker killed under `make run`; a results table (lost, duplicated)
## printed and appended to bench/chaos.md. Needs root (a small tmpfs). `make test` runs a bounded one.
chaos: setup
	$(PY) -m tests.chaos --out bench/chaos.md

## The whole pipeline, continuously: PostgreSQL orders + outbox, relay, broker, Bronze, Silver, Gold.
## Ctrl-C stops it. RATE=orders/s; FAST=1 runs Silver and Gold as soon as Bronze commits (not every 5 and 15 min).
run: setup
	$(PY) -m ingest run --rate $(or $(RATE),20) $(if $(FAST),--fast) $(if $(DURATION),--duration $(DURATION))

## The analytics API on http://127.0.0.1:$(API_PORT) (OpenAPI at /docs), over the last published Gold build.
API_PORT ?= 8300
api: setup
	$(PY) -m ingest api --port $(API_PORT)

## The dashboard (Streamlit) on http://127.0.0.1:$(DASHBOARD_PORT), reading the API on $(API_PORT).
DASHBOARD_PORT ?= 8501
dashboard: setup
	$(PY) -m ingest dashboard --port $(DASHBOARD_PORT) --api http://127.0.0.1:$(API_PORT)

## The dbt docs site (lineage from Bronze to the dashboards) on http://127.0.0.1:$(DOCS_PORT).
DOCS_PORT ?= 8080
docs: setup
	@DOCS_PORT=$(DOCS_PORT) bash scripts/docs.sh

## The Power BI kit (powerbi/): the PBIP over Gold, a DAX measure per metric, the .pbids, regenerated
## from the semantic layer (docs/power-bi.md).
powerbi: setup
	$(PY) -m ingest powerbi

## The Unity Catalog metric views (models/marts/metric_views/), one per fact, regenerated from the
## semantic layer (docs/databricks.md, "Metric views").
.PHONY: metric-views
metric-views: setup
	$(PY) -m ingest metric-views

broker-start: setup
	$(PY) -m ingest broker start

broker-stop: setup
	$(PY) -m ingest broker stop

pg-start: setup
	$(PY) -m ingest orders db start

pg-stop: setup
	$(PY) -m ingest orders db stop

dbt-build: setup
	mkdir -p $(LAKEHOUSE_DATA_DIR)/warehouse
	$(if $(filter spark,$(TARGET)),SPARK_JARS=$$($(PY) -c 'from ingest.jvm import spark_conf; print(spark_conf()["spark.jars"])') && export SPARK_JARS && ) \
	$(VENV)/bin/dbt build --profiles-dir . --target $(or $(TARGET),local)
	$(if $(filter-out local,$(or $(TARGET),local)),,$(PY) -m ingest api publish)

clean:
	-$(PY) -m ingest broker stop
	-$(PY) -m ingest orders db stop
	rm -rf data target logs spark-warehouse metastore_db derby.log .pytest_cache
	@echo 'the fetched JVM jars stay in .jars (rm -rf .jars to fetch them again)'
