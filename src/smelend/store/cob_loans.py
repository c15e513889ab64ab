"""The close of business's loans stage at book scale: loans read straight into
:class:`~smelend.servicing.cob_batch.BookArrays` and written back in bulk, with no per-loan objects.

Why: building a :class:`~smelend.servicing.loan.LoanState` per loan (and an object per installment)
to feed the vectorised close, then turning the result back into states, cost about 50 times what the
close itself costs on a million loans. Here a chunk of active loans not yet closed for the day is
read as two frames (:func:`smelend.store.bulk_read.read_frame`), laid out as arrays, closed by
:func:`~smelend.servicing.cob_batch.close_day_batch` (the caller) and written back with one bulk
update of the loans (each guarded by the version read, as ``save_loans`` does), one of the
installments whose interest moved, and the day's journal entries and postings
(:func:`post_day_close`) — the same rows, to the fen and in the same order, as the per-loan path.

Installments read: every installment of the loan except two kinds that cannot move and weigh
nothing in the close (the per-loan path gives the same loans and entries with or without them):

- past ones settled and fully accrued (due on or before the day, principal, interest and fees paid,
  interest accrued to the scheduled amount): not the first unsettled one (days past due), not the
  current period (interest), no unpaid principal or interest (penalty base), nothing owed;
- future ones not begun (period starting after the day, nothing accrued, paid or carried): not
  current, not due (no days past due, no penalty), nothing accrued or owed; of these only the
  due date, principal and amount due are read (four columns, not thirteen), for the outstanding
  principal and the next-due figures of :func:`positions`.

On the generated million-account book that leaves about one installment in five of the active loans
to read in full.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from functools import cache

import numpy as np
import polars as pl
from sqlalchemy import and_, func, not_, or_, select
from sqlalchemy.engine import Connection

from smelend.lines.collections import COLLECTIONS_INPUT, RESTRUCTURED_FLAG
from smelend.servicing import delinquency
from smelend.servicing.cob_batch import DAY_CLOSE_ACCOUNTS, METHOD_CODES, NAT, STATUS_CODES, BookArrays, PostingRows
from smelend.servicing.conventions import DaysInYear, conventions_from_settings
from smelend.servicing.loan import MAX_LOAN_FEN, RATE_SCALE, LoanStatus
from smelend.store.bulk_read import read_frame
from smelend.store.db import copy_rows, driver_executemany
from smelend.store.ledger import _apply_deltas, _bulk_insert  # the ledger's bulk helpers (COPY / executemany, balance upsert)
from smelend.store.lending import ConcurrentChange
from smelend.store.tables import behaviour_scores, installments, journal_entries, loans, postings

_LOANS_SCHEMA = {
    "loan_id": pl.Int64, "status": pl.Utf8, "method": pl.Utf8, "grace_days": pl.Int64, "compound": pl.Boolean, "annual_rate": pl.Utf8,
    "penalty_rate": pl.Utf8, "conventions": pl.Utf8, "start": pl.Date, "closed_through": pl.Date, "interest_carry": pl.Int64,
    "penalty_carry": pl.Int64, "interest_receivable_fen": pl.Int64, "suspended_interest_fen": pl.Int64, "penalty_receivable_fen": pl.Int64,
    "suspended_penalty_fen": pl.Int64, "provision_fen": pl.Int64, "days_past_due": pl.Int64, "category": pl.Utf8, "flags": pl.Utf8, "version": pl.Int64,
    "line_id": pl.Int64,
}
_INSTALLMENTS_SCHEMA = {
    "loan_id": pl.Int64, "number": pl.Int64, "period_start": pl.Date, "due_date": pl.Date, "accrual_start": pl.Date, "accrued_at_start_fen": pl.Int64,
    "interest_fen": pl.Int64, "accrued_interest_fen": pl.Int64, "paid_interest_fen": pl.Int64, "principal_fen": pl.Int64,
    "paid_principal_fen": pl.Int64, "fee_fen": pl.Int64, "paid_fee_fen": pl.Int64,
}
# What close_day_batch may change on a loan, and the loans columns they are stored in.
_MOVED_LOAN_COLUMNS = (
    "closed_through", "interest_carry", "penalty_carry", "interest_receivable_fen", "suspended_interest_fen", "penalty_receivable_fen",
    "suspended_penalty_fen", "provision_fen", "days_past_due", "category",
)
_CATEGORY_NAMES = tuple(delinquency.Category.from_code(code).value for code in range(len(delinquency.Category)))


@dataclass(frozen=True)
class LoanChunk:
    """Active loans read for one day's close: the arrays, and what writing them back needs."""

    book: BookArrays
    version: np.ndarray  # int64 per loan: the version read (the guard of the write)
    number: np.ndarray  # int64 (loans, width): each cell's installment number (0 in padding)
    line_id: np.ndarray  # int64 per loan
    restructured: np.ndarray  # bool per loan: the restructured flag is set (collections)
    future: pl.DataFrame  # untouched future installments, per loan: row, future_due (earliest due date), future_fen (due then)


