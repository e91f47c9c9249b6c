"""The dashboard in a real browser: a small Gold warehouse, `python -m ingest api` and
`python -m ingest dashboard` as processes, Debian's Chromium headless (selenium +
/usr/bin/chromedriver). Each page shows the API's own figures, the country filter changes them,
the page asks nothing of any host but 127.0.0.1 (Chrome DevTools network events), and a
screenshot of each page is saved under $LAKEHOUSE_DATA_DIR/test-artifacts/dashboard/."""

from __future__ import annotations

import http.client
import json
import os
import subprocess
import sys
import urllib.parse
from datetime import date
from pathlib import Path

import pytest

from ingest.api.server import free_port, wait_ready
from ingest.dashboard import formatting, periods
from ingest.paths import PROJECT_DIR, DataDir

from ..waiting import wait_for
from . import api_warehouse

pytestmark = pytest.mark.integration

CHROMIUM, CHROMEDRIVER = Path("/usr/bin/chromium"), Path("/usr/bin/chromedriver")
WAIT_S = 120  # generous: two cores shared with the rest of the suite
ARTEFACTS = (
    Path(os.environ.get("LAKEHOUSE_DATA_DIR") or PROJECT_DIR / "data") / "test-artifacts" / "dashboard"
)
NETWORK_SCHEMES = ("http", "https", "ws", "wss", "ftp")
FRANCE = [{"dimension": "country__country_name", "op": "in", "values": ["France"]}]


# ---------------------------------------------------------------------------- processes
def _start(args: list[str], env: dict[str, str], log: Path) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "ingest", *args],
        cwd=PROJECT_DIR,
        env=env,
        stdout=log.open("w"),
        stderr=subprocess.STDOUT,
    )


def _stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(30)


def _wait_dashboard(port: int, process: subprocess.Popen, log: Path) -> None:
    """Until Streamlit answers its health check; fails with its log if it exits or never answers."""

    def healthy() -> bool:
        assert process.poll() is None, f"the dashboard exited: {log.read_text()[-3000:]}"
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            conn.request("GET", "/_stcore/health")
            return conn.getresponse().status == 200
        except OSError:
            return False

    wait_for(
        healthy,
        f"the dashboard on port {port}",
        WAIT_S,
        interval_s=0.3,
        detail=lambda: log.read_text()[-3000:],
    )


@pytest.fixture(scope="module")
def stack(data_root, tmp_path_factory):
    api_warehouse.build(DataDir(data_root))
    logs = tmp_path_factory.mktemp("dashboard-logs")
    env = {k: v for k, v in os.environ.items() if k not in ("LAKEHOUSE_API_KEYS", "LAKEHOUSE_API_KEY")}
    env["LAKEHOUSE_DATA_DIR"] = str(data_root)
    if api_warehouse.SEMANTIC_MANIFEST.exists():
        env["LAKEHOUSE_SEMANTIC_MANIFEST"] = str(api_warehouse.SEMANTIC_MANIFEST)
    api_port, dash_port = free_port(), free_port()
    api = _start(["api", "--port", str(api_port)], env, logs / "api.log")
    dashboard = None
    try:
        wait_ready(api_port, api, timeout_s=WAIT_S)
        dashboard = _start(
            ["dashboard", "--port", str(dash_port), "--api", f"http://127.0.0.1:{api_port}"],
            env,
            logs / "dashboard.log",
        )
        _wait_dashboard(dash_port, dashboard, logs / "dashboard.log")
        yield {"api": api_port, "dashboard": dash_port}
    finally:
        if dashboard is not None:
            _stop(dashboard)
        _stop(api)


def api_call(port: int, method: str, path: str, body: dict | None = None):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    try:
        headers = {"content-type": "application/json"} if body is not None else {}
        conn.request(method, path, body=json.dumps(body) if body is not None else None, headers=headers)
        response = conn.getresponse()
        payload = json.loads(response.read())
        assert response.status == 200, payload
        return payload
    finally:
        conn.close()


