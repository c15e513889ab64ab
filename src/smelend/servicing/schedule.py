"""Repayment schedules, the Decimal path: the reference every other path must equal to the fen.

Interest per period = round(balance x annual rate x year fraction); the equal-installment payment
comes from the annuity formula at the nominal periodic rate and is rounded to the installment
unit; the last period takes the whole remaining balance. Amounts are integer fen; calculation is
in ``Decimal`` at 34 digits, rounded only where :class:`~smelend.money.Rounding` says.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal

from smelend.errors import Collector
from smelend.money import MAX_AMOUNT_FEN, calc_context
from smelend.servicing.apr import annualised_rates
from smelend.servicing.conventions import MAX_PERIODS, Conventions, Method
from smelend.servicing.daycount import Ratio, due_date, nominal_year_fraction, periods_per_year, year_fraction


@dataclass(frozen=True)
class LoanTerms:
    """What a schedule is computed from: the loan's own amount, rate, term, method and start."""

    principal_fen: int
    annual_rate: Decimal
    periods: int
    method: Method
    start: date
    conventions: Conventions = field(default_factory=Conventions)

    def validate(self) -> None:
        """Raise :class:`InvalidInput` listing every problem, each naming its field."""
        found = Collector()
        if not 0 < self.principal_fen <= MAX_AMOUNT_FEN:
            found.add("principal", "must be greater than zero" if self.principal_fen <= 0 else "is too large")
        if not Decimal(0) <= self.annual_rate <= Decimal(1):
            found.add("annual_rate", "must be a fraction between 0 and 1")
        if not 1 <= self.periods <= MAX_PERIODS:
            found.add("periods", f"must be between 1 and {MAX_PERIODS}")
        else:
            found.errors.extend(self.conventions.errors(self.method, self.periods).errors)
        found.raise_if_any()


@dataclass(frozen=True)
class Installment:
    number: int
    due_date: date
    principal_fen: int
    interest_fen: int
    fee_fen: int
    payment_fen: int
    balance_fen: int  # principal outstanding after this installment


@dataclass(frozen=True)
class Schedule:
    terms: LoanTerms
    installments: tuple[Installment, ...]
    apr: Decimal
    effective_annual_rate: Decimal

    @property
    def total_principal_fen(self) -> int:
        return sum(i.principal_fen for i in self.installments)

    @property
    def total_interest_fen(self) -> int:
        return sum(i.interest_fen for i in self.installments)

    @property
    def total_fee_fen(self) -> int:
        return sum(i.fee_fen for i in self.installments)

    @property
    def total_payment_fen(self) -> int:
        return sum(i.payment_fen for i in self.installments)


def build_schedule(terms: LoanTerms) -> Schedule:
    """The schedule of ``terms``, or :class:`InvalidInput` naming every bad field.

    >>> s = build_schedule(LoanTerms(10_000_000, Decimal("0.072"), 12, Method.EQUAL_INSTALLMENT, date(2026, 1, 15)))
    >>> s.installments[0].payment_fen, s.total_interest_fen
    (866190, 394275)
    """
    installments = build_installments(terms)
    apr, effective = annualised_rates(terms.principal_fen, payments_by_period(terms, installments), periods_per_year(terms.conventions.frequency))
    return Schedule(terms, installments, apr, effective)


def payments_by_period(terms: LoanTerms, installments: Sequence[Installment]) -> list[int]:
    """What the borrower pays at the end of each period (0 where nothing is due): the APR's cash flows."""
    if terms.method is Method.BULLET:
        return [0] * (terms.periods - 1) + [installments[0].payment_fen]
    return [i.payment_fen for i in installments]


def build_installments(terms: LoanTerms) -> tuple[Installment, ...]:
    """The installments alone, without the APR: what servicing and the batch path's fallback need."""
    terms.validate()
    if terms.method is Method.BULLET:
        installments: tuple[Installment, ...] = (_bullet_installment(terms),)
    else:
        installments = tuple(_periodic_installments(terms))
    _assert_invariants(terms, installments)
    return installments


