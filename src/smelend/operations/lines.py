"""Credit lines and draws: the operator opens a line, the borrower draws on it."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal

from dateutil.relativedelta import relativedelta
from sqlalchemy.engine import Connection

from smelend.errors import Collector, InvalidInput
from smelend.operations.calendar import days_to_close, refuse_if_before, refuse_if_past, start_calendar_if_new
from smelend.operations.context import DISBURSEMENT_ATTEMPTS, Book
from smelend.products import Product
from smelend.servicing import lifecycle
from smelend.servicing.conventions import Method
from smelend.servicing.credit_line import CreditLine, LineStatus
from smelend.servicing.loan import MAX_RATE_DECIMALS, LoanState, LoanTermsOnFile, PrepaymentEffect, new_loan
from smelend.servicing.payments import PaymentFailed, Transfer, with_retries
from smelend.servicing.schedule import LoanTerms
from smelend.store import get_or_create_enterprise
from smelend.store.db import reading
from smelend.store.lending import (
    NEW_LOAN_VERSION,
    BusinessDay,
    StoredLoan,
    get_line,
    insert_line,
    insert_loan,
    line_of_loan,
    load_loan,
    loan_version,
    release,
    reserve,
    save_loan,
    set_line_status,
)
from smelend.store.ledger import balances_last, post_entry
from smelend.store.tables import ENTERPRISE_NAME_MAX_CHARS

DEFAULT_VALIDITY_MONTHS = 12


class DisbursementFailed(RuntimeError):
    """The bank core refused the disbursement after every retry; the draw was cancelled, nothing posted."""


def bring_to(book: Book, day: date, current: BusinessDay | None = None) -> bool:
    """Close every business day before ``day`` so an operation on ``day`` sees an up-to-date book; True
    when there was something to do (the usual case, nothing, costs one read without the write lock, or
    none when the caller passes the ``current`` business day it has just read with :func:`refuse_if_past`).

    The days are closed by the same pipeline as ``smelend cob`` (loans, snapshot, behaviour score,
    reassessment, collections actions; :func:`smelend.cob.pipeline.run_close_of_business`), on an
    in-process runner and the same data folder: there is one close of business, whoever starts it.
    """
    if current is None:
        with reading(book.engine) as conn:
            current = refuse_if_past(conn, day)
    if current.business_date is not None and not days_to_close(current, day - timedelta(days=1)):
        return False
    with book.engine.begin() as conn:
        refuse_if_past(conn, day)
        start_calendar_if_new(conn, day)
    return close_through(book, day - timedelta(days=1))


def close_through(book: Book, through: date) -> bool:
    """The full close of business of every open day through ``through``, in this process (one worker:
    the days an operation catches up are few and its book is the one the caller is using); True when
    it closed a day (False: another caller closed them while this one waited)."""
    from smelend.cob.pipeline import run_close_of_business  # the pipeline imports operations: import here
    from smelend.cob.runners import LocalRunner
    from smelend.settings import data_dir

    return bool(run_close_of_business(book, through, LocalRunner(workers=1), data_dir()).days)


def open_line(book: Book, uscc: str, product_id: str, limit_fen: int, annual_rate: Decimal, start: date, end: date | None = None, name: str | None = None) -> CreditLine:
    """The operator's path (no decision): the enterprise is registered if new."""
    found = Collector()
    if product_id not in book.catalogue:
        found.add("product", f"no such product {product_id!r} (known: {', '.join(book.catalogue)})")
    if limit_fen <= 0:
        found.add("limit", "must be greater than zero")
    end = end or start + relativedelta(months=DEFAULT_VALIDITY_MONTHS)
    if end <= start:
        found.add("end", "must be after the start date")
    if not annual_rate.is_finite() or not Decimal(0) <= annual_rate <= Decimal(1):
        found.add("annual_rate", "must be a fraction between 0 and 1")
    elif annual_rate.as_tuple().exponent < -MAX_RATE_DECIMALS:  # type: ignore[operator]
        found.add("annual_rate", f"may have at most {MAX_RATE_DECIMALS} decimals")
    if name is not None and not 0 < len(name.strip()) <= ENTERPRISE_NAME_MAX_CHARS:
        found.add("name", f"must be 1 to {ENTERPRISE_NAME_MAX_CHARS} characters")
    found.raise_if_any()
    with book.engine.connect() as conn:
        refuse_if_past(conn, start, "start")
    from smelend.ids import uscc as uscc_ids

    clean = uscc_ids.validate(uscc, "uscc")
    bring_to(book, start)
    with book.engine.begin() as conn:
        enterprise, _ = get_or_create_enterprise(conn, clean, name or f"enterprise {clean}", None)
        line_id = insert_line(conn, enterprise.id, product_id, limit_fen, annual_rate, start, end)
        return get_line(conn, line_id)