def read_chunk(conn: Connection, day: date, after_id: int, limit: int, policy: delinquency.DelinquencyPolicy) -> LoanChunk | None:
    """Up to ``limit`` active loans with id > ``after_id`` not yet closed for ``day``, in id order (None when none are left)."""
    found = read_frame(
        conn,
        select(
            loans.c.id, loans.c.status, loans.c.method, loans.c.grace_days, loans.c.compound_overdue_interest, loans.c.annual_rate,
            loans.c.penalty_rate, loans.c.conventions, loans.c.start_date, loans.c.closed_through, loans.c.interest_carry, loans.c.penalty_carry,
            loans.c.interest_receivable_fen, loans.c.suspended_interest_fen, loans.c.penalty_receivable_fen, loans.c.suspended_penalty_fen,
            loans.c.provision_fen, loans.c.days_past_due, loans.c.category, loans.c.flags, loans.c.version, loans.c.line_id,
        )
        .where(
            loans.c.status == LoanStatus.ACTIVE.value, loans.c.id > after_id,
            or_(loans.c.closed_through.is_(None), loans.c.closed_through < day),
        )
        .order_by(loans.c.id)
        .limit(limit),
        _LOANS_SCHEMA,
    )
    if found.height == 0:
        return None
    first, last = int(found["loan_id"][0]), int(found["loan_id"][-1])
    i = installments.c
    settled_past = and_(
        i.due_date <= day, i.paid_principal_fen == i.principal_fen, i.paid_interest_fen == i.interest_fen, i.paid_fee_fen == i.fee_fen,
        i.accrued_interest_fen == i.interest_fen,
    )
    untouched_future = and_(  # not begun: nothing accrued, paid or carried into it
        i.period_start > day, i.accrued_interest_fen == 0, i.paid_interest_fen == 0, i.paid_principal_fen == 0, i.paid_fee_fen == 0,
        i.accrued_at_start_fen == 0, i.accrual_start.is_(None),
    )
    cells = read_frame(
        conn,
        select(
            i.loan_id, i.number, i.period_start, i.due_date, i.accrual_start, i.accrued_at_start_fen, i.interest_fen, i.accrued_interest_fen,
            i.paid_interest_fen, i.principal_fen, i.paid_principal_fen, i.fee_fen, i.paid_fee_fen,
        ).where(i.loan_id >= first, i.loan_id <= last, not_(settled_past), not_(untouched_future)),
        _INSTALLMENTS_SCHEMA,
    )
    rows = found.select("loan_id").with_row_index("row")
    cells = cells.join(rows, on="loan_id", how="inner").sort("row", "number")
    future = read_frame(  # four columns, not thirteen: what outstanding principal and the next due date need of them
        conn,
        select(i.loan_id, i.due_date, i.principal_fen, i.principal_fen + i.interest_fen + i.fee_fen).where(i.loan_id >= first, i.loan_id <= last, untouched_future),
        {"loan_id": pl.Int64, "due_date": pl.Date, "principal_fen": pl.Int64, "amount_fen": pl.Int64},
    ).join(rows, on="loan_id", how="inner")
    earliest = (
        future.filter(pl.col("amount_fen") > 0)
        .with_columns(pl.col("due_date").min().over("row").alias("future_due"))
        .filter(pl.col("due_date") == pl.col("future_due"))
        .group_by("row")
        .agg(pl.col("future_due").first(), pl.col("amount_fen").sum().alias("future_fen"))
    )
    cells = _with_future_principal(cells, future)
    restructured = found["flags"].fill_null("").str.contains(RESTRUCTURED_FLAG, literal=True).to_numpy()
    return LoanChunk(_book(found, cells, policy), found["version"].to_numpy(), _grid(cells, found.height, "number", 0), found["line_id"].to_numpy(), restructured, earliest)


