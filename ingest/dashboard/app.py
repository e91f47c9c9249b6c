"""The dashboard (Streamlit entry): `python -m ingest dashboard` runs `streamlit run` on this file.

Four pages, chosen in the sidebar (or with `?page=sales|quality|freshness|order`): Sales, Data
quality, Freshness and Order lookup; the sidebar's sale dates (`?start=&end=`) apply to each.
Every figure comes from the analytics API through `ingest.dashboard.client`; tests put a stub
client in `st.session_state["api_client"]`.
"""

from __future__ import annotations

import altair as alt
import pandas as pd
import streamlit as st

from ingest.dashboard.client import ApiClient, ApiError, ApiUnavailable
from ingest.dashboard.formatting import (
    CURRENCY,
    exact,
)
from ingest.dashboard.periods import (
    HEADLINES,
    TILES,
    WORSE_UP,
    Comparison,
    Dates,
    clamp_range,
    days_text,
    first_and_last_day,
    iso_date,
    last_year_comparisons,
    last_year_period,
)
from ingest.dashboard.pipeline_pages import freshness_page, order_page, quality_page
from ingest.dashboard.widgets import empty_state

PAGES = {"sales": "Sales", "quality": "Data quality", "freshness": "Freshness", "order": "Order lookup"}
TOP_PRODUCTS = 10


def client() -> ApiClient:
    """The session's API client: built from the environment once per session (this script is
    Streamlit's entry point), or the one a test put there."""
    if "api_client" not in st.session_state:
        st.session_state["api_client"] = ApiClient.from_env()
    return st.session_state["api_client"]


# ---------------------------------------------------------------------------- Sales
def choose_dates(api: ApiClient) -> Dates | None:
    """The sidebar's date range over the data's days (the API's first and last day), kept in the
    URL as ?start=&end= so it holds on every page and in a shared link; None without data."""
    extent = first_and_last_day(api)
    if extent is None:
        return None
    first, last = extent
    if "dates" not in st.session_state:  # first run: the URL's range, else all the data
        asked = (
            iso_date(st.query_params.get("start")) or first,
            iso_date(st.query_params.get("end")) or last,
        )
        st.session_state["dates"] = clamp_range(*asked, first, last)
    else:  # the data may have grown or a stale range be outside it
        chosen = tuple(st.session_state["dates"])
        if len(chosen) == 2:
            st.session_state["dates"] = clamp_range(*chosen, first, last)
    chosen = st.sidebar.date_input(
        "Sale dates",
        min_value=first,
        max_value=last,
        key="dates",
        format="YYYY-MM-DD",
        help="Every page shows these days only (the data holds "
        f"{days_text(extent)}). Clear it to show all the data.",
    )
    chosen = tuple(chosen) if isinstance(chosen, (tuple, list)) else (chosen,) if chosen else ()
    if len(chosen) == 2:
        start, end = chosen
    elif len(chosen) == 1:  # half-picked: that one day
        start = end = chosen[0]
    else:
        start, end = first, last
    dates = Dates(first, last, start, end)
    if dates.whole:
        for name in ("start", "end"):
            if name in st.query_params:
                del st.query_params[name]
    else:
        st.query_params["start"], st.query_params["end"] = start.isoformat(), end.isoformat()
    st.sidebar.caption(f"Showing {dates.label()}")
    return dates


def headline_tiles(total: dict, comparisons: dict[str, Comparison] | None = None) -> None:
    """One tile per headline metric, side by side; a tile is as wide as its figure needs (a row
    that has no room for all of them wraps), so no figure is ever cut."""
    comparisons = comparisons or {}
    with st.container(horizontal=True, gap="medium"):
        for label, name, compact, full, description in HEADLINES:
            value = total.get(name)
            versus = comparisons.get(name)
            flat = versus is not None and versus.flat
            st.metric(
                label,
                compact(value),
                delta=versus.delta if versus else None,
                delta_color="off" if flat else "inverse" if name in WORSE_UP else "normal",
                delta_arrow="off" if flat else "auto",
                delta_description=versus.description if versus else None,
                help=exact(description, full(value)),
                width="content",
            )