def show_line(book: Book, line_id: int) -> CreditLine:
    with book.engine.connect() as conn:
        return get_line(conn, line_id)


def freeze(book: Book, line_id: int, frozen: bool) -> CreditLine:
    with book.engine.begin() as conn:
        if frozen:
            return set_line_status(conn, line_id, LineStatus.FROZEN, [LineStatus.ACTIVE])
        return set_line_status(conn, line_id, LineStatus.ACTIVE, [LineStatus.FROZEN])


@dataclass(frozen=True)
class DrawRequest:
    line_id: int
    amount_fen: int
    method: Method
    term: int
    day: date
    auto_debit: bool = False


def contract_for(product: Product, line: CreditLine, request: DrawRequest) -> LoanTermsOnFile:
    """The draw's contract: the line's rate, the product's conventions, penalty and prepayment rules."""
    terms_allowed = product.repayment_methods.get(request.method)
    if terms_allowed is None:
        raise InvalidInput.one("method", f"{request.method.value} is not offered by {product.id} (offered: {', '.join(m.value for m in product.repayment_methods)})")
    if not terms_allowed.allows(request.term):
        raise InvalidInput.one("term", f"{product.id} allows {request.method.value} draws of {terms_allowed.min_term} to {terms_allowed.max_term} periods")
    terms = LoanTerms(request.amount_fen, line.annual_rate, request.term, request.method, request.day, product.conventions_for(request.method))
    return LoanTermsOnFile(
        terms,
        penalty_rate=line.annual_rate * product.penalty.rate_multiplier,
        compound_overdue_interest=product.penalty.compound_overdue_interest,
        grace_days=product.penalty.grace_days,
        prepayment=PrepaymentEffect(product.prepayment.value),
    )


Recorder = Callable[[Connection, LoanState], None]  # more writes in the same transaction (audit, notices)


def draw(book: Book, request: DrawRequest, record: Recorder | None = None, on_reserve: Callable[[Connection], None] | None = None, *,
         current: BusinessDay | None = None) -> LoanState:
    """Reserve the line, record the loan pending, disburse through the bank core, then activate and post.

    A draw the line cannot take is refused before anything is written. A disbursement the bank core
    refuses after :data:`DISBURSEMENT_ATTEMPTS` tries cancels the loan and gives the line back.
    ``record(conn, state)`` runs in the transaction that activates the loan, so what the caller writes
    about the draw (an audit row, a partner notice) commits with it or not at all. ``on_reserve(conn)``
    runs first in the transaction that reserves the line, before any money moves (a signed request's
    nonce: a replay that raced this request is refused there); if it raises, nothing is written.
    ``current``: the business day the caller has just read (to date the draw), not read again.
    """
    with reading(book.engine) as conn:
        current = refuse_if_past(conn, request.day) if current is None else refuse_if_before(current, request.day)
        line = get_line(conn, request.line_id)
    line.refuse_draw(request.amount_fen, request.day)
    contract = contract_for(book.catalogue[line.product_id], line, request)
    new_loan(0, line.id, contract)  # validates the terms before anything is written
    bring_to(book, request.day, current)
    with book.engine.begin() as conn:
        if on_reserve is not None:
            on_reserve(conn)
        line = get_line(conn, request.line_id, for_update=True)
        line.refuse_draw(request.amount_fen, request.day)
        reserve(conn, line.id, request.amount_fen)
        state = insert_loan(conn, new_loan(0, line.id, contract), request.auto_debit)
    written = StoredLoan(state, NEW_LOAN_VERSION, request.auto_debit)
    transfer = Transfer(f"disburse:{state.id}", "disbursement", state.id, request.amount_fen, request.day, f"line:{line.id}")
    try:
        with_retries(lambda: book.gateway.disburse(transfer), DISBURSEMENT_ATTEMPTS)
    except PaymentFailed as failure:
        with book.engine.begin() as conn:
            stored = load_loan(conn, state.id, for_update=True)
            save_loan(conn, stored, lifecycle.cancel(stored.state))
            release(conn, line.id, request.amount_fen)
        raise DisbursementFailed(f"disbursement of loan {state.id} failed: {failure}") from None
    return confirm_disbursement(book, state.id, record, line_id=line.id, written=written)


