"""/v1/health: how fresh Gold is, within the caller's row scope."""

from datetime import UTC, datetime

from fastapi import APIRouter

from ingest.api import access, lookups
from ingest.api.dependencies import App, Caller
from ingest.api.schemas import ERRORS, HealthOut

router = APIRouter()


@router.get("/v1/health", response_model=HealthOut, responses=ERRORS, summary="Freshness of Gold")
def health(key: Caller, app: App):
    """Gold's last build and age, the newest source event in Gold and its age.

    `bronze_lag`: on Databricks, when the API's environment gives an Event Hubs connection
    string (EVENTHUBS_CONNECTION_STRING), Bronze's lag against the event hub, per partition
    and in total: events behind (last enqueued sequence number + 1 - Bronze's next Kafka
    offset, from the Bronze table), seconds behind (now - the last enqueued event's time where
    behind, else 0), caught up or not. Measured at most every LAKEHOUSE_API_LAG_TTL_S seconds
    (30); when Event Hubs or the table cannot be read, the numbers are null and `error` says
    why. Null on the local DuckDB backend and without a connection string."""
    current = app.version()
    cache_key = "health:" + access.row_scope_key(key)
    hit = app.cache.get(current, cache_key)
    if hit is None:  # over the key's row scope only
        sql, params = lookups.freshness_sql(app.backend, access.row_scope(key))
        result = app.run(sql, params, 1)
        hit = (dict(zip(result.columns, result.rows[0], strict=True)), app.backend.built_at())
        app.cache.put(current, cache_key, hit)
    row, built = hit
    now = datetime.now(UTC)

    def age(moment) -> float | None:
        if moment is None:
            return None
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
        return round((now - moment).total_seconds(), 3)

    return HealthOut(
        status="ok",
        engine=app.backend.engine,
        gold_built_at=lookups.jsonable(built),
        gold_age_seconds=age(built),
        gold_lines=int(row["gold_lines"] or 0) if access.may_read(key, "lines") else None,
        newest_source_event_at=lookups.jsonable(row["newest_source_event_at"]),
        newest_bronze_ingested_at=lookups.jsonable(row["newest_bronze_ingested_at"]),
        source_lag_seconds=age(row["newest_source_event_at"]),
        bronze_lag=app.lag.current().as_json() if app.lag is not None else None,
    )
