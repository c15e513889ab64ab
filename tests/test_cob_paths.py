"""The vectorised close of business writes exactly what the per-loan path writes: loans, installments, ledger."""

from __future__ import annotations

import random
import re
from datetime import date, timedelta
from decimal import Decimal

from sqlalchemy import select

from smelend.operations import cob, lines, repayments
from smelend.operations.context import open_book
from smelend.servicing.conventions import Method
from smelend.store import open_store
from smelend.store.tables import installments, journal_entries, loans, postings

START = date(2026, 1, 31)
PLANS = [
    ("tax-data-loan", Method.EQUAL_INSTALLMENT, 12),
    ("tax-data-loan", Method.EQUAL_PRINCIPAL, 6),
    ("tax-data-loan", Method.INTEREST_FIRST, 3),
    ("tax-data-loan", Method.REVOLVING, 12),
    ("invoice-loan", Method.BULLET, 2),
    ("owner-credit-loan", Method.EQUAL_INSTALLMENT, 24),
]


def build_and_close(url: str, batch: bool, seed: int) -> dict[str, list]:
    rng = random.Random(seed)
    book = open_book(open_store(url))
    rates = {"tax-data-loan": Decimal("0.0725"), "invoice-loan": Decimal("0.06"), "owner-credit-loan": Decimal("0.1")}
    line_ids = {p: lines.open_line(book, "91310000MA1FL8T5X3", p, 100_000_000, rate, START).id for p, rate in rates.items()}
    loan_ids = []
    for k in range(18):
        product, method, term = PLANS[k % len(PLANS)]
        request = lines.DrawRequest(line_ids[product], rng.randrange(100_000, 3_000_000), method, term, START + timedelta(days=k // 4), auto_debit=k % 5 == 0)
        loan_ids.append(lines.draw(book, request).id)
    day = START + timedelta(days=5)
    for _ in range(12):
        day += timedelta(days=rng.randrange(5, 25))
        cob.close_business(book, day - timedelta(days=1), batch=batch)
        for loan_id in rng.sample(loan_ids, 4):
            try:
                repayments.repay(book, loan_id, rng.randrange(1_000, 1_500_000), day)
            except Exception as exc:  # closed loans refuse payments the same way on both paths
                assert "nothing to repay" in str(exc)
    cob.close_business(book, day + timedelta(days=120), batch=batch)
    with book.engine.connect() as conn:
        result = {
            "loans": [tuple(r) for r in conn.execute(select(loans).order_by(loans.c.id)).all()],
            "installments": [tuple(r) for r in conn.execute(select(installments).order_by(installments.c.loan_id, installments.c.number)).all()],
            "entries": [tuple(r) for r in conn.execute(select(journal_entries.c.idempotency_key, journal_entries.c.business_date, journal_entries.c.kind, journal_entries.c.loan_id).order_by(journal_entries.c.idempotency_key)).all()],
            "postings": sorted(
                conn.execute(select(journal_entries.c.idempotency_key, postings.c.account, postings.c.amount_fen).join(journal_entries, journal_entries.c.id == postings.c.entry_id)).all()
            ),
        }
    book.engine.dispose()
    return result


def without_tokens(rows: list[tuple]) -> list[tuple]:
    """Paid-in instruction ids end in a random token; the rest of the key names the event."""
    return sorted((re.sub(r":[0-9a-f]{12}$", "", row[0]), *row[1:]) for row in rows)


def strip_volatile(rows: list[tuple]) -> list[tuple]:
    """Drop created_at timestamps (the last column of loans), which differ by when the row was written."""
    return [row[:-1] for row in rows]


def test_batch_close_of_business_equals_per_loan(db_url, tmp_path):
    reference = build_and_close(f"sqlite:///{tmp_path / 'per-loan.db'}", batch=False, seed=7)
    batched = build_and_close(db_url, batch=True, seed=7)
    assert strip_volatile(batched["loans"]) == strip_volatile(reference["loans"])
    assert batched["installments"] == reference["installments"]
    assert without_tokens(batched["entries"]) == without_tokens(reference["entries"])
    assert without_tokens(batched["postings"]) == without_tokens(reference["postings"])
    assert len(reference["entries"]) > 2_000