def sales_page(api: ApiClient, dates: Dates | None = None) -> None:
    st.header("Sales")
    span = dates.span() if dates else {}
    countries = [  # over all dates: a chosen country stays an option whatever the dates
        row["country__country_name"]
        for row in api.query(["net_revenue"], group_by=["country__country_name"], order_by=["-net_revenue"])
    ]
    left, right = st.columns([3, 1])
    chosen = left.multiselect("Country", countries, placeholder="All countries", key="countries")
    grain = right.radio("Revenue by", ["month", "day"], horizontal=True, key="grain")
    filters = [{"dimension": "country__country_name", "op": "in", "values": chosen}] if chosen else []
    scope = ", ".join(chosen) if chosen else "all countries"
    if span:
        scope += f", {dates.label()}"

    totals = api.query(list(TILES), filters=filters, **span)
    total = totals[0] if totals else {}
    if dates is None:
        headline_tiles(total)
    else:
        days = (dates.start, dates.end)
        st.caption(
            f"{dates.label()}, each figure beside the same period last year "
            f"({days_text(last_year_period(*days))})"
        )
        headline_tiles(total, last_year_comparisons(api, total, filters, days, dates.first))

    period = f"metric_time__{grain}"
    by_time = pd.DataFrame(api.query(["net_revenue"], grain=grain, filters=filters, limit=10_000, **span))
    st.subheader(f"Net revenue by {grain} ({scope})")
    if by_time.empty:
        st.info("No sales in this selection.")
    else:
        by_time[period] = pd.to_datetime(by_time[period])
        by_time = by_time.sort_values(period)
        if grain == "month":  # one labelled bar per month
            by_time["month"] = by_time[period].dt.strftime("%b %Y")
            x = alt.X("month:O", title="Month", sort=None, axis=alt.Axis(labelAngle=0))
            mark = alt.Chart(by_time).mark_bar()
        else:
            x = alt.X(f"{period}:T", title="Day", axis=alt.Axis(format="%d %b %Y"))
            mark = alt.Chart(by_time).mark_line(point=True)
        chart = mark.encode(
            x=x,
            y=alt.Y("net_revenue:Q", title=f"Net revenue ({CURRENCY})", axis=alt.Axis(format=",.0f")),
            tooltip=[
                alt.Tooltip(f"{period}:T", title=grain.capitalize(), format="%Y-%m-%d"),
                alt.Tooltip("net_revenue:Q", title=f"Net revenue ({CURRENCY})", format=",.2f"),
            ],
        )
        st.altair_chart(chart, width="stretch")

    st.subheader(f"Top {TOP_PRODUCTS} products by net revenue ({scope})")
    top = pd.DataFrame(
        api.query(
            ["net_revenue"],
            group_by=["product__product_no", "product__product_name"],
            filters=filters,
            order_by=["-net_revenue"],
            limit=TOP_PRODUCTS,
            **span,
        )
    )
    if top.empty:
        st.info("No products in this selection.")
    else:
        top["product"] = top["product__product_no"] + " " + top["product__product_name"].fillna("")
        chart = (
            alt.Chart(top)
            .mark_bar()
            .encode(
                x=alt.X("net_revenue:Q", title=f"Net revenue ({CURRENCY})", axis=alt.Axis(format=",.0f")),
                y=alt.Y("product:N", title="Product", sort="-x"),
                tooltip=[
                    alt.Tooltip("product:N", title="Product"),
                    alt.Tooltip("net_revenue:Q", title=f"Net revenue ({CURRENCY})", format=",.2f"),
                ],
            )
        )
        st.altair_chart(chart, width="stretch")


RENDER = {"sales": sales_page, "quality": quality_page, "freshness": freshness_page, "order": order_page}


def main() -> None:
    st.set_page_config(page_title="Orders lakehouse", layout="wide")
    asked = st.query_params.get("page", "sales")
    names = list(PAGES)
    page = st.sidebar.radio(
        "Page",
        names,
        index=names.index(asked) if asked in PAGES else 0,
        format_func=PAGES.__getitem__,
        key="page",
    )
    st.query_params["page"] = page
    api = client()
    st.sidebar.caption(f"Figures from the analytics API at {api.base_url}")
    try:
        dates = choose_dates(api)
    except ApiUnavailable:  # the page says what to run
        dates = None
    except ApiError as exc:  # e.g. a key that may not read `lines`: the pages show all dates
        dates = None
        st.sidebar.caption(f"No date range: the API answered {exc.status}: {exc.detail}")
    try:
        RENDER[page](api, dates)
    except ApiUnavailable as exc:
        empty_state(str(exc))
    except ApiError as exc:
        st.error(f"The API answered {exc.status}: {exc.detail}")


if __name__ == "__main__":  # streamlit runs this file as __main__; importing it renders nothing
    main()