def interest_fen(balance_fen: int, annual_rate: Decimal, fraction: Ratio, conventions: Conventions) -> int:
    """round(balance x annual rate x year fraction): the one interest formula of every method."""
    ctx = calc_context()
    exact = ctx.divide(ctx.multiply(ctx.multiply(Decimal(balance_fen), annual_rate), fraction[0]), fraction[1])
    return conventions.rounding.to_fen(exact)


def annuity_payment_fen(balance_fen: int, annual_rate: Decimal, periods: int, conventions: Conventions) -> int:
    """P·r(1+r)^n / ((1+r)^n − 1) at the nominal periodic rate, rounded to the installment unit."""
    ctx = calc_context()
    numerator, denominator = nominal_year_fraction(conventions)
    rate = ctx.divide(ctx.multiply(annual_rate, numerator), denominator)
    if rate == 0:
        exact = ctx.divide(Decimal(balance_fen), periods)
    else:
        growth = ctx.power(ctx.add(1, rate), periods)
        exact = ctx.divide(ctx.multiply(ctx.multiply(Decimal(balance_fen), rate), growth), ctx.subtract(growth, 1))
    return conventions.rounding.to_fen(exact, conventions.installment_unit_fen)


def fee_per_period_fen(terms: LoanTerms) -> int:
    return terms.conventions.rounding.to_fen(Decimal(terms.principal_fen) * terms.conventions.monthly_fee_rate)


def _periodic_installments(terms: LoanTerms) -> Iterator[Installment]:
    conventions, method = terms.conventions, terms.method
    amortising = terms.periods - conventions.grace_principal
    fee = fee_per_period_fen(terms)
    if method is Method.EQUAL_INSTALLMENT:
        level_payment = annuity_payment_fen(terms.principal_fen, terms.annual_rate, amortising, conventions)
    else:
        level_principal = conventions.rounding.to_fen(Decimal(terms.principal_fen) / amortising)
    balance = terms.principal_fen
    previous = terms.start
    for number in range(1, terms.periods + 1):
        due = due_date(terms.start, conventions.frequency, number)
        interest_base = terms.principal_fen if method is Method.FLAT else balance
        interest = interest_fen(interest_base, terms.annual_rate, year_fraction(previous, due, conventions), conventions)
        if number == terms.periods:
            principal = balance
        elif number <= conventions.grace_principal or method in (Method.INTEREST_FIRST, Method.REVOLVING):
            principal = 0
        elif method is Method.EQUAL_INSTALLMENT:
            principal = min(max(level_payment - interest, 0), balance)
        else:
            principal = min(level_principal, balance)
        balance -= principal
        yield Installment(number, due, principal, interest, fee, principal + interest + fee, balance)
        previous = due


def _bullet_installment(terms: LoanTerms) -> Installment:
    """One payment of principal and all interest at maturity (到期一次还本付息)."""
    due = due_date(terms.start, terms.conventions.frequency, terms.periods)
    fraction = year_fraction(terms.start, due, terms.conventions, periods=terms.periods)
    interest = interest_fen(terms.principal_fen, terms.annual_rate, fraction, terms.conventions)
    fee = fee_per_period_fen(terms) * terms.periods
    return Installment(1, due, terms.principal_fen, interest, fee, terms.principal_fen + interest + fee, 0)


def _assert_invariants(terms: LoanTerms, installments: tuple[Installment, ...]) -> None:
    assert sum(i.principal_fen for i in installments) == terms.principal_fen
    assert installments[-1].balance_fen == 0
    for i in installments:
        assert i.balance_fen >= 0 and i.principal_fen >= 0 and i.interest_fen >= 0, i
        assert i.payment_fen == i.principal_fen + i.interest_fen + i.fee_fen, i
