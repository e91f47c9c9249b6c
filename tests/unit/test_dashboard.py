"""The dashboard's logic without a browser: Streamlit's AppTest runs ingest/dashboard/app.py with a
stub API client, so each page shows the API's figures, filters reach the API, and an API
without Gold (503) or out of reach gives an empty state that says what to run."""

from __future__ import annotations

import http.server
import json
import threading
import urllib.error
from datetime import date

import pytest
from streamlit.testing.v1 import AppTest

from ingest.api.server import free_port
from ingest.dashboard import app as dashboard
from ingest.dashboard import formatting, periods
from ingest.dashboard.client import ApiClient, ApiError, ApiUnavailable
from ingest.progress import duration

APP = dashboard.__file__
TIMEOUT = 60

COUNTRY_ROWS = [
    {"country__country_name": "United Kingdom", "net_revenue": 9000.0},
    {"country__country_name": "France", "net_revenue": 1234.5},
]
HEALTH = {
    "status": "ok",
    "engine": "duckdb",
    "gold_built_at": "2026-11-29T10:00:00Z",
    "gold_age_seconds": 125.0,
    "gold_lines": 4321,
    "newest_source_event_at": "2026-11-29T09:59:00Z",
    "newest_bronze_ingested_at": "2026-11-29T09:59:05Z",
    "source_lag_seconds": 185.0,
}
RUN = {
    "run_id": "r2",
    "run_at": "2026-11-29T10:00:00Z",
    "bronze_events": 1200,
    "checked_lines": 1190,
    "new_checked_lines": 100,
    "trusted_lines": 1180,
    "quarantined_lines": 7,
    "failed_lines": 3,
    "gold_lines": 1170,
    "excluded_lines": 10,
    "duplicates_removed": 10,
    "unaccounted_events": 0,
    "late_events": 0,
    "is_balanced": True,
    "newest_bronze_ingested_at": None,
    "newest_source_event_at": None,
    "bronze_age_seconds": None,
    "source_age_seconds": None,
    "quarantined_by_rule": {"price_not_positive": 7},
    "failed_by_rule": {"missing_date": 3},
    "excluded_by_reason": {"test_customer": 10},
}
ORDER = {
    "transaction_no": "577001",
    "summary": {"counted": 2, "quarantined": 1},
    "lines": [
        {
            "event_id": f"trace-{n}",
            "product_no": f"2200{n}",
            "product_name": "Thing",
            "sale_date": "2019-04-02",
            "quantity": 1,
            "unit_price": 3.1,
            "customer_no": "12001",
            "country": "France",
            "is_return": False,
            "status": status,
            "reason": reason,
            "warnings": [],
            "net_amount": 3.1 if status == "counted" else None,
            "bronze": {
                "topic": "orders",
                "partition": 0,
                "offset": 40 + n,
                "source_event_at": "2019-04-02T10:00:00Z",
                "batch_id": 3,
                "ingested_at": "2026-11-29T09:00:00Z",
            },
        }
        for n, status, reason in (
            (1, "counted", None),
            (2, "counted", None),
            (3, "quarantined", "price_zero"),
        )
    ],
}