def totals(port: int, filters: list[dict] | None = None, span: dict | None = None) -> dict:
    body = {
        "metrics": ["net_revenue", "orders", "distinct_customers"],
        "filters": filters or [],
        **(span or {}),
    }
    return api_call(port, "POST", "/v1/query", body)["rows"][0]


# ---------------------------------------------------------------------------- the browser
class Browser:
    """Chromium driven through chromedriver; remembers every URL the pages asked for."""

    def __init__(self, user_data: Path) -> None:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service

        options = webdriver.ChromeOptions()
        options.binary_location = str(CHROMIUM)
        for flag in (
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            "--no-proxy-server",
            "--disable-dev-shm-usage",
            "--window-size=1400,1500",
            f"--user-data-dir={user_data}",
        ):
            options.add_argument(flag)
        options.set_capability("goog:loggingPrefs", {"performance": "ALL"})
        options.ignore_local_proxy_environment_variables()  # chromedriver is on this machine
        self.driver = webdriver.Chrome(options=options, service=Service(str(CHROMEDRIVER)))
        self.driver.set_page_load_timeout(WAIT_S)
        self.requested: list[str] = []

    def drain_network_log(self) -> None:
        """URLs of every request and websocket the pages opened (CDP Network events)."""
        for entry in self.driver.get_log("performance"):
            message = json.loads(entry["message"])["message"]
            params = message.get("params", {})
            if message["method"] == "Network.requestWillBeSent":
                self.requested.append(params["request"]["url"])
            elif message["method"] == "Network.webSocketCreated":
                self.requested.append(params["url"])

    def wait(self, condition, what: str):
        from selenium.common.exceptions import StaleElementReferenceException, TimeoutException
        from selenium.webdriver.support.ui import WebDriverWait

        try:
            return WebDriverWait(
                self.driver, WAIT_S, ignored_exceptions=(StaleElementReferenceException,)
            ).until(condition)
        except TimeoutException:
            body = self.driver.find_element("tag name", "body").text
            pytest.fail(f"waited {WAIT_S} s for {what}; the page shows:\n{body[-3000:]}")

    def tiles(self) -> dict[str, str]:
        found = {}
        for tile in self.driver.find_elements("css selector", '[data-testid="stMetric"]'):
            label = tile.find_element("css selector", '[data-testid="stMetricLabel"]').text.strip()
            found[label] = tile.find_element("css selector", '[data-testid="stMetricValue"]').text.strip()
        return found

    def tile(self, label: str, equals: str | None = None) -> str:
        """The tile's value once shown (and, with `equals`, once it shows that value)."""

        def shown(_driver):
            value = self.tiles().get(label)
            return value if value and (equals is None or value == equals) else None

        return self.wait(shown, f"tile {label!r}" + (f" to show {equals!r}" if equals else ""))

    def screenshot(self, name: str) -> Path:
        ARTEFACTS.mkdir(parents=True, exist_ok=True)
        path = ARTEFACTS / f"{name}.png"
        self.driver.save_screenshot(str(path))
        print(f"screenshot: {path}")
        return path

    def quit(self) -> None:
        self.driver.quit()


@pytest.fixture(scope="module")
def browser(stack, tmp_path_factory):
    missing = [str(p) for p in (CHROMIUM, CHROMEDRIVER) if not p.exists()]
    if missing:
        pytest.fail(
            f"{' and '.join(missing)} missing: install Debian's chromium and chromium-driver "
            "(scripts/setup.sh does it as root: apt-get install -y chromium chromium-driver)"
        )
    b = Browser(tmp_path_factory.mktemp("chromium-profile"))
    try:
        yield b
    finally:
        b.quit()


def open_page(browser: Browser, stack: dict, page: str) -> None:
    browser.driver.get(f"http://127.0.0.1:{stack['dashboard']}/?page={page}")


def money(value: float) -> str:
    return f"£{value:,.2f}"


