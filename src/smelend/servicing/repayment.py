"""Repayments: allocation in a configurable order, prepayment with re-amortisation, payoff quotes.

A payment first settles what is due, in the allocation order (default: past-due penalty, past-due
interest, past-due principal, current interest, current principal; fees go with interest). What is
left is a prepayment: it pays the interest accrued to date, then principal, and the remaining
installments shrink or the term shortens (a product setting). Only an amount above the full payoff
is an overpayment, held as a credit balance for the borrower and never lost.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date, timedelta
from decimal import Decimal
from enum import Enum

from smelend.errors import InvalidInput
from smelend.ledger import JournalEntry
from smelend.ledger.rules import Receipt, receipt
from smelend.servicing import delinquency
from smelend.servicing.accrual import close_day, days_past_due
from smelend.servicing.conventions import DaysInMonth, InterestCalc, Method
from smelend.servicing.daycount import year_fraction
from smelend.servicing.loan import LoanInstallment, LoanState, LoanStatus, PrepaymentEffect
from smelend.servicing.schedule import annuity_payment_fen, interest_fen


class Step(str, Enum):
    PENALTY = "penalty"
    PAST_DUE_INTEREST = "past-due-interest"
    PAST_DUE_PRINCIPAL = "past-due-principal"
    CURRENT_INTEREST = "current-interest"
    CURRENT_PRINCIPAL = "current-principal"


DEFAULT_ORDER: tuple[Step, ...] = tuple(Step)


def parse_order(names: list[str] | tuple[str, ...], field: str = "allocation_order") -> tuple[Step, ...]:
    """An allocation order naming each of the five steps exactly once."""
    try:
        steps = tuple(Step(n) for n in names)
    except ValueError:
        raise InvalidInput.one(field, f"steps must be among {', '.join(s.value for s in Step)}") from None
    if sorted(steps) != sorted(Step):
        raise InvalidInput.one(field, "must name each of the five steps exactly once")
    return steps


@dataclass(frozen=True)
class PayoffQuote:
    as_of: date
    principal_fen: int
    interest_fen: int
    penalty_fen: int
    fee_fen: int

    @property
    def total_fen(self) -> int:
        return self.principal_fen + self.interest_fen + self.penalty_fen + self.fee_fen


def ready_for(state: LoanState, day: date) -> None:
    """A dated operation needs the loan closed through the day before (the store catches up first)."""
    if state.status in (LoanStatus.PENDING, LoanStatus.CANCELLED):
        raise InvalidInput.one("loan", f"is {state.status.value}: not disbursed")
    if day < state.terms.start:
        raise InvalidInput.one("date", f"is before the loan started ({state.terms.start})")
    if state.status is not LoanStatus.ACTIVE:
        return  # a written-off loan no longer accrues: nothing to catch up
    expected = day - timedelta(days=1)
    assert state.closed_through is None and day == state.terms.start or state.closed_through is not None and state.closed_through >= expected, (state.closed_through, day)


def payoff_quote(state: LoanState, day: date, policy: delinquency.DelinquencyPolicy) -> PayoffQuote:
    """What pays the loan off on ``day``: all past due, interest accrued to date, principal outstanding."""
    state = project_to(state, day - timedelta(days=1), policy)
    if state.status is LoanStatus.WRITTEN_OFF:
        return PayoffQuote(day, 0, 0, 0, 0) if state.written_off_fen == 0 else PayoffQuote(day, state.written_off_fen, 0, 0, 0)
    return PayoffQuote(
        as_of=day,
        principal_fen=state.principal_outstanding_fen,
        interest_fen=state.interest_receivable_fen + state.suspended_interest_fen,
        penalty_fen=state.penalty_receivable_fen + state.suspended_penalty_fen,
        fee_fen=sum(i.unpaid_fee_fen for i in state.installments if i.due_date <= day),
    )


def project_to(state: LoanState, through: date, policy: delinquency.DelinquencyPolicy) -> LoanState:
    """The state as close of business would leave it at the end of ``through`` (a quote, not a posting)."""
    day = state.closed_through + timedelta(days=1) if state.closed_through else state.terms.start
    while state.status is LoanStatus.ACTIVE and day <= through:
        state, _, _ = close_day(state, day, policy)
        day += timedelta(days=1)
    return state


def apply_payment(
    state: LoanState, amount_fen: int, day: date, key: str, order: tuple[Step, ...] = DEFAULT_ORDER
) -> tuple[LoanState, Receipt, JournalEntry]:
    """Apply money received on ``day``; the parts of the allocation sum exactly to ``amount_fen``."""
    if amount_fen <= 0:
        raise InvalidInput.one("amount", "must be greater than zero")
    if state.status is LoanStatus.CLOSED:
        raise InvalidInput.one("loan", "is paid off: nothing to repay")
    ready_for(state, day)
    if state.status is LoanStatus.WRITTEN_OFF:
        recovered = min(amount_fen, state.written_off_fen)
        applied = Receipt(recovery_fen=recovered, credit_balance_fen=amount_fen - recovered)
        state = replace(state, written_off_fen=state.written_off_fen - recovered, credit_balance_fen=state.credit_balance_fen + applied.credit_balance_fen)
        return state, applied, receipt(key, state.id, day, applied)
    allocator = _Allocator(state, amount_fen, day)
    for step in order:
        allocator.run(step)
    allocator.prepay()
    state, applied = allocator.finish()
    assert applied.total_fen == amount_fen, (applied, amount_fen)
    state.check()
    return state, applied, receipt(key, state.id, day, applied)


class _Allocator:
    """Walks the installments once, taking money step by step; the single mutable helper here."""

    def __init__(self, state: LoanState, amount_fen: int, day: date) -> None:
        self.state = state
        self.day = day
        self.left = amount_fen
        self.rows = list(state.installments)
        self.parts = {"penalty": 0, "suspended_penalty": 0, "interest_paid": 0, "fee": 0, "principal": 0}

    def take(self, owed: int) -> int:
        paid = min(owed, self.left)
        self.left -= paid
        return paid

    def run(self, step: Step) -> None:
        if step is Step.PENALTY:
            on = self.take(self.state.penalty_receivable_fen)
            off = self.take(self.state.suspended_penalty_fen)
            self.state = replace(self.state, penalty_receivable_fen=self.state.penalty_receivable_fen - on, suspended_penalty_fen=self.state.suspended_penalty_fen - off)
            self.parts["penalty"] += on
            self.parts["suspended_penalty"] += off
            return
        past = step in (Step.PAST_DUE_INTEREST, Step.PAST_DUE_PRINCIPAL)
        for index, row in enumerate(self.rows):
            due = row.due_date < self.day if past else row.due_date == self.day
            if not due:
                continue
            if step in (Step.PAST_DUE_INTEREST, Step.CURRENT_INTEREST):
                self.pay_interest(index)
            else:
                paid = self.take(self.rows[index].unpaid_principal_fen)
                self.rows[index] = replace(self.rows[index], paid_principal_fen=self.rows[index].paid_principal_fen + paid)
                self.parts["principal"] += paid

    def pay_interest(self, index: int) -> None:
        row = self.rows[index]
        interest = self.take(row.unpaid_interest_fen)
        fee = self.take(row.unpaid_fee_fen)
        self.rows[index] = replace(row, paid_interest_fen=row.paid_interest_fen + interest, paid_fee_fen=row.paid_fee_fen + fee)
        self.parts["interest_paid"] += interest
        self.parts["fee"] += fee

    def prepay(self) -> None:
        """Interest accrued to date in the running period, then principal not yet due."""
        if self.left == 0:
            return
        index = next((i for i, r in enumerate(self.rows) if r.due_date > self.day), None)
        if index is None:
            return
        if any(r.due_date <= self.day and not r.settled for r in self.rows):
            return  # something due is still unpaid: no prepayment until it is
        self.pay_interest_only(index)
        if self.left == 0:
            return
        not_due = sum(r.unpaid_principal_fen for r in self.rows[index:])
        prepaid = self.take(not_due)
        if prepaid:
            self.rows = _reschedule(self.state, self.rows, index, prepaid, self.day)
            self.parts["principal"] += prepaid

    def pay_interest_only(self, index: int) -> None:
        row = self.rows[index]
        interest = self.take(row.unpaid_interest_fen)
        self.rows[index] = replace(row, paid_interest_fen=row.paid_interest_fen + interest)
        self.parts["interest_paid"] += interest

    def finish(self) -> tuple[LoanState, Receipt]:
        state = self.state
        interest_paid = self.parts["interest_paid"]
        on_balance = min(interest_paid, state.interest_receivable_fen)
        state = replace(
            state,
            installments=tuple(self.rows),
            interest_receivable_fen=state.interest_receivable_fen - on_balance,
            suspended_interest_fen=state.suspended_interest_fen - (interest_paid - on_balance),
            credit_balance_fen=state.credit_balance_fen + self.left,
        )
        released = 0
        if state.principal_outstanding_fen == 0 and all(r.settled for r in state.installments) and state.penalty_receivable_fen + state.suspended_penalty_fen == 0:
            released = state.provision_fen
            state = replace(state, status=LoanStatus.CLOSED, days_past_due=0, provision_fen=0)
        else:
            state = replace(state, days_past_due=days_past_due(state, self.day - timedelta(days=1)))
        applied = Receipt(
            penalty_fen=self.parts["penalty"],
            suspended_penalty_fen=self.parts["suspended_penalty"],
            interest_fen=on_balance,
            suspended_interest_fen=interest_paid - on_balance,
            fee_fen=self.parts["fee"],
            principal_fen=self.parts["principal"],
            credit_balance_fen=self.left,
            provision_release_fen=released,
        )
        return state, applied


def _reschedule(state: LoanState, rows: list[LoanInstallment], index: int, prepaid_fen: int, day: date) -> list[LoanInstallment]:
    """Re-amortise installments ``index``.. after ``prepaid_fen`` of principal was paid on ``day``."""
    terms = state.terms
    conventions = terms.conventions
    current = rows[index]
    balance = sum(r.unpaid_principal_fen for r in rows[index:]) - prepaid_fen
    assert balance >= 0
    if terms.method is Method.REVOLVING:
        last = rows[-1]
        rows[-1] = replace(last, paid_principal_fen=last.paid_principal_fen + prepaid_fen)
        return rows
    accrued = current.accrued_interest_fen
    assert current.paid_interest_fen == accrued, "accrued interest is paid before principal"
    rest = _remaining_interest_fen(state, current, balance, day)
    head = rows[:index]
    remaining = rows[index:]
    if balance == 0:
        paid_off = replace(current, principal_fen=current.paid_principal_fen + prepaid_fen, paid_principal_fen=current.paid_principal_fen + prepaid_fen, interest_fen=accrued, accrual_start=day, accrued_at_start_fen=accrued, fee_fen=current.paid_fee_fen)
        return head + [paid_off]
    grace = conventions.grace_principal
    amortising = sum(1 for r in remaining if r.number > grace)
    effect = state.contract.prepayment
    level_payment = level_principal = 0
    if terms.method is Method.EQUAL_INSTALLMENT:
        if effect is PrepaymentEffect.REDUCE_INSTALLMENT:
            level_payment = annuity_payment_fen(balance, terms.annual_rate, max(amortising, 1), conventions)
        else:
            level_payment = annuity_payment_fen(terms.principal_fen, terms.annual_rate, terms.periods - grace, conventions)
    elif terms.method is Method.EQUAL_PRINCIPAL:
        if effect is PrepaymentEffect.REDUCE_INSTALLMENT:
            level_principal = conventions.rounding.to_fen(Decimal(balance) / max(amortising, 1))
        else:
            level_principal = conventions.rounding.to_fen(Decimal(terms.principal_fen) / (terms.periods - grace))
    rebuilt: list[LoanInstallment] = []
    for offset, row in enumerate(remaining):
        first = offset == 0
        interest = accrued + rest if first else interest_fen(balance, terms.annual_rate, _fraction_of(state, row), conventions)
        is_last = row is remaining[-1]
        if is_last:
            principal = balance
        elif row.number <= grace or terms.method in (Method.INTEREST_FIRST, Method.BULLET):
            principal = 0
        elif terms.method is Method.EQUAL_INSTALLMENT:
            principal = min(max(level_payment - interest, 0), balance)
        else:
            principal = min(level_principal, balance)
        balance -= principal
        already = prepaid_fen + row.paid_principal_fen if first else row.paid_principal_fen
        changes: dict[str, object] = {"principal_fen": principal + already, "paid_principal_fen": already, "interest_fen": interest}
        if first:
            changes.update(accrual_start=day, accrued_at_start_fen=accrued)
        rebuilt.append(replace(row, **changes))
        if balance == 0 and not is_last:
            break  # the term shortens: later installments are no longer needed
    return head + rebuilt


def _fraction_of(state: LoanState, row: LoanInstallment) -> tuple[int, int]:
    periods = state.terms.periods if state.method is Method.BULLET else 1
    return year_fraction(row.period_start, row.due_date, state.terms.conventions, periods)


def _remaining_interest_fen(state: LoanState, row: LoanInstallment, balance_fen: int, day: date) -> int:
    """Interest on the new balance from ``day`` to the end of the running period."""
    if balance_fen == 0 or day >= row.due_date:
        return 0
    conventions = state.terms.conventions
    if conventions.interest_calc is InterestCalc.DAILY and conventions.days_in_month is DaysInMonth.ACTUAL:
        fraction = year_fraction(day, row.due_date, conventions)
    else:
        numerator, denominator = _fraction_of(state, row)
        fraction = (numerator * (row.due_date - day).days, denominator * (row.due_date - row.period_start).days)
    return interest_fen(balance_fen, state.terms.annual_rate, fraction, conventions)