class StubApi:
    """Answers like the API; remembers every query it was asked."""

    base_url = "http://stub"

    def __init__(
        self,
        fail: Exception | None = None,
        days: tuple[str, str] | None = ("2019-01-01", "2019-06-30"),
        last_year: dict | None = None,
        this_year_from: date | None = None,
    ) -> None:
        self.fail = fail
        self.days = days  # the data's first and last day of sales (None: no sales at all)
        self.last_year = last_year  # the totals asked with a start before this_year_from
        self.this_year_from = this_year_from or (date.fromisoformat(days[0]) if days else None)
        self.queries: list[dict] = []

    def query(
        self,
        metrics,
        group_by=None,
        grain=None,
        filters=None,
        order_by=None,
        limit=1000,
        start=None,
        end=None,
    ):
        if self.fail:
            raise self.fail
        self.queries.append(
            {
                "metrics": metrics,
                "group_by": group_by,
                "grain": grain,
                "filters": filters,
                "order_by": order_by,
                "start": start,
                "end": end,
            }
        )
        france = bool(filters)
        if order_by in (["metric_time"], ["-metric_time"]):
            if self.days is None:
                return []
            newest = order_by[0].startswith("-")
            day = (end or date.fromisoformat(self.days[1])) if newest else (start or self.days[0])
            return [{"metric_time__day": str(day), "lines": 1}]
        narrowed = start is not None
        if group_by == ["sales_line__line_class"]:
            return [
                {"sales_line__line_class": "product", "lines": 300 if narrowed else 1100},
                {"sales_line__line_class": "postage", "lines": 5 if narrowed else 70},
            ]
        if metrics == ["lines"]:
            return [{"lines": 305 if narrowed else 1170}]
        if narrowed and self.this_year_from and start < self.this_year_from:  # a year before
            return [self.last_year] if self.last_year else []
        if narrowed and not group_by and not grain:
            return [
                {
                    "net_revenue": 4321.0,
                    "orders": 40,
                    "distinct_customers": 30,
                    "average_order_value": 108.0,
                    "return_rate": 0.05,
                }
            ]
        if group_by == ["country__country_name"]:
            return COUNTRY_ROWS
        if group_by and group_by[0] == "product__product_no":
            return [{"product__product_no": "22001", "product__product_name": "Thing", "net_revenue": 500.0}]
        if grain:
            return [{f"metric_time__{grain}": "2019-01-01", "net_revenue": 1234.5 if france else 10234.5}]
        return [
            {
                "net_revenue": 1234.5 if france else 10234.5,
                "orders": 12 if france else 1500,
                "distinct_customers": 3 if france else 220,
                "average_order_value": 102.875,
                "return_rate": 0.0425,
            }
        ]

    def health(self):
        if self.fail:
            raise self.fail
        return HEALTH

    def quality(self, runs=10):
        if self.fail:
            raise self.fail
        return [RUN, {**RUN, "run_id": "r1", "run_at": "2026-11-29T09:00:00Z"}]

    def order(self, transaction_no):
        if self.fail:
            raise self.fail
        return ORDER if transaction_no == "577001" else None


def run_page(page: str, api: StubApi) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    at.session_state["api_client"] = api
    at.query_params["page"] = page
    at.run()
    assert not at.exception, at.exception
    return at


def metric(at: AppTest, label: str) -> str:
    values = {m.label: m.value for m in at.metric}
    assert label in values, f"no tile {label!r} among {list(values)}"
    return values[label]


def text_of(at: AppTest) -> str:
    return "\n".join(str(e.value) for e in [*at.markdown, *at.warning, *at.info, *at.caption, *at.error])


