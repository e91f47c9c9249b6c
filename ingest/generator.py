"""Synthetic order lines in the exact format of Kaggle's "Sales Transaction v.4a" CSV.

Deterministic for a given seed and row count, streamed row by row (constant memory), and
shaped like the real file (see DESIGN.md, "Source data profile"): several lines per
transaction (median 10, p90 ~47), ~1.6% cancellation lines (`C` prefix, negative
quantity), ~1% exact duplicate lines, a few lines without `CustomerNo`, a few zero and
negative prices, non-product codes (POST, M, BANK CHARGES, AMAZONFEE ...), lowercase
stock-code suffixes, products with several names, customers in several countries,
38 countries with the United Kingdom at ~91% of lines, six trading days a week over
2018-12-01..2019-12-09 with no trading over the Christmas-New Year gap.
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

# Codes that are not products: (code, name, typical price, share of lines).
NON_PRODUCT_CODES: tuple[tuple[str, str, float, float], ...] = (
    ("POST", "Postage", 18.0, 0.0022),
    ("M", "Manual", 2.5, 0.0010),
    ("C2", "Carriage", 50.0, 0.0003),
    ("DOT", "Dotcom Postage", 11.0, 0.0002),
    ("BANK CHARGES", "Bank Charges", 15.0, 0.0001),
    ("AMAZONFEE", "Amazon Fee", 13541.33, 0.00006),
    ("PADS", "Pads To Match All Cushions", 0.0, 0.00001),
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
    return f"{value:.2f}"


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

    def _product_line(self, day_index: int) -> tuple[str, str, float]:
        rng = self.rng
        r = rng.random()
        acc = 0.0
        for code, name, price, share in NON_PRODUCT_CODES:
            acc += share
            if r < acc:
                return code, name, price
        product = self.products[_pick(self._product_cum, rng.random())]
        code = product.code
        if code[-1].isalpha() and rng.random() < 0.04:
            code = code[:-1] + code[-1].lower()  # lowercase stock-code suffix
        name = product.names[0]
        if len(product.names) > 1 and rng.random() < 0.25:
            name = product.names[1]
        price = product.new_price if day_index >= product.reprice_day else product.price
        return code, name, price

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
                    code, name, price = self._product_line(day_index)
                    quantity = self._quantity() if code[0].isdigit() else 1
                    roll = rng.random()
                    if roll < 0.0004:
                        price = 0.0
                    elif roll < 0.00045:
                        price = -price
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
