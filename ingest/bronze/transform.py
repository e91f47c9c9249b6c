"""Kafka records -> Bronze rows. Pure DataFrame -> DataFrame functions, one transform for
both the native Kafka source (Databricks) and the Python data source (embedded default).

Bronze keeps everything needed to explain a row later: the raw value as received, the
Kafka coordinates, the envelope and line fields parsed as strings (never typed here: a
value that does not parse as a number is Silver's business, not a reason to lose it),
and `parse_error` for a payload that is not a usable event. Nothing is dropped.
"""

from __future__ import annotations

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F
from pyspark.sql.types import StringType, StructField, StructType

from ingest.events import ENVELOPE_FIELDS, LINE_FIELDS, RECORD_COLUMNS, bronze_spark_schema

# How `from_json` reads the value: every field as a string, so JSON numbers keep their text
# ("17490.0" stays "17490.0").
EVENT_SCHEMA = StructType(
    [StructField(name, StringType()) for name in ENVELOPE_FIELDS]
    + [
        StructField("line", StructType([StructField(f, StringType()) for f in LINE_FIELDS])),
        StructField("_corrupt_record", StringType()),
    ]
)


def _parse_error(raw: Column, event: Column) -> Column:
    return (
        F.when(raw.isNull() | (F.trim(raw) == ""), F.lit("empty payload"))
        .when(event.isNull() | event["_corrupt_record"].isNotNull(), F.lit("invalid JSON"))
        .when(event["event_id"].isNull(), F.lit("missing event_id"))
        .when(event["line"].isNull(), F.lit("missing line object"))
    )


def parse_events(kafka_df: DataFrame) -> DataFrame:
    """Kafka-shaped rows (key, value, topic, partition, offset, timestamp) -> Bronze columns."""
    raw = F.col("value").cast("string")
    event = F.from_json(
        raw,
        EVENT_SCHEMA,
        {"mode": "PERMISSIVE", "columnNameOfCorruptRecord": "_corrupt_record"},
    )
    columns = {
        **{name: F.col("event")[name] for name in ENVELOPE_FIELDS},
        **{column: F.col("event")["line"][source] for source, column in LINE_FIELDS.items()},
        "raw_value": F.col("raw_value"),
        "kafka_key": F.col("key"),
        "kafka_topic": F.col("topic"),
        "kafka_partition": F.col("partition"),
        "kafka_offset": F.col("offset"),
        "kafka_timestamp": F.col("timestamp"),
        "parse_error": _parse_error(F.col("raw_value"), F.col("event")),
    }
    # The contract's columns, in its order and with its types.
    return (
        kafka_df.withColumn("raw_value", raw)
        .withColumn("event", event)
        .select(
            *[
                columns[field.name].cast(field.dataType).alias(field.name)
                for field in bronze_spark_schema(RECORD_COLUMNS).fields
            ]
        )
    )


def with_batch_metadata(bronze_df: DataFrame, batch_id: int) -> DataFrame:
    """Stamp the micro-batch id and the ingestion time on every row of one batch."""
    return bronze_df.withColumn("ingested_at", F.current_timestamp()).withColumn(
        "bronze_batch_id", F.lit(batch_id).cast("long")
    )