def test_sales_tiles_show_the_apis_totals_compact_with_the_exact_figure_in_their_help():
    at = run_page("sales", StubApi())
    assert metric(at, "Net revenue") == "£10.2K"
    assert metric(at, "Orders") == "1,500"
    assert metric(at, "Customers") == "220"
    assert metric(at, "Average order value") == "£102.88"
    assert metric(at, "Return rate") == "4.2%"
    helps = {m.label: m.help for m in at.metric}
    assert (
        helps["Net revenue"].endswith("Exact: £10,234.50") and "Sales minus returns" in helps["Net revenue"]
    )
    assert helps["Orders"].endswith("Exact: 1,500")
    assert helps["Average order value"] == "Exact: £102.88"
    assert helps["Return rate"].endswith("Exact: 4.25%")


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        (None, "–"),
        (0, "£0.00"),
        (0.004, "£0.00"),
        (-0.004, "£0.00"),  # rounds to zero: no minus
        (102.875, "£102.88"),
        (999, "£999.00"),
        (999.994, "£999.99"),
        (999.995, "£1.00K"),  # rounds up into the next unit
        (1_000, "£1.00K"),
        (1_234.5, "£1.23K"),
        (15_755.86, "£15.8K"),
        (412_345, "£412K"),
        (999_499, "£999K"),
        (999_999, "£1.00M"),
        (1_000_000, "£1.00M"),
        (9_770_932.41, "£9.77M"),  # the real UCI year, cut as £9,770,9… before
        (2_500_000_000, "£2.50B"),
        (3.2e15, "£3200T"),  # past the last unit: more digits, never a wrong unit
        (-999, "-£999.00"),
        (-1_000, "-£1.00K"),
        (-1_234.5, "-£1.23K"),
        (-9_770_932.41, "-£9.77M"),
    ],
)
def test_compact_money(value, shown):
    assert formatting.compact_money(value) == shown


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        (None, "–"),
        (0, "0"),
        (999, "999"),
        (1_000, "1,000"),
        (4_860, "4,860"),
        (9_999, "9,999"),
        (10_000, "10.0K"),
        (54_123, "54.1K"),
        (541_909, "542K"),
        (999_999, "1.00M"),
        (1_000_000, "1.00M"),
        (-999, "-999"),
        (-1_000, "-1,000"),
        (-54_123, "-54.1K"),
        (1_499.6, "1,500"),  # counts are whole
    ],
)
def test_compact_count(value, shown):
    assert formatting.compact_count(value) == shown


def test_sales_country_filter_is_sent_to_the_api_and_changes_the_tiles():
    api = StubApi()
    at = run_page("sales", api)
    at.multiselect(key="countries").set_value(["France"]).run()
    assert metric(at, "Net revenue") == "£1.23K"
    totals = [q for q in api.queries if q["group_by"] is None and q["grain"] is None]
    assert totals[-1]["filters"] == [{"dimension": "country__country_name", "op": "in", "values": ["France"]}]


def test_sales_grain_switches_between_month_and_day():
    api = StubApi()
    at = run_page("sales", api)
    series = [q for q in api.queries if q["metrics"] == ["net_revenue"] and q["grain"]]
    assert [q["grain"] for q in series] == ["month"]
    at.radio(key="grain").set_value("day").run()
    assert not at.exception
    series = [q for q in api.queries if q["metrics"] == ["net_revenue"] and q["grain"]]
    assert series[-1]["grain"] == "day"


# ---------------------------------------------------------------------------- the same period last year
LAST_YEAR = {
    "net_revenue": 8_500.0,
    "orders": 1_500,
    "distinct_customers": 250,
    "average_order_value": 102.875,
    "return_rate": 0.05,
}


def test_the_whole_data_has_no_year_before_it_and_the_tiles_say_so_not_0_percent():
    api = StubApi(last_year=LAST_YEAR)
    at = run_page("sales", api)
    assert "1 Jan 2019 – 30 Jun 2019 (all the data)" in text_of(at)
    assert "1 Jan 2018 – 30 Jun 2018" in text_of(at)
    for tile in at.metric:
        assert tile.proto.delta_description == "no data for the same period last year", tile.label
        assert not tile.delta
    assert not [q for q in api.queries if q["start"]], "asked the API for a year the data does not cover"


def test_no_sales_at_all_shows_the_tiles_without_a_comparison():
    at = run_page("sales", StubApi(days=None))
    assert metric(at, "Net revenue") == "£10.2K"
    assert all(not tile.proto.delta_description for tile in at.metric)


