"""Synthetic order lines in the exact format of Kaggle's "Sales Transaction v.4a" CSV.

Deterministic for a given seed and row count, streamed row by row (constant memory), and
shaped like the real file (see DESIGN.md, "Source data profile"): several lines per
transaction (median 10, p90 ~47), ~1.6% cancellation lines (`C` prefix, negative
quantity), ~1% exact duplicate lines, a few lines without `CustomerNo`, a few zero and
negative product prices, lowercase stock-code suffixes, products with several names,
customers in several countries, 38 countries with the United Kingdom at ~91% of lines,
six trading days a week over 2018-12-01..2019-12-09 with no trading over the
Christmas-New Year gap.

Besides products, the source's other line classes, each in the shape and at roughly the rate
the real file has them (~0.5% of lines in all): postage (POST, DOT, C2 carriage; now and then
POST at price 0 x 1000), manual lines (M), bank charges and gift vouchers (gift_0001_NN at
price 0) inside orders; discounts (D) and samples (S) inside cancellations only; and
transactions of their own: accounting adjustments (`A` prefix, product B "Adjust bad debt",
negative price, no customer), marketplace fees (AMAZONFEE) and commission (CRUK), both
cancellations of one line.
"""

from __future__ import annotations

import bisect
import csv
import math
import random
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, timedelta

from ingest.events import LINE_FIELDS

# The CSV's header: the line fields as the source names them.
HEADER = tuple(LINE_FIELDS)

FIRST_DAY = date(2018, 12, 1)
LAST_DAY = date(2019, 12, 9)
FIRST_TRANSACTION_NO = 536365
REAL_FILE_LINES = 536_350
REAL_FILE_CUSTOMERS = 4_738

# Accounts QA uses to place test orders (listed in seeds/test_customers.csv).
TEST_CUSTOMERS = ("99990", "99991", "99992", "99993")

# Share of lines by country, from the UCI/v.4a profile (38 countries, UK ~91%).
COUNTRY_WEIGHTS: tuple[tuple[str, float], ...] = (
    ("United Kingdom", 91.0),
    ("Germany", 1.75),
    ("France", 1.58),
    ("EIRE", 1.51),
    ("Spain", 0.47),
    ("Netherlands", 0.44),
    ("Belgium", 0.38),
    ("Switzerland", 0.37),
    ("Portugal", 0.28),
    ("Australia", 0.23),
    ("Norway", 0.2),
    ("Italy", 0.15),
    ("Channel Islands", 0.14),
    ("Finland", 0.13),
    ("Cyprus", 0.11),
    ("Sweden", 0.09),
    ("Unspecified", 0.08),
    ("Austria", 0.07),
    ("Denmark", 0.07),
    ("Japan", 0.07),
    ("Poland", 0.06),
    ("Israel", 0.05),
    ("USA", 0.05),
    ("Hong Kong", 0.05),
    ("Singapore", 0.04),
    ("Iceland", 0.03),
    ("Canada", 0.03),
    ("Greece", 0.03),
    ("Malta", 0.02),
    ("United Arab Emirates", 0.01),
    ("European Community", 0.01),
    ("RSA", 0.01),
    ("Lebanon", 0.01),
    ("Lithuania", 0.01),
    ("Brazil", 0.01),
    ("Czech Republic", 0.01),
    ("Bahrain", 0.01),
    ("Saudi Arabia", 0.01),
)


@dataclass(frozen=True)
class ServiceCode:
    """A code that is not a product, as the source uses it on a line of an order."""

    code: str
    name: str
    price: float  # the median price
    spread: float  # sigma of a log-normal around it (0: always that price)
    in_sales: float  # share of the lines of sales orders
    in_cancellations: float  # share of the lines of cancellations
    quantities: tuple[int, ...] = (1,)
    free_bulk: float = 0.0  # share of its sale lines at price 0 x 1000


# Service lines inside orders. The real file's shape (UCI Online Retail, 541,909 lines, of
# which ~9,300 cancellation lines): POST 1,256 lines, DOT 710, M 571 (~240 in cancellations),
# C2 144, D 77 and S 63 (cancellations only), BANK CHARGES 37, PADS 4 (price 0.001).
SERVICE_CODES: tuple[ServiceCode, ...] = (
    ServiceCode("POST", "Postage", 18.0, 0.0, 0.0022, 0.004, (1, 1, 1, 1, 2, 2, 3, 4, 5), free_bulk=0.03),
    ServiceCode("DOT", "Dotcom Postage", 150.0, 0.8, 0.0013, 0.0),
    ServiceCode("M", "Manual", 3.0, 1.2, 0.0006, 0.025),
    ServiceCode("C2", "Carriage", 50.0, 0.0, 0.00025, 0.0005, (1, 1, 1, 2)),
    ServiceCode("D", "Discount", 20.0, 0.8, 0.0, 0.011),
    ServiceCode("S", "Samples", 30.0, 1.0, 0.0, 0.0085),
    ServiceCode("BANK CHARGES", "Bank Charges", 15.0, 0.0, 0.00005, 0.0013),
    ServiceCode("PADS", "Pads To Match All Cushions", 0.001, 0.0, 0.00001, 0.0),
)

