"""Loan conventions: the settings that decide a schedule to the fen.

They are rich enough to reproduce Apache Fineract's schedules for the same settings: interest per
period or per actual day, days in year and month, rounding mode, decimals and multiples, grace on
principal, and the repayment frequency. Each is a product setting and a CLI flag.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from decimal import Decimal
from enum import Enum

from smelend.errors import Collector, InvalidInput
from smelend.money import Rounding, RoundingMode

MAX_PERIODS = 600
MAX_MULTIPLE = 1_000_000


class Method(str, Enum):
    """Repayment methods. ``flat`` exists for APR comparisons only; no product offers it."""

    EQUAL_INSTALLMENT = "equal-installment"  # 等额本息
    EQUAL_PRINCIPAL = "equal-principal"  # 等额本金
    INTEREST_FIRST = "interest-first"  # 先息后本
    BULLET = "bullet"  # 到期一次还本付息
    REVOLVING = "revolving"  # 随借随还: daily interest, principal any time
    FLAT = "flat"  # interest on the original principal

    @property
    def allows_grace(self) -> bool:
        return self in (Method.EQUAL_INSTALLMENT, Method.EQUAL_PRINCIPAL, Method.FLAT)


class InterestCalc(str, Enum):
    PERIOD = "period"  # annual rate / periods per year
    DAILY = "daily"  # annual rate x actual days in the period / days in year


class DaysInYear(str, Enum):
    D360 = "360"
    D365 = "365"
    ACTUAL = "actual"  # 365 or 366, by the calendar year of each day


class DaysInMonth(str, Enum):
    D30 = "30"
    ACTUAL = "actual"


@dataclass(frozen=True)
class Frequency:
    """A repayment frequency: every ``step`` months, or every ``step`` days.

    >>> Frequency.parse("days:10")
    Frequency(unit='day', step=10)
    >>> str(Frequency.parse("biweekly"))
    'biweekly'
    """

    unit: str  # "month" or "day"
    step: int

    _NAMED = {"monthly": ("month", 1), "weekly": ("day", 7), "biweekly": ("day", 14)}

    def __post_init__(self) -> None:
        assert self.unit in ("month", "day"), self.unit
        assert 1 <= self.step <= 366, self.step

    @classmethod
    def parse(cls, text: str, field_name: str = "frequency") -> "Frequency":
        text = text.strip().lower()
        if text in cls._NAMED:
            unit, step = cls._NAMED[text]
            return cls(unit, step)
        match = re.fullmatch(r"days:(\d{1,3})", text)
        if match and 1 <= int(match.group(1)) <= 366:
            return cls("day", int(match.group(1)))
        raise InvalidInput.one(field_name, f"must be monthly, weekly, biweekly or days:N (N 1..366), got {text!r}")

    def __str__(self) -> str:
        for name, (unit, step) in self._NAMED.items():
            if (unit, step) == (self.unit, self.step):
                return name
        return f"days:{self.step}" if self.unit == "day" else f"months:{self.step}"


MONTHLY = Frequency("month", 1)


@dataclass(frozen=True)
class Conventions:
    """Every setting that shapes a schedule besides the loan's own amount, rate and term."""

    interest_calc: InterestCalc = InterestCalc.PERIOD
    days_in_year: DaysInYear = DaysInYear.D365
    days_in_month: DaysInMonth = DaysInMonth.ACTUAL
    frequency: Frequency = field(default=MONTHLY)
    rounding: Rounding = field(default_factory=Rounding)
    installment_multiple_fen: int | None = None  # equal-installment payment rounded to this step
    grace_principal: int = 0  # first N periods pay interest only
    monthly_fee_rate: Decimal = Decimal(0)  # fee = rate x original principal, on each installment

    @property
    def installment_unit_fen(self) -> int:
        return self.installment_multiple_fen or self.rounding.unit_fen

    def errors(self, method: Method, periods: int) -> Collector:
        """Every conflict between these settings and a loan of ``method`` over ``periods``."""
        found = Collector()
        if self.days_in_month is DaysInMonth.D30 and self.days_in_year is DaysInYear.ACTUAL:
            found.add("days_in_month", "30-day months need --days-in-year 360 or 365, not actual")
        if self.grace_principal < 0:
            found.add("grace_principal", "must not be negative")
        elif self.grace_principal and not method.allows_grace:
            found.add("grace_principal", f"does not apply to {method.value} repayment")
        elif self.grace_principal >= periods:
            found.add("grace_principal", f"must be less than the number of periods ({periods})")
        if self.installment_multiple_fen is not None:
            if method is not Method.EQUAL_INSTALLMENT:
                found.add("installment_multiple", "applies to equal-installment repayment only")
            elif not (0 < self.installment_multiple_fen <= MAX_MULTIPLE * 100):
                found.add("installment_multiple", "must be greater than zero")
            elif self.installment_multiple_fen % self.rounding.unit_fen:
                found.add("installment_multiple", "must be a multiple of the amount rounding unit")
        if not (Decimal(0) <= self.monthly_fee_rate < Decimal(1)):
            found.add("monthly_fee_rate", "must be a fraction between 0 and 1")
        if method is Method.REVOLVING and self.interest_calc is not InterestCalc.DAILY:
            found.add("interest_calc", "revolving credit accrues interest daily: use --interest-calc daily")
        return found


def conventions_to_settings(conventions: Conventions) -> dict[str, object]:
    """Conventions as plain settings (JSON-ready), named as the schedule command's flags are."""
    return {
        "interest_calc": conventions.interest_calc.value,
        "days_in_year": conventions.days_in_year.value,
        "days_in_month": conventions.days_in_month.value,
        "frequency": str(conventions.frequency),
        "rounding": conventions.rounding.mode.value,
        "decimals": conventions.rounding.decimals,
        "amount_multiple": conventions.rounding.multiple,
        "installment_multiple_fen": conventions.installment_multiple_fen,
        "grace_principal": conventions.grace_principal,
        "monthly_fee_rate": str(conventions.monthly_fee_rate),
    }


def conventions_from_settings(settings: dict[str, object]) -> Conventions:
    """The inverse of :func:`conventions_to_settings`.

    >>> c = Conventions(interest_calc=InterestCalc.DAILY, frequency=Frequency.parse("weekly"))
    >>> conventions_from_settings(conventions_to_settings(c)) == c
    True
    """
    multiple = settings["installment_multiple_fen"]
    return Conventions(
        interest_calc=InterestCalc(settings["interest_calc"]),
        days_in_year=DaysInYear(settings["days_in_year"]),
        days_in_month=DaysInMonth(settings["days_in_month"]),
        frequency=Frequency.parse(str(settings["frequency"])),
        rounding=Rounding(RoundingMode(settings["rounding"]), int(str(settings["decimals"])), int(str(settings["amount_multiple"]))),
        installment_multiple_fen=None if multiple is None else int(str(multiple)),
        grace_principal=int(str(settings["grace_principal"])),
        monthly_fee_rate=Decimal(str(settings["monthly_fee_rate"])),
    )