def test_last_year_comparisons_ask_the_api_for_the_same_days_a_year_earlier():
    api = StubApi(last_year=LAST_YEAR, this_year_from=date(2020, 1, 1))
    total = {
        "net_revenue": 10_234.5,
        "orders": 1_500,
        "distinct_customers": 220,
        "average_order_value": 110.0,
    }
    total["return_rate"] = 0.0425
    france = [{"dimension": "country__country_name", "op": "in", "values": ["France"]}]
    got = periods.last_year_comparisons(
        api, total, france, (date(2020, 1, 1), date(2020, 2, 29)), first_day=date(2018, 7, 1)
    )
    asked = api.queries[-1]
    assert (asked["start"], asked["end"]) == (date(2019, 1, 1), date(2019, 2, 28))
    assert asked["filters"] == france and asked["metrics"] == list(periods.TILES)
    assert got["net_revenue"] == periods.Comparison("+20.4%", "vs £8.50K same period last year")
    assert got["orders"] == periods.Comparison("0.0%", "vs 1,500 same period last year", flat=True)
    assert got["distinct_customers"] == periods.Comparison("-12.0%", "vs 250 same period last year")
    assert got["average_order_value"].delta == "+6.9%"
    assert got["return_rate"] == periods.Comparison("-0.8 pp", "vs 5.0% same period last year")


def test_last_year_comparisons_say_when_the_data_starts_inside_the_year_before():
    api = StubApi(last_year=LAST_YEAR)
    got = periods.last_year_comparisons(
        api, {"net_revenue": 1.0}, [], (date(2019, 3, 1), date(2019, 6, 30)), first_day=date(2018, 4, 2)
    )
    assert not api.queries
    assert got["net_revenue"] == periods.Comparison(
        None, "no data for the same period last year (the data starts 2 Apr 2018)"
    )


def test_last_year_comparisons_say_when_the_selection_sold_nothing_a_year_before():
    api = StubApi(last_year={name: None for name in periods.TILES} | {"orders": 0})
    got = periods.last_year_comparisons(
        api, {"net_revenue": 1.0}, [], (date(2019, 3, 1), date(2019, 6, 30)), first_day=date(2018, 1, 1)
    )
    assert {c.description for c in got.values()} == {"no data for the same period last year"}
    assert {c.delta for c in got.values()} == {None}


# ---------------------------------------------------------------------------- the date range
MARCH_APRIL = (date(2019, 3, 1), date(2019, 4, 30))
SPAN = {"start": date(2019, 3, 1), "end": date(2019, 4, 30)}


def with_dates(page: str, api: StubApi, days=MARCH_APRIL) -> AppTest:
    at = run_page(page, api)
    at.date_input(key="dates").set_value(days).run()
    assert not at.exception, at.exception
    return at


def test_the_date_range_spans_the_apis_first_and_last_day_and_starts_whole():
    api = StubApi()
    at = run_page("sales", api)
    box = at.date_input(key="dates")
    assert tuple(box.value) == (date(2019, 1, 1), date(2019, 6, 30))
    assert (box.min, box.max) == (date(2019, 1, 1), date(2019, 6, 30))
    assert "start" not in at.query_params
    assert all(
        q["start"] is None for q in api.queries if q["order_by"] not in (["metric_time"], ["-metric_time"])
    )


def test_sales_page_honours_the_dates_in_every_query_and_the_url():
    api = StubApi()
    at = with_dates("sales", api)
    assert metric(at, "Net revenue") == "£4.32K"
    asked = api.queries[api.queries.index(next(q for q in api.queries if q["start"])) :]
    sales = [q for q in asked if q["order_by"] not in (["metric_time"], ["-metric_time"])]
    # the totals, the series and the top products: each with the dates (the country list is all dates')
    figures = [q for q in sales if q["group_by"] != ["country__country_name"]]
    assert len(figures) >= 3 and all((q["start"], q["end"]) == MARCH_APRIL for q in figures)
    assert (at.query_params["start"], at.query_params["end"]) == ("2019-03-01", "2019-04-30")
    assert "1 Mar 2019 – 30 Apr 2019" in text_of(at)
    assert any("1 Mar 2019 – 30 Apr 2019" in h.value for h in at.subheader)