# Gift vouchers sold in orders (~30 lines in the real file), at price 0 in v.4a.
GIFT_VOUCHER_SHARE = 0.00006
GIFT_VOUCHER_VALUES = (10, 20, 30, 40, 50)


@dataclass(frozen=True)
class ServiceTransaction:
    """A transaction of one service line: an accounting adjustment, a fee, a commission."""

    prefix: str  # "A": accounting adjustment; "C": a cancellation (money paid out)
    code: str
    name: str
    price: float  # median of the absolute price
    spread: float
    price_sign: int
    quantity: int
    share: float  # of transactions
    has_customer: bool


# The real file: AMAZONFEE 34 lines, CRUK 16, B 3 (A563185-A563187, no customer), each its
# own transaction, among ~25,900 transactions.
SERVICE_TRANSACTIONS: tuple[ServiceTransaction, ...] = (
    ServiceTransaction("A", "B", "Adjust bad debt", 5000.0, 0.8, -1, 1, 0.0002, False),
    ServiceTransaction("C", "AMAZONFEE", "Amazon Fee", 5000.0, 0.9, 1, -1, 0.0012, True),
    ServiceTransaction("C", "CRUK", "CRUK Commission", 50.0, 1.2, 1, -1, 0.0006, True),
)

_ADJECTIVES = (
    "Vintage",
    "Retro",
    "Regency",
    "Rustic",
    "Pink",
    "Blue",
    "Red",
    "White",
    "Green",
    "Ivory",
    "Wooden",
    "Glass",
    "Enamel",
    "Paper",
    "Floral",
    "Spotty",
    "Heart",
    "Star",
    "Jumbo",
    "Mini",
    "Set Of 3",
    "Set Of 6",
    "Pack Of 12",
    "Hanging",
    "Antique",
    "Colour",
    "Polkadot",
    "Gingham",
    "Cream",
    "Silver",
    "Gold",
    "Black",
    "Party",
    "Christmas",
    "Easter",
    "Garden",
    "Kitchen",
)
_MATERIALS = (
    "Cake",
    "Tea",
    "Lunch",
    "Storage",
    "Doorstop",
    "Bunting",
    "Lantern",
    "Candle",
    "Doormat",
    "Photo",
    "Jam",
    "Picnic",
    "Wall",
    "Bird",
    "Cushion",
    "Bag",
    "Tin",
    "Box",
    "Card",
    "Clock",
)
_NOUNS = (
    "Holder",
    "Cases",
    "Bag",
    "Tins",
    "Frame",
    "Bowl",
    "Mug",
    "Sign",
    "Bottle",
    "Basket",
    "Ornament",
    "Light",
    "Set",
    "Jar",
    "Tray",
    "Stand",
    "Notebook",
    "Wrap",
    "Plate",
    "Cup",
)

# Quantities as shops order them: many singles and small packs, some dozens, a long tail.
_QUANTITIES = (1, 2, 3, 4, 5, 6, 8, 10, 12, 16, 20, 24, 25, 36, 48, 50, 72, 96, 100, 144, 200)
_QUANTITY_WEIGHTS = (
    24,
    13,
    8,
    7,
    3,
    9,
    3,
    4,
    12,
    2,
    1.5,
    3,
    1.2,
    1,
    1.2,
    0.5,
    0.6,
    0.4,
    0.5,
    0.3,
    0.2,
)


@dataclass(frozen=True)
class Product:
    code: str
    names: tuple[str, ...]
    price: float
    new_price: float  # price after a mid-year re-pricing (equal to price if none)
    reprice_day: int  # index of the trading day from which new_price applies


@dataclass(frozen=True)
class Customer:
    number: str
    countries: tuple[str, ...]


def trading_days(first: date = FIRST_DAY, last: date = LAST_DAY) -> list[date]:
    """Six trading days a week (no Saturdays, as in the source), closed 23 Dec - 3 Jan."""
    days = []
    day = first
    while day <= last:
        closed = (day.month == 12 and day.day >= 23) or (day.month == 1 and day.day <= 3)
        if day.weekday() != 5 and not closed:
            days.append(day)
        day += timedelta(days=1)
    return days


