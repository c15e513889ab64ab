"""Bulk writes of a synthetic book (``smelend book generate``): enterprises, lines, loans, installments,
repayments, bank-core transfers, enterprise events and the ledger, a chunk of accounts at a time.

Why bulk: a million accounts is about a million loans, seven million installments and ten million
postings; row-by-row repository calls would take hours. Rows are built from the arrays of
:func:`smelend.lines.history.simulate_book` and written with the store's bulk path (COPY on
PostgreSQL, the driver's executemany on SQLite); the ledger goes through
:func:`smelend.store.ledger.post_entries` with entries made by the real posting rules
(:mod:`smelend.ledger.rules`), so it balances by construction and reconciles with the loan book.

Per loan the ledger holds: the disbursement (``disbursement:{loan}``) and the history's accruals as
one close-of-business entry dated the day before the business date (``cob:{loan}:{date}``: interest,
penalty, suspended amounts and the provision), and for a loan written off the write-off entry
(``write-off:{loan}``, by :func:`smelend.ledger.rules.write_off`, as ``lifecycle.write_off`` makes it). Each installment paid is one repayment
(``gen:{loan}:{number}``, dated when it was paid: what the snapshot reads repayment behaviour from)
with its settled bank-core transfer and its ledger receipt (``repayment:gen:{loan}:{number}``), as a
repayment through the service leaves them.

Each chunk commits on its own (ids are assigned here, after the largest in the database), so a
generation interrupted part way leaves whole accounts only.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta

import numpy as np
import polars as pl
from sqlalchemy import func, select, text
from sqlalchemy.engine import Connection, Engine

from smelend.errors import InvalidInput
from smelend.ledger import JournalEntry
from smelend.ledger.rules import DayClose, Receipt, WriteOff, day_close, disbursement, receipt, write_off
from smelend.lines.history import GeneratedBook, simulate_book, uscc_codes
from smelend.products.loader import Catalogue
from smelend.servicing import delinquency
from smelend.servicing.cob_batch import METHOD_CODES, STATUS_CODES
from smelend.servicing.conventions import conventions_to_settings
from smelend.servicing.loan import LoanStatus
from smelend.store.ledger import _bulk_insert, post_entries  # the ledger's COPY / executemany helper, reused for every table
from smelend.store.lending import BusinessDay, get_business_day, set_business_day
from smelend.store.tables import (
    bank_core_transfers,
    business_day,
    credit_lines,
    enterprise_events,
    enterprises,
    installments,
    loans,
    repayments,
)

CHUNK_ACCOUNTS = 50_000
CATEGORY_NAMES = tuple(c.value for c in delinquency.Category)
MAX_ACCOUNTS = 10_000_000


@dataclass(frozen=True)
class GenerationResult:
    accounts: int
    loans: int
    installments: int
    repayments: int
    events: int
    journal_entries: int
    as_of: date
    first_line_id: int
    last_line_id: int
    truth: pl.DataFrame | None = None  # with keep_truth: line_id, latent_pd, default_day, bad_next_12m (the latent path)


def generate_book(
    engine: Engine,
    accounts: int,
    seed: int,
    as_of: date,
    catalogue: Catalogue,
    policy: delinquency.DelinquencyPolicy,
    progress: Callable[[int], None] | None = None,
    chunk_accounts: int = CHUNK_ACCOUNTS,
    keep_truth: bool = False,
) -> GenerationResult:
    """Write ``accounts`` generated accounts and set the business date to ``as_of`` (last closed the day before).

    Refuses (:class:`~smelend.errors.InvalidInput` on ``as_of``, nothing written) a date before the
    database's business date: business dates only move forward.
    Deterministic for ``(accounts, seed, as_of, chunk_accounts)`` on an empty database.
    """
    with engine.begin() as conn:
        _open_calendar(conn, as_of)
        next_ids = {t.name: int(conn.scalar(select(func.coalesce(func.max(t.c.id), 0))) or 0) + 1 for t in (enterprises, credit_lines, loans)}
    first_line = next_ids["credit_lines"]
    totals = {"loans": 0, "installments": 0, "repayments": 0, "events": 0, "entries": 0}
    done = 0
    truths: list[pl.DataFrame] = []
    for chunk, begin in enumerate(range(0, accounts, chunk_accounts)):
        size = min(chunk_accounts, accounts - begin)
        book = simulate_book(size, seed, as_of, catalogue, policy, chunk=chunk)
        with engine.begin() as conn:
            _bulk_settings(conn)
            counts = write_chunk(conn, book, next_ids)
        for key, value in counts.items():
            totals[key] += value
        if keep_truth:
            truths.append(pl.DataFrame({
                "line_id": np.arange(size, dtype=np.int64) + next_ids["credit_lines"], "latent_pd": book.latent_pd,
                "default_day": book.default_day, "bad_next_12m": book.bad_next_12m,
            }))
        next_ids["enterprises"] += size
        next_ids["credit_lines"] += size
        next_ids["loans"] += book.loans
        done += size
        if progress is not None:
            progress(done)
    with engine.begin() as conn:
        _reset_sequences(conn)
    return GenerationResult(
        accounts, totals["loans"], totals["installments"], totals["repayments"], totals["events"], totals["entries"], as_of,
        first_line, first_line + accounts - 1, pl.concat(truths) if keep_truth else None,
    )


def _open_calendar(conn: Connection, as_of: date) -> None:
    if conn.scalar(select(func.count()).select_from(business_day)):
        current = get_business_day(conn, for_update=True)
        if as_of < current.business_date:
            raise InvalidInput.one("as_of", f"{as_of} is before the business date {current.business_date} (business dates only move forward)")
        if as_of != current.business_date and conn.scalar(select(func.count()).select_from(loans)):
            raise InvalidInput.one("as_of", f"the database already holds loans at business date {current.business_date}: generate at that date, or close business to {as_of} first")
        set_business_day(conn, BusinessDay(as_of, as_of - timedelta(days=1)))
    else:
        conn.execute(business_day.insert().values(id=1, business_date=as_of, last_closed=as_of - timedelta(days=1)))


def _bulk_settings(conn: Connection) -> None:
    """SQLite: a larger page cache for the bulk load (the index pages of postings and installments)."""
    if conn.dialect.name == "sqlite":
        conn.exec_driver_sql("PRAGMA cache_size = -262144")  # 256 MiB for this connection


def _reset_sequences(conn: Connection) -> None:
    """PostgreSQL: move each serial past the ids written explicitly (SQLite's rowids need nothing)."""
    if conn.dialect.name != "postgresql":
        return
    for table in ("enterprises", "credit_lines", "loans"):
        conn.execute(text(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), COALESCE((SELECT max(id) FROM {table}), 0) + 1, false)"))


def _dates(values: np.ndarray) -> list[str | None]:
    """ISO dates as text (both drivers take them; numpy formats a million in milliseconds), None for NaT."""
    values = values.astype("datetime64[D]")
    text_values = np.datetime_as_string(values).astype(object)
    text_values[np.isnat(values)] = None
    return text_values.tolist()


def write_chunk(conn: Connection, book: GeneratedBook, next_ids: dict[str, int]) -> dict[str, int]:
    """Write one generated chunk in the caller's transaction; returns row counts."""
    n = book.accounts
    enterprise_ids = np.arange(n, dtype=np.int64) + next_ids["enterprises"]
    line_ids = np.arange(n, dtype=np.int64) + next_ids["credit_lines"]
    loan_ids = np.arange(book.loans, dtype=np.int64) + next_ids["loans"]
    loan_line = line_ids[book.loan_account]
    codes = uscc_codes(enterprise_ids)
    _bulk_insert(conn, enterprises, ("id", "uscc", "name", "owner_person_id"),
                 [(int(e), c, f"generated enterprise {c}", None) for e, c in zip(enterprise_ids.tolist(), codes)])
    rate_text = [f"{int(b) // 10000}.{int(b) % 10000:04d}".rstrip("0").rstrip(".") for b in book.rate_bp.tolist()]
    _bulk_insert(
        conn, credit_lines,
        ("id", "enterprise_id", "product_id", "limit_fen", "used_fen", "annual_rate", "start_date", "end_date", "status", "version"),
        list(zip(line_ids.tolist(), enterprise_ids.tolist(), book.product_id.tolist(), book.limit_fen.tolist(), book.used_fen.tolist(),
                 rate_text, _dates(book.line_start), _dates(book.line_end), book.line_status.tolist(), [1] * n)),
    )
    settings_cache: dict[int, str] = {}
    conventions_json = []
    for c in book.conventions:
        key = id(c)
        if key not in settings_cache:
            settings_cache[key] = json.dumps(conventions_to_settings(c), sort_keys=True)
        conventions_json.append(settings_cache[key])
    status_names = [STATUS_CODES[s].value for s in book.loan_status.tolist()]
    outstanding = (book.inst_principal_fen - book.paid_principal_fen).sum(axis=1)
    loan_rates = [rate_text[a] for a in book.loan_account.tolist()]
    _bulk_insert(
        conn, loans,
        ("id", "line_id", "status", "method", "term", "principal_fen", "annual_rate", "penalty_rate", "compound_overdue_interest",
         "grace_days", "prepayment", "conventions", "start_date", "auto_debit", "closed_through", "principal_outstanding_fen",
         "interest_receivable_fen", "suspended_interest_fen", "penalty_receivable_fen", "suspended_penalty_fen", "interest_carry",
         "penalty_carry", "days_past_due", "category", "flags", "provision_fen", "credit_balance_fen", "written_off_fen", "version"),
        list(zip(
            loan_ids.tolist(), loan_line.tolist(), status_names, [METHOD_CODES[m].value for m in book.method.tolist()], book.periods.tolist(),
            book.principal_fen.tolist(), loan_rates, [str(p) for p in book.penalty_rate], book.compound.tolist(), book.grace_days.tolist(),
            book.prepayment, conventions_json, _dates(book.loan_start), [False] * book.loans, _dates(book.closed_through),
            np.where(book.loan_status == STATUS_CODES.index(LoanStatus.ACTIVE), outstanding, 0).tolist(),
            book.interest_receivable_fen.tolist(), book.suspended_interest_fen.tolist(), book.penalty_receivable_fen.tolist(),
            book.suspended_penalty_fen.tolist(), book.interest_carry.tolist(), book.penalty_carry.tolist(), book.days_past_due.tolist(),
            [CATEGORY_NAMES[c] for c in book.category.tolist()], [""] * book.loans, book.provision_fen.tolist(), [0] * book.loans,
            book.written_off_fen.tolist(), [1] * book.loans,
        )),
    )
    rows, cols = np.nonzero(book.valid)
    _bulk_insert(
        conn, installments,
        ("loan_id", "number", "period_start", "due_date", "principal_fen", "interest_fen", "fee_fen", "accrued_interest_fen",
         "paid_principal_fen", "paid_interest_fen", "paid_fee_fen", "accrual_start", "accrued_at_start_fen"),
        list(zip(
            loan_ids[rows].tolist(), (cols + 1).tolist(), _dates(book.period_start[rows, cols]), _dates(book.due_date[rows, cols]),
            book.inst_principal_fen[rows, cols].tolist(), book.inst_interest_fen[rows, cols].tolist(), book.inst_fee_fen[rows, cols].tolist(),
            book.accrued_interest_fen[rows, cols].tolist(), book.paid_principal_fen[rows, cols].tolist(), book.paid_interest_fen[rows, cols].tolist(),
            book.paid_fee_fen[rows, cols].tolist(), [None] * rows.size, [0] * rows.size,
        )),
    )
    paid_amount = book.paid_principal_fen + book.paid_interest_fen + book.paid_fee_fen
    prow, pcol = paid_cells(book)
    paid_loan = loan_ids[prow].tolist()
    _bulk_insert(
        conn, repayments,
        ("loan_id", "instruction_id", "business_date", "channel", "amount_fen", "penalty_fen", "interest_fen", "fee_fen", "principal_fen",
         "credit_balance_fen", "recovery_fen"),
        list(zip(
            paid_loan, [f"gen:{loan}:{number}" for loan, number in zip(paid_loan, (pcol + 1).tolist())], _dates(book.paid_on[prow, pcol]),
            ["paid-in"] * prow.size, paid_amount[prow, pcol].tolist(), [0] * prow.size, book.paid_interest_fen[prow, pcol].tolist(),
            book.paid_fee_fen[prow, pcol].tolist(), book.paid_principal_fen[prow, pcol].tolist(), [0] * prow.size, [0] * prow.size,
        )),
    )
    entries, transfers = ledger_entries(book, loan_ids, loan_line)
    _bulk_insert(conn, bank_core_transfers, ("instruction_id", "kind", "loan_id", "amount_fen", "business_date", "status", "reason", "attempts"), transfers)
    written = post_entries(conn, entries)
    events = book.events
    _bulk_insert(
        conn, enterprise_events, ("enterprise_id", "kind", "event_date", "revenue_12m_fen", "trend", "tax_grade", "detail"),
        list(zip(
            enterprise_ids[events["account"].to_numpy()].tolist(), events["kind"].to_list(), _dates(events["event_date"].to_numpy()),
            events["revenue_12m_fen"].to_list(), events["trend"].to_list(), events["tax_grade"].to_list(), events["detail"].to_list(),
        )),
    )
    return {"loans": book.loans, "installments": int(rows.size), "repayments": int(prow.size), "events": events.height, "entries": written}


def ledger_entries(book: GeneratedBook, loan_ids: np.ndarray, loan_line: np.ndarray) -> tuple[list[JournalEntry], list[tuple[object, ...]]]:
    """Journal entries (by the posting rules) and settled bank-core transfers for a generated chunk.

    Per loan: the disbursement and its transfer, the history's accruals as one close-of-business entry
    the day before the business date; per installment paid: a receipt and a settled transfer keyed by
    the repayment's instruction id (``gen:{loan}:{number}``), as a repayment through the service
    leaves them (so recovery finds no orphan transfer and reconciliation matches each one).
    """
    history_day = book.as_of - timedelta(days=1)
    accrued = book.accrued_interest_fen.sum(axis=1)
    written = book.loan_status == STATUS_CODES.index(LoanStatus.WRITTEN_OFF)
    before = book.before_write_off
    entries: list[JournalEntry] = []
    transfers: list[tuple[object, ...]] = []
    for k, (loan, line, start, principal) in enumerate(zip(loan_ids.tolist(), loan_line.tolist(), book.loan_start.tolist(), book.principal_fen.tolist())):
        entries.append(disbursement(loan, line, principal, start))
        transfers.append((f"disburse:{loan}", "disbursement", loan, principal, start, "settled", None, 1))
        off = bool(written[k])
        suspended_interest = int(before["suspended_interest_fen"][k] if off else book.suspended_interest_fen[k])
        suspended_penalty = int(before["suspended_penalty_fen"][k] if off else book.suspended_penalty_fen[k])
        penalty = int(before["penalty_receivable_fen"][k] if off else book.penalty_receivable_fen[k])
        provision = int(before["provision_fen"][k] if off else book.provision_fen[k])
        closing = day_close(loan, history_day, DayClose(
            interest_fen=int(accrued[k]) - suspended_interest, suspended_interest_fen=suspended_interest,
            penalty_fen=penalty, suspended_penalty_fen=suspended_penalty, provision_change_fen=provision,
        ))
        if closing is not None:
            entries.append(closing)
        if off:
            entries.append(write_off(loan, history_day, WriteOff(
                principal_fen=int(before["principal_fen"][k]), interest_fen=int(before["interest_receivable_fen"][k]), penalty_fen=penalty,
                allowance_used_fen=provision, suspended_fen=suspended_interest + suspended_penalty,
            )))
    rows, cols = paid_cells(book)
    for loan, number, on, interest, fee, principal in zip(
        loan_ids[rows].tolist(), (cols + 1).tolist(), book.paid_on[rows, cols].tolist(), book.paid_interest_fen[rows, cols].tolist(),
        book.paid_fee_fen[rows, cols].tolist(), book.paid_principal_fen[rows, cols].tolist(),
    ):
        instruction = f"gen:{loan}:{number}"
        entries.append(receipt(f"repayment:{instruction}", loan, on, Receipt(interest_fen=interest, fee_fen=fee, principal_fen=principal)))
        transfers.append((instruction, "paid_in", loan, interest + fee + principal, on, "settled", None, 1))
    return entries, transfers


def paid_cells(book: GeneratedBook) -> tuple[np.ndarray, np.ndarray]:
    """(loan row, installment column) of every installment paid with a non-zero amount: one repayment each."""
    amount = book.paid_principal_fen + book.paid_interest_fen + book.paid_fee_fen
    return np.nonzero(~np.isnat(book.paid_on) & (amount > 0))
