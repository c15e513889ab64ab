"""Close of business for one loan and one day: accrual, penalty, days past due, classification, provisions.

Day ``d`` covers the night from ``d`` to ``d + 1``: interest for that night accrues, and an amount due
on ``d`` and still unpaid at its end is one day past due. Scheduled interest is spread evenly over its
period by integer division, so what accrues over a period equals the scheduled interest exactly;
daily accruals (revolving interest, penalties) carry their exact remainder to the next day. Nothing
is rounded away and nothing is lost.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import date, timedelta

from smelend.ledger import JournalEntry
from smelend.ledger.rules import DayClose, day_close
from smelend.servicing import delinquency
from smelend.servicing.conventions import Method
from smelend.servicing.loan import LoanState, LoanStatus, with_installment


def days_past_due(state: LoanState, day: date) -> int:
    """Days past due at the end of ``day``: 1 when something due on ``day`` is still unpaid."""
    oldest = state.oldest_unpaid_due_date()
    if oldest is None or oldest > day:
        return 0
    return (day - oldest).days + 1


def current_index(state: LoanState, day: date) -> int | None:
    """The installment whose period holds the night of ``day`` (None after maturity)."""
    for index, installment in enumerate(state.installments):
        if installment.period_start <= day < installment.due_date:
            return index
    return None


def close_day(state: LoanState, day: date, policy: delinquency.DelinquencyPolicy) -> tuple[LoanState, DayClose, JournalEntry | None]:
    """Close ``day`` for one loan. Days must come one at a time, in order; a closed day is not re-run."""
    if state.status is not LoanStatus.ACTIVE:
        return state, DayClose(), None
    if state.closed_through is None:
        assert day == state.terms.start, f"loan {state.id} was never closed: its first close is its start {state.terms.start}, not {day}"
    else:
        assert day == state.closed_through + timedelta(days=1), (state.closed_through, day)
    dpd = days_past_due(state, day)
    suspend = delinquency.is_non_accrual(dpd, policy)
    state, interest_fen = _accrue_interest(state, day)
    state, penalty_fen = _accrue_penalty(state, day, dpd)
    if suspend:
        state = replace(
            state,
            suspended_interest_fen=state.suspended_interest_fen + interest_fen,
            suspended_penalty_fen=state.suspended_penalty_fen + penalty_fen,
        )
    else:
        state = replace(
            state,
            interest_receivable_fen=state.interest_receivable_fen + interest_fen,
            penalty_receivable_fen=state.penalty_receivable_fen + penalty_fen,
        )
    category = delinquency.classify(dpd, state.flags, policy)
    target = delinquency.provision_fen(state.exposure_fen(), category, dpd, policy)
    moved = DayClose(
        interest_fen=0 if suspend else interest_fen,
        suspended_interest_fen=interest_fen if suspend else 0,
        penalty_fen=0 if suspend else penalty_fen,
        suspended_penalty_fen=penalty_fen if suspend else 0,
        provision_change_fen=target - state.provision_fen,
    )
    state = replace(state, closed_through=day, days_past_due=dpd, category=category.value, provision_fen=target)
    state.check()
    return state, moved, day_close(state.id, day, moved)


def _accrue_interest(state: LoanState, day: date) -> tuple[LoanState, int]:
    index = current_index(state, day)
    if index is None:
        return state, 0
    installment = state.installments[index]
    if state.method is Method.REVOLVING:
        contract = state.contract
        numerator = state.interest_carry + state.principal_outstanding_fen * contract.rate_scaled
        accrued, carry = divmod(numerator, contract.daily_denominator)
        state = with_installment(
            state,
            index,
            interest_fen=installment.interest_fen + accrued,
            accrued_interest_fen=installment.accrued_interest_fen + accrued,
        )
        return replace(state, interest_carry=carry), accrued
    anchor = installment.anchor
    to_spread = installment.interest_fen - installment.accrued_at_start_fen
    elapsed_days = (day - anchor).days + 1
    span_days = (installment.due_date - anchor).days
    target = installment.accrued_at_start_fen + to_spread * elapsed_days // span_days
    accrued = target - installment.accrued_interest_fen
    assert accrued >= 0, (installment, day)
    return with_installment(state, index, accrued_interest_fen=target), accrued


def _accrue_penalty(state: LoanState, day: date, dpd: int) -> tuple[LoanState, int]:
    contract = state.contract
    if dpd <= contract.grace_days:
        return state, 0
    base_fen = state.overdue_principal_fen(day)
    if contract.compound_overdue_interest:
        base_fen += state.overdue_interest_fen(day)
    numerator = state.penalty_carry + base_fen * contract.penalty_rate_scaled
    accrued, carry = divmod(numerator, contract.daily_denominator)
    return replace(state, penalty_carry=carry), accrued
