"""Repayment schedules for many loans at once (numpy), equal to the Decimal path to the fen.

Why: a book of 10^5..10^6 loans is re-scheduled in bulk (pricing runs, stress tests, migrations).
A per-loan Decimal loop is slow, and float money (numpy-financial) is off by fractions of a fen
that then disagree with the ledger. This path is not "close": every loan's schedule equals
:func:`~smelend.servicing.schedule.build_schedule`'s installments exactly.

Exactness strategy
------------------
* Every ratio is a ratio of integers. An annual rate with at most 6 decimals is the reduced
  fraction ``rate_num / rate_den`` (``rate_den`` divides 10^6); a period's year fraction is the
  integer ratio ``num / den`` of :mod:`~smelend.servicing.daycount`, vectorised here (actual/actual
  included). Interest is ``base x M / D`` with ``M = rate_num x num`` and ``D = rate_den x den``
  after cancelling common factors, evaluated as ``(base // D) x M + (base % D) x M / D`` so that
  no intermediate exceeds ``min(base, D) x M`` (or as one divmod of ``base x M`` when that fits
  for the whole book, the usual case). The explicit limit, checked per loan before
  anything is computed, is ``min(principal, D) x M < 2^62`` and ``principal x M / D < 2^62``
  (:data:`PRODUCT_LIMIT`, half of int64 so that doubling a remainder is safe too).
* Rounding half-up / half-even to a unit of fen is done from the exact quotient and remainder with
  integer divmod, the same rule as :meth:`~smelend.money.Rounding.to_fen`; no amount is a float.
* The equal-installment payment P·r/(1 − (1+r)^−n) at the nominal periodic rate is computed in
  float64 with log1p/expm1 (error a few ulp, < 1e-14 relative). Where the float value lies within
  a relative :data:`ANNUITY_RELATIVE_TOLERANCE` (1e-12) of a rounding boundary (half an installment
  unit), that loan's payment is recomputed with
  :func:`~smelend.servicing.schedule.annuity_payment_fen`; elsewhere the float error cannot change
  the rounded payment. A zero rate pays P/n, which is exact in integers.
* The Decimal path evaluates the same expressions at 34 significant digits; for balances up to
  ``MAX_AMOUNT_FEN`` and 6-decimal rates its products are exact and its quotients land within
  10^-15 fen of the exact value, while a value that is not a tie lies at least 3 x 10^-12 fen
  from a rounding boundary (1 / (2 x 10^6 x 365 x 366)), so exact integer rounding gives the
  Decimal path's result, ties included.
* Fallback: a loan whose annual rate has more than 6 decimals, or which would pass the limit, is
  scheduled by the Decimal path itself (``build_schedule``'s installment builders, without APR);
  :attr:`ScheduleBatch.fallback_count` says how many. A monthly fee rate with more than 6 decimals
  is computed per loan with the Decimal formula (the rest of the schedule stays vectorised).

Supported vectorised: every method with every valid :class:`Conventions` (interest per period or
per day, days in year 360/365/actual, 30-day or actual months, any frequency, grace on principal,
amount and installment multiples, both rounding modes, monthly fee). Days in year ``actual`` is
vectorised too (leap days counted by formula), not a fallback.

Not computed: APR and the effective annual rate. They need an IRR per loan; callers who need them
use :func:`~smelend.servicing.schedule.build_schedule`, or pyxirr per loan on
:meth:`ScheduleBatch.payments_by_period`.

Memory: each amount array is loans x max_installments int64 (8 bytes a cell); schedule a book in
chunks of ~10^5..10^6 loans.

>>> from smelend.servicing.schedule import LoanTerms, build_schedule
>>> batch = build_schedules_batch(np.array([10_000_000]), [Decimal("0.072")], np.array([12]),
...                               Method.EQUAL_INSTALLMENT, date(2026, 1, 15), Conventions())
>>> int(batch.payment_fen[0, 0]), int(batch.interest_fen[0].sum()), batch.fallback_count
(866190, 394275, 0)
>>> batch.schedule(0) == build_schedule(batch.terms(0)).installments
True
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal, InvalidOperation

import numpy as np

from smelend.errors import Collector, InvalidInput
from smelend.money import MAX_AMOUNT_FEN, RoundingMode
from smelend.servicing.conventions import MAX_PERIODS, Conventions, DaysInMonth, DaysInYear, Frequency, InterestCalc, Method
from smelend.servicing.daycount import nominal_year_fraction
from smelend.servicing.schedule import Installment, LoanTerms, annuity_payment_fen

# The Decimal path's installment builders without its APR (an IRR can fail to converge where a
# schedule is still well defined). Private to schedule.py; see _reference_installments.
from smelend.servicing.schedule import build_installments

__all__ = ["ScheduleBatch", "build_schedules_batch", "PRODUCT_LIMIT", "MAX_RATE_DECIMALS", "ANNUITY_RELATIVE_TOLERANCE"]

MAX_RATE_DECIMALS = 6
RATE_SCALE = 10**MAX_RATE_DECIMALS  # every vectorised rate is an integer number of millionths
PRODUCT_LIMIT = 2**62  # bound on every integer intermediate; half of int64, so 2 x remainder fits too
ANNUITY_RELATIVE_TOLERANCE = 1e-12  # float annuity trusted only this far (relative) from a boundary
MAX_REPORTED_ERRORS = 50  # per-loan validation errors listed before summarising the rest
LAST_DATE = np.datetime64("9999-12-31", "D")  # the last day a Python date can hold
ACTUAL_DEN = 365 * 366  # denominator of daycount._actual_actual

# Interest of one period is at most balance x rate (<= 1) x year fraction; the longest fraction is a
# bullet over MAX_PERIODS periods of 366 months (18,300 years). That must fit int64 with room.
assert MAX_AMOUNT_FEN * (366 * MAX_PERIODS // 12) < PRODUCT_LIMIT
# A reduced rate has rate_num <= rate_den <= 10^6; a year-fraction numerator is at most 366 x the
# longest span in days (actual/actual bullet of MAX_PERIODS periods of 366 months): M fits int64.
MAX_SPAN_DAYS = 31 * 366 * MAX_PERIODS
assert RATE_SCALE * 366 * MAX_SPAN_DAYS < PRODUCT_LIMIT
assert RATE_SCALE * ACTUAL_DEN < PRODUCT_LIMIT  # D = rate_den x den fits int64


@dataclass(frozen=True, eq=False)
class ScheduleBatch:
    """Schedules of many loans as (loans, max_installments) arrays, padded beyond each loan's end.

    Row ``i`` holds loan ``i``'s installments in columns ``0 .. installment_count[i] - 1``; padding
    is 0 for amounts and NaT for dates (:attr:`mask` marks the real cells). A bullet loan has one
    installment; every other method has ``periods[i]``. Arrays are read-only.
    """

    amount_fen: np.ndarray  # int64 (loans,): the loan principal
    annual_rate: np.ndarray  # object (loans,): Decimal annual rates, as given
    periods: np.ndarray  # int64 (loans,): the term in periods
    start: np.ndarray  # datetime64[D] (loans,)
    method: Method
    conventions: Conventions
    installment_count: np.ndarray  # int64 (loans,): rows used; 1 for bullet, else periods
    due_date: np.ndarray  # datetime64[D] (loans, max_installments), NaT padded
    principal_fen: np.ndarray  # int64 (loans, max_installments), 0 padded; likewise below
    interest_fen: np.ndarray
    fee_fen: np.ndarray
    payment_fen: np.ndarray
    balance_fen: np.ndarray  # principal outstanding after each installment
    fallback: np.ndarray  # bool (loans,): scheduled whole by the Decimal path
    payment_recomputed: np.ndarray  # bool (loans,): level payment taken from annuity_payment_fen

    def __post_init__(self) -> None:
        for value in self.__dict__.values():
            if isinstance(value, np.ndarray):
                value.setflags(write=False)

    def __len__(self) -> int:
        return int(self.amount_fen.shape[0])

    @property
    def mask(self) -> np.ndarray:
        """bool (loans, max_installments): True where a cell is a real installment."""
        return np.arange(self.principal_fen.shape[1])[None, :] < self.installment_count[:, None]

    @property
    def fallback_count(self) -> int:
        """How many loans were scheduled by the Decimal path (rate > 6 decimals or past the limit)."""
        return int(self.fallback.sum())

    @property
    def payment_recomputed_count(self) -> int:
        """How many level payments lay too near a rounding boundary for float64 and came from Decimal."""
        return int(self.payment_recomputed.sum())

    def terms(self, i: int) -> LoanTerms:
        """Loan ``i`` as the Decimal path's input, e.g. to compare or to compute its APR."""
        return LoanTerms(
            int(self.amount_fen[i]),
            self.annual_rate[i],
            int(self.periods[i]),
            self.method,
            self.start[i].item(),
            self.conventions,
        )

    def schedule(self, i: int) -> tuple[Installment, ...]:
        """Loan ``i``'s installments as the Decimal path's records (compare with ``==``)."""
        count = int(self.installment_count[i])
        dates = self.due_date[i, :count].tolist()
        columns = (self.principal_fen, self.interest_fen, self.fee_fen, self.payment_fen, self.balance_fen)
        rows = [column[i, :count].tolist() for column in columns]
        return tuple(
            Installment(k + 1, dates[k], rows[0][k], rows[1][k], rows[2][k], rows[3][k], rows[4][k]) for k in range(count)
        )

    def payments_by_period(self, i: int) -> list[int]:
        """What loan ``i``'s borrower pays at the end of each period (0 where nothing is due), for an IRR."""
        periods = int(self.periods[i])
        if self.method is Method.BULLET:
            return [0] * (periods - 1) + [int(self.payment_fen[i, 0])]
        return self.payment_fen[i, :periods].tolist()


