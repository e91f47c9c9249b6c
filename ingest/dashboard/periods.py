"""Sale-date periods: the range the sidebar chose, the same period a year earlier, and the
headline figures compared with it (from the analytics API, never from SQL here)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from ingest.dashboard.client import ApiClient
from ingest.dashboard.formatting import compact_count, compact_money, count, exact_percent, money, percent

TILES = ("net_revenue", "orders", "distinct_customers", "average_order_value", "return_rate")
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


def days_text(period: tuple[date, date]) -> str:
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
        return days_text((self.start, self.end)) + (" (all the data)" if self.whole else "")

    def holds(self, day: date) -> bool:
        return self.start <= day <= self.end


def clamp_range(start: date, end: date, first: date, last: date) -> tuple[date, date]:
    """A chosen range kept within the data's days (and in order); a range wholly outside is all of it."""
    start, end = min(start, end), max(start, end)
    if end < first or start > last:
        return first, last
    return max(start, first), min(end, last)


def iso_date(text: str | None) -> date | None:
    try:
        return date.fromisoformat(str(text)[:10]) if text else None
    except ValueError:
        return None
