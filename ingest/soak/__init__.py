"""`make soak` / `python -m ingest soak`: the whole local pipeline for an hour, and whether it
stays steady.

The runner (`python -m ingest run --fast`) runs as a child process in a data directory of its
own (data/soak), its output in data/soak/soak-runner.log. Every few seconds the soak samples
the memory of each pipeline process (ingest.soak.procs) and Bronze's files and the disk use
(ingest.soak.disk), and follows the records the runner writes in data/soak/run
(status.jsonl, dbt-runs.jsonl). Once a minute it prints one line; at the end it draws a chart
(ingest.soak.chart), judges four targets (ingest.soak.targets: dbt run time, freshness,
memory, Bronze files) and appends a results section to bench/soak.md (ingest.soak.report).
Ctrl-C stops the runner cleanly and still writes the results of what was measured.
"""

from ingest.soak.session import SoakOptions, main

__all__ = ["SoakOptions", "main"]
