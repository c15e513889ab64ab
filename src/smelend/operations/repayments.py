"""Repayments: money paid in, auto-debits on due dates (retried), payoff quotes, write-off."""

from __future__ import annotations

import secrets
from collections.abc import Callable
from datetime import date

from sqlalchemy.engine import Connection

from smelend.errors import InvalidInput
from smelend.ledger.rules import Receipt
from smelend.operations.calendar import refuse_if_before, refuse_if_past
from smelend.operations.context import COLLECTION_ATTEMPTS, Book
from smelend.servicing import lifecycle
from smelend.servicing.credit_line import LineStatus
from smelend.servicing.loan import LoanState, LoanStatus
from smelend.servicing.payments import PaymentFailed, Transfer, with_retries
from smelend.servicing.repayment import PayoffQuote, apply_payment, parse_order, payoff_quote
from smelend.store.db import reading
from smelend.store.ledger import balances_last, post_entry
from smelend.store.lending import (
    BusinessDay,
    LoanHead,
    auto_debit_loans_due,
    get_line,
    line_of_loan,
    load_loan,
    loan_head,
    record_repayment,
    release,
    repayment_exists,
    save_loan,
    set_line_status,
)


Recorder = Callable[[Connection, LoanState, Receipt], None]  # more writes in the same transaction (audit, notices)


def repay(book: Book, loan_id: int, amount_fen: int, day: date, record: Recorder | None = None, *,
          current: BusinessDay | None = None) -> tuple[LoanState, Receipt]:
    """Money paid in by the borrower on ``day``: received through the bank core, then applied.

    ``record(conn, state, receipt)`` runs in the transaction that applies the money, so what the caller
    writes about it (an audit row, a partner notice) commits with it or not at all. ``current``: the
    business day the caller has just read (to date the repayment), not read again.
    """
    from smelend.operations.lines import bring_to

    with reading(book.engine) as conn:
        current = refuse_if_past(conn, day) if current is None else refuse_if_before(current, day)
        head = loan_head(conn, loan_id)
        _refuse_repayment(head, amount_fen, day)
    if bring_to(book, day, current):
        with reading(book.engine) as conn:  # closing the days before may have settled the loan (an auto-debit)
            _refuse_repayment(loan_head(conn, loan_id), amount_fen, day)
    instruction = f"paid-in:{loan_id}:{day.isoformat()}:{secrets.token_hex(6)}"
    transfer = Transfer(instruction, "paid_in", loan_id, amount_fen, day, f"loan:{loan_id}")
    with_retries(lambda: book.gateway.receive(transfer), COLLECTION_ATTEMPTS)
    with book.engine.begin() as conn:
        with balances_last(conn):  # the shared balance rows locked only for the commit
            state, applied = apply_receipt(book, conn, loan_id, amount_fen, day, instruction, "paid-in", line_id=head.line_id)
            if record is not None:
                record(conn, state, applied)
        return state, applied


def _refuse_repayment(loan: LoanHead, amount_fen: int, day: date) -> None:
    if amount_fen <= 0:
        raise InvalidInput.one("amount", "must be greater than zero")
    if loan.status in (LoanStatus.PENDING, LoanStatus.CANCELLED, LoanStatus.CLOSED):
        raise InvalidInput.one("loan", f"is {loan.status.value}: nothing to repay")
    if day < loan.start:
        raise InvalidInput.one("date", f"is before the loan started ({loan.start})")


