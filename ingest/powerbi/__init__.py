"""The Power BI kit (powerbi/, docs/power-bi.md): a Power BI project (PBIP) whose TMDL semantic
model reads Gold through the Databricks connector in DirectQuery, with one DAX measure per metric
of dbt's semantic layer, and a .pbids connection file per bundle target. Everything in it is
generated from dbt's manifests, so a measure cannot drift from the metric the API serves.

    layer.py    what dbt says: the Gold tables, their columns and tests, the metrics
    dax.py      a metric as a DAX measure (the measures' SQL translated; anything else refused)
    tmdl.py     the semantic model as TMDL files
    project.py  the kit's files (PBIP, report, .pbids), written or compared with the committed ones
    command.py  `python -m ingest powerbi`
"""


class KitError(ValueError):
    """The semantic layer holds something the kit cannot express exactly: fix it or teach the kit."""