def confirm_disbursement(book: Book, loan_id: int, record: Recorder | None = None, *, line_id: int | None = None,
                         written: StoredLoan | None = None) -> LoanState:
    """The bank core settled the disbursement: activate the loan and post it (idempotent; ``record`` runs
    only when this call activates it). ``line_id``: the loan's line when the caller knows it (a loan
    never changes lines), saving a look-up; ``written``: the loan as the caller stored it, used as is
    when its version shows nobody changed it since (saving the read of its row and installments)."""
    assert written is None or written.state.id == loan_id
    with book.engine.begin() as conn, balances_last(conn):  # the shared balance rows locked only for the commit
        get_line(conn, line_of_loan(conn, loan_id) if line_id is None else line_id, for_update=True)
        if written is not None and loan_version(conn, loan_id, for_update=True) == written.version:
            stored = written
        else:
            stored = load_loan(conn, loan_id, for_update=True)
        if stored.state.status is not stored.state.status.PENDING:
            return stored.state
        state, entry = lifecycle.activate(stored.state, stored.state.terms.start)
        post_entry(conn, entry)
        state = _catch_up(book, conn, state)
        save_loan(conn, stored, state)
        if record is not None:
            record(conn, state)
        return state


def _catch_up(book: Book, conn, state: LoanState) -> LoanState:
    """A draw confirmed after its start day was closed (a crash left it pending): close its missed days now."""
    from smelend.servicing.accrual import close_day
    from smelend.store.lending import get_business_day

    last_closed = get_business_day(conn).last_closed
    day = state.terms.start
    while last_closed is not None and day <= last_closed:
        state, _, entry = close_day(state, day, book.policy)
        if entry is not None:
            post_entry(conn, entry)
        day += timedelta(days=1)
    return state


def recover_pending(book: Book) -> int:
    """Finish what a crash left half-done: draws left pending (settled at the bank core -> activate; else
    retry or cancel), then money the bank core settled that never reached the book."""
    from sqlalchemy import select

    from smelend.store.tables import loans

    with book.engine.connect() as conn:
        pending = list(conn.execute(select(loans.c.id).where(loans.c.status == "pending").order_by(loans.c.id)).scalars())
    for loan_id in pending:
        with book.engine.connect() as conn:
            state = load_loan(conn, loan_id).state
        transfer = Transfer(f"disburse:{loan_id}", "disbursement", loan_id, state.terms.principal_fen, state.terms.start, f"line:{state.line_id}")
        try:
            with_retries(lambda: book.gateway.disburse(transfer), DISBURSEMENT_ATTEMPTS)
        except PaymentFailed:
            with book.engine.begin() as conn:
                stored = load_loan(conn, loan_id, for_update=True)
                save_loan(conn, stored, lifecycle.cancel(stored.state))
                release(conn, stored.state.line_id, state.terms.principal_fen)
            continue
        confirm_disbursement(book, loan_id)
    from smelend.operations.repayments import recover_receipts

    return len(pending) + recover_receipts(book)
