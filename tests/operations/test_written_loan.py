"""A draw activates the loan it wrote without reading it back (``confirm_disbursement(written=...)``): that
is only right if what it holds is exactly what a read would give, and if a loan changed meanwhile is read."""

from __future__ import annotations

from dataclasses import replace
from datetime import date
from decimal import Decimal

from sqlalchemy import func, select

from smelend.operations.context import open_book
from smelend.operations.lines import DrawRequest, confirm_disbursement, contract_for, draw, open_line
from smelend.servicing.loan import LoanStatus, new_loan
from smelend.store import open_store
from smelend.store.bank_core import SimulatedBankCore
from smelend.store.lending import NEW_LOAN_VERSION, StoredLoan, insert_loan, load_loan, loan_version
from smelend.store.tables import journal_entries

DAY = date(2026, 3, 2)
USCC = "91310000MA1FL8T5X3"


def test_every_method_and_product_reads_back_as_written(db_url: str) -> None:
    engine = open_store(db_url)
    try:
        book = open_book(engine, SimulatedBankCore(engine, 0.0, seed=0))
        checked = 0
        for product in book.catalogue.values():
            line = open_line(book, USCC, product.id, 50_000_000, Decimal("0.0865"), DAY)
            for method, terms in product.repayment_methods.items():
                for term in sorted({terms.min_term, terms.max_term}):
                    request = DrawRequest(line.id, 1_234_567, method, term, DAY, auto_debit=term % 2 == 0)
                    with engine.begin() as conn:
                        written = insert_loan(conn, new_loan(0, line.id, contract_for(product, line, request)), request.auto_debit)
                    with engine.connect() as conn:
                        stored = load_loan(conn, written.id)
                        assert loan_version(conn, written.id) == NEW_LOAN_VERSION
                    assert stored == StoredLoan(written, NEW_LOAN_VERSION, request.auto_debit), (product.id, method, term)
                    checked += 1
        assert checked >= 8
    finally:
        engine.dispose()


def test_a_loan_changed_since_it_was_written_is_read_not_trusted(db_url: str) -> None:
    """A crash recovery (or a second call) activated the loan meanwhile: the stale copy a caller holds is
    ignored, the loan is not activated or posted twice."""
    engine = open_store(db_url)
    try:
        book = open_book(engine, SimulatedBankCore(engine, 0.0, seed=0))
        line = open_line(book, USCC, "tax-data-loan", 10_000_000, Decimal("0.072"), DAY)
        active = draw(book, DrawRequest(line.id, 500_000, next(iter(book.catalogue["tax-data-loan"].repayment_methods)), 3, DAY))
        with engine.connect() as conn:
            entries = conn.scalar(select(func.count()).select_from(journal_entries))
            stored = load_loan(conn, active.id)
        stale = StoredLoan(replace(stored.state, status=LoanStatus.PENDING), NEW_LOAN_VERSION, False)
        again = confirm_disbursement(book, active.id, written=stale)
        assert again == stored.state and again.status is LoanStatus.ACTIVE
        with engine.connect() as conn:
            assert conn.scalar(select(func.count()).select_from(journal_entries)) == entries
            assert load_loan(conn, active.id) == stored
    finally:
        engine.dispose()