def apply_receipt(book: Book, conn: Connection, loan_id: int, amount_fen: int, day: date, instruction_id: str, channel: str,
                  *, line_id: int | None = None) -> tuple[LoanState, Receipt]:
    """Apply settled money to a loan in the caller's transaction (lock order: line, then loan);
    ``line_id``: the loan's line when the caller knows it (a loan never changes lines)."""
    line_id = line_of_loan(conn, loan_id) if line_id is None else line_id
    product_id = get_line(conn, line_id, for_update=True).product_id
    stored = load_loan(conn, loan_id, for_update=True)
    if stored.state.status is LoanStatus.CLOSED:
        return _hold_as_credit(conn, stored, amount_fen, day, instruction_id, channel)
    was_written_off = stored.state.status is LoanStatus.WRITTEN_OFF
    order = parse_order(book.catalogue[product_id].allocation_order) if product_id in book.catalogue else book.allocation_order
    state, applied, entry = apply_payment(stored.state, amount_fen, day, f"repayment:{instruction_id}", order)
    save_loan(conn, stored, state)
    post_entry(conn, entry)
    parts = {
        "penalty_fen": applied.penalty_fen + applied.suspended_penalty_fen,
        "interest_fen": applied.interest_fen + applied.suspended_interest_fen,
        "fee_fen": applied.fee_fen,
        "principal_fen": applied.principal_fen,
        "credit_balance_fen": applied.credit_balance_fen,
        "recovery_fen": applied.recovery_fen,
    }
    record_repayment(conn, loan_id, instruction_id, day, channel, amount_fen, parts)
    if not was_written_off:
        release(conn, line_id, applied.principal_fen)
    return state, applied


def _hold_as_credit(conn: Connection, stored, amount_fen: int, day: date, instruction_id: str, channel: str) -> tuple[LoanState, Receipt]:
    """Money that arrived for a loan already paid off is held for the borrower, never lost."""
    from dataclasses import replace

    from smelend.ledger.rules import receipt

    applied = Receipt(credit_balance_fen=amount_fen)
    state = replace(stored.state, credit_balance_fen=stored.state.credit_balance_fen + amount_fen)
    save_loan(conn, stored, state)
    post_entry(conn, receipt(f"repayment:{instruction_id}", state.id, day, applied))
    record_repayment(conn, state.id, instruction_id, day, channel, amount_fen, {"penalty_fen": 0, "interest_fen": 0, "fee_fen": 0, "principal_fen": 0, "credit_balance_fen": amount_fen, "recovery_fen": 0})
    return state, applied


def collect_due(book: Book, day: date) -> int:
    """Auto-debit what is due on or before ``day`` for loans that chose it; a failure is retried tomorrow."""
    with book.engine.connect() as conn:
        loan_ids = auto_debit_loans_due(conn, day)
    collected = 0
    for loan_id in loan_ids:
        instruction = f"collect:{loan_id}:{day.isoformat()}"
        with book.engine.connect() as conn:
            if repayment_exists(conn, instruction):
                continue
            state = load_loan(conn, loan_id).state
        earlier = book.gateway.lookup(instruction)
        if earlier is not None and earlier.settled:
            owed = earlier.amount_fen  # settled before a crash: apply what the bank core actually took
        else:
            owed = amount_due_fen(state, day)
            if owed == 0:
                continue
            transfer = Transfer(instruction, "collection", loan_id, owed, day, f"loan:{loan_id}")
            try:
                with_retries(lambda: book.gateway.collect(transfer), COLLECTION_ATTEMPTS)
            except PaymentFailed:
                continue
        with book.engine.begin() as conn:
            apply_receipt(book, conn, loan_id, owed, day, instruction, "auto-debit")
        collected += 1
    return collected


def recover_receipts(book: Book) -> int:
    """Apply money the bank core settled but a crash kept out of the book, on the current business date."""
    from sqlalchemy import select

    from smelend.store.lending import get_business_day
    from smelend.store.tables import bank_core_transfers, repayments

    with book.engine.connect() as conn:
        today = get_business_day(conn).business_date
        orphans = conn.execute(
            select(bank_core_transfers.c.instruction_id, bank_core_transfers.c.loan_id, bank_core_transfers.c.amount_fen, bank_core_transfers.c.kind)
            .where(
                bank_core_transfers.c.status == "settled",
                bank_core_transfers.c.kind.in_(["paid_in", "collection"]),
                bank_core_transfers.c.instruction_id.not_in(select(repayments.c.instruction_id)),
            )
            .order_by(bank_core_transfers.c.instruction_id)
        ).all()
    for instruction_id, loan_id, amount_fen, kind in orphans:
        assert today is not None
        with book.engine.begin() as conn:
            apply_receipt(book, conn, loan_id, amount_fen, today, instruction_id, "auto-debit" if kind == "collection" else "paid-in")
    return len(orphans)


