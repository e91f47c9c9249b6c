"""The dashboard (Streamlit entry): `python -m ingest dashboard` runs `streamlit run` on this file.

Four pages, chosen in the sidebar (or with `?page=sales|quality|freshness|order`): Sales, Data
quality, Freshness and Order lookup; the sidebar's sale dates (`?start=&end=`) apply to each.
Every figure comes from the analytics API through `ingest.dashboard.client`; tests put a stub
client in `st.session_state["api_client"]`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import altair as alt
import pandas as pd
import streamlit as st

from ingest.dashboard.client import ApiClient, ApiError, ApiUnavailable

PAGES = {"sales": "Sales", "quality": "Data quality", "freshness": "Freshness", "order": "Order lookup"}
CURRENCY = "£"
REFRESH_SECONDS = 5
TOP_PRODUCTS = 10
TILES = ("net_revenue", "orders", "distinct_customers", "average_order_value", "return_rate")


def money(value: float | None) -> str:
    return "–" if value is None else f"{CURRENCY}{value:,.2f}"


def count(value: float | None) -> str:
    return "–" if value is None else f"{int(value):,}"


def percent(value: float | None) -> str:
    return "–" if value is None else f"{value:.1%}"


# Headline tiles show compact figures so the whole figure fits its tile (the exact one is in the
# tile's help, shown on hover). The rule:
# - money under £1,000 in pounds and pence (£999.00); from £1,000 three significant digits and a
#   unit, K (thousand), M (million), B (billion), T (trillion): £1.00K, £412K, £9.77M;
# - counts under 10,000 whole with separators (4,860); from 10,000 the same three digits and a
#   unit: 10.0K, 54.1K, 1.00M;
# - a value that rounds up to the next unit takes it (£999,999 is £1.00M, not £1000K);
# - negatives carry a leading minus (-£1.23K), a value that rounds to zero none; None is "–".
UNITS = ((1e3, "K"), (1e6, "M"), (1e9, "B"), (1e12, "T"))


def _three_digits(magnitude: float) -> str:
    """A non-negative magnitude of at least 1,000 in three significant digits and a unit."""
    for i, (size, unit) in enumerate(UNITS):
        scaled = magnitude / size
        text = f"{scaled:.{2 if scaled < 10 else 1 if scaled < 100 else 0}f}"
        if float(text) < 1000 or i == len(UNITS) - 1:
            return text + unit
    raise AssertionError("not reached")


def _signed(value: float, magnitude_text: str) -> str:
    return ("-" if value < 0 and any(c in "123456789" for c in magnitude_text) else "") + magnitude_text


def compact_money(value: float | None) -> str:
    """£412K, £9.77M; under £1,000 in pence (£102.88). See the rule above."""
    if value is None:
        return "–"
    magnitude = abs(value)
    if round(magnitude, 2) < 1000:
        return _signed(value, f"{CURRENCY}{magnitude:,.2f}")
    return _signed(value, CURRENCY + _three_digits(magnitude))


def compact_count(value: float | None) -> str:
    """4,860 under 10,000; 54.1K, 1.00M from 10,000. See the rule above."""
    if value is None:
        return "–"
    magnitude = abs(round(value))
    if magnitude < 10_000:
        return _signed(value, f"{magnitude:,}")
    return _signed(value, _three_digits(magnitude))


def exact_percent(value: float | None) -> str:
    return "–" if value is None else f"{value:.2%}"


def exact(text: str | None, shown: str) -> str:
    """A tile's help: its description (if any) and the exact figure behind the compact one."""
    return (f"{text}\n\n" if text else "") + f"Exact: {shown}"


def duration(seconds: float | None) -> str:
    """An age a person reads: 42 s, 3 min 5 s, 2 h 10 min, 4 d 3 h."""
    if seconds is None:
        return "–"
    s = max(0, round(seconds))
    if s < 60:
        return f"{s} s"
    if s < 3600:
        return f"{s // 60} min {s % 60} s"
    if s < 86400:
        return f"{s // 3600} h {s % 3600 // 60} min"
    return f"{s // 86400:,} d {s % 86400 // 3600} h"


def client() -> ApiClient:
    return st.session_state.get("api_client") or ApiClient.from_env()


def empty_state(reason: str) -> None:
    st.warning(f"No data to show yet: {reason}.")
    st.markdown(
        "Build Gold first: `make demo` (the whole pipeline once) or `make run` (continuously, "
        "with the API). If only the API is missing, start it with `make api`. "
        "This page shows the figures as soon as the API answers."
    )