def test_sales_compares_the_chosen_dates_with_the_same_dates_a_year_earlier():
    api = StubApi(days=("2018-01-01", "2019-06-30"), last_year=LAST_YEAR, this_year_from=date(2019, 1, 1))
    at = with_dates("sales", api)
    prior = [q for q in api.queries if q["start"] == date(2018, 3, 1)]
    assert prior and prior[-1]["end"] == date(2018, 4, 30) and prior[-1]["metrics"] == list(periods.TILES)
    tiles = {m.label: m for m in at.metric}
    assert tiles["Net revenue"].proto.delta_description == "vs £8.50K same period last year"
    assert tiles["Net revenue"].delta == "-49.2%"
    assert tiles["Return rate"].delta == "0.0 pp"


def test_the_dates_in_the_url_are_honoured_and_kept_within_the_data():
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    api = StubApi()
    at.session_state["api_client"] = api
    at.query_params.update({"page": "sales", "start": "2018-06-01", "end": "2019-04-30"})
    at.run()
    assert not at.exception, at.exception
    assert tuple(at.date_input(key="dates").value) == (date(2019, 1, 1), date(2019, 4, 30))
    assert any(q["end"] == date(2019, 4, 30) for q in api.queries if q["metrics"] == list(periods.TILES))


def test_quality_page_counts_the_gold_lines_dated_in_the_range():
    api = StubApi()
    at = with_dates("quality", api)
    assert metric(at, "Gold lines in 1 Mar 2019 – 30 Apr 2019") == "305"
    assert [(q["start"], q["end"]) for q in api.queries if q["group_by"] == ["sales_line__line_class"]][
        -1
    ] == (MARCH_APRIL)
    assert "counts each run whole" in text_of(at)
    assert metric(at, "Bronze events") == "1,200"  # the run record is per run


def test_freshness_page_shows_the_newest_sale_day_in_the_range():
    at = with_dates("freshness", StubApi())
    assert metric(at, "Newest sale day in the dates") == "2019-04-30"
    assert metric(at, "Gold lines in the dates") == "305"
    assert metric(at, "Age of Gold") == "2 min 5 s"


def test_order_lookup_hides_lines_dated_outside_the_range_and_says_so():
    at = with_dates("order", StubApi(), days=(date(2019, 1, 1), date(2019, 3, 31)))
    at.text_input(key="transaction_no").input("577001").run()
    assert not at.table
    assert "has no line dated 1 Jan 2019 – 31 Mar 2019" in text_of(at) and "2019-04-02" in text_of(at)
    at = with_dates("order", StubApi())
    at.text_input(key="transaction_no").input("577001").run()
    assert len(at.table[0].value) == 3


@pytest.mark.parametrize(
    ("asked", "kept"),
    [
        ((date(2019, 3, 1), date(2019, 4, 30)), (date(2019, 3, 1), date(2019, 4, 30))),
        ((date(2019, 4, 30), date(2019, 3, 1)), (date(2019, 3, 1), date(2019, 4, 30))),
        ((date(2018, 1, 1), date(2019, 2, 1)), (date(2019, 1, 1), date(2019, 2, 1))),
        ((date(2019, 5, 1), date(2020, 1, 1)), (date(2019, 5, 1), date(2019, 6, 30))),
        ((date(2017, 1, 1), date(2017, 2, 1)), (date(2019, 1, 1), date(2019, 6, 30))),
    ],
)
def test_clamp_range(asked, kept):
    assert periods.clamp_range(*asked, date(2019, 1, 1), date(2019, 6, 30)) == kept


