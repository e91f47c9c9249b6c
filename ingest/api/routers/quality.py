"""/v1/quality: Silver's data-quality record of its last runs."""

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Query

from ingest import quality
from ingest.api import access
from ingest.api.access import ApiKey
from ingest.api.dependencies import App, allowed
from ingest.api.schemas import ERRORS, QualityOut

router = APIRouter()


@router.get(
    "/v1/quality",
    response_model=QualityOut,
    responses=ERRORS,
    summary="Data quality of the last Silver runs",
)
def quality_runs(
    key: Annotated[ApiKey | None, Depends(allowed(access.QUALITY_READ))],
    app: App,
    runs: Annotated[int, Query(ge=1, le=quality.MAX_RUNS, description="How many runs, newest first.")] = 10,
):
    current = app.version()
    # Silver runs between two Gold builds do not change Databricks' version: at most a minute old
    cache_key = f"quality:{runs}:{datetime.now(UTC):%Y%m%d%H%M}"
    hit = app.cache.get(current, cache_key)
    if hit is None:
        result = app.run(quality.runs_sql(app.backend), {"runs": runs}, quality.MAX_ROWS)
        hit = [quality.as_json(r) for r in quality.runs_from_rows(result.columns, result.rows)]
        app.cache.put(current, cache_key, hit)
    return QualityOut(runs=hit)