# ---------------------------------------------------------------------------- the pages
def test_sales_tiles_equal_the_apis_figures(stack, browser):
    expected = totals(stack["api"])
    open_page(browser, stack, "sales")
    assert browser.tile("Net revenue") == formatting.compact_money(expected["net_revenue"])
    assert browser.tile("Orders") == formatting.compact_count(expected["orders"])
    assert browser.tile("Customers") == formatting.compact_count(expected["distinct_customers"])
    browser.wait(
        lambda d: d.find_elements("css selector", '[data-testid="stVegaLiteChart"], .vega-embed'),
        "the revenue chart",
    )
    browser.screenshot("sales")
    browser.drain_network_log()


# the value itself (and the delta and its description) inside each tile: cut by CSS ellipsis when
# its text is wider than its box
CUT_TEXT = """
return Array.from(document.querySelectorAll('[data-testid="stMetric"]')).map(tile => {
  const label = tile.querySelector('[data-testid="stMetricLabel"]').innerText.trim();
  const parts = [...tile.querySelectorAll(
      '[data-testid="stMetricValue"], [data-testid="stMetricValue"] *, [data-testid="stMetricDelta"] *,'
      + ' [data-testid="stMetricDeltaDescription"], [data-testid="stMetricDeltaDescription"] *')];
  const cut = parts.filter(e => e.scrollWidth > e.clientWidth + 1)
                   .map(e => `${e.innerText.trim()} (${e.scrollWidth} px in ${e.clientWidth} px)`);
  return [label, cut];
});
"""


@pytest.mark.parametrize("width", [1400, 1024])
def test_sales_headline_figures_are_whole(stack, browser, width):
    """Each headline tile shows its whole figure (nothing cut by the tile's ellipsis), in compact
    units, at a desktop and a small laptop width; the exact figure is in the tile's help on hover."""
    from selenium.webdriver.common.action_chains import ActionChains

    expected = totals(stack["api"])
    browser.driver.set_window_size(width, 1500)
    try:
        open_page(browser, stack, "sales")
        browser.tile("Net revenue")
        browser.tile("Return rate")
        cut = {label: parts for label, parts in browser.driver.execute_script(CUT_TEXT) if parts}
        assert not cut, f"tile text cut at {width} px: {cut}"
        assert browser.tile("Net revenue") == formatting.compact_money(expected["net_revenue"])
        assert browser.tile("Orders") == formatting.compact_count(expected["orders"])
        assert browser.tile("Customers") == formatting.compact_count(expected["distinct_customers"])
        # hovering the tile's help shows the exact figure
        tile = next(
            t
            for t in browser.driver.find_elements("css selector", '[data-testid="stMetric"]')
            if t.find_element("css selector", '[data-testid="stMetricLabel"]').text.strip() == "Net revenue"
        )
        ActionChains(browser.driver).move_to_element(
            tile.find_element("css selector", '[data-testid="stTooltipIcon"]')
        ).perform()
        exact = money(expected["net_revenue"])
        browser.wait(
            lambda d: any(
                exact in e.text for e in d.find_elements("css selector", '[data-testid="stTooltipContent"]')
            ),
            f"the exact figure {exact} on hover",
        )
        browser.screenshot(f"sales-{width}")
    finally:
        browser.driver.set_window_size(1400, 1500)
    browser.drain_network_log()


