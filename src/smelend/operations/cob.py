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

from typing import TYPE_CHECKING

from sqlalchemy import func, insert, select
from sqlalchemy.engine import Connection

from smelend.operations.calendar import days_to_close, start_calendar_if_new
from smelend.ledger.rules import DayClose
from smelend.operations.context import COB_BATCH_CHUNK_LOANS, COB_CHUNK_LOANS, Book
from smelend.operations.repayments import collect_due
from smelend.servicing.accrual import close_day
from smelend.servicing.cob_batch import ACTIVE, BookArrays, close_day_batch, entries_from_batch, posting_rows_from_batch, to_states
from smelend.servicing.delinquency import Category, bucket
from smelend.servicing.loan import LoanStatus
from smelend.store.lending import BusinessDay, StoredLoan, active_loan_ids, expire_lines, get_business_day, load_loans, save_loan, save_loans, set_business_day
from smelend.store.ledger import post_entries, post_entry
from smelend.store.tables import cob_runs, loans

if TYPE_CHECKING:  # polars is imported where a close runs, not by `smelend --help`
    import polars as pl

Progress = Callable[[date, int], None]  # (day being closed, days done so far)
COLUMNAR_CHUNK_LOANS = 100_000  # loans a transaction on the columnar path: about 100 MB of arrays


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


def close_business(book: Book, through: date, progress: Progress | None = None, batch: bool = False) -> CobTotals:
    """Close every day from the current business date through ``through`` (a no-op for closed days).

    ``batch`` closes each chunk of loans with the vectorised path (numpy) and the bulk ledger writer;
    the result is the same, to the fen and entry for entry, as the per-loan path.
    """
    with book.engine.begin() as conn:
        start_calendar_if_new(conn, through)
        current = get_business_day(conn)
    totals = CobTotals()
    for done, day in enumerate(days_to_close(current, through)):
        if progress:
            progress(day, done)
        close_one_day(book, day, totals, batch)
    return totals


def close_one_day(book: Book, day: date, totals: CobTotals, batch: bool = False) -> None:
    close_loans(book, day, totals, batch)
    finish_day(book, day, totals)


def close_loans(book: Book, day: date, totals: CobTotals, batch: bool = False, collected: Callable[[], object] | None = None) -> pl.DataFrame | None:
    """Collections due, then every active loan closed for ``day`` (loans already closed are skipped);
    the business date does not move (see :func:`finish_day`): the book-wide pipeline runs its other
    stages in between.

    With ``batch``, returns every active loan's standing after the close
    (:func:`smelend.store.cob_loans.positions`) when this call closed them all (None when some were
    closed before, as on a resumed run): the pipeline's later stages read it instead of the database.
    ``collected`` is called once the day's auto-debits are in (what the loans' close then changes is
    only accruals and standing: the pipeline starts reading the snapshot's other parts there).
    """
    totals.collections += collect_due(book, day)
    if collected is not None:
        collected()
    if batch:
        return _close_loans_columnar(book, day, totals)
    after_id = 0
    chunk = COB_BATCH_CHUNK_LOANS if batch else COB_CHUNK_LOANS
    while True:
        with book.engine.begin() as conn:
            ids = active_loan_ids(conn, day, chunk, after_id)
            if not ids:
                break
            stored = load_loans(conn, ids)
            moved = _close_chunk_batch(book, conn, stored, day) if batch else _close_chunk(book, conn, stored, day)
            for m in moved:
                totals.loan_days += 1
                totals.interest_fen += m.interest_fen
                totals.suspended_interest_fen += m.suspended_interest_fen
                totals.penalty_fen += m.penalty_fen
                totals.suspended_penalty_fen += m.suspended_penalty_fen
                totals.provision_change_fen += m.provision_change_fen
            after_id = ids[-1]
    return None


