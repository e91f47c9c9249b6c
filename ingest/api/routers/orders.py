"""/v1/orders/{transaction_no}: one order traced from its lines back to their source events."""

from typing import Annotated

from fastapi import APIRouter, Depends, Path

from ingest.api import access, lookups
from ingest.api.access import ApiKey
from ingest.api.dependencies import ApiError, App, allowed
from ingest.api.schemas import ERRORS, OrderOut

router = APIRouter()


@router.get(
    "/v1/orders/{transaction_no}",
    response_model=OrderOut,
    responses=ERRORS,
    summary="Trace one order: its lines, their Silver status and source events",
)
def order(
    key: Annotated[ApiKey | None, Depends(allowed(access.ORDERS_READ))],
    app: App,
    transaction_no: Annotated[str, Path(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,39}$")],
):
    current = app.version()
    scope = access.row_scope(key)
    cache_key = f"order:{access.row_scope_key(key)}:{transaction_no}"
    hit = app.cache.get(current, cache_key)
    if hit is None:  # lines outside the key's row scope are not read: such an order is 404
        sql, params = lookups.order_lines_sql(app.backend, scope)
        result = app.run(sql, {**params, "transaction_no": transaction_no}, 5000)
        hit = lookups.order_trace(transaction_no, result.columns, result.rows)
        app.cache.put(current, cache_key, hit)
    if not hit["lines"]:
        raise ApiError(404, f"no order line with TransactionNo {transaction_no!r} in Silver")
    return hit