def test_sales_tiles_say_when_there_is_no_same_period_last_year(stack, browser):
    """The warehouse holds January to June 2019 only: every tile says it has no year before to
    compare with (not 0%), and the caption names both periods, from the API's first and last day."""
    days = [
        api_call(
            stack["api"],
            "POST",
            "/v1/query",
            {"metrics": ["orders"], "grain": "day", "order_by": [order], "limit": 1},
        )["rows"][0]["metric_time__day"][:10]
        for order in ("metric_time", "-metric_time")
    ]
    first, last = (date.fromisoformat(day) for day in days)
    open_page(browser, stack, "sales")
    browser.tile("Net revenue")

    def descriptions(d):
        found = [
            e.text.strip()
            for e in d.find_elements("css selector", '[data-testid="stMetricDeltaDescription"]')
        ]
        return found if len(found) == len(periods.HEADLINES) else None

    assert set(browser.wait(descriptions, "a comparison under each tile")) == {periods.NO_PRIOR}
    period = periods.days_text((first, last))
    browser.wait(lambda d: f"{period} (all the data)" in d.page_source, f"the period {period}")
    assert not browser.driver.find_elements("css selector", '[data-testid="stMetricDelta"]'), "a 0% shown"
    cut = {label: parts for label, parts in browser.driver.execute_script(CUT_TEXT) if parts}
    assert not cut, f"tile text cut: {cut}"
    browser.drain_network_log()


def test_sales_country_filter_changes_the_figures_to_the_apis(stack, browser):
    from selenium.webdriver.common.keys import Keys

    everything, france = totals(stack["api"]), totals(stack["api"], FRANCE)
    assert france["net_revenue"] != everything["net_revenue"]
    open_page(browser, stack, "sales")
    browser.tile("Net revenue", equals=formatting.compact_money(everything["net_revenue"]))
    box = browser.wait(
        lambda d: d.find_element("css selector", '[data-testid="stMultiSelect"] input'), "the country filter"
    )
    box.click()
    box.send_keys("France")
    box.send_keys(Keys.ENTER)
    assert browser.tile("Net revenue", equals=formatting.compact_money(france["net_revenue"]))
    assert browser.tile("Orders") == formatting.compact_count(france["orders"])
    browser.screenshot("sales-france")
    browser.drain_network_log()


def test_quality_page_shows_the_apis_newest_run(stack, browser):
    run = api_call(stack["api"], "GET", "/v1/quality?runs=10")["runs"][0]
    open_page(browser, stack, "quality")
    assert browser.tile("Bronze events") == f"{run['bronze_events']:,}"
    assert browser.tile("Gold lines") == f"{run['gold_lines']:,}"
    assert browser.tile("Duplicates removed") == f"{run['duplicates_removed']:,}"
    assert browser.tile("Books balanced") == ("yes" if run["is_balanced"] else "NO")
    browser.screenshot("quality")
    browser.drain_network_log()


def test_freshness_page_shows_gold_and_refreshes_itself(stack, browser):
    health = api_call(stack["api"], "GET", "/v1/health")
    open_page(browser, stack, "freshness")
    assert browser.tile("Gold lines") == f"{health['gold_lines']:,}"
    first = browser.tile("Age of Gold")
    # the fragment reruns on its own every few seconds: the age moves without any click
    browser.wait(lambda d: browser.tiles().get("Age of Gold") not in (None, first), "the age to refresh")
    browser.wait(lambda d: health["newest_source_event_at"] in d.page_source, "the newest outbox commit")
    browser.screenshot("freshness")
    browser.drain_network_log()


def test_order_lookup_traces_each_line(stack, browser):
    from selenium.webdriver.common.keys import Keys

    order = api_call(stack["api"], "GET", "/v1/orders/577001")
    open_page(browser, stack, "order")
    box = browser.wait(
        lambda d: d.find_element("css selector", '[data-testid="stTextInput"] input'), "the TransactionNo box"
    )
    box.send_keys("577001")
    box.send_keys(Keys.ENTER)

    def rows(d):
        table = d.find_elements("css selector", '[data-testid="stTable"] tbody tr')
        return table if len(table) == len(order["lines"]) else None

    shown = [row.text for row in browser.wait(rows, f"{len(order['lines'])} order lines")]
    for line, text in zip(order["lines"], shown, strict=True):
        assert line["event_id"] in text and line["status"] in text
        assert str(line["bronze"]["offset"]) in text
    assert any("quarantined" in text for text in shown)
    browser.screenshot("order")
    browser.drain_network_log()


MARCH = {"start": "2019-03-01", "end": "2019-03-31"}


