"""The chaos suite: `make chaos` (python -m tests.chaos), and its bounded version in `make test`
(tests/integration/test_chaos.py).

Each fault is injected for real into the real components, then the books are counted:

- the Bronze ingester SIGKILLed while it reads a batch from Kafka and writes its Delta commit,
  and between that commit and Spark's checkpoint (ingest.failpoints);
- Bronze's disk full, on a size-limited tmpfs made for the trial;
- dbt SIGKILLed in the middle of a model;
- the relay, Bronze, PostgreSQL and the broker SIGKILLed under `make run`.

For each fault, a row of the results table: trials, events, lost, duplicated (tests.chaos.results).
"""