# ---------------------------------------------------------------------------- Sales
# (label, metric, compact format, exact format, description)
HEADLINES = (
    ("Net revenue", "net_revenue", compact_money, money, "Sales minus returns"),
    ("Orders", "orders", compact_count, count, "Distinct sales transactions"),
    ("Customers", "distinct_customers", compact_count, count, "Distinct known customers"),
    ("Average order value", "average_order_value", compact_money, money, None),
    ("Return rate", "return_rate", percent, exact_percent, "Returns value / gross revenue"),
)


POINTS = {"return_rate"}  # rates: compared in percentage points, not as a % change
WORSE_UP = {"return_rate"}  # up is bad: the delta is red when it rises
NO_PRIOR = "no data for the same period last year"


# Beside each headline figure, the same period a year earlier: the tiles' period (the chosen sale
# dates; all the data, its first to last day, by default) shifted back a year, 29 Feb to 28 Feb. The
# prior figures come from the API (POST /v1/query with start/end), never from SQL here. A year
# before that the data does not wholly cover (it starts later) is said to have no data, and so is
# a year with no sales in the selection: never a 0% or a change from nothing.
@dataclass(frozen=True)
class Comparison:
    delta: str | None  # "+20.4%", "-0.5 pp", "0.0%"; None when there is no change to show
    description: str  # "vs £8.12M same period last year", or why there is nothing to compare
    flat: bool = False  # the change rounds to zero: no arrow, grey


def a_year_earlier(day: date) -> date:
    try:
        return day.replace(year=day.year - 1)
    except ValueError:  # 29 February
        return day.replace(year=day.year - 1, day=28)


def last_year_period(start: date, end: date) -> tuple[date, date]:
    return a_year_earlier(start), a_year_earlier(end)


def prior_gap(first_day: date | None, prior_start: date, prior_end: date) -> str | None:
    """Why the data cannot give the whole period a year earlier (None when it can)."""
    if first_day is None or first_day > prior_end:
        return NO_PRIOR
    if first_day > prior_start:
        return f"{NO_PRIOR} (the data starts {first_day:%-d %b %Y})"
    return None


def compare_with_last_year(
    current: float | None, prior: float | None, shown, *, points: bool = False, missing: str = NO_PRIOR
) -> Comparison:
    """The change from the same period last year, as a % (or percentage points for a rate), and
    last year's figure formatted by `shown`. No prior figure: `missing` says so; no % from zero."""
    if prior is None:
        return Comparison(None, missing)
    described = f"vs {shown(prior)} same period last year"
    if current is None:
        return Comparison(None, described)
    if points:
        change, unit = round((current - prior) * 100, 1), " pp"
    elif prior == 0:
        return Comparison(None, described)
    else:
        change, unit = round((current - prior) / abs(prior) * 100, 1), "%"
    if change == 0:
        return Comparison(f"0.0{unit}", described, flat=True)
    return Comparison(f"{change:+.1f}{unit}", described)


def first_and_last_day(api: ApiClient) -> tuple[date, date] | None:
    """The data's first and last day (of any counted line, all countries), from the API."""
    ends = [
        api.query(["lines"], grain="day", order_by=[order], limit=1)
        for order in ("metric_time", "-metric_time")
    ]
    if not all(ends):
        return None
    first, last = (date.fromisoformat(str(rows[0]["metric_time__day"])[:10]) for rows in ends)
    return first, last


def last_year_comparisons(
    api: ApiClient,
    total: dict,
    filters: list[dict],
    period: tuple[date, date],
    first_day: date | None,
) -> dict[str, Comparison]:
    """Each headline metric against the same period a year earlier (the API's figures)."""
    prior_start, prior_end = last_year_period(*period)
    gap = prior_gap(first_day, prior_start, prior_end)
    prior: dict = {}
    if gap is None:
        rows = api.query(list(TILES), filters=filters, start=prior_start, end=prior_end)
        prior = rows[0] if rows else {}
        if all(prior.get(name) in (None, 0) for name in TILES):  # no sale in the selection then
            prior, gap = {}, NO_PRIOR
    return {
        name: compare_with_last_year(
            total.get(name), prior.get(name), compact, points=name in POINTS, missing=gap or NO_PRIOR
        )
        for _, name, compact, _, _ in HEADLINES
    }


def _days(period: tuple[date, date]) -> str:
    return f"{period[0]:%-d %b %Y} – {period[1]:%-d %b %Y}"


