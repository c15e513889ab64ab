"""The moments a loan changes standing: disbursement confirmed, cancelled, written off."""

from __future__ import annotations

from dataclasses import replace
from datetime import date

from smelend.errors import InvalidInput
from smelend.ledger import JournalEntry
from smelend.ledger import rules
from smelend.servicing.loan import LoanState, LoanStatus


def activate(state: LoanState, day: date) -> tuple[LoanState, JournalEntry]:
    """The bank core confirmed the disbursement: the loan is live and the ledger records the money out."""
    assert state.status is LoanStatus.PENDING, state.status
    assert day == state.terms.start, (day, state.terms.start)
    state = replace(state, status=LoanStatus.ACTIVE)
    return state, rules.disbursement(state.id, state.line_id, state.terms.principal_fen, day)


def cancel(state: LoanState) -> LoanState:
    """The disbursement failed for good: nothing was posted, so nothing is reversed."""
    assert state.status is LoanStatus.PENDING, state.status
    return replace(state, status=LoanStatus.CANCELLED)


def write_off(state: LoanState, day: date) -> tuple[LoanState, JournalEntry]:
    """Take the loan off the balance sheet against its provisions; it stays pursued as a memo."""
    if state.status is not LoanStatus.ACTIVE:
        raise InvalidInput.one("loan", f"is {state.status.value}: only an active loan can be written off")
    written = rules.WriteOff(
        principal_fen=state.principal_outstanding_fen,
        interest_fen=state.interest_receivable_fen,
        penalty_fen=state.penalty_receivable_fen,
        allowance_used_fen=state.provision_fen,
        suspended_fen=state.suspended_interest_fen + state.suspended_penalty_fen,
    )
    entry = rules.write_off(state.id, day, written)
    state = replace(
        state,
        status=LoanStatus.WRITTEN_OFF,
        written_off_fen=written.on_balance_fen + written.suspended_fen,
        provision_fen=0,
        interest_receivable_fen=0,
        suspended_interest_fen=0,
        penalty_receivable_fen=0,
        suspended_penalty_fen=0,
    )
    return state, entry