@pytest.mark.parametrize(
    ("current", "prior", "points", "expected"),
    [
        (120.0, 100.0, False, ("+20.0%", "vs £100.00 same period last year", False)),
        (9_770_932.41, 8_100_000.0, False, ("+20.6%", "vs £8.10M same period last year", False)),
        (80.0, 100.0, False, ("-20.0%", "vs £100.00 same period last year", False)),
        (100.04, 100.0, False, ("0.0%", "vs £100.00 same period last year", True)),
        (-50.0, -100.0, False, ("+50.0%", "vs -£100.00 same period last year", False)),  # less negative: up
        (100.0, 0.0, False, (None, "vs £0.00 same period last year", False)),  # no % from zero
        (None, 100.0, False, (None, "vs £100.00 same period last year", False)),
        (100.0, None, False, (None, "no data for the same period last year", False)),
        (None, None, False, (None, "no data for the same period last year", False)),
        (0.0425, 0.05, True, ("-0.8 pp", "vs 5.0% same period last year", False)),
        (0.05, 0.0, True, ("+5.0 pp", "vs 0.0% same period last year", False)),  # points from zero are fine
    ],
)
def test_compare_with_last_year(current, prior, points, expected):
    shown = formatting.percent if points else formatting.compact_money
    got = periods.compare_with_last_year(current, prior, shown, points=points)
    assert (got.delta, got.description, got.flat) == expected


@pytest.mark.parametrize(
    ("day", "earlier"),
    [
        (date(2020, 2, 29), date(2019, 2, 28)),
        (date(2020, 3, 1), date(2019, 3, 1)),
        (date(2011, 12, 9), date(2010, 12, 9)),
        (date(2011, 1, 1), date(2010, 1, 1)),
    ],
)
def test_a_year_earlier(day, earlier):
    assert periods.a_year_earlier(day) == earlier


def test_prior_gap():
    start, end = date(2018, 1, 1), date(2018, 6, 30)
    assert periods.prior_gap(date(2017, 12, 1), start, end) is None
    assert periods.prior_gap(date(2018, 1, 1), start, end) is None
    assert periods.prior_gap(date(2018, 1, 2), start, end).endswith("(the data starts 2 Jan 2018)")
    assert periods.prior_gap(date(2018, 7, 1), start, end) == "no data for the same period last year"
    assert periods.prior_gap(None, start, end) == "no data for the same period last year"


def test_quality_page_shows_the_newest_runs_layers_and_balance():
    at = run_page("quality", StubApi())
    assert metric(at, "Bronze events") == "1,200"
    assert metric(at, "Gold lines") == "1,170"
    assert metric(at, "Duplicates removed") == "10"
    assert metric(at, "Books balanced") == "yes"
    assert len(at.dataframe) == 1 and len(at.dataframe[0].value) == 2
    subheaders = [h.value for h in at.subheader]
    assert "Quarantined lines by rule" in subheaders and "Excluded lines by reason" in subheaders
    assert not [i.value for i in at.info if i.value.startswith("No line")]


def test_quality_page_says_so_when_nothing_was_quarantined_or_excluded():
    class Clean(StubApi):
        def quality(self, runs=10):
            return [{**RUN, "quarantined_by_rule": {}, "excluded_by_reason": {}}]

    at = run_page("quality", Clean())
    assert not at.exception
    assert [i.value for i in at.info if i.value.startswith("No line")] == [
        "No line quarantined.",
        "No line excluded.",
    ]


def test_freshness_page_shows_ages_a_person_reads():
    at = run_page("freshness", StubApi())
    assert metric(at, "Age of Gold") == "2 min 5 s"
    assert metric(at, "Source lag") == "3 min 5 s"
    assert metric(at, "Gold lines") == "4,321"
    assert "2026-11-29T09:59:00Z" in text_of(at)


def test_order_lookup_lists_each_line_with_its_status_and_bronze_position():
    at = run_page("order", StubApi())
    at.text_input(key="transaction_no").input("577001").run()
    assert not at.exception
    table = at.table[0].value
    assert list(table["status"]) == ["counted", "counted", "quarantined"]
    assert list(table["Bronze offset"]) == [41, 42, 43]
    assert "price_zero" in set(table["reason"])


def test_order_lookup_says_when_the_order_is_unknown():
    at = run_page("order", StubApi())
    at.text_input(key="transaction_no").input("999").run()
    assert "No order line with TransactionNo 999" in text_of(at)