# ---------------------------------------------------------------------------- the date range
@dataclass(frozen=True)
class Dates:
    """The sale dates every page shows: the data's first and last day and the chosen range within."""

    first: date
    last: date
    start: date
    end: date

    @property
    def whole(self) -> bool:
        return self.start <= self.first and self.end >= self.last

    def span(self) -> dict[str, date]:
        """The API's start/end for the chosen range (nothing when it is all the data)."""
        return {} if self.whole else {"start": self.start, "end": self.end}

    def label(self) -> str:
        return _days((self.start, self.end)) + (" (all the data)" if self.whole else "")

    def holds(self, day: date) -> bool:
        return self.start <= day <= self.end


def clamp_range(start: date, end: date, first: date, last: date) -> tuple[date, date]:
    """A chosen range kept within the data's days (and in order); a range wholly outside is all of it."""
    start, end = min(start, end), max(start, end)
    if end < first or start > last:
        return first, last
    return max(start, first), min(end, last)


def _iso(text: str | None) -> date | None:
    try:
        return date.fromisoformat(str(text)[:10]) if text else None
    except ValueError:
        return None


def choose_dates(api: ApiClient) -> Dates | None:
    """The sidebar's date range over the data's days (the API's first and last day), kept in the
    URL as ?start=&end= so it holds on every page and in a shared link; None without data."""
    extent = first_and_last_day(api)
    if extent is None:
        return None
    first, last = extent
    if "dates" not in st.session_state:  # first run: the URL's range, else all the data
        asked = (_iso(st.query_params.get("start")) or first, _iso(st.query_params.get("end")) or last)
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
        f"{_days(extent)}). Clear it to show all the data.",
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
            f"({_days(last_year_period(*days))})"
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


# ---------------------------------------------------------------------------- Data quality
def _by_key(counts: dict[str, int] | None, label: str) -> pd.DataFrame:
    return pd.DataFrame(sorted((counts or {}).items()), columns=[label, "lines"])


def _count_bars(frame: pd.DataFrame, label: str) -> alt.Chart:
    return (
        alt.Chart(frame)
        .mark_bar()
        .encode(
            x=alt.X("lines:Q", title="Lines", axis=alt.Axis(format=",d", tickMinStep=1)),
            y=alt.Y(f"{label}:N", title=label.capitalize(), sort="-x"),
            tooltip=[alt.Tooltip(f"{label}:N"), alt.Tooltip("lines:Q", format=",d")],
        )
    )


def lines_in_range(api: ApiClient, dates: Dates) -> tuple[int, pd.DataFrame]:
    """Gold's counted lines dated in the range, in all and by line class (the API's `lines`)."""
    rows = api.query(["lines"], group_by=["sales_line__line_class"], order_by=["-lines"], **dates.span())
    frame = pd.DataFrame(rows, columns=["sales_line__line_class", "lines"]).rename(
        columns={"sales_line__line_class": "class"}
    )
    frame["lines"] = frame["lines"].fillna(0).astype(int)
    return int(frame["lines"].sum()), frame


def quality_page(api: ApiClient, dates: Dates | None = None) -> None:
    st.header("Data quality")
    runs = api.quality(runs=10)
    if not runs:
        empty_state("no Silver run is recorded")
        return
    if dates is not None:
        st.subheader(f"Gold lines dated {dates.label()}")
        total, by_class = lines_in_range(api, dates)
        st.metric(f"Gold lines in {dates.label()}", compact_count(total), help=exact(None, count(total)))
        if not by_class.empty:
            st.altair_chart(_count_bars(by_class, "class"), width="stretch")
        st.caption(
            "The Silver run record below counts each run whole: the API keeps it per run, not per "
            "sale date, so the chosen dates narrow the Gold lines above only."
        )
    run = runs[0]
    st.caption(f"Newest Silver run {run['run_id']} at {run['run_at']} (UTC)")
    st.subheader("Events per layer")
    layers = st.columns(4)
    layers[0].metric("Bronze events", count(run["bronze_events"]))
    layers[1].metric("Silver checked lines", count(run["checked_lines"]))
    layers[2].metric("Trusted lines", count(run["trusted_lines"]))
    layers[3].metric("Gold lines", count(run["gold_lines"]))
    other = st.columns(4)
    other[0].metric("Quarantined lines", count(run["quarantined_lines"]))
    other[1].metric("Duplicates removed", count(run["duplicates_removed"]))
    other[2].metric("Excluded lines", count(run["excluded_lines"]))
    other[3].metric(
        "Books balanced",
        "yes" if run["is_balanced"] else "NO",
        help="Every Bronze event is accounted for in Silver (unaccounted events: "
        f"{run['unaccounted_events']:,})",
    )
    left, right = st.columns(2)
    with left:
        st.subheader("Quarantined lines by rule")
        quarantined = _by_key(run["quarantined_by_rule"], "rule")
        if quarantined.empty:
            st.info("No line quarantined.")
        else:
            st.altair_chart(_count_bars(quarantined, "rule"), width="stretch")
    with right:
        st.subheader("Excluded lines by reason")
        excluded = _by_key(run["excluded_by_reason"], "reason")
        if excluded.empty:
            st.info("No line excluded.")
        else:
            st.altair_chart(_count_bars(excluded, "reason"), width="stretch")
    st.subheader(f"Last {len(runs)} Silver runs")
    columns = [
        "run_at",
        "bronze_events",
        "checked_lines",
        "trusted_lines",
        "gold_lines",
        "quarantined_lines",
        "duplicates_removed",
        "excluded_lines",
        "late_events",
        "is_balanced",
    ]
    st.dataframe(pd.DataFrame(runs)[columns], hide_index=True)