_FAR = date(9999, 12, 31)


def _with_future_principal(cells: pl.DataFrame, future: pl.DataFrame) -> pl.DataFrame:
    """One stand-in cell per loan, after its real ones, holding the principal of its untouched future
    installments (number 0, never written back): outstanding principal — the revolving interest base
    and the provision's exposure — counts it, and being due and starting on 9999-12-31 it is never
    current, due or late."""
    if future.height == 0:
        return cells.with_columns(pl.col("number").alias("order"))
    held = future.group_by("row").agg(pl.col("loan_id").first(), pl.col("principal_fen").sum()).filter(pl.col("principal_fen") > 0)
    stand_in = held.with_columns(
        pl.lit(0, pl.Int64).alias("number"), pl.lit(_FAR).alias("period_start"), pl.lit(_FAR).alias("due_date"), pl.lit(None, pl.Date).alias("accrual_start"),
        *[pl.lit(0, pl.Int64).alias(name) for name in ("accrued_at_start_fen", "interest_fen", "accrued_interest_fen", "paid_interest_fen", "paid_principal_fen", "fee_fen", "paid_fee_fen")],
        pl.lit(2**62, pl.Int64).alias("order"),
    )
    real = cells.with_columns(pl.col("number").cast(pl.Int64).alias("order"))
    return pl.concat([real, stand_in.select(real.columns).cast(dict(real.schema))]).sort("row", "order")