def amount_due_fen(state: LoanState, day: date) -> int:
    """Everything due on or before ``day``: penalties, and installments' interest, fees and principal."""
    due = [i for i in state.installments if i.due_date <= day]
    return (
        state.penalty_receivable_fen + state.suspended_penalty_fen
        + sum(i.unpaid_interest_fen + i.unpaid_fee_fen + i.unpaid_principal_fen for i in due)
    )


def quote(book: Book, loan_id: int, day: date) -> PayoffQuote:
    """The payoff amount on ``day``; a quote changes nothing (not even the business date)."""
    with book.engine.connect() as conn:
        refuse_if_past(conn, day)
        state = load_loan(conn, loan_id).state
    if state.status is not LoanStatus.ACTIVE:
        raise InvalidInput.one("loan", f"is {state.status.value}: no payoff to quote")
    if day < state.terms.start:
        raise InvalidInput.one("date", f"is before the loan started ({state.terms.start})")
    return payoff_quote(state, day, book.policy)


def write_off(book: Book, loan_id: int, day: date) -> LoanState:
    """Write the loan off against its provisions; its line is frozen and its principal released."""
    from smelend.operations.lines import bring_to

    with book.engine.connect() as conn:
        refuse_if_past(conn, day)
        state = load_loan(conn, loan_id).state
    if state.status is not LoanStatus.ACTIVE:
        raise InvalidInput.one("loan", f"is {state.status.value}: only an active loan can be written off")
    bring_to(book, day)
    with book.engine.begin() as conn:
        line = get_line(conn, state.line_id, for_update=True)
        stored = load_loan(conn, loan_id, for_update=True)
        outstanding = stored.state.principal_outstanding_fen
        written, entry = lifecycle.write_off(stored.state, day)
        save_loan(conn, stored, written)
        post_entry(conn, entry)
        release(conn, line.id, outstanding)
        if line.status is LineStatus.ACTIVE:
            set_line_status(conn, line.id, LineStatus.FROZEN, [LineStatus.ACTIVE])
    return written


def refund(book: Book, loan_id: int, day: date) -> tuple[LoanState, int]:
    """Return a loan's credit balance (an overpayment) to the borrower through the bank core."""
    from dataclasses import replace

    from smelend.ledger import rules
    from smelend.operations.lines import bring_to

    with book.engine.connect() as conn:
        refuse_if_past(conn, day)
        state = load_loan(conn, loan_id).state
    if state.credit_balance_fen == 0:
        raise InvalidInput.one("loan", "has no credit balance to refund")
    bring_to(book, day)
    amount = state.credit_balance_fen
    instruction = f"refund:{loan_id}:{day.isoformat()}:{secrets.token_hex(6)}"
    with_retries(lambda: book.gateway.disburse(Transfer(instruction, "refund", loan_id, amount, day, f"loan:{loan_id}")), COLLECTION_ATTEMPTS)
    with book.engine.begin() as conn:
        get_line(conn, state.line_id, for_update=True)
        stored = load_loan(conn, loan_id, for_update=True)
        assert stored.state.credit_balance_fen >= amount
        refunded = replace(stored.state, credit_balance_fen=stored.state.credit_balance_fen - amount)
        save_loan(conn, stored, refunded)
        post_entry(conn, rules.refund(f"refund:{instruction}", loan_id, day, amount))
        return refunded, amount


def set_flag(book: Book, loan_id: int, flag: str, on: bool) -> LoanState:
    """Mark a loan (restructured, fraud, bankruptcy, ...): the flag sets a floor under its classification."""
    from dataclasses import replace

    if flag not in book.policy.known_flags:
        raise InvalidInput.one("flag", f"unknown flag {flag!r} (known: {', '.join(sorted(book.policy.known_flags))})")
    with book.engine.begin() as conn:
        stored = load_loan(conn, loan_id, for_update=True)
        flags = stored.state.flags | {flag} if on else stored.state.flags - {flag}
        return save_loan(conn, stored, replace(stored.state, flags=frozenset(flags))).state
