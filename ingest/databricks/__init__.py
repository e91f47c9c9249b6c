"""Entry points for Databricks jobs (the bundle in databricks.yml and resources/*.yml).

- `bronze_job.py`: the Bronze ingester as a `spark_python_task` (native `kafka` source,
  Delta sink), reading Event Hubs' Kafka endpoint with a connection string from a secret scope.
- `eventhubs_secret.py`: where that connection string comes from, and keeping it out of every output.
- `eventhubs_lag.py`: Bronze's lag against Event Hubs, read with Event Hubs' own SDK (the Bronze
  job prints it; the API's health shows it on Databricks).
- `metric_views.py`: the Unity Catalog metric views (models/marts/metric_views/), generated from
  the semantic layer (`python -m ingest metric-views`).

Silver and Gold need no Python entry point: they are `dbt_task`s running this dbt project.
"""
