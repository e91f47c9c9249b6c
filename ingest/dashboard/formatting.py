"""How the dashboard writes figures: money, counts, rates and durations, exact and compact."""

from __future__ import annotations

CURRENCY = "£"


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