def _book(found: pl.DataFrame, cells: pl.DataFrame, policy: delinquency.DelinquencyPolicy) -> BookArrays:
    n = found.height
    rate = _mapped(found["annual_rate"], _rate_scaled)
    penalty = _mapped(found["penalty_rate"], _rate_scaled)
    assert bool(((rate >= 0) & (rate <= RATE_SCALE)).all()), "annual rate outside 0..1"
    assert bool((penalty >= 0).all()), "negative penalty rate"
    width = max(1, int(cells.group_by("row").len()["len"].max() or 1)) if cells.height else 1
    cells = cells.with_columns((pl.int_range(pl.len()).over("row")).alias("column"))
    book = BookArrays(
        loan_id=found["loan_id"].to_numpy(),
        status=_mapped(found["status"], lambda s: STATUS_CODES.index(LoanStatus(s))).astype(np.int8),
        method=_mapped(found["method"], lambda m: next(k for k, code in enumerate(METHOD_CODES) if code.value == m)).astype(np.int8),
        grace_days=found["grace_days"].to_numpy(),
        compound=found["compound"].to_numpy().astype(np.bool_),
        daily_denominator=_mapped(found["conventions"], _daily_denominator),
        rate_scaled=rate,
        penalty_rate_scaled=penalty,
        start=_dates(found["start"]),
        closed_through=_dates(found["closed_through"]),
        interest_carry=found["interest_carry"].to_numpy(),
        penalty_carry=found["penalty_carry"].to_numpy(),
        interest_receivable_fen=found["interest_receivable_fen"].to_numpy(),
        suspended_interest_fen=found["suspended_interest_fen"].to_numpy(),
        penalty_receivable_fen=found["penalty_receivable_fen"].to_numpy(),
        suspended_penalty_fen=found["suspended_penalty_fen"].to_numpy(),
        provision_fen=found["provision_fen"].to_numpy(),
        days_past_due=found["days_past_due"].to_numpy(),
        category=_mapped(found["category"], lambda c: delinquency.Category(c).code).astype(np.int8),
        flag_floor=_mapped(found["flags"].fill_null(""), lambda f: _flag_floor(f, policy)).astype(np.int8),
        valid=_grid(cells.with_columns(pl.lit(True).alias("valid")), n, "valid", False, width),
        period_start=_grid(cells, n, "period_start", None, width),
        due_date=_grid(cells, n, "due_date", None, width),
        anchor=_grid(cells.with_columns(pl.coalesce("accrual_start", "period_start").alias("anchor")), n, "anchor", None, width),
        **{name: _grid(cells, n, name, 0, width) for name in (
            "accrued_at_start_fen", "interest_fen", "accrued_interest_fen", "paid_interest_fen", "principal_fen", "paid_principal_fen", "fee_fen", "paid_fee_fen",
        )},
    )
    for name in ("accrued_at_start_fen", "interest_fen", "accrued_interest_fen", "paid_interest_fen", "principal_fen", "paid_principal_fen", "fee_fen", "paid_fee_fen"):
        assert not getattr(book, name).size or getattr(book, name).min() >= 0, name  # as BookArrays.from_states checks
    assert not n or book.principal_fen.sum(axis=1).max() <= MAX_LOAN_FEN, "a loan's principal exceeds MAX_LOAN_FEN"
    return book


def _grid(cells: pl.DataFrame, loans_count: int, name: str, fill: object, width: int | None = None) -> np.ndarray:
    """Column ``name`` of the installment cells laid out as (loans, width), padded with ``fill`` (None: NaT)."""
    if "column" not in cells.columns:
        cells = cells.with_columns((pl.int_range(pl.len()).over("row")).alias("column"))
    if width is None:
        width = max(1, int(cells["column"].max() or 0) + 1) if cells.height else 1
    rows = cells["row"].to_numpy()
    columns = cells["column"].to_numpy()
    if fill is None:
        grid = np.full((loans_count, width), NAT, dtype="datetime64[D]")
        grid[rows, columns] = cells[name].to_numpy().astype("datetime64[D]")
    elif isinstance(fill, bool):
        grid = np.zeros((loans_count, width), dtype=np.bool_)
        grid[rows, columns] = True
    else:
        grid = np.zeros((loans_count, width), dtype=np.int64)
        grid[rows, columns] = cells[name].to_numpy()
    return grid


def _dates(series: pl.Series) -> np.ndarray:
    values = series.to_numpy()
    return values.astype("datetime64[D]") if values.dtype != object else np.array([NAT if v is None else v for v in values], dtype="datetime64[D]")


def _mapped(series: pl.Series, convert) -> np.ndarray:  # type: ignore[no-untyped-def]
    """``convert`` applied once per distinct value (rates, conventions, codes repeat across the book)."""
    distinct = series.unique().to_list()
    table = {value: convert(value) for value in distinct}
    return series.replace_strict(table, return_dtype=pl.Int64).to_numpy()


@cache
def _rate_scaled(text: str) -> int:
    scaled = Decimal(text) * RATE_SCALE
    assert scaled == scaled.to_integral_value(), f"rate {text} has more than 8 decimals"
    return int(scaled)


@cache
def _daily_denominator(conventions: str) -> int:
    days = 360 if conventions_from_settings(json.loads(conventions)).days_in_year is DaysInYear.D360 else 365
    return days * RATE_SCALE


