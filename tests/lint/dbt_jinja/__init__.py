"""What dbt supplies to the project's macros, for sqlfluff's jinja templater.

`.sqlfluff` loads the real macros (`load_macros_from_path = macros`) and this package as its
`library_path`: every name defined here, and each submodule, is a variable of the templates.
With them the macros render offline as dbt renders them for the production target
(Databricks): `adapter.dispatch` picks databricks__, spark__, then default__ variants, and
`dbt.*` gives dbt-databricks' SQL for dbt's cross-database macros. Nothing queries a
warehouse at lint time, so `execute` is false (as during `dbt parse`).
"""

execute = False