def test_every_page_honours_the_date_range(stack, browser):
    """A range in the URL (?start=&end=) narrows Sales to the API's figures for those days, holds
    when another page is chosen in the sidebar, narrows the Gold lines on Data quality and the
    newest sale day on Freshness, and hides an order dated outside it."""
    everything, march = totals(stack["api"]), totals(stack["api"], span=MARCH)
    assert march["net_revenue"] != everything["net_revenue"]
    lines = api_call(stack["api"], "POST", "/v1/query", {"metrics": ["lines"], **MARCH})["rows"][0]["lines"]
    newest = api_call(
        stack["api"],
        "POST",
        "/v1/query",
        {"metrics": ["lines"], "grain": "day", "order_by": ["-metric_time"], "limit": 1, **MARCH},
    )["rows"][0]["metric_time__day"][:10]
    label = "1 Mar 2019 – 31 Mar 2019"
    browser.driver.get(f"http://127.0.0.1:{stack['dashboard']}/?page=sales&start=2019-03-01&end=2019-03-31")
    assert browser.tile("Net revenue", equals=formatting.compact_money(march["net_revenue"]))
    assert browser.tile("Orders") == formatting.compact_count(march["orders"])
    assert browser.tile("Customers") == formatting.compact_count(march["distinct_customers"])
    browser.wait(lambda d: f"{label}, each figure beside" in d.page_source, "the period caption")
    date_box = '[data-testid="stSidebar"] [data-testid="stDateInput"] input'
    shown = browser.wait(
        lambda d: [e.get_attribute("value") for e in d.find_elements("css selector", date_box)],
        "the date range",
    )
    assert shown == ["2019-03-01", "2019-03-31"]  # the widget's start and end boxes
    browser.screenshot("sales-march")

    def choose(page: str) -> None:
        for option in browser.driver.find_elements("css selector", '[data-testid="stSidebar"] label'):
            if option.text.strip() == page:
                option.click()
                return
        pytest.fail(f"no {page!r} in the sidebar")

    choose("Data quality")
    assert browser.tile(f"Gold lines in {label}") == f"{lines:,}"
    assert "start=2019-03-01" in browser.driver.current_url and "end=2019-03-31" in browser.driver.current_url
    browser.screenshot("quality-march")
    choose("Freshness")
    assert browser.tile("Newest sale day in the dates") == newest
    assert browser.tile("Gold lines in the dates") == f"{lines:,}"
    choose("Order lookup")
    from selenium.webdriver.common.keys import Keys

    box = browser.wait(
        lambda d: d.find_element("css selector", '[data-testid="stTextInput"] input'), "the TransactionNo box"
    )
    box.send_keys("577001")
    box.send_keys(Keys.ENTER)
    browser.wait(
        lambda d: f"Order 577001 has no line dated {label}" in d.find_element("tag name", "body").text,
        "the order said to be outside the dates",
    )
    browser.drain_network_log()


def test_pages_ask_nothing_of_any_host_but_localhost(stack, browser):
    for page, tile in (("sales", "Net revenue"), ("quality", "Bronze events"), ("freshness", "Gold lines")):
        open_page(browser, stack, page)
        browser.tile(tile)
    open_page(browser, stack, "order")
    browser.wait(lambda d: "Type a TransactionNo" in d.page_source, "the order lookup page")
    browser.drain_network_log()
    assert browser.requested, "no network event recorded: the CDP performance log is not working"
    # what goes over the network (chrome://, data:, blob: are the browser's own, never sent)
    network = [url for url in browser.requested if urllib.parse.urlsplit(url).scheme in NETWORK_SCHEMES]
    assert any(url.startswith("ws://127.0.0.1") for url in network), "the page's websocket was not seen"
    off = sorted({url for url in network if urllib.parse.urlsplit(url).hostname != "127.0.0.1"})
    assert not off, f"{len(off)} request(s) off 127.0.0.1: {off[:10]}"
