"""What dbt supplies to the project's macros, for sqlfluff's jinja templater.

`.sqlfluff` loads the real macros (`load_macros_from_path = macros`) and this package as its
`library_path`: every name defined here, and each submodule, is a variable of the templates.
With them the macros render offline as dbt renders them for the production target
(Databricks): `adapter.dispatch` picks databricks__, spark__, then default__ variants, and
`dbt.*` gives dbt-databricks' SQL for dbt's cross-database macros. Nothing queries a
warehouse at lint time, so `execute` is false (as during `dbt parse`).
"""

import datetime

execute = False

# dbt's `run_started_at`: the run's start, in UTC (any fixed value renders the same SQL shape)
run_started_at = datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC)
