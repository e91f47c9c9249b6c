"""The analytics API's request and response bodies (pydantic): what OpenAPI at /docs shows."""

from datetime import date
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictStr, field_validator

from ingest.semantic import FILTER_OPS, GRAINS

# the semantic layer's time grains and filter operators (ingest.semantic), as types
Grain = Literal[GRAINS]
FilterOp = Literal[FILTER_OPS]
NAME = r"^-?[a-z][a-z0-9_]{0,80}$"


class FilterIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    dimension: str = Field(pattern=NAME, description="A dimension from /v1/dimensions.")
    op: FilterOp = "eq"
    values: list[StrictStr | StrictBool] = Field(
        min_length=1, max_length=100, description="Strings, or true/false for is_ dimensions."
    )

    @field_validator("values")
    @classmethod
    def _encodable(cls, values: list) -> list:
        """A lone surrogate (JSON `"\\ud800"`) is no text any engine can bind: refused here."""
        for value in values:
            if isinstance(value, str):
                try:
                    value.encode("utf-8")
                except UnicodeEncodeError:
                    raise ValueError("a value that is not valid Unicode (a lone surrogate)") from None
        return values


class QueryIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    metrics: list[Annotated[str, Field(pattern=NAME)]] = Field(min_length=1, max_length=20)
    group_by: list[Annotated[str, Field(pattern=NAME)]] = Field(default_factory=list, max_length=10)
    grain: Grain | None = None
    start: date | None = Field(None, description="First day, inclusive (metric_time).")
    end: date | None = Field(None, description="Last day, inclusive (metric_time).")
    filters: list[FilterIn] = Field(default_factory=list, max_length=20)
    order_by: list[Annotated[str, Field(pattern=NAME)]] = Field(
        default_factory=list, max_length=10, description="Names of the query; '-' first for descending."
    )
    limit: int = Field(1000, ge=1, le=10_000)
    offset: int = Field(0, ge=0, le=10_000_000)
    format: Literal["json", "csv"] = "json"


class MetricOut(BaseModel):
    name: str
    label: str
    description: str
    type: str


class DimensionOut(BaseModel):
    name: str
    description: str
    value_type: Literal["string", "boolean"]


class DimensionsOut(BaseModel):
    dimensions: list[DimensionOut]
    grains: list[str]
    filter_ops: list[str]


class QueryOut(BaseModel):
    columns: list[str]
    rows: list[dict[str, Any]]
    total: int
    limit: int
    offset: int
    next_offset: int | None
    gold_built_at: str
    cached: bool


class BronzeOut(BaseModel):
    topic: str | None
    partition: int | None
    offset: int | None
    source_event_at: str | None
    batch_id: int | None
    ingested_at: str | None


class OrderLineOut(BaseModel):
    event_id: str | None
    product_no: str | None
    product_name: str | None
    sale_date: str | None
    quantity: int | None
    unit_price: float | None
    customer_no: str | None
    country: str | None
    is_return: bool | None
    status: Literal["counted", "excluded", "quarantined", "failed", "pending"]
    reason: str | None
    warnings: list[str]
    net_amount: float | None
    bronze: BronzeOut


class OrderOut(BaseModel):
    transaction_no: str
    lines: list[OrderLineOut]
    summary: dict[str, int]


class BronzeLagPartitionOut(BaseModel):
    partition_id: str
    events_behind: int
    seconds_behind: float
    next_offset: int | None = Field(description="Bronze's next Kafka offset; null: nothing landed yet.")
    beginning_sequence_number: int
    last_enqueued_sequence_number: int
    last_enqueued_time_utc: str | None
    is_empty: bool
    expired_unread: int = Field(
        description="Events that left Event Hubs' retention before Bronze landed them."
    )


class BronzeLagOut(BaseModel):
    """Bronze against Event Hubs (ingest/databricks/eventhubs_lag.py); numbers null with `error`."""

    eventhub_name: str | None
    measured_at: str | None
    events_behind: int | None = Field(
        description="Sum over partitions of last enqueued sequence number + 1 - Bronze's next offset."
    )
    seconds_behind: float | None = Field(
        description="Largest over partitions of now - the last enqueued event's time where behind; "
        "0 when caught up."
    )
    is_caught_up: bool | None
    expired_unread: int | None
    partitions: list[BronzeLagPartitionOut]
    error: str | None = Field(description="Why there is no measurement (Event Hubs or the table not read).")


class HealthOut(BaseModel):
    status: Literal["ok"]
    engine: str
    gold_built_at: str | None
    gold_age_seconds: float | None
    gold_lines: int | None = Field(
        description="Lines in Gold (within the key's row scope); null for a key that may not read `lines`."
    )
    newest_source_event_at: str | None
    newest_bronze_ingested_at: str | None
    source_lag_seconds: float | None = Field(
        description="Now minus the newest outbox commit (Kafka record time) in Gold."
    )
    bronze_lag: BronzeLagOut | None = Field(
        None,
        description="Bronze's lag against Event Hubs, measured with Event Hubs' SDK: on Databricks with "
        "an Event Hubs connection string only; null otherwise (the local DuckDB backend).",
    )


class QualityRunOut(BaseModel):
    """One Silver run of the data-quality record (silver.int_data_quality_runs, docs/silver.md)."""

    run_id: str
    run_at: str
    bronze_events: int
    checked_lines: int
    new_checked_lines: int
    trusted_lines: int
    quarantined_lines: int
    failed_lines: int
    gold_lines: int = Field(description="Trusted lines the business counts: Gold's fact from its next build.")
    excluded_lines: int
    duplicates_removed: int
    unaccounted_events: int
    late_events: int
    is_balanced: bool
    newest_bronze_ingested_at: str | None
    newest_source_event_at: str | None
    bronze_age_seconds: int | None
    source_age_seconds: int | None
    quarantined_by_rule: dict[str, int]
    failed_by_rule: dict[str, int]
    excluded_by_reason: dict[str, int]


class QualityOut(BaseModel):
    runs: list[QualityRunOut] = Field(description="Newest first.")


class ErrorOut(BaseModel):
    detail: str


ERRORS = {code: {"model": ErrorOut} for code in (400, 401, 403, 404, 413, 422, 429, 500, 503)}
