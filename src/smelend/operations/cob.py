"""Close of business, the per-loan path: collections, then every active loan closed day by day.

Idempotent and resumable: a loan already closed for a day is skipped, entries carry idempotency
keys, and the business date moves only when a day is fully closed. Work goes in chunks of
:data:`COB_CHUNK_LOANS` loans per transaction, so a killed run is finished by running it again.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, timedelta

from sqlalchemy import insert, select

from smelend.operations.calendar import days_to_close, start_calendar_if_new
from smelend.operations.context import COB_CHUNK_LOANS, Book
from smelend.operations.repayments import collect_due
from smelend.servicing.accrual import close_day
from smelend.servicing.delinquency import bucket
from smelend.store.lending import BusinessDay, active_loan_ids, expire_lines, get_business_day, load_loans, save_loan, set_business_day
from smelend.store.ledger import post_entry
from smelend.store.tables import cob_runs, loans

Progress = Callable[[date, int], None]  # (day being closed, days done so far)


@dataclass
class CobTotals:
    days: list[date] = field(default_factory=list)
    loan_days: int = 0
    interest_fen: int = 0  # accrued to income
    suspended_interest_fen: int = 0
    penalty_fen: int = 0
    suspended_penalty_fen: int = 0
    provision_change_fen: int = 0
    collections: int = 0


def close_business(book: Book, through: date, progress: Progress | None = None) -> CobTotals:
    """Close every day from the current business date through ``through`` (a no-op for closed days)."""
    with book.engine.begin() as conn:
        start_calendar_if_new(conn, through)
        current = get_business_day(conn)
    totals = CobTotals()
    for done, day in enumerate(days_to_close(current, through)):
        if progress:
            progress(day, done)
        close_one_day(book, day, totals)
    return totals


def close_one_day(book: Book, day: date, totals: CobTotals) -> None:
    totals.collections += collect_due(book, day)
    after_id = 0
    while True:
        with book.engine.begin() as conn:
            ids = active_loan_ids(conn, day, COB_CHUNK_LOANS, after_id)
            if not ids:
                break
            for stored in load_loans(conn, ids):
                state, moved, entry = close_day(stored.state, day, book.policy)
                save_loan(conn, stored, state)
                if entry is not None:
                    post_entry(conn, entry)
                totals.loan_days += 1
                totals.interest_fen += moved.interest_fen
                totals.suspended_interest_fen += moved.suspended_interest_fen
                totals.penalty_fen += moved.penalty_fen
                totals.suspended_penalty_fen += moved.suspended_penalty_fen
                totals.provision_change_fen += moved.provision_change_fen
            after_id = ids[-1]
    with book.engine.begin() as conn:
        expire_lines(conn, day)
        if conn.execute(select(cob_runs.c.business_date).where(cob_runs.c.business_date == day)).first() is None:
            conn.execute(insert(cob_runs).values(business_date=day, loans_closed=totals.loan_days, accrued_interest_fen=totals.interest_fen, accrued_penalty_fen=totals.penalty_fen))
        set_business_day(conn, BusinessDay(day + timedelta(days=1), day))
    totals.days.append(day)


def book_buckets(book: Book) -> dict[str, dict[str, int]]:
    """Active loans and their principal by days-past-due bucket, and by classification."""
    with book.engine.connect() as conn:
        rows = conn.execute(select(loans.c.days_past_due, loans.c.category, loans.c.principal_outstanding_fen).where(loans.c.status == "active")).all()
    by_bucket: Counter[str] = Counter()
    principal: Counter[str] = Counter()
    by_category: Counter[str] = Counter()
    for dpd, category, outstanding in rows:
        name = bucket(dpd, book.policy)
        by_bucket[name] += 1
        principal[name] += outstanding
        by_category[category] += 1
    buckets = {name: {"loans": by_bucket[name], "principal_fen": principal[name]} for name in book.policy.bucket_names}
    return {"buckets": buckets, "classification": dict(by_category)}  # type: ignore[dict-item]
