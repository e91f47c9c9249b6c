"""Kafka records -> Bronze rows. Pure DataFrame -> DataFrame functions over the columns of
Spark's `kafka` source, locally and on Databricks alike.

Bronze keeps everything needed to explain a row later: the value and key exactly as received
(bytes) and as UTF-8 text, the Kafka coordinates, the envelope and line fields parsed as
strings (never typed here: a value that does not parse as a number is Silver's business, not
a reason to lose it), and `parse_error` for a payload that is not a usable event. Nothing is
dropped, and nothing here can fail a micro-batch: every check is a SQL expression that
yields a reason, never an exception.

Text: every text column is valid UTF-8. A value or key that is not keeps its bytes
(`raw_value_bytes`, `kafka_key_bytes`); its text copy has U+FFFD in place of each invalid
sequence and `invalid_utf8` names it. Such a value is not a usable event (JSON is UTF-8).

What a usable event is (else `parse_error` says why, first reason that applies):
- a value at all (`no value (tombstone)`), and not only whitespace (`empty payload`);
- valid UTF-8 (`payload is not valid UTF-8`); a leading byte-order mark is ignored, as
  RFC 8259 lets parsers do;
- one strict JSON text (`invalid JSON`, or `invalid JSON: duplicate key`): truncated JSON,
  trailing data, duplicate keys at any depth, NaN/Infinity, unescaped control characters
  and lone surrogates are all invalid. `from_json` alone accepts several of these (it keeps
  the last of duplicate keys and ignores trailing data), so the text is also parsed as a
  VARIANT, wrapped in `[...]` (which exposes trailing data) and checked for being closed
  inside `{"v": ...}` (a stray `]` after the value);
- an object (`payload is not a JSON object`) with a string `event_id` (`missing event_id`,
  `event_id is not a JSON string`) and an object `line` (`missing line object`,
  `line is not a JSON object`);
- every known envelope and line field text, a number or null (`line.Price is a JSON
  object, not text or a number`, likewise arrays and booleans). A number is read as
  Spark prints it (`1e3` becomes `1000.0`; the raw value keeps the original).
Whether `event_id` has a trusted form, and everything about the line's values, is Silver's
business (quality rules), so that a rule can change without re-ingesting Bronze.
"""

from __future__ import annotations

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F
from pyspark.sql.types import (
    BinaryType,
    IntegerType,
    LongType,
    StringType,
    StructField,
    StructType,
    TimestampType,
)

from ingest.events import ENVELOPE_FIELDS, LINE_FIELDS, RECORD_COLUMNS, bronze_spark_schema

# The columns of Spark's `kafka` source, which the transform reads (tests build such frames).
KAFKA_SCHEMA = StructType(
    [
        StructField("key", BinaryType()),
        StructField("value", BinaryType()),
        StructField("topic", StringType()),
        StructField("partition", IntegerType()),
        StructField("offset", LongType()),
        StructField("timestamp", TimestampType()),
        StructField("timestampType", IntegerType()),
    ]
)

# How `from_json` reads the value: every field as a string, so JSON numbers keep their text
# ("17490.0" stays "17490.0").
EVENT_SCHEMA = StructType(
    [StructField(name, StringType()) for name in ENVELOPE_FIELDS]
    + [
        StructField("line", StructType([StructField(f, StringType()) for f in LINE_FIELDS])),
        StructField("_corrupt_record", StringType()),
    ]
)


def _json_type(document: Column, path: str) -> Column:
    """The JSON type at `path` as Spark names it (STRING, BIGINT, DOUBLE, BOOLEAN, VOID for
    null, OBJECT<...>, ARRAY<...>); SQL null when the path is absent. It walks an object:
    used on scalars, or only for a record already found unusable."""
    return F.schema_of_variant(F.variant_get(document, path, "variant"))


def _has_duplicate_key(body: Column) -> Column:
    """Duplicate keys in the top-level object or in `line` (only used to word the reason)."""

    def duplicated(obj: Column) -> Column:
        keys = F.json_object_keys(obj)
        return F.coalesce(F.array_size(keys) > F.array_size(F.array_distinct(keys)), F.lit(False))

    return duplicated(body) | duplicated(F.get_json_object(body, "$.line"))


# The envelope and line fields (event_id aside) as a struct of VARIANTs: their JSON, and only theirs.
_TYPED_FIELDS = [name for name in ENVELOPE_FIELDS if name != "event_id"]
_FIELDS_STRUCT = (
    "struct<"
    + ", ".join(f"{name}: variant" for name in _TYPED_FIELDS)
    + ", line: struct<"
    + ", ".join(f"{name}: variant" for name in LINE_FIELDS)
    + ">>"
)
_WRONG_TYPE = '"(' + "|".join([*_TYPED_FIELDS, *LINE_FIELDS]) + r')":([{\[]|true|false)'


def _could_be_of_wrong_type(event: Column) -> Column:
    """True when a field's text (as `from_json` gives it) could come from a JSON object, array
    or boolean; a cheap test on every record, so the exact one below runs on few."""
    texts = [event[name] for name in _TYPED_FIELDS] + [event["line"][name] for name in LINE_FIELDS]
    return F.coalesce(
        *[F.when(F.substring(t, 1, 1).isin("{", "[") | t.isin("true", "false"), F.lit(True)) for t in texts],
        F.lit(False),
    )