# ---------------------------------------------------------------------------- Freshness
def freshness_page(api: ApiClient, dates: Dates | None = None) -> None:
    st.header("Freshness")
    st.caption(f"Refreshes every {REFRESH_SECONDS} s.")
    if dates is not None and not dates.whole:
        st.info(
            f"The ages below are of the pipeline now, whatever the dates; the newest sale day in "
            f"{dates.label()} is shown beside them."
        )

    @st.fragment(run_every=REFRESH_SECONDS)
    def tiles() -> None:
        try:
            health = api.health()
        except ApiUnavailable as exc:
            empty_state(str(exc))
            return
        cols = st.columns(3)
        cols[0].metric(
            "Age of Gold", duration(health["gold_age_seconds"]), help="Now minus the last Gold build"
        )
        cols[1].metric(
            "Source lag",
            duration(health["source_lag_seconds"]),
            help="Now minus the newest outbox commit in Gold",
        )
        cols[2].metric("Gold lines", count(health["gold_lines"]))
        if dates is not None and not dates.whole:
            newest = api.query(["lines"], grain="day", order_by=["-metric_time"], limit=1, **dates.span())
            in_range = api.query(["lines"], **dates.span())
            more = st.columns(3)
            more[0].metric(
                "Newest sale day in the dates",
                str(newest[0]["metric_time__day"])[:10] if newest else "–",
            )
            more[1].metric("Gold lines in the dates", count((in_range[0] if in_range else {}).get("lines")))
        st.markdown(
            f"- Last Gold build: **{health['gold_built_at'] or '–'}**\n"
            f"- Newest outbox commit in Gold: **{health['newest_source_event_at'] or '–'}**\n"
            f"- Newest Bronze landing: **{health['newest_bronze_ingested_at'] or '–'}**\n"
            f"- Engine: {health['engine']}"
        )

    tiles()


# ---------------------------------------------------------------------------- Order lookup
def order_page(api: ApiClient, dates: Dates | None = None) -> None:
    st.header("Order lookup")
    transaction_no = st.text_input("TransactionNo", key="transaction_no", placeholder="e.g. 581475").strip()
    if not transaction_no:
        st.info("Type a TransactionNo to see each of its lines and the path it took.")
        return
    try:
        order = api.order(transaction_no)
    except ApiError as exc:
        st.error(f"The API refused {transaction_no!r}: {exc.detail}")
        return
    if order is None:
        st.warning(f"No order line with TransactionNo {transaction_no} in Silver.")
        return
    lines = order["lines"]
    if dates is not None and not dates.whole:  # a line without a sale date cannot be outside
        lines = [line for line in lines if not (day := _iso(line["sale_date"])) or dates.holds(day)]
        hidden = len(order["lines"]) - len(lines)
        if not lines:
            st.warning(
                f"Order {transaction_no} has no line dated {dates.label()} (its lines are dated "
                f"{', '.join(sorted({str(line['sale_date']) for line in order['lines']}))}): "
                "widen the sale dates to see it."
            )
            return
        if hidden:
            st.info(f"{hidden} line(s) of this order dated outside {dates.label()} are not shown.")
    summary = ", ".join(f"{n} {status}" for status, n in sorted(order["summary"].items()))
    st.markdown(f"**{len(order['lines'])} line(s)**: {summary}")
    rows = [
        {
            "product": line["product_no"],
            "name": line["product_name"],
            "quantity": line["quantity"],
            "unit price": money(line["unit_price"]),
            "status": line["status"],
            "reason": line["reason"] or "",
            "net amount": money(line["net_amount"]),
            "Bronze partition": line["bronze"]["partition"],
            "Bronze offset": line["bronze"]["offset"],
            "outbox commit (UTC)": line["bronze"]["source_event_at"],
            "event": line["event_id"],
        }
        for line in lines
    ]
    st.table(pd.DataFrame(rows).set_index("event"))


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