def _flag_floor(flags: str, policy: delinquency.DelinquencyPolicy) -> int:
    names = frozenset(f for f in flags.split(",") if f)
    return delinquency.flag_floor(names, policy).code if names else 0


# --- what the later stages read from the closed loans ----------------------------------------------

POSITIONS_SCHEMA: dict[str, pl.DataType] = {
    "loan_id": pl.Int64,
    "line_id": pl.Int64,
    "days_past_due": pl.Int32,
    "restructured": pl.Boolean,
    "overdue_principal_fen": pl.Int64,  # principal unpaid of installments due before the day
    "past_due_fen": pl.Int64,  # principal + accrued interest + fee unpaid of installments due before the day
    "next_due_date": pl.Date,  # earliest due date on or after the day with something unpaid (null: none)
    "next_due_fen": pl.Int64,  # principal + scheduled interest + fee unpaid due that date
}


def positions(chunk: LoanChunk, after: BookArrays, day: date) -> pl.DataFrame:
    """Each closed loan's standing as the snapshot's overdue and next-due figures and the collections'
    input read it from the database after the close (:func:`smelend.store.snapshot.snapshot_book`,
    :func:`smelend.store.collections.collections_frame`): the same sums over the same installments
    (those left out of the chunk are settled and weigh nothing in them), from the arrays in memory."""
    d = np.datetime64(day, "D")
    valid = after.valid & (chunk.number > 0)  # the stand-in cells of future principal are not installments
    unpaid_principal = after.principal_fen - after.paid_principal_fen
    unpaid_fee = after.fee_fen - after.paid_fee_fen
    past = valid & (after.due_date < d)
    scheduled = unpaid_principal + (after.interest_fen - after.paid_interest_fen) + unpaid_fee
    upcoming = valid & (after.due_date >= d) & (scheduled > 0)
    never = np.datetime64("9999-12-31", "D")
    kept_due = np.where(upcoming, after.due_date, never).min(axis=1) if valid.shape[1] else np.full(len(after), never)
    future_due = np.full(len(after), never)
    future_fen = np.zeros(len(after), dtype=np.int64)
    if chunk.future.height:
        at = chunk.future["row"].to_numpy().astype(np.int64)
        future_due[at] = chunk.future["future_due"].to_numpy().astype("datetime64[D]")
        future_fen[at] = chunk.future["future_fen"].to_numpy()
    next_due = np.minimum(kept_due, future_due)
    on_next = upcoming & (after.due_date == next_due[:, None])
    has_next = next_due != never
    next_fen = np.where(on_next, scheduled, 0).sum(axis=1) + np.where(future_due == next_due, future_fen, 0)
    return pl.DataFrame(
        {
            "loan_id": after.loan_id,
            "line_id": chunk.line_id,
            "days_past_due": after.days_past_due.astype(np.int32),
            "restructured": chunk.restructured.astype(np.bool_),
            "overdue_principal_fen": np.where(past, unpaid_principal, 0).sum(axis=1),
            "past_due_fen": np.where(past, unpaid_principal + (after.accrued_interest_fen - after.paid_interest_fen) + unpaid_fee, 0).sum(axis=1),
            "next_due_date": pl.Series(np.where(has_next, next_due, np.datetime64("NaT", "D"))).cast(pl.Date),
            "next_due_fen": pl.Series(np.where(has_next, next_fen, 0)).cast(pl.Int64),
        },
        schema=POSITIONS_SCHEMA,
    ).with_columns(pl.when(pl.col("next_due_date").is_null()).then(None).otherwise(pl.col("next_due_fen")).alias("next_due_fen"))


def line_overdue(positions_frame: pl.DataFrame) -> pl.DataFrame:
    """The snapshot's overdue principal per line (lines with an open loan)."""
    return positions_frame.group_by("line_id").agg(pl.col("overdue_principal_fen").sum().cast(pl.Int64))