def build_schedules_batch(
    principal_fen: np.ndarray | Sequence[int],
    annual_rate: Sequence[Decimal] | np.ndarray,
    periods: np.ndarray | Sequence[int] | int,
    method: Method,
    start: date | np.ndarray | Sequence[date],
    conventions: Conventions = Conventions(),
) -> ScheduleBatch:
    """Schedules of many loans of one ``method`` and ``conventions``; each equals :func:`build_schedule`'s.

    ``annual_rate`` holds Decimals (floats are read as their shortest repr, e.g. 0.072 -> "0.072");
    ``periods`` and ``start`` may be one value for every loan. Raises :class:`InvalidInput` naming
    every bad field (per loan as ``principal[i]``), as :meth:`LoanTerms.validate` would.
    """
    amount_fen = _as_amounts(principal_fen)
    loans = amount_fen.shape[0]
    rates = _as_decimals(annual_rate, loans)
    terms = _as_periods(periods, loans)
    starts = _as_dates(start, loans)
    rate_num, rate_den, rate_exact = _validate(amount_fen, rates, terms, method, conventions)

    # Work period-major, arrays (installments, loans): each period is one contiguous row of the book.
    bullet = method is Method.BULLET
    count = np.ones(loans, np.int64) if bullet else terms.copy()
    width = int(count.max()) if loans else 0
    if bullet:
        due = _due_dates(starts, conventions.frequency, terms[None, :])
        num, den = _year_fraction(starts[None, :], due, conventions, terms[None, :])
        last_due = due[0]
    else:
        due = _due_dates(starts, conventions.frequency, np.arange(1, width + 1)[:, None])
        previous = np.concatenate([starts[None, :], due[:-1]], axis=0)
        num, den = _year_fraction(previous, due, conventions, np.ones((1, 1), np.int64))
        last_due = due[terms - 1, np.arange(loans)]
    if (last_due > LAST_DATE).any():
        found = Collector()
        _add_per_loan(found, "start", last_due > LAST_DATE, "the schedule runs past the year 9999")
        found.raise_if_any()
    active = np.arange(width)[:, None] < count[None, :]
    num, den = np.where(active, num, 0), np.where(active, den, 1)

    # Interest = base x M / D, after cancelling common factors (keeps products small).
    num, den = _reduced(num, den)
    g_rate_den = np.gcd(rate_num, den)
    g_num_rate = np.gcd(num, rate_den)
    m = (rate_num // g_rate_den) * (num // g_num_rate)
    d = (rate_den // g_num_rate) * (den // g_rate_den)
    fallback = ~rate_exact | ~_within_limit(amount_fen, m, d)
    m, d = np.where(fallback, 0, m), np.where(fallback, 1, d)
    assert (d > 0).all() and (m >= 0).all()
    direct = bool((amount_fen.astype(np.float64) * m < PRODUCT_LIMIT).all())  # base x m fits: one divmod

    fee = _fee_fen(amount_fen, conventions)
    unit_fen, mode = conventions.rounding.unit_fen, conventions.rounding.mode
    payment_recomputed = np.zeros(loans, bool)
    if bullet:
        interest = _round_ratio(amount_fen[None, :], m, d, unit_fen, mode, direct)
        principal, balance, fee_cells = amount_fen[None, :].copy(), np.zeros((1, loans), np.int64), (fee * terms)[None, :]
    else:
        interest, principal, balance, payment_recomputed = _periodic(
            amount_fen, rates, (rate_num, rate_den), terms, method, conventions, m, d, active, fallback, direct
        )
        fee_cells = np.where(active, fee, 0)
    payment = principal + interest + fee_cells
    cells = {"principal": principal, "interest": interest, "fee": fee_cells, "payment": payment, "balance": balance}
    cells = {name: np.ascontiguousarray(np.where(active, value, 0).T, dtype=np.int64) for name, value in cells.items()}
    due = np.ascontiguousarray(np.where(active, due, np.datetime64("NaT")).T)
    mask = active.T
    payment_recomputed &= ~fallback

    for i in np.flatnonzero(fallback).tolist():
        reference = build_installments(LoanTerms(int(amount_fen[i]), rates[i], int(terms[i]), method, starts[i].item(), conventions))
        assert len(reference) == count[i]
        for k, row in enumerate(reference):
            assert row.due_date == due[i, k].item(), (i, k)
            for name in cells:
                cells[name][i, k] = getattr(row, f"{name}_fen")

    _assert_invariants(amount_fen, cells, mask)
    return ScheduleBatch(
        amount_fen=amount_fen,
        annual_rate=rates,
        periods=terms,
        start=starts,
        method=method,
        conventions=conventions,
        installment_count=count,
        due_date=due,
        principal_fen=cells["principal"],
        interest_fen=cells["interest"],
        fee_fen=cells["fee"],
        payment_fen=cells["payment"],
        balance_fen=cells["balance"],
        fallback=fallback,
        payment_recomputed=payment_recomputed,
    )


def _periodic(
    amount_fen: np.ndarray,
    rates: np.ndarray,
    rate_ratio: tuple[np.ndarray, np.ndarray],
    terms: np.ndarray,
    method: Method,
    conventions: Conventions,
    m: np.ndarray,
    d: np.ndarray,
    active: np.ndarray,
    fallback: np.ndarray,
    direct: bool,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """schedule._periodic_installments, one period at a time across the book; arrays (periods, loans)."""
    width, loans = m.shape
    unit_fen, mode = conventions.rounding.unit_fen, conventions.rounding.mode
    grace = conventions.grace_principal
    amortising = terms - grace
    assert (amortising >= 1).all()
    recomputed = np.zeros(loans, bool)
    if method is Method.EQUAL_INSTALLMENT:
        level, recomputed = _level_payment_fen(amount_fen, rates, rate_ratio, amortising, conventions, fallback)
    elif method in (Method.EQUAL_PRINCIPAL, Method.FLAT):
        level = _round_quotient(*np.divmod(amount_fen, amortising), amortising, unit_fen, mode)
    interest = np.zeros((width, loans), np.int64)
    principal = np.zeros((width, loans), np.int64)
    balance_after = np.zeros((width, loans), np.int64)
    balance = amount_fen.copy()
    for row in range(width):
        number = row + 1
        base = amount_fen if method is Method.FLAT else balance
        interest_now = np.where(active[row], _round_ratio(base, m[row], d[row], unit_fen, mode, direct), 0)
        if number <= grace or method in (Method.INTEREST_FIRST, Method.REVOLVING):
            regular = np.zeros(loans, np.int64)
        elif method is Method.EQUAL_INSTALLMENT:
            regular = np.minimum(np.maximum(level - interest_now, 0), balance)
        else:
            regular = np.minimum(level, balance)
        principal_now = np.where(number == terms, balance, np.where(active[row], regular, 0))
        balance = balance - principal_now
        interest[row], principal[row], balance_after[row] = interest_now, principal_now, balance
    return interest, principal, balance_after, recomputed


def _level_payment_fen(
    amount_fen: np.ndarray,
    rates: np.ndarray,
    rate_ratio: tuple[np.ndarray, np.ndarray],
    amortising: np.ndarray,
    conventions: Conventions,
    fallback: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """annuity_payment_fen for every loan: float64 away from rounding boundaries, Decimal near them."""
    unit_fen = conventions.installment_unit_fen
    nominal_num, nominal_den = nominal_year_fraction(conventions)
    rate_num, rate_den = rate_ratio
    zero_rate = rate_num == 0  # also every fallback loan (0/1); those are replaced later
    periodic = (rate_num * nominal_num) / (rate_den * nominal_den)  # exact integers, one rounded division
    periodic = np.where(zero_rate, 1.0, periodic)  # placeholder, keeps the float formula finite
    exact_fen = amount_fen * periodic / -np.expm1(-amortising * np.log1p(periodic))
    units = exact_fen / unit_fen
    whole = np.floor(units)
    distance = np.abs(units - whole - 0.5)
    near = (distance <= ANNUITY_RELATIVE_TOLERANCE * (units + 1.0)) | (units >= 2.0**52)
    level = np.where(units < 2.0**52, whole + (units - whole > 0.5), 0).astype(np.int64) * unit_fen

    exact_level = _round_quotient(*np.divmod(amount_fen, amortising), amortising, unit_fen, conventions.rounding.mode)
    level = np.where(zero_rate, exact_level, level)
    recompute = near & ~zero_rate & ~fallback
    for i in np.flatnonzero(recompute).tolist():
        level[i] = annuity_payment_fen(int(amount_fen[i]), rates[i], int(amortising[i]), conventions)
    assert (level >= 0).all()
    return level, recompute


def _round_ratio(base: np.ndarray, m: np.ndarray, d: np.ndarray, unit_fen: int, mode: RoundingMode, direct: bool = False) -> np.ndarray:
    """round(base x m / d) fen to a multiple of ``unit_fen``, exactly, with no intermediate past the limit.

    ``direct`` says base x m itself fits (checked by the caller); otherwise base is split as
    (base // d) x d + base % d so the largest product is (base % d) x m < min(base, d) x m.
    """
    if direct:
        return _round_quotient(*np.divmod(base * m, d), d, unit_fen, mode)
    base_q, base_r = np.divmod(base, d)
    quotient, remainder = np.divmod(base_r * m, d)
    return _round_quotient(base_q * m + quotient, remainder, d, unit_fen, mode)


def _round_quotient(quotient: np.ndarray, remainder: np.ndarray, d: np.ndarray, unit_fen: int, mode: RoundingMode) -> np.ndarray:
    """Round ``quotient + remainder / d`` fen (non-negative) to a multiple of ``unit_fen``: Rounding.to_fen in integers.

    The fraction of a unit left over is (r_u + remainder/d) / unit with r_u = quotient mod unit;
    comparing it with 1/2 needs only 2 x r_u + floor(2 x remainder / d) and whether 2 x remainder / d
    is whole, so nothing is multiplied by ``d`` and nothing can overflow.
    """
    half_even = mode is RoundingMode.HALF_EVEN
    assert unit_fen > 0
    twice_remainder = 2 * remainder
    if unit_fen == 1:  # the common case, and the rule at its plainest
        if half_even:
            return quotient + ((twice_remainder > d) | ((twice_remainder == d) & (quotient % 2 == 1)))
        return quotient + (twice_remainder >= d)
    units, left_fen = np.divmod(quotient, unit_fen)
    doubled = 2 * left_fen + (twice_remainder >= d)
    whole = (remainder == 0) | (twice_remainder == d)
    above = np.where(whole, doubled > unit_fen, doubled >= unit_fen)
    tie = whole & (doubled == unit_fen)
    up = above | (tie & ((units % 2 == 1) if half_even else True))
    return (units + up) * unit_fen


def _within_limit(amount_fen: np.ndarray, m: np.ndarray, d: np.ndarray) -> np.ndarray:
    """Per loan: every period's products stay below PRODUCT_LIMIT (float estimate, 2^62 leaves margin)."""
    amount = amount_fen.astype(np.float64)
    m_float, d_float = m.astype(np.float64), d.astype(np.float64)
    split = np.minimum(amount, d_float) * m_float
    value = amount * m_float / d_float
    return ((split < PRODUCT_LIMIT) & (value < PRODUCT_LIMIT)).all(axis=0)


def _reduced(num: np.ndarray, den: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    g = np.gcd(num, den)
    g = np.where(g == 0, 1, g)
    return num // g, den // g


def _fee_fen(amount_fen: np.ndarray, conventions: Conventions) -> np.ndarray:
    """fee_per_period_fen per loan: round(principal x monthly fee rate), exact."""
    fee_rate = conventions.monthly_fee_rate
    fee_num, fee_den = fee_rate.as_integer_ratio()
    rounding = conventions.rounding
    if RATE_SCALE % fee_den:  # more than 6 decimals: the Decimal formula itself, per loan
        return np.array([rounding.to_fen(Decimal(p) * fee_rate) for p in amount_fen.tolist()], np.int64).reshape(-1)
    assert 0 <= fee_num < fee_den <= RATE_SCALE
    return _round_ratio(amount_fen, np.int64(fee_num), np.int64(fee_den), rounding.unit_fen, rounding.mode)


def _due_dates(starts: np.ndarray, frequency: Frequency, numbers: np.ndarray) -> np.ndarray:
    """daycount.due_date vectorised: counted from the start each time, clamped at month end.

    ``numbers`` broadcasts against the loans along the last axis: (periods, 1) or (1, loans).
    Month arithmetic is on integer month indices with a small table of first days, because
    converting every cell between datetime64 units is the slow part.
    """
    start_day = starts.view(np.int64)[None, :]  # days since 1970-01-01
    if frequency.unit == "day":
        return (start_day + frequency.step * numbers).view("datetime64[D]")
    start_month = starts.astype("datetime64[M]").view(np.int64)[None, :]  # months since 1970-01
    target = start_month + frequency.step * numbers
    low = min(int(start_month.min()), int(target.min())) if target.size else 0
    high = max(int(start_month.max()), int(target.max())) if target.size else 0
    first_day = np.arange(low, high + 2).astype("datetime64[M]").astype("datetime64[D]").view(np.int64)
    day_index = start_day - first_day[start_month - low]  # 0-based day of the month
    first = first_day[target - low]
    length = first_day[target - low + 1] - first
    return (first + np.minimum(day_index, length - 1)).view("datetime64[D]")


def _year_fraction(begin: np.ndarray, end: np.ndarray, conventions: Conventions, periods: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """daycount.year_fraction vectorised: (num, den) int64 arrays, the same unreduced ratios."""
    shape = np.broadcast_shapes(begin.shape, end.shape, periods.shape)
    if conventions.interest_calc is InterestCalc.PERIOD:
        numerator, denominator = nominal_year_fraction(conventions)
        return np.broadcast_to(numerator * periods, shape).astype(np.int64), np.full(shape, denominator, np.int64)
    if conventions.days_in_year is DaysInYear.ACTUAL:
        days = (end - begin).astype(np.int64)
        leap_days = _leap_days_before(end) - _leap_days_before(begin)
        return (days - leap_days) * 366 + leap_days * 365, np.full(shape, ACTUAL_DEN, np.int64)
    fixed = 360 if conventions.days_in_year is DaysInYear.D360 else 365
    if conventions.days_in_month is DaysInMonth.D30 and conventions.frequency.unit == "month":
        return np.broadcast_to(30 * conventions.frequency.step * periods, shape).astype(np.int64), np.full(shape, fixed, np.int64)
    return (end - begin).astype(np.int64), np.full(shape, fixed, np.int64)


def _leap_days_before(day: np.ndarray) -> np.ndarray:
    """How many days before ``day`` (from 0001-01-01) fall in leap years: differences give actual/actual."""
    year_start = day.astype("datetime64[Y]")
    year = year_start.astype(np.int64) + 1970
    prior = year - 1
    leap_years_before = prior // 4 - prior // 100 + prior // 400
    is_leap = (year % 4 == 0) & ((year % 100 != 0) | (year % 400 == 0))
    day_of_year = (day - year_start.astype("datetime64[D]")).astype(np.int64)
    return 366 * leap_years_before + np.where(is_leap, day_of_year, 0)


def _as_amounts(principal_fen: np.ndarray | Sequence[int]) -> np.ndarray:
    amounts = np.asarray(principal_fen)
    if amounts.ndim != 1:
        raise InvalidInput.one("principal", f"must be a one-dimensional array of fen, got shape {amounts.shape}")
    if amounts.size and not np.issubdtype(amounts.dtype, np.integer):
        raise InvalidInput.one("principal", f"must be integer fen, got dtype {amounts.dtype}")
    return amounts.astype(np.int64)


def _as_decimals(annual_rate: Sequence[Decimal] | np.ndarray, loans: int) -> np.ndarray:
    """Rates as an object array of Decimal; floats by their shortest repr (0.072 -> Decimal('0.072'))."""
    values = annual_rate.tolist() if isinstance(annual_rate, np.ndarray) else list(annual_rate)
    if len(values) != loans:
        raise InvalidInput.one("annual_rate", f"needs one rate per loan: {len(values)} rates for {loans} loans")
    if set(map(type, values)) - {Decimal}:
        values = [_as_decimal(v, i) for i, v in enumerate(values)]
    out = np.empty(loans, dtype=object)
    out[:] = values
    return out


def _as_decimal(value: object, i: int) -> Decimal:
    try:
        if isinstance(value, Decimal):
            return value
        if isinstance(value, float):
            return Decimal(repr(value))
        if isinstance(value, (int, np.integer, str)) and not isinstance(value, bool):
            return Decimal(str(value) if isinstance(value, np.integer) else value)
    except InvalidOperation:
        pass
    raise InvalidInput.one(f"annual_rate[{i}]", f"not a number: {value!r}")


def _as_periods(periods: np.ndarray | Sequence[int] | int, loans: int) -> np.ndarray:
    terms = np.asarray(periods)
    if terms.size and not np.issubdtype(terms.dtype, np.integer):
        raise InvalidInput.one("periods", f"must be whole numbers, got dtype {terms.dtype}")
    if terms.ndim == 0:
        return np.full(loans, int(terms), np.int64)
    if terms.shape != (loans,):
        raise InvalidInput.one("periods", f"needs one value or one per loan: shape {terms.shape} for {loans} loans")
    return terms.astype(np.int64)


def _as_dates(start: date | np.ndarray | Sequence[date], loans: int) -> np.ndarray:
    if isinstance(start, date):
        return np.full(loans, np.datetime64(start, "D"))
    starts = np.array(start, dtype="datetime64[D]")  # a copy: the batch freezes its arrays
    if starts.ndim == 0:
        return np.full(loans, starts)
    if starts.shape != (loans,):
        raise InvalidInput.one("start", f"needs one date or one per loan: shape {starts.shape} for {loans} loans")
    if np.isnat(starts).any():
        found = Collector()
        _add_per_loan(found, "start", np.isnat(starts), "must be a date")
        found.raise_if_any()
    return starts


def _validate(
    amount_fen: np.ndarray,
    rates: np.ndarray,
    terms: np.ndarray,
    method: Method,
    conventions: Conventions,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """LoanTerms.validate for every loan at once; returns each rate as a reduced integer ratio.

    The ratio is exact where the third array is True (at most 6 decimals); elsewhere it is 0/1 and
    the loan goes to the Decimal path.
    """
    found = Collector()

    def per_loan(field: str, bad: np.ndarray, reason: str) -> None:
        _add_per_loan(found, field, bad, reason)

    per_loan("principal", amount_fen <= 0, "must be greater than zero")
    per_loan("principal", amount_fen > MAX_AMOUNT_FEN, "is too large")

    rate_num, rate_den, rate_exact, rate_ok = _rate_ratios(rates)
    per_loan("annual_rate", ~rate_ok, "must be a fraction between 0 and 1")

    terms_ok = (terms >= 1) & (terms <= MAX_PERIODS)
    per_loan("periods", ~terms_ok, f"must be between 1 and {MAX_PERIODS}")
    seen: set[tuple[str, str]] = set()
    for value in np.unique(terms[terms_ok]).tolist():
        for error in conventions.errors(method, value).errors:
            if (error.field, error.reason) not in seen:
                seen.add((error.field, error.reason))
                found.errors.append(error)
    found.raise_if_any()
    return rate_num, rate_den, rate_exact


def _add_per_loan(found: Collector, field: str, bad: np.ndarray, reason: str) -> None:
    """One error per bad loan, as ``field[i]``, up to MAX_REPORTED_ERRORS, then one summary."""
    where = np.flatnonzero(bad)
    for i in where[:MAX_REPORTED_ERRORS].tolist():
        found.add(f"{field}[{i}]", reason)
    if where.size > MAX_REPORTED_ERRORS:
        found.add(field, f"{where.size - MAX_REPORTED_ERRORS} more loans: {reason}")


def _rate_ratios(rates: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(rate_num, rate_den, exact, valid) per loan: the reduced ratio, exact where rate_den divides 10^6.

    Inexact or invalid rates get 0/1 so later arithmetic stays harmless; those loans fall back.
    """
    loans = rates.shape[0]
    try:  # fast path: every rate finite and its ratio within int64
        flat = itertools.chain.from_iterable(r.as_integer_ratio() for r in rates.tolist())
        pairs = np.fromiter(flat, dtype=np.int64, count=2 * loans).reshape(loans, 2)
        valid = (pairs[:, 0] >= 0) & (pairs[:, 0] <= pairs[:, 1])
    except (ValueError, OverflowError):  # NaN or infinity, or a denominator past int64
        pairs = np.tile(np.array([0, 1], np.int64), (loans, 1))
        valid = np.zeros(loans, bool)
        for i, rate in enumerate(rates.tolist()):
            valid[i] = rate.is_finite() and 0 <= rate <= 1
            if valid[i]:
                num, den = rate.as_integer_ratio()
                pairs[i] = (num, den) if den <= RATE_SCALE else (0, RATE_SCALE + 1)  # the latter: not exact
    num, den = pairs[:, 0], pairs[:, 1]
    exact = valid & (RATE_SCALE % den == 0)
    return np.where(exact, num, 0), np.where(exact, den, 1), exact, valid


def _assert_invariants(amount_fen: np.ndarray, cells: dict[str, np.ndarray], mask: np.ndarray) -> None:
    """The Decimal path's invariants, on every loan at once."""
    assert (cells["principal"].sum(axis=1) == amount_fen).all()
    assert (cells["balance"] >= 0).all() and (cells["principal"] >= 0).all() and (cells["interest"] >= 0).all()
    assert (cells["payment"] == cells["principal"] + cells["interest"] + cells["fee"]).all()
    if mask.shape[1]:
        last = mask.sum(axis=1) - 1
        assert (cells["balance"][np.arange(mask.shape[0]), last] == 0).all()
