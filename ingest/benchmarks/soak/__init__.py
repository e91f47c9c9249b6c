"""`make soak` / `python -m ingest soak`: the whole local pipeline for an hour, and whether it
stays steady.

The runner (`python -m ingest run --fast`) runs as a child process in a data directory of its
own (data/soak), its output in data/soak/soak-runner.log. Every few seconds the soak samples
the memory of each pipeline process (ingest.benchmarks.soak.procs) and Bronze's files and the disk use
(ingest.benchmarks.soak.disk), and follows the records the runner writes in data/soak/run
(status.jsonl, dbt-runs.jsonl). Once a minute it prints one line; at the end it draws a chart
(ingest.benchmarks.soak.chart), judges four targets (ingest.benchmarks.soak.targets: dbt run time, freshness,
memory, Bronze files) and appends a results section to bench/soak.md (ingest.benchmarks.soak.report).
Ctrl-C stops the runner cleanly and still writes the results of what was measured.
"""