def line_next_due(positions_frame: pl.DataFrame) -> pl.DataFrame:
    """The snapshot's next due date per line (the earliest over its open loans) and what is due then."""
    due = positions_frame.filter(pl.col("next_due_date").is_not_null())
    return (
        due.with_columns(pl.col("next_due_date").min().over("line_id").alias("_first"))
        .filter(pl.col("next_due_date") == pl.col("_first"))
        .group_by("line_id")
        .agg(pl.col("next_due_date").first(), pl.col("next_due_fen").sum().cast(pl.Int64))
    )


def collections_input(conn: Connection, day: date, positions_frame: pl.DataFrame) -> pl.DataFrame:
    """:func:`smelend.store.collections.collections_frame` from the positions: one row per active loan,
    with the line's latest stored behaviour grade on or before ``day`` (read here; null when never scored)."""
    newest = func.row_number().over(partition_by=behaviour_scores.c.line_id, order_by=behaviour_scores.c.business_date.desc()).label("newest")
    ranked = select(behaviour_scores.c.line_id, behaviour_scores.c.grade, newest).where(behaviour_scores.c.business_date <= day).subquery()
    grades = read_frame(conn, select(ranked.c.line_id, ranked.c.grade).where(ranked.c.newest == 1), {"line_id": pl.Int64, "behaviour_grade": pl.Utf8})
    frame = positions_frame.sort("loan_id").join(grades, on="line_id", how="left")
    return frame.select(list(COLLECTIONS_INPUT)).cast(COLLECTIONS_INPUT)  # type: ignore[arg-type]


# --- writing back ------------------------------------------------------------------------------------


def write_chunk(conn: Connection, chunk: LoanChunk, after: BookArrays) -> None:
    """The closed loans and the installments whose interest moved, in the caller's transaction; raises
    :class:`~smelend.store.lending.ConcurrentChange` if any loan changed since it was read."""
    before = chunk.book
    moved = np.flatnonzero(
        (after.closed_through != before.closed_through) | (after.interest_carry != before.interest_carry) | (after.penalty_carry != before.penalty_carry)
        | (after.interest_receivable_fen != before.interest_receivable_fen) | (after.suspended_interest_fen != before.suspended_interest_fen)
        | (after.penalty_receivable_fen != before.penalty_receivable_fen) | (after.suspended_penalty_fen != before.suspended_penalty_fen)
        | (after.provision_fen != before.provision_fen) | (after.days_past_due != before.days_past_due) | (after.category != before.category)
    )
    if moved.size == 0:
        return
    closed = np.datetime_as_string(after.closed_through[moved]).astype(object)
    closed[np.isnat(after.closed_through[moved])] = None
    categories = [_CATEGORY_NAMES[c] for c in after.category[moved].tolist()]
    version = chunk.version[moved]
    loan_rows = list(zip(
        *(list(closed) if name == "closed_through" else categories if name == "category" else getattr(after, name)[moved].tolist() for name in _MOVED_LOAN_COLUMNS),
        (version + 1).tolist(), after.loan_id[moved].tolist(), version.tolist(),
    ))
    changed = _bulk_update(conn, loans.name, (*_MOVED_LOAN_COLUMNS, "version"), ("id", "version"), loan_rows, dates=("closed_through",))
    if changed != len(loan_rows):
        raise ConcurrentChange(f"{len(loan_rows) - changed} of {len(loan_rows)} loans changed during close of business")
    cell = (after.accrued_interest_fen != before.accrued_interest_fen) | (after.interest_fen != before.interest_fen)
    rows, columns = np.nonzero(cell)
    if rows.size:
        cell_rows = list(zip(
            after.interest_fen[rows, columns].tolist(), after.accrued_interest_fen[rows, columns].tolist(),
            after.loan_id[rows].tolist(), chunk.number[rows, columns].tolist(),
        ))
        _bulk_update(conn, installments.name, ("interest_fen", "accrued_interest_fen"), ("loan_id", "number"), cell_rows)


