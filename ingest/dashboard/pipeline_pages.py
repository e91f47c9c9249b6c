"""The dashboard's pages about the pipeline rather than the business: Data quality (Silver's
record of its runs), Freshness (how far behind the orders Gold is) and Order lookup (one order
traced back to its source events)."""

from __future__ import annotations

import altair as alt
import pandas as pd
import streamlit as st

from ingest.dashboard.client import ApiClient, ApiError, ApiUnavailable
from ingest.dashboard.formatting import (
    compact_count,
    count,
    exact,
    money,
)
from ingest.dashboard.periods import (
    Dates,
    iso_date,
)
from ingest.dashboard.widgets import empty_state
from ingest.progress import duration

REFRESH_SECONDS = 5  # the Freshness page re-reads the API this often


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


def _breakdown(title: str, counts: dict[str, int] | None, label: str, when_empty: str) -> None:
    """A subheader, then lines per `label` as bars, or `when_empty` when there are none."""
    st.subheader(title)
    frame = _by_key(counts, label)
    if frame.empty:
        st.info(when_empty)
    else:
        st.altair_chart(_count_bars(frame, label), width="stretch")


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
        _breakdown("Quarantined lines by rule", run["quarantined_by_rule"], "rule", "No line quarantined.")
    with right:
        _breakdown("Excluded lines by reason", run["excluded_by_reason"], "reason", "No line excluded.")
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
        lines = [line for line in lines if not (day := iso_date(line["sale_date"])) or dates.holds(day)]
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
