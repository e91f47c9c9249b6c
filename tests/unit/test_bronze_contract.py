"""The Bronze contract (ingest/events.py) is the one definition: its Spark and Arrow forms
agree, and the dbt source declares exactly its columns."""

from pathlib import Path

import yaml
from pyspark.sql.pandas.types import to_arrow_schema

from ingest.events import (
    BATCH_COLUMNS,
    BRONZE_COLUMNS,
    RECORD_COLUMNS,
    bronze_arrow_schema,
    bronze_spark_schema,
)

SOURCES_YML = Path(__file__).resolve().parents[2] / "models" / "staging" / "bronze" / "_bronze__sources.yml"


def test_the_spark_and_arrow_forms_of_the_bronze_schema_agree():
    assert to_arrow_schema(bronze_spark_schema(), timezone="UTC") == bronze_arrow_schema()


def test_a_bronze_row_is_a_records_columns_then_its_batch_stamp():
    assert BRONZE_COLUMNS == RECORD_COLUMNS + BATCH_COLUMNS


def test_the_dbt_source_declares_exactly_the_bronze_columns():
    sources = yaml.safe_load(SOURCES_YML.read_text())["sources"]
    (bronze,) = [source for source in sources if source["name"] == "bronze"]
    (table,) = [table for table in bronze["tables"] if table["name"] == "sales_transactions"]
    assert tuple(column["name"] for column in table["columns"]) == BRONZE_COLUMNS
