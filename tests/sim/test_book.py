"""The lab's book is the servicing engine: loan by loan, day by day, it equals close_day and apply_payment on
LoanState records (states, receipts and journal entries, to the fen)."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from smelend.products.loader import load_catalogue
from smelend.servicing import delinquency, lifecycle
from smelend.servicing.accrual import close_day
from smelend.servicing.batch import build_schedules_batch
from smelend.servicing.cob_batch import entries_from_rows, to_states
from smelend.servicing.conventions import Method
from smelend.servicing.loan import LoanStatus, PrepaymentEffect, new_loan
from smelend.servicing.repayment import apply_payment, payoff_quote
from smelend.sim.book import LiveBook, Penalty, due_fen, pending_from_batch

POLICY = delinquency.load_policy()
PENALTY = Penalty(Decimal("1.5"), True, 3, PrepaymentEffect.REDUCE_INSTALLMENT)
START = date(2026, 1, 15)


def _pending(amounts: list[int], rates: list[str], method: Method = Method.EQUAL_INSTALLMENT, term: int = 6):
    conventions = load_catalogue()["settlement-flow-loan"].conventions_for(method)
    batch = build_schedules_batch(np.array(amounts, np.int64), [Decimal(r) for r in rates], term, method, START, conventions)
    return batch, pending_from_batch(batch, list(range(1, len(amounts) + 1)), list(range(101, 101 + len(amounts))), PENALTY)


@pytest.mark.parametrize("method", [Method.EQUAL_INSTALLMENT, Method.EQUAL_PRINCIPAL, Method.INTEREST_FIRST, Method.REVOLVING, Method.BULLET])
def test_batch_schedules_lay_out_loans_as_new_loan_does(method: Method) -> None:
    batch, pending = _pending([5_000_000, 12_345_600], ["0.0865", "0.1234"], method)
    for k, state in enumerate(pending):
        assert state == new_loan(state.id, state.line_id, state.contract)
        assert state.contract.penalty_rate == batch.terms(k).annual_rate * PENALTY.rate_multiplier


@settings(max_examples=16, deadline=None)
@given(
    late=st.lists(st.booleans(), min_size=4, max_size=4),
    share=st.sampled_from([0.0, 0.3, 0.5]),
    late_days=st.integers(1, 25),
    stop=st.integers(0, 3),
    payoff_day=st.integers(40, 150),
    method=st.sampled_from([Method.EQUAL_INSTALLMENT, Method.EQUAL_PRINCIPAL, Method.REVOLVING, Method.INTEREST_FIRST]),
)
def test_book_equals_the_per_loan_engine(late: list[bool], share: float, late_days: int, stop: int, payoff_day: int, method: Method) -> None:
    """Four loans over 200 days: on-time, partial-then-late and stopped payers, a payoff, a write-off with recovery."""
    _, pending = _pending([3_000_000, 8_000_000, 15_000_000, 600_000], ["0.08", "0.1", "0.125", "0.18"], method)
    book = LiveBook(POLICY)
    book.open(pending, [0, 1, 2, 3], START)
    reference = []
    ref_entries = list(book.entries)
    for state in pending:
        reference.append(lifecycle.activate(state, START)[0])
    assert [e for e in ref_entries] == [lifecycle.activate(s, START)[1] for s in pending]
    ref_cob = []
    catch_up: dict[int, date] = {}
    day = START
    for _ in range(200):
        dues = [r for r in range(4) if reference[r].status is LoanStatus.ACTIVE and r != stop]
        for r in dues:
            state = reference[r]
            is_due = any(i.due_date == day for i in state.installments)
            if catch_up.get(r) == day or is_due and not late[r]:
                book.pay([r], day, "due")
                amount = due_fen(state, day)
                if amount:
                    state, _, entry = apply_payment(state, amount, day, f"sim-due:{state.id}:{day.isoformat()}")
                    ref_entries.append(entry)
            elif is_due:
                catch_up[r] = day + timedelta(days=late_days)
                book.pay([r], day, "due", share, tag="-partial")
                amount = int(Decimal(due_fen(state, day)) * Decimal(str(share)))
                if amount:
                    state, _, entry = apply_payment(state, amount, day, f"sim-due-partial:{state.id}:{day.isoformat()}")
                    ref_entries.append(entry)
            if day == START + timedelta(days=payoff_day) and r == 0 and state.status is LoanStatus.ACTIVE:
                book.pay([r], day, "payoff")
                state, _, entry = apply_payment(state, payoff_quote(state, day, POLICY).total_fen, day, f"sim-payoff:{state.id}:{day.isoformat()}")
                ref_entries.append(entry)
                assert state.status is LoanStatus.CLOSED
            reference[r] = state
        rows, business, moved = book.close(day)
        for r in range(4):
            reference[r], _, entry = close_day(reference[r], day, POLICY)
            if entry is not None:
                ref_cob.append(entry)
        day += timedelta(days=1)
    assert to_states(book.arrays, book.templates) == reference
    assert book.entries == ref_entries
    assert [e for rows in book.cob_rows for e in entries_from_rows(rows)] == ref_cob
    if reference[stop].status is LoanStatus.ACTIVE:
        assert reference[stop].days_past_due > 90 and delinquency.Category(reference[stop].category).non_performing
        assert book.non_performing()[stop]
        [(row, shortfall, applied)] = book.write_off([stop], day, 0.4)
        written, entry = lifecycle.write_off(reference[stop], day)
        assert book.entries[-2] == entry and shortfall == reference[stop].exposure_fen() - reference[stop].provision_fen
        assert applied is not None and applied.recovery_fen == int(reference[stop].principal_outstanding_fen * Decimal("0.4"))
        assert book.templates[stop].status is LoanStatus.WRITTEN_OFF
    book.compact()
    assert all(s.status is LoanStatus.ACTIVE for s in book.templates) and len(book) == len(book.templates) == book.business.size
