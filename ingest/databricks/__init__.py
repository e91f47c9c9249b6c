"""Entry points for Databricks jobs (the bundle in databricks.yml and resources/*.yml).

- `bronze_job.py`: the Bronze ingester as a `spark_python_task` (native `kafka` source,
  Delta sink), reading Event Hubs' Kafka endpoint with a connection string from a secret scope.
- `eventhubs_secret.py`: where that connection string comes from, and keeping it out of every output.

Silver and Gold need no Python entry point: they are `dbt_task`s running this dbt project.
"""
