"""Day count: the fraction of a year a period's interest covers, as an exact ratio of integers.

Exact ratios keep the Decimal path and the vectorised batch path equal to the fen: both compute
``balance x rate x numerator / denominator`` and round once.
"""

from __future__ import annotations

import calendar
from datetime import date
from functools import lru_cache
from decimal import Decimal

from dateutil.relativedelta import relativedelta

from smelend.servicing.conventions import Conventions, DaysInMonth, DaysInYear, Frequency, InterestCalc

Ratio = tuple[int, int]  # (numerator, denominator) of a year fraction
DUE_DATES_REMEMBERED = 8192  # (start, frequency, number) triples: a few days' worth of schedules


@lru_cache(maxsize=DUE_DATES_REMEMBERED)
def due_date(start: date, frequency: Frequency, number: int) -> date:
    """The ``number``-th due date, counted from ``start`` each time (not chained), clamped at month end.

    Remembered: every schedule of a business day's draws and offers starts on the same day, and date
    arithmetic through ``relativedelta`` is the dearest step of building one.

    >>> [str(due_date(date(2026, 1, 31), Frequency("month", 1), k)) for k in (1, 2, 3)]
    ['2026-02-28', '2026-03-31', '2026-04-30']
    """
    if frequency.unit == "month":
        return start + relativedelta(months=frequency.step * number)
    return start + relativedelta(days=frequency.step * number)


def nominal_year_fraction(conventions: Conventions) -> Ratio:
    """One period as a fraction of a year, ignoring the calendar: 1/12 for monthly, 7/365 for 7 days."""
    frequency = conventions.frequency
    if frequency.unit == "month":
        return frequency.step, 12
    if frequency.step == 7:
        return 1, 52
    if frequency.step == 14:
        return 1, 26
    return frequency.step, _fixed_days_in_year(conventions.days_in_year)


def periods_per_year(frequency: Frequency) -> Decimal:
    """How many periods make a year, for annualising a periodic IRR (12 for monthly)."""
    if frequency.unit == "month":
        return Decimal(12) / frequency.step
    if frequency.step == 7:
        return Decimal(52)
    if frequency.step == 14:
        return Decimal(26)
    return Decimal(365) / frequency.step


def year_fraction(start: date, end: date, conventions: Conventions, periods: int = 1) -> Ratio:
    """The year fraction that interest covers from ``start`` to ``end`` (``periods`` periods long)."""
    assert end > start, (start, end)
    if conventions.interest_calc is InterestCalc.PERIOD:
        numerator, denominator = nominal_year_fraction(conventions)
        return numerator * periods, denominator
    if conventions.days_in_month is DaysInMonth.D30 and conventions.frequency.unit == "month":
        return 30 * conventions.frequency.step * periods, _fixed_days_in_year(conventions.days_in_year)
    if conventions.days_in_year is not DaysInYear.ACTUAL:
        return (end - start).days, _fixed_days_in_year(conventions.days_in_year)
    return _actual_actual(start, end)


def _fixed_days_in_year(days_in_year: DaysInYear) -> int:
    return 360 if days_in_year is DaysInYear.D360 else 365


def _actual_actual(start: date, end: date) -> Ratio:
    """Days in each calendar year over that year's length (ISDA actual/actual).

    >>> _actual_actual(date(2027, 12, 15), date(2028, 1, 15))
    (11332, 133590)
    """
    numerator_366 = numerator_365 = 0
    cursor = start
    while cursor < end:
        year_end = date(cursor.year + 1, 1, 1)
        days = (min(end, year_end) - cursor).days
        if calendar.isleap(cursor.year):
            numerator_366 += days
        else:
            numerator_365 += days
        cursor = year_end
    return numerator_365 * 366 + numerator_366 * 365, 365 * 366