def _close_loans_columnar(book: Book, day: date, totals: CobTotals) -> pl.DataFrame | None:
    """The vectorised path at book scale: chunks of :data:`COLUMNAR_CHUNK_LOANS` loans read straight into
    arrays, closed by ``close_day_batch``, written back in bulk with their journal rows, one transaction
    a chunk (:mod:`smelend.store.cob_loans`; no LoanState objects)."""
    import polars as pl

    from smelend.store.cob_loans import POSITIONS_SCHEMA, positions, post_day_close, read_chunk, write_chunk

    after_id = 0
    standing: list[pl.DataFrame] = []
    while True:
        with book.engine.begin() as conn:
            _bulk_settings(conn)
            chunk = read_chunk(conn, day, after_id, COLUMNAR_CHUNK_LOANS, book.policy)
            if chunk is None:
                break
            after, moved = close_day_batch(chunk.book, day, book.policy)
            write_chunk(conn, chunk, after)
            post_day_close(conn, posting_rows_from_batch(after, moved, day))
            standing.append(positions(chunk, after, day))
            active = after.status == ACTIVE
            totals.loan_days += int(active.sum())
            totals.interest_fen += int(moved.interest_fen.sum())
            totals.suspended_interest_fen += int(moved.suspended_interest_fen.sum())
            totals.penalty_fen += int(moved.penalty_fen.sum())
            totals.suspended_penalty_fen += int(moved.suspended_penalty_fen.sum())
            totals.provision_change_fen += int(moved.provision_change_fen.sum())
            after_id = int(chunk.book.loan_id[-1])
    with book.engine.connect() as conn:
        active = int(conn.scalar(select(func.count()).select_from(loans).where(loans.c.status == LoanStatus.ACTIVE.value)) or 0)
    closed = sum(frame.height for frame in standing)
    if closed != active:
        return None
    return pl.concat(standing) if standing else pl.DataFrame(schema=POSITIONS_SCHEMA)


def _bulk_settings(conn: Connection) -> None:
    """SQLite: a larger page cache for this connection (the ledger's key and posting indexes take
    random inserts at a million rows; the default 2 MB cache makes each one a disk page)."""
    if conn.dialect.name == "sqlite":
        conn.exec_driver_sql("PRAGMA cache_size = -262144")  # 256 MiB


def _close_chunk(book: Book, conn: Connection, stored: list[StoredLoan], day: date) -> list[DayClose]:
    """The per-loan path: the reference."""
    moved_all = []
    for loan in stored:
        state, moved, entry = close_day(loan.state, day, book.policy)
        save_loan(conn, loan, state)
        if entry is not None:
            post_entry(conn, entry)
        moved_all.append(moved)
    return moved_all


def _close_chunk_batch(book: Book, conn: Connection, stored: list[StoredLoan], day: date) -> list[DayClose]:
    """The vectorised path: one numpy pass over the chunk, bulk writes."""
    states = [loan.state for loan in stored]
    arrays, moved = close_day_batch(BookArrays.from_states(states, book.policy), day, book.policy)
    save_loans(conn, stored, to_states(arrays, states))
    post_entries(conn, entries_from_batch(arrays, moved, day))
    return moved.day_closes()


def finish_day(book: Book, day: date, totals: CobTotals) -> None:
    """Expire lines whose validity ended, record the day's totals and open the next business day."""
    with book.engine.begin() as conn:
        expire_lines(conn, day)
        if conn.execute(select(cob_runs.c.business_date).where(cob_runs.c.business_date == day)).first() is None:
            conn.execute(insert(cob_runs).values(business_date=day, loans_closed=totals.loan_days, accrued_interest_fen=totals.interest_fen, accrued_penalty_fen=totals.penalty_fen))
        set_business_day(conn, BusinessDay(day + timedelta(days=1), day))
    totals.days.append(day)


def book_buckets(book: Book) -> dict[str, dict[str, int]]:
    """Active loans and their principal by days-past-due bucket, and by classification."""
    query = (  # grouped in the database: a handful of rows for a million loans
        select(loans.c.days_past_due, loans.c.category, func.count(), func.sum(loans.c.principal_outstanding_fen))
        .where(loans.c.status == "active")
        .group_by(loans.c.days_past_due, loans.c.category)
    )
    with book.engine.connect() as conn:
        rows = conn.execute(query).all()
    by_bucket: Counter[str] = Counter()
    principal: Counter[str] = Counter()
    by_category: Counter[str] = Counter()
    for dpd, category, count, outstanding in rows:
        name = bucket(dpd, book.policy)
        by_bucket[name] += int(count)
        principal[name] += int(outstanding or 0)
        by_category[category] += int(count)
    buckets = {name: {"loans": by_bucket[name], "principal_fen": principal[name]} for name in book.policy.bucket_names}
    classification = {c.value: by_category[c.value] for c in Category if by_category[c.value]}  # best to worst
    classification.update({name: n for name, n in by_category.items() if name not in classification})
    return {"buckets": buckets, "classification": classification}  # type: ignore[dict-item]