def _field_of_wrong_type(document: Column) -> Column:
    """The first field (in the JSON of the known fields, in the contract's order) that is a
    JSON object, array or boolean, as a reason; null when there is none. A nested key can
    only follow the field holding it, and a string's quotes are escaped in the JSON, so the
    leftmost match is a known field's own value."""
    fields = F.to_json(F.try_variant_get(document, "$[0]", _FIELDS_STRUCT))
    name = F.regexp_extract(fields, _WRONG_TYPE, 1)
    kind = F.regexp_extract(fields, _WRONG_TYPE, 2)
    return F.when(
        name != "",
        F.concat(
            F.when(name.isin(*LINE_FIELDS), F.lit("line.")).otherwise(F.lit("")),
            name,
            F.lit(" is a JSON "),
            F.when(kind == "{", F.lit("object"))
            .when(kind == "[", F.lit("array"))
            .otherwise(F.lit("boolean")),
            F.lit(", not text or a number"),
        ),
    )


def _parse_error(value: Column, body: Column, event: Column, document: Column) -> Column:
    """Why the record is not a usable event; null when it is. `body` is the value as UTF-8
    text without a leading byte-order mark, `event` its `from_json` struct, `document` the
    body parsed as strict JSON inside `[...]` (null when it is not). The checks every record
    needs are cheap; the costly ones only word the reason, in the branch of the records that
    failed a cheap one (a CASE evaluates only the branch it takes)."""
    # `[V] T` hides trailing data that starts with `]`; inside {"v": ...} it is an error.
    closed = (F.instr(body, "]") == 0) | F.json_object_keys(
        F.concat(F.lit('{"v":'), body, F.lit("}"))
    ).isNotNull()
    event_id = _json_type(document, "$[0].event_id")
    line = _json_type(document, "$[0].line")
    return (
        F.when(value.isNull(), F.lit("no value (tombstone)"))
        .when(F.btrim(body, F.lit(" \t\n\r\f\u000b")) == "", F.lit("empty payload"))
        .when(~F.is_valid_utf8(value.cast("string")), F.lit("payload is not valid UTF-8"))
        .when(
            document.isNull() | F.variant_get(document, "$[1]", "variant").isNotNull() | ~closed,
            F.when(_has_duplicate_key(body), F.lit("invalid JSON: duplicate key")).otherwise(
                F.lit("invalid JSON")
            ),
        )
        # from_json reads an object only, and `line` as a struct only when it is an object
        .when(
            event["event_id"].isNull() | event["line"].isNull(),
            F.when(~_json_type(document, "$[0]").startswith("OBJECT"), F.lit("payload is not a JSON object"))
            .when(event_id.isNull() | (event_id == "VOID"), F.lit("missing event_id"))
            .when(event_id != "STRING", F.lit("event_id is not a JSON string"))
            .when(line.isNull() | (line == "VOID"), F.lit("missing line object"))
            .when(~line.startswith("OBJECT"), F.lit("line is not a JSON object"))
            .otherwise(F.lit("invalid JSON")),
        )
        .when(event_id != "STRING", F.lit("event_id is not a JSON string"))
        .when(_could_be_of_wrong_type(event), _field_of_wrong_type(document))
    )


def _invalid_utf8(key: Column, value: Column) -> Column:
    parts = F.concat_ws(
        ",",
        F.when(~F.is_valid_utf8(key.cast("string")), F.lit("key")),
        F.when(~F.is_valid_utf8(value.cast("string")), F.lit("value")),
    )
    return F.when(parts != "", parts)


def parse_events(kafka_df: DataFrame) -> DataFrame:
    """Kafka-shaped rows (key, value, topic, partition, offset, timestamp) -> Bronze columns."""
    value, key = F.col("value"), F.col("key")
    raw = F.make_valid_utf8(value.cast("string"))
    body = F.regexp_replace(F.col("raw_value"), "^\ufeff", "")
    columns = {
        **{name: F.col("event")[name] for name in ENVELOPE_FIELDS},
        **{column: F.col("event")["line"][source] for source, column in LINE_FIELDS.items()},
        "raw_value": F.col("raw_value"),
        "raw_value_bytes": value,
        "kafka_key": F.make_valid_utf8(key.cast("string")),
        "kafka_key_bytes": key,
        "kafka_topic": F.col("topic"),
        "kafka_partition": F.col("partition"),
        "kafka_offset": F.col("offset"),
        "kafka_timestamp": F.col("timestamp"),
        "parse_error": _parse_error(value, F.col("body"), F.col("event"), F.col("document")),
        "invalid_utf8": _invalid_utf8(key, value),
    }
    # The contract's columns, in its order and with its types.
    return (
        kafka_df.withColumn("raw_value", raw)
        .withColumn("body", body)
        .withColumn(
            "event",
            F.from_json(
                F.col("body"),
                EVENT_SCHEMA,
                {"mode": "PERMISSIVE", "columnNameOfCorruptRecord": "_corrupt_record"},
            ),
        )
        .withColumn("document", F.try_parse_json(F.concat(F.lit("["), F.col("body"), F.lit("]"))))
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