def _bulk_update(conn: Connection, table: str, columns: tuple[str, ...], keys: tuple[str, ...], rows: list[tuple[object, ...]], dates: tuple[str, ...] = ()) -> int:
    """``UPDATE table SET columns WHERE keys`` for every row (values in columns' then keys' order); returns rows changed.

    SQLite: the driver's executemany of one prepared statement. PostgreSQL: the rows are copied into a
    temporary table and applied by one ``UPDATE ... FROM`` (row-by-row updates cost a round trip each).
    """
    if not rows:
        return 0
    if conn.dialect.name != "postgresql":
        sets = ", ".join(f"{c} = ?" for c in columns)
        where = " AND ".join(f"{k} = ?" for k in keys)
        return driver_executemany(conn, f"UPDATE {table} SET {sets} WHERE {where}", rows)
    names = [*columns, *[f"k_{k}" for k in keys]]
    staging = f"cob_update_{table}"
    conn.exec_driver_sql(
        f"CREATE TEMP TABLE IF NOT EXISTS {staging} AS SELECT {', '.join(f'{c} AS {c}' for c in columns)}, {', '.join(f'{k} AS k_{k}' for k in keys)} FROM {table} LIMIT 0"
    )
    conn.exec_driver_sql(f"TRUNCATE {staging}")
    copy_rows(conn, staging, names, rows)
    sets = ", ".join(f"{c} = s.{c}" for c in columns)
    where = " AND ".join(f"t.{k} = s.k_{k}" for k in keys)
    done = conn.exec_driver_sql(f"UPDATE {table} AS t SET {sets} FROM {staging} AS s WHERE {where}")
    return int(done.rowcount)


def post_day_close(conn: Connection, rows: PostingRows) -> int:
    """The day's close-of-business entries and postings (``rows``) in the caller's transaction, and the
    account balances moved once; returns entries written. The same rows, in the same order, as
    :func:`smelend.store.ledger.post_entries` writes for ``entries_from_rows(rows)`` on a ledger that
    does not hold them yet; a key already there makes the insert fail (the caller rolls back) rather
    than be skipped: the loans written with these entries were read as not closed for the day."""
    if len(rows) == 0:
        return 0
    with_id = select(func.coalesce(func.max(journal_entries.c.id), 0))
    before = int(conn.scalar(with_id) or 0)
    loan_ids = rows.entry_loan_id.tolist()
    _bulk_insert(conn, journal_entries, ("idempotency_key", "business_date", "kind", "loan_id", "line_id"),
                 [(key, rows.business_date, rows.kind, loan, None) for key, loan in zip(rows.keys, loan_ids)])
    lo, hi = min(loan_ids), max(loan_ids)
    written = conn.execute(
        select(journal_entries.c.loan_id, journal_entries.c.id).where(
            journal_entries.c.id > before, journal_entries.c.loan_id >= lo, journal_entries.c.loan_id <= hi,
            journal_entries.c.kind == rows.kind, journal_entries.c.business_date == rows.business_date,
        )
    ).all()
    id_of = dict(written)
    assert len(id_of) == len(written) == len(loan_ids), (len(id_of), len(written), len(loan_ids))
    entry_ids = np.array([id_of[loan] for loan in loan_ids], dtype=np.int64)
    names = [a.value for a in DAY_CLOSE_ACCOUNTS]
    account_names = [names[a] for a in rows.posting_account.tolist()]
    _bulk_insert(conn, postings, ("entry_id", "account", "amount_fen", "loan_id"),
                 list(zip(entry_ids[rows.posting_entry].tolist(), account_names, rows.posting_amount_fen.tolist(), rows.posting_loan_id.tolist())))
    counts = np.bincount(rows.posting_account, minlength=len(names))
    exact = {names[a]: (int(rows.posting_amount_fen[rows.posting_account == a].sum()), int(counts[a])) for a in range(len(names)) if counts[a]}
    _apply_deltas(conn, exact)
    return len(loan_ids)