@pytest.mark.parametrize("page", list(dashboard.PAGES))
def test_every_page_without_gold_says_what_to_run(page):
    at = run_page(page, StubApi(fail=ApiUnavailable("the API has no Gold build to read yet")))
    if page == "order":
        at.text_input(key="transaction_no").input("577001").run()
    text = text_of(at)
    assert "No data to show yet" in text
    assert "make demo" in text and "make run" in text


def test_an_api_error_is_shown_not_raised():
    at = run_page("sales", StubApi(fail=ApiError(403, "metric not allowed for this key")))
    assert "403" in text_of(at) and "metric not allowed" in text_of(at)


def test_durations_read_naturally():
    assert [duration(s) for s in (None, 4.4, 65, 7260, 90000, -65)] == [
        "–",
        "4 s",
        "1 min 5 s",
        "2 h 1 min",
        "1 d 1 h",
        "-1 min 5 s",
    ]


# ---------------------------------------------------------------------------- the HTTP client
def test_client_reads_the_key_and_api_from_the_environment():
    api = ApiClient.from_env({"LAKEHOUSE_DASHBOARD_API": "http://127.0.0.1:9/", "LAKEHOUSE_API_KEY": "k"})
    assert (api.base_url, api.key) == ("http://127.0.0.1:9", "k")
    assert ApiClient.from_env({}).key is None


def test_client_sends_the_key_and_maps_503_to_unavailable(monkeypatch):
    seen = {}

    def fake_open(request, timeout_s):
        seen["key"] = request.get_header("X-api-key")
        seen["body"] = json.loads(request.data)
        raise urllib.error.HTTPError(request.full_url, 503, "x", {}, _Body(b'{"detail": "no Gold build"}'))

    monkeypatch.setattr("ingest.dashboard.client._open", fake_open)
    with pytest.raises(ApiUnavailable, match="no Gold build"):
        ApiClient("http://api", key="secret").query(["orders"], filters=[])
    assert seen == {"key": "secret", "body": {"metrics": ["orders"], "limit": 1000}}


def test_client_sends_start_and_end_as_iso_days(monkeypatch):
    seen = {}

    def fake_open(request, timeout_s):
        seen["body"] = json.loads(request.data)
        raise urllib.error.HTTPError(request.full_url, 503, "x", {}, _Body(b'{"detail": "no Gold build"}'))

    monkeypatch.setattr("ingest.dashboard.client._open", fake_open)
    with pytest.raises(ApiUnavailable):
        ApiClient("http://api").query(["orders"], start=date(2018, 1, 1), end=date(2018, 6, 30))
    assert seen["body"] == {"metrics": ["orders"], "limit": 1000, "start": "2018-01-01", "end": "2018-06-30"}


def test_client_goes_straight_to_a_local_api_even_with_a_proxy_set(monkeypatch):
    class Health(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            body = json.dumps(HEALTH).encode()
            self.send_response(200)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    monkeypatch.setenv("http_proxy", f"http://127.0.0.1:{free_port()}")  # nothing listens there
    monkeypatch.setenv("no_proxy", "")
    with http.server.ThreadingHTTPServer(("127.0.0.1", 0), Health) as server:
        threading.Thread(target=server.serve_forever, daemon=True).start()
        try:
            answer = ApiClient(f"http://127.0.0.1:{server.server_address[1]}", timeout_s=10).health()
        finally:
            server.shutdown()
    assert answer == HEALTH


def test_client_maps_an_unreachable_api_to_unavailable():
    nobody = ApiClient(f"http://127.0.0.1:{free_port()}", timeout_s=5)
    with pytest.raises(ApiUnavailable, match="unreachable"):
        nobody.health()


class _Body:
    def __init__(self, data: bytes) -> None:
        self.data = data

    def read(self, *args) -> bytes:
        return self.data

    def close(self) -> None:
        pass