def format_date(day: date) -> str:
    return f"{day.month}/{day.day}/{day.year}"


def _format_price(value: float) -> str:
    text = f"{value:.2f}"
    return text if float(text) == value else f"{value:.3f}"  # PADS: 0.001


class SyntheticSales:
    """A deterministic stream of v.4a-format rows; iterate `rows()` for the data."""

    def __init__(self, rows: int, seed: int = 42) -> None:
        if rows < 0:
            raise ValueError("rows must be >= 0")
        self.total_rows = rows
        self.seed = seed
        self.rng = random.Random(seed)
        self.days = trading_days()
        self.products = self._make_products(4000)
        scaled = round(REAL_FILE_CUSTOMERS * rows / REAL_FILE_LINES)
        self.customers = self._make_customers(max(30, scaled))
        self._country_names = [c for c, _ in COUNTRY_WEIGHTS]
        self._country_cum = list(_cumulative([w for _, w in COUNTRY_WEIGHTS]))
        self._customers_by_country = self._group_customers()
        self._qty_cum = list(_cumulative(_QUANTITY_WEIGHTS))
        # Popular products sell more often: a Zipf-like weight over the catalogue.
        self._product_cum = list(_cumulative([1.0 / (i + 10) ** 0.9 for i in range(len(self.products))]))

    # ----------------------------------------------------------------- set-up
    def _make_products(self, count: int) -> list[Product]:
        rng = self.rng
        products: list[Product] = []
        seen: set[str] = set()
        base = 20_000
        while len(products) < count:
            base += rng.randint(1, 30)
            code = str(base if base < 100_000 else base - 70_000)
            if rng.random() < 0.12:
                code += rng.choice("ABCDEFGHJKLMNPS")
            if code in seen:
                continue
            seen.add(code)
            name = f"{rng.choice(_ADJECTIVES)} {rng.choice(_MATERIALS)} {rng.choice(_NOUNS)}"
            names = [name]
            if rng.random() < 0.05:  # products with several names
                names.append(name.replace(" ", ", ", 1) if rng.random() < 0.3 else name + " Design")
            price = round(min(max(rng.lognormvariate(math.log(12.0), 0.35), 5.13), 60.0), 2)
            new_price = price
            if rng.random() < 0.1:  # re-priced during the year
                new_price = round(price * rng.choice((0.9, 1.05, 1.1, 1.2)), 2)
            products.append(Product(code, tuple(names), price, new_price, rng.randrange(len(self.days) or 1)))
        return products

    def _make_customers(self, count: int) -> list[Customer]:
        rng = self.rng
        numbers = rng.sample(range(12346, 12346 + max(count * 3, 10_000)), count)
        cum = list(_cumulative([w for _, w in COUNTRY_WEIGHTS]))
        names = [c for c, _ in COUNTRY_WEIGHTS]
        customers = []
        for i, number in enumerate(numbers):
            # Every country gets at least one customer, then by share of lines.
            home = names[i] if i < len(names) else names[_pick(cum, rng.random())]
            countries = (home,)
            if rng.random() < 0.01:  # customers seen in several countries
                countries = (home, rng.choice(names))
            customers.append(Customer(str(number), countries))
        return customers

    def _group_customers(self) -> dict[str, list[Customer]]:
        groups: dict[str, list[Customer]] = {}
        for customer in self.customers:
            groups.setdefault(customer.countries[0], []).append(customer)
        return groups

    # ----------------------------------------------------------------- stream
    def _lines_in_transaction(self) -> int:
        # Log-normal: median 10, p90 ~47, capped like the source's largest orders.
        return max(1, min(1100, int(self.rng.lognormvariate(math.log(12), 1.15))))

    def _quantity(self) -> int:
        q = _QUANTITIES[_pick(self._qty_cum, self.rng.random())]
        if self.rng.random() < 0.002:
            q *= self.rng.choice((5, 10, 20))
        return q

    def _customer(self) -> Customer:
        country = self._country_names[_pick(self._country_cum, self.rng.random())]
        pool = self._customers_by_country.get(country) or self.customers
        return pool[int(self.rng.random() ** 1.6 * len(pool))]  # some customers buy often

    def _priced(self, median: float, spread: float) -> float:
        if spread == 0:
            return median
        return max(0.01, round(self.rng.lognormvariate(math.log(median), spread), 2))

    def _line(self, day_index: int, cancelled: bool) -> tuple[str, str, float, int]:
        """Code, name, price and (unsigned) quantity of one line of an order."""
        rng = self.rng
        r = rng.random()
        acc = 0.0
        for service in SERVICE_CODES:
            acc += service.in_cancellations if cancelled else service.in_sales
            if r < acc:
                if not cancelled and rng.random() < service.free_bulk:
                    return service.code, service.name, 0.0, 1000
                price = self._priced(service.price, service.spread)
                return service.code, service.name, price, rng.choice(service.quantities)
        if not cancelled:
            acc += GIFT_VOUCHER_SHARE
            if r < acc:
                value = rng.choice(GIFT_VOUCHER_VALUES)
                return f"gift_0001_{value}", f"Dotcomgiftshop Gift Voucher £{value}.00", 0.0, 1
        product = self.products[_pick(self._product_cum, rng.random())]
        code = product.code
        if code[-1].isalpha() and rng.random() < 0.04:
            code = code[:-1] + code[-1].lower()  # lowercase stock-code suffix
        name = product.names[0]
        if len(product.names) > 1 and rng.random() < 0.25:
            name = product.names[1]
        price = product.new_price if day_index >= product.reprice_day else product.price
        roll = rng.random()
        if roll < 0.0004:
            price = 0.0  # a product at price 0: Silver quarantines it
        elif roll < 0.00045:
            price = -price
        return code, name, price, self._quantity()

    def _service_transaction(self) -> ServiceTransaction | None:
        r = self.rng.random()
        acc = 0.0
        for service in SERVICE_TRANSACTIONS:
            acc += service.share
            if r < acc:
                return service
        return None

    def rows(self) -> Iterator[tuple[str, ...]]:
        """Yield exactly `total_rows` rows (tuples in HEADER order)."""
        rng = self.rng
        remaining = self.total_rows
        days = self.days
        per_day = self.total_rows / len(days)
        transaction_no = FIRST_TRANSACTION_NO
        carry = 0.0
        for day_index, day in enumerate(days):
            if remaining <= 0:
                return
            carry += per_day * rng.uniform(0.7, 1.3)
            budget = min(remaining, int(carry)) if day_index < len(days) - 1 else remaining
            carry -= budget
            day_text = format_date(day)
            while budget > 0:
                transaction_no += 1
                service = self._service_transaction()
                if service is not None:  # a transaction of one service line
                    customer = self._customer()
                    price = service.price_sign * self._priced(service.price, service.spread)
                    yield (
                        f"{service.prefix}{transaction_no}",
                        day_text,
                        service.code,
                        service.name,
                        _format_price(price),
                        str(service.quantity),
                        customer.number if service.has_customer else "",
                        customer.countries[0] if service.has_customer else "United Kingdom",
                    )
                    budget -= 1
                    remaining -= 1
                    continue
                cancelled = rng.random() < 0.145
                if cancelled:
                    size = min(budget, max(1, int(rng.expovariate(1 / 1.8))))
                else:
                    size = min(budget, self._lines_in_transaction())
                customer = self._customer()
                if rng.random() < 0.002:  # QA places orders with test accounts now and then
                    customer = Customer(rng.choice(TEST_CUSTOMERS), ("United Kingdom",))
                customer_no = customer.number
                if rng.random() < 0.001:
                    customer_no = ""  # missing CustomerNo: small orders, ~55 lines per 536k
                    size = min(size, rng.randint(1, 4))
                elif rng.random() < 0.03:
                    customer_no += ".0"  # the float-ish form some exports carry
                country = customer.countries[0]
                if len(customer.countries) > 1 and rng.random() < 0.5:
                    country = customer.countries[1]
                number = f"C{transaction_no}" if cancelled else str(transaction_no)
                emitted = 0
                while emitted < size:
                    code, name, price, quantity = self._line(day_index, cancelled)
                    if cancelled:
                        quantity = -quantity
                    row = (
                        number,
                        day_text,
                        code,
                        name,
                        _format_price(price),
                        str(quantity),
                        customer_no,
                        country,
                    )
                    yield row
                    emitted += 1
                    if emitted < size and rng.random() < 0.0095:
                        yield row  # an exact duplicate line, as the source has
                        emitted += 1
                budget -= size
                remaining -= size


def _cumulative(weights) -> Iterator[float]:
    total = 0.0
    for weight in weights:
        total += weight
        yield total


def _pick(cumulative: list[float], r: float) -> int:
    """Index into a cumulative weight list for r in [0, 1) (scaled to the total)."""
    return min(bisect.bisect_right(cumulative, r * cumulative[-1]), len(cumulative) - 1)


def write_csv(path: str, rows: int, seed: int = 42) -> int:
    """Write a v.4a-format CSV with `rows` synthetic lines; returns the line count."""
    count = 0
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(HEADER)
        for row in SyntheticSales(rows, seed).rows():
            writer.writerow(row)
            count += 1
    return count
