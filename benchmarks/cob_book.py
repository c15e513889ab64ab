"""One close of business day for a whole book: vectorised batch against the per-loan path.

Builds a synthetic book of ``--loans`` loans (default 1,000,000) directly as ``BookArrays`` (see
``make_book``), checks a sample of it against the per-loan path, and times one day:

(a) ``close_day_batch``: accrual, penalties, days past due, non-accrual, classification, provisions;
(b) building the ledger entries: ``posting_rows_from_batch`` (flat rows, plus the plain tuples) and
    ``entries_from_batch`` (the JournalEntry records the store's bulk writer takes);
(c) writing them into a fresh SQLite database (migrated with Alembic) with
    ``smelend.store.ledger.post_entries``, the bulk writer, in one transaction;
(d) for the ratio, ``accrual.close_day`` loan by loan on a sample of ``--sample`` LoanStates, scaled.

The target: (a) + (b, entries) + (c) under 60 s for a million loans on 2 cores. (a) and (b) are the
best of 3 runs after a warm-up (the inputs are immutable, so each run does the same work); (c) runs
once, on a fresh database. Times are time.perf_counter; peak memory is resource.getrusage's
ru_maxrss. With ``--rows-writer`` it also times a writer fed from the flat rows (plain executemany
of tuples into the same tables, bypassing JournalEntry objects) on another fresh database, to show
what a rows-based bulk writer would gain.

    .venv/bin/python benchmarks/cob_book.py [--loans N] [--check N] [--sample N] [--seed S] [--day YYYY-MM-DD] [--rows-writer] [--json]

Exit status 1 if any checked loan differs from the per-loan path.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import sys
import tempfile
import time
from dataclasses import dataclass, replace
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

import numpy as np
from timing import REPEATS, best_seconds

from smelend.money import Rounding, RoundingMode
from smelend.servicing import accrual, delinquency
from smelend.servicing.batch import build_schedules_batch
from smelend.servicing.cob_batch import (
    DAY_CLOSE_ACCOUNTS,
    METHOD_CODES,
    STATUS_CODES,
    BookArrays,
    DayCloseArrays,
    PostingRows,
    close_day_batch,
    entries_from_batch,
    entries_from_rows,
    posting_rows_from_batch,
    to_states,
)
from smelend.servicing.conventions import Conventions, DaysInMonth, DaysInYear, InterestCalc, Method
from smelend.servicing.loan import RATE_SCALE, LoanState, LoanStatus, LoanTermsOnFile, new_loan
from smelend.servicing.schedule import LoanTerms

TARGET_SECONDS = 60.0
TARGET_LOANS = 1_000_000
DEFAULT_DAY = date(2026, 6, 30)

# The mix (shares of the book).
METHOD_MIX = {Method.EQUAL_INSTALLMENT: 0.35, Method.EQUAL_PRINCIPAL: 0.15, Method.INTEREST_FIRST: 0.15, Method.BULLET: 0.10, Method.REVOLVING: 0.25}
PERIOD_CHOICES, PERIOD_WEIGHTS = [3, 6, 12], [0.2, 0.3, 0.5]
PROFILE_MIX = {"performing": 0.835, "overdue": 0.12, "new": 0.005, "closed": 0.03, "written-off": 0.01}
FLAG_MIX = {"": 0.992, "restructured": 0.005, "court_judgement": 0.003}
GRACE_CHOICES = [0, 3, 7]
MEDIAN_PRINCIPAL_FEN = 3_100_000  # 31,000 yuan, MYbank's average loan (DESIGN.md section 6)
MIN_PRINCIPAL_FEN, MAX_PRINCIPAL_FEN = 100_000, 300_000_000  # 1,000 .. 3,000,000 yuan
MIN_RATE_BP, MAX_RATE_BP = 500, 1_800  # 5% .. 18% a year, 4-decimal rates; penalty rate = 1.5 x rate


@dataclass
class Contracts:
    """What a loan's contract is made of, per loan, to rebuild any loan as a LoanState."""

    principal_fen: np.ndarray
    rate_bp: np.ndarray
    periods: np.ndarray
    method: np.ndarray  # code
    start: np.ndarray  # datetime64[D]
    calc_daily: np.ndarray  # bool
    days_360: np.ndarray  # bool
    half_even: np.ndarray  # bool
    compound: np.ndarray
    grace_days: np.ndarray
    flag: np.ndarray  # index into FLAG_MIX

    def conventions(self, k: int) -> Conventions:
        return _conventions(bool(self.calc_daily[k]), bool(self.days_360[k]), bool(self.half_even[k]))

    def state(self, k: int, loan_id: int) -> LoanState:
        """Loan ``k`` as new_loan makes it (pending, its schedule from the Decimal path), flags set."""
        rate = Decimal(int(self.rate_bp[k])).scaleb(-4)
        terms = LoanTerms(int(self.principal_fen[k]), rate, int(self.periods[k]), METHOD_CODES[self.method[k]], self.start[k].item(), self.conventions(k))
        contract = LoanTermsOnFile(terms, rate * Decimal("1.5"), bool(self.compound[k]), int(self.grace_days[k]))
        flag = list(FLAG_MIX)[self.flag[k]]
        state = new_loan(loan_id, 1, contract)
        return replace(state, flags=frozenset({flag}) if flag else frozenset())


def _conventions(daily: bool, d360: bool, half_even: bool) -> Conventions:
    return Conventions(
        interest_calc=InterestCalc.DAILY if daily else InterestCalc.PERIOD,
        days_in_year=DaysInYear.D360 if d360 else DaysInYear.D365,
        days_in_month=DaysInMonth.ACTUAL,
        rounding=Rounding(mode=RoundingMode.HALF_EVEN if half_even else RoundingMode.HALF_UP),
    )


def _pick(rng: np.random.Generator, mix: dict[object, float], size: int) -> np.ndarray:
    weights = np.array(list(mix.values()))
    return rng.choice(len(mix), size=size, p=weights / weights.sum())


def make_book(loans: int, seed: int, day: date, policy: delinquency.DelinquencyPolicy) -> tuple[BookArrays, Contracts]:
    """A synthetic book as it stands at the end of ``day - 1``, built with numpy, not loan by loan.

    Contracts: methods, terms (3/6/12 monthly periods; revolving 12), principals (log-normal around
    31,000 yuan, 1,000..3,000,000), 4-decimal rates of 5..18% (penalty 1.5 x), conventions (period or
    daily interest, 360 or 365 days, half-up or half-even) and grace days drawn at random; the
    schedules come from ``build_schedules_batch`` (exact, equal to the Decimal path: the sample check
    confirms it). Histories, by profile:

    * performing (83.5%): started 1 day .. one term ago, paid every installment on its due date;
    * overdue (12%): started up to a term + 400 days ago, stopped paying at a recent installment
      (days past due from 1 to ~700, so every bucket and category occurs), penalties accrued;
    * new (0.5%): start on ``day`` itself, never closed (closed_through NaT);
    * closed (3%) and written-off (1%): inactive, they must not move.

    Accrued interest is exactly what the per-loan path would have accrued: scheduled interest by
    the integer spread from the period start, revolving interest by the closed form of the daily
    carry chain (the principal of a revolving loan is constant until its last due date). Penalties
    and the on/off-balance split are approximate (a valid state, not a replayed history): penalty
    = base x rate x days past grace, its carry random, and the share of interest and penalty that
    accrued at 90+ days past due suspended. Days past due, category and provision are those of
    ``day - 1``. There are no prepayments (anchors are period starts); the tests cover those.
    """
    rng = np.random.default_rng(seed)
    d_prev = np.datetime64(day - timedelta(days=1), "D")
    method_of_mix = list(METHOD_MIX)
    method = np.array([METHOD_CODES.index(m) for m in method_of_mix], dtype=np.int8)[_pick(rng, METHOD_MIX, loans)]
    revolving = method == METHOD_CODES.index(Method.REVOLVING)
    periods = rng.choice(PERIOD_CHOICES, size=loans, p=PERIOD_WEIGHTS).astype(np.int64)
    periods[revolving] = 12
    profile = _pick(rng, PROFILE_MIX, loans)
    performing, overdue, new, closed, written_off = (profile == k for k in range(5))
    term_days = periods * 30
    age = np.where(performing, rng.integers(1, np.maximum(term_days - 2, 2)), 0)
    age = np.where(overdue | written_off, rng.integers(31, term_days + 400), age)
    age = np.where(closed, term_days + rng.integers(5, 100, loans), age)
    start = np.datetime64(day, "D") - age.astype("timedelta64[D]")
    principal = np.clip(np.exp(rng.normal(np.log(MEDIAN_PRINCIPAL_FEN), 1.0, loans)), MIN_PRINCIPAL_FEN, MAX_PRINCIPAL_FEN).astype(np.int64)
    rate_bp = rng.integers(MIN_RATE_BP, MAX_RATE_BP + 1, loans)
    calc_daily = revolving | (rng.random(loans) < 0.3)
    days_360 = rng.random(loans) < 0.5
    half_even = rng.random(loans) < 0.2
    contracts = Contracts(
        principal_fen=principal,
        rate_bp=rate_bp,
        periods=periods,
        method=method,
        start=start,
        calc_daily=calc_daily,
        days_360=days_360,
        half_even=half_even,
        compound=rng.random(loans) < 0.7,
        grace_days=rng.choice(GRACE_CHOICES, size=loans).astype(np.int64),
        flag=_pick(rng, FLAG_MIX, loans),
    )

    # Schedules, one build_schedules_batch per (method, conventions) group, into (loans, width) grids.
    width = int(periods.max()) if loans else 1
    due = np.full((loans, width), np.datetime64("NaT"), dtype="datetime64[D]")
    scheduled_principal = np.zeros((loans, width), np.int64)
    scheduled_interest = np.zeros((loans, width), np.int64)
    fee = np.zeros((loans, width), np.int64)
    group = method.astype(np.int64) * 8 + calc_daily * 4 + days_360 * 2 + half_even
    rate_decimals = [Decimal(bp).scaleb(-4) for bp in range(MIN_RATE_BP, MAX_RATE_BP + 1)]
    for key in np.unique(group).tolist():
        rows = np.flatnonzero(group == key)
        conventions = _conventions(bool(key & 4), bool(key & 2), bool(key & 1))
        batch = build_schedules_batch(principal[rows], [rate_decimals[bp - MIN_RATE_BP] for bp in rate_bp[rows].tolist()], periods[rows], METHOD_CODES[key // 8], start[rows], conventions)
        cols = batch.due_date.shape[1]
        due[rows, :cols] = batch.due_date
        scheduled_principal[rows, :cols] = batch.principal_fen
        scheduled_interest[rows, :cols] = batch.interest_fen
        fee[rows, :cols] = batch.fee_fen
    valid = ~np.isnat(due)
    period_start = np.concatenate([start[:, None], due[:, :-1]], axis=1)
    period_start[~valid] = np.datetime64("NaT")

    d_int = int(d_prev.view(np.int64))
    due_i = due.view(np.int64)
    ps_i = period_start.view(np.int64)
    start_i = start.view(np.int64)
    denominator = np.where(days_360, 360, 365).astype(np.int64) * RATE_SCALE
    rate_scaled = rate_bp.astype(np.int64) * (RATE_SCALE // 10_000)
    penalty_scaled = rate_scaled * 3 // 2
    live = ~new  # loans with a history (everything but those starting on `day`)

    # Accrued interest through the night of day - 1.
    past = valid & (due_i <= d_int) & live[:, None]
    current = valid & (ps_i <= d_int) & (due_i > d_int) & live[:, None]
    span = np.where(valid, due_i - ps_i, 1)
    elapsed = d_int - ps_i + 1
    accrued = np.where(past, scheduled_interest, np.where(current, scheduled_interest * elapsed // span, 0))
    interest = scheduled_interest.copy()
    interest[revolving] = 0  # revolving interest grows as it accrues (new_loan starts it at 0)
    accrued[revolving] = 0
    interest_carry = np.zeros(loans, np.int64)
    if revolving.any():
        r = np.flatnonzero(revolving & live)
        whole, part = np.divmod(principal[r] * rate_scaled[r], denominator[r])  # one night = whole + part/denominator fen

        def chain(nights: np.ndarray) -> np.ndarray:  # interest of the first `nights` nights, carry chain from 0
            return nights * whole[:, None] + nights * part[:, None] // denominator[r][:, None]

        lo = np.clip(ps_i[r] - start_i[r][:, None], 0, None)
        hi = np.clip(np.minimum(due_i[r], d_int + 1) - start_i[r][:, None], 0, None)
        hi = np.maximum(hi, lo)
        accrued_r = np.where(valid[r], chain(hi) - chain(lo), 0)
        accrued[r] = accrued_r
        interest[r] = accrued_r
        nights = np.minimum(d_int + 1, due_i[r, :].max(axis=1, initial=0, where=valid[r])) - start_i[r]
        interest_carry[r] = nights * part % denominator[r]

    # Payments: everything due is paid, except from the first unpaid installment of overdue loans.
    due_by_then = past.sum(axis=1)
    first_unpaid = np.full(loans, width, np.int64)
    lapse = overdue | written_off
    back = np.minimum(rng.geometric(0.55, loans) - 1, np.maximum(due_by_then - 1, 0))
    first_unpaid = np.where(lapse & (due_by_then > 0), due_by_then - 1 - back, first_unpaid)
    columns = np.arange(width)[None, :]
    paid = past & (columns < first_unpaid[:, None])
    paid |= closed[:, None] & valid
    accrued = np.where(closed[:, None] & valid, interest, accrued)
    paid_principal = np.where(paid, scheduled_principal, 0)
    paid_interest = np.where(paid, interest, 0)
    paid_fee = np.where(paid, fee, 0)

    # Standing at the end of day - 1.
    rows = np.arange(loans)
    unsettled = valid & ((scheduled_principal != paid_principal) | (paid_interest != interest) | (fee != paid_fee))
    first = unsettled.argmax(axis=1)
    oldest = due_i[rows, first]
    dpd = np.where(live & ~closed & unsettled[rows, first] & (oldest <= d_int), d_int - oldest + 1, 0)
    owed = (accrued - paid_interest).sum(axis=1)
    suspended_share = np.where(dpd >= policy.non_accrual_dpd, dpd - policy.non_accrual_dpd + 1, 0)
    suspended_interest = owed * suspended_share // np.maximum(dpd, 1)
    interest_receivable = owed - suspended_interest
    overdue_cells = past & ~paid
    base = np.where(overdue_cells, scheduled_principal, 0).sum(axis=1)
    base += np.where(contracts.compound, np.where(overdue_cells, accrued - paid_interest, 0).sum(axis=1), 0)
    penalty_days = np.maximum(dpd - contracts.grace_days, 0)
    penalty = base * penalty_scaled // denominator * penalty_days
    suspended_penalty = penalty * suspended_share // np.maximum(dpd, 1)
    penalty_receivable = penalty - suspended_penalty
    penalty_carry = np.where(penalty_days > 0, rng.integers(0, denominator), 0)
    flag_names = list(FLAG_MIX)
    flag_floor = np.array([delinquency.flag_floor(frozenset({f}) if f else frozenset(), policy).code for f in flag_names], np.int8)[contracts.flag]
    category = delinquency.category_codes(dpd, flag_floor, policy)
    outstanding = (scheduled_principal - paid_principal).sum(axis=1)
    provision = delinquency.provisions_fen(outstanding + interest_receivable + penalty_receivable, category, dpd, policy)

    status = np.full(loans, STATUS_CODES.index(LoanStatus.ACTIVE), np.int8)
    status[closed] = STATUS_CODES.index(LoanStatus.CLOSED)
    status[written_off] = STATUS_CODES.index(LoanStatus.WRITTEN_OFF)
    inactive = closed | written_off
    zero_when_inactive = lambda a: np.where(inactive, 0, a)  # noqa: E731 - written off: moved off the book; closed: repaid
    closed_through = np.where(new, np.datetime64("NaT"), d_prev).astype("datetime64[D]")
    closed_through[inactive] = start[inactive] + (age[inactive] // 2).astype("timedelta64[D]")

    book = BookArrays(
        loan_id=np.arange(1, loans + 1, dtype=np.int64),
        status=status,
        method=method,
        grace_days=contracts.grace_days,
        compound=contracts.compound,
        daily_denominator=denominator,
        rate_scaled=rate_scaled,
        penalty_rate_scaled=penalty_scaled,
        start=start,
        closed_through=closed_through,
        interest_carry=zero_when_inactive(interest_carry),
        penalty_carry=zero_when_inactive(penalty_carry),
        interest_receivable_fen=zero_when_inactive(interest_receivable),
        suspended_interest_fen=zero_when_inactive(suspended_interest),
        penalty_receivable_fen=zero_when_inactive(penalty_receivable),
        suspended_penalty_fen=zero_when_inactive(suspended_penalty),
        provision_fen=zero_when_inactive(provision),
        days_past_due=zero_when_inactive(dpd),
        category=np.where(inactive, 0, category).astype(np.int8),
        flag_floor=flag_floor,
        valid=valid,
        period_start=period_start,
        due_date=due,
        anchor=period_start.copy(),
        accrued_at_start_fen=np.zeros((loans, width), np.int64),
        interest_fen=interest,
        accrued_interest_fen=accrued,
        paid_interest_fen=paid_interest,
        principal_fen=scheduled_principal,
        paid_principal_fen=paid_principal,
        fee_fen=fee,
        paid_fee_fen=paid_fee,
    )
    return book, contracts


def sample_states(book: BookArrays, contracts: Contracts, rows: np.ndarray) -> tuple[list[LoanState], list[str]]:
    """The loans at ``rows`` as LoanStates: new_loan's schedule (Decimal path) with the book's history
    written in by to_states; returns them and the problems found (schedule differences, failed checks)."""
    problems: list[str] = []
    fresh = [contracts.state(int(k), int(book.loan_id[k])) for k in rows.tolist()]
    sub = book.take(rows)
    for j, state in enumerate(fresh):
        count = len(state.installments)
        same = (
            count == int(sub.valid[j].sum())
            and [i.due_date for i in state.installments] == sub.due_date[j, :count].tolist()
            and [i.period_start for i in state.installments] == sub.period_start[j, :count].tolist()
            and [i.principal_fen for i in state.installments] == sub.principal_fen[j, :count].tolist()
            and [i.fee_fen for i in state.installments] == sub.fee_fen[j, :count].tolist()
            and (state.method is Method.REVOLVING or [i.interest_fen for i in state.installments] == sub.interest_fen[j, :count].tolist())
        )
        if not same:
            problems.append(f"loan {state.id}: synthetic schedule differs from new_loan's")
    if problems:
        return [], problems
    states = to_states(sub, fresh)
    for state in states:
        if state.status is LoanStatus.ACTIVE:
            try:
                state.check()
            except AssertionError as exc:
                problems.append(f"loan {state.id}: invalid synthetic state: {exc}")
    return states, problems


def fresh_sqlite(folder: Path, name: str):  # type: ignore[no-untyped-def]
    from smelend.store.db import make_engine, upgrade

    engine = make_engine(f"sqlite:///{folder / name}")
    upgrade(engine)
    return engine


def write_rows(conn, rows: PostingRows) -> int:  # type: ignore[no-untyped-def]
    """A rows-based bulk write (benchmark only): plain executemany of tuples into the store's tables,
    ids read back by key, balances moved once per account, as post_entries does (no duplicate-key
    skipping: a fresh database)."""
    from sqlalchemy import bindparam, select, update

    from smelend.store.tables import account_balances, journal_entries

    cursor = conn.connection.driver_connection.cursor()
    on = rows.business_date.isoformat()
    cursor.executemany(
        "INSERT INTO journal_entries (idempotency_key, business_date, kind, loan_id) VALUES (?, ?, ?, ?)",
        [(key, on, rows.kind, loan_id) for key, loan_id in zip(rows.keys, rows.entry_loan_id.tolist())],
    )
    id_of = dict(conn.execute(select(journal_entries.c.idempotency_key, journal_entries.c.id).where(journal_entries.c.business_date == rows.business_date, journal_entries.c.kind == rows.kind)).all())
    entry_ids = np.array([id_of[key] for key in rows.keys], dtype=np.int64)
    names = [a.value for a in DAY_CLOSE_ACCOUNTS]
    cursor.executemany(
        "INSERT INTO postings (entry_id, account, amount_fen, loan_id) VALUES (?, ?, ?, ?)",
        zip(entry_ids[rows.posting_entry].tolist(), [names[a] for a in rows.posting_account.tolist()], rows.posting_amount_fen.tolist(), rows.posting_loan_id.tolist()),
    )
    sums = np.bincount(rows.posting_account, weights=None, minlength=len(names))
    amounts = [int(rows.posting_amount_fen[rows.posting_account == a].sum()) for a in range(len(names))]
    conn.execute(
        account_balances.insert(),
        [{"account": names[a], "balance_fen": 0, "postings_count": 0} for a in range(len(names)) if sums[a]],
    )
    conn.execute(
        update(account_balances).where(account_balances.c.account == bindparam("b_account")).values(
            balance_fen=account_balances.c.balance_fen + bindparam("b_amount"), postings_count=account_balances.c.postings_count + bindparam("b_count")
        ),
        [{"b_account": names[a], "b_amount": amounts[a], "b_count": int(sums[a])} for a in range(len(names)) if sums[a]],
    )
    return len(rows)


def peak_memory_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: kilobytes


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--loans", type=int, default=TARGET_LOANS, help="loans in the book (default 1,000,000)")
    parser.add_argument("--check", type=int, default=2_000, help="loans of the book checked against the per-loan path (default 2,000)")
    parser.add_argument("--sample", type=int, default=5_000, help="loans timed through the per-loan path, scaled (default 5,000)")
    parser.add_argument("--seed", type=int, default=20260630)
    parser.add_argument("--day", type=date.fromisoformat, default=DEFAULT_DAY, help="the business day closed (default 2026-06-30)")
    parser.add_argument("--rows-writer", action="store_true", help="also time a rows-based writer (plain executemany) on another fresh database")
    parser.add_argument("--json", action="store_true", help="print one JSON document instead of the summary")
    args = parser.parse_args(argv)
    assert args.loans >= 1 and args.check >= 0 and args.sample >= 1
    log = (lambda *a: print(*a, file=sys.stderr, flush=True)) if args.json else (lambda *a: print(*a, flush=True))
    policy = delinquency.load_policy()
    day = args.day

    began = time.perf_counter()
    book, contracts = make_book(args.loans, args.seed, day, policy)
    build_seconds = time.perf_counter() - began
    log(f"built a synthetic book of {len(book):,} loans x {book.max_installments} installments in {build_seconds:.1f} s")

    # (a) close of business for the whole book
    result: dict[str, object] = {}

    def close() -> None:
        result["after"], result["moved"] = close_day_batch(book, day, policy)

    close_seconds = best_seconds(close)
    after: BookArrays = result["after"]  # type: ignore[assignment]
    moved: DayCloseArrays = result["moved"]  # type: ignore[assignment]
    log(f"(a) close_day_batch: {close_seconds:.2f} s")

    # (b) ledger entries: flat rows (+ tuples), and JournalEntry records
    def rows_and_tuples() -> None:
        rows = posting_rows_from_batch(after, moved, day)
        result["rows"] = rows
        rows.entry_rows()
        rows.posting_rows()

    rows_seconds = best_seconds(rows_and_tuples)
    rows: PostingRows = result["rows"]  # type: ignore[assignment]
    arrays_seconds = best_seconds(lambda: posting_rows_from_batch(after, moved, day))
    began = time.perf_counter()
    entries = entries_from_rows(rows)
    objects_seconds = time.perf_counter() - began
    entries_seconds = arrays_seconds + objects_seconds
    log(f"(b) posting rows: {arrays_seconds:.2f} s as arrays, {rows_seconds:.2f} s with the plain tuples; "
        f"entries_from_batch: {entries_seconds:.2f} s for {len(entries):,} entries, {rows.posting_count:,} postings")

    # (c) write the ledger into a fresh SQLite database
    from smelend.store import ledger as store_ledger

    writer = "smelend.store.ledger.post_entries" if hasattr(store_ledger, "post_entries") else "rows writer (post_entries missing)"
    with tempfile.TemporaryDirectory() as folder:
        engine = fresh_sqlite(Path(folder), "cob.db")
        began = time.perf_counter()
        with engine.begin() as conn:
            written = store_ledger.post_entries(conn, entries) if hasattr(store_ledger, "post_entries") else write_rows(conn, rows)
        write_seconds = time.perf_counter() - began
        with engine.connect() as conn:
            balanced = store_ledger.trial_balance(conn).balanced and store_ledger.entry_count(conn) == len(entries)
        engine.dispose()
        log(f"(c) {writer}: {write_seconds:.2f} s for {written:,} entries (trial balance balanced: {balanced})")
        rows_writer_seconds = None
        if args.rows_writer:
            engine = fresh_sqlite(Path(folder), "cob-rows.db")
            began = time.perf_counter()
            with engine.begin() as conn:
                write_rows(conn, rows)
            rows_writer_seconds = time.perf_counter() - began
            with engine.connect() as conn:
                rows_balanced = store_ledger.recomputed_trial_balance(conn) == store_ledger.trial_balance(conn) and store_ledger.trial_balance(conn).balanced
            engine.dispose()
            log(f"(c') rows writer (executemany of the flat rows): {rows_writer_seconds:.2f} s (balanced: {rows_balanced})")
    del entries

    # the check: a random sample of the book as LoanStates, closed per loan, against the batch's rows
    rng = np.random.default_rng(args.seed + 1)
    order = rng.permutation(len(book))
    # half of the check at random, half among the loans that are late, new or inactive (the rarer paths)
    unusual = np.flatnonzero((book.days_past_due > 0) | np.isnat(book.closed_through) | (book.status != STATUS_CODES.index(LoanStatus.ACTIVE)))
    half = min(args.check // 2, unusual.size)
    picked = set(rng.choice(unusual, size=half, replace=False).tolist()) if half else set()
    for k in order.tolist():
        if len(picked) >= min(args.check, len(book)):
            break
        picked.add(k)
    checked_rows = np.array(sorted(picked), dtype=np.int64)
    states, problems = sample_states(book, contracts, checked_rows)
    if not problems:
        reference = [accrual.close_day(s, day, policy) for s in states]
        if to_states(after.take(checked_rows), states) != [r[0] for r in reference]:
            problems.append("states differ")
        sub_moved = moved.take(checked_rows)
        if sub_moved.day_closes() != [r[1] for r in reference]:
            problems.append("DayCloses differ")
        if entries_from_batch(after.take(checked_rows), sub_moved, day) != [r[2] for r in reference if r[2] is not None]:
            problems.append("entries differ")
    checked_ok = not problems
    log(f"checked {len(checked_rows):,} loans against accrual.close_day: {'equal' if checked_ok else 'DIFFERENT: ' + '; '.join(problems[:5])}")

    # (d) the per-loan path on a sample, scaled
    timed_rows = np.sort(order[: min(args.sample, len(book))])
    timed_states, more = sample_states(book, contracts, timed_rows)
    problems += more
    began = time.perf_counter()
    for state in timed_states:
        accrual.close_day(state, day, policy)
    per_loan_sample_seconds = time.perf_counter() - began
    per_loan_seconds = per_loan_sample_seconds * len(book) / max(len(timed_states), 1)
    log(f"(d) accrual.close_day per loan: {per_loan_sample_seconds:.2f} s for {len(timed_states):,} loans, {per_loan_seconds:.1f} s scaled to {len(book):,}")

    total = close_seconds + entries_seconds + write_seconds
    scaled_total = total * TARGET_LOANS / len(book)
    meets = scaled_total < TARGET_SECONDS
    active = int((book.status == STATUS_CODES.index(LoanStatus.ACTIVE)).sum())
    report = {
        "loans": len(book),
        "active_loans": active,
        "max_installments": book.max_installments,
        "business_date": day.isoformat(),
        "entries": len(rows),
        "postings": rows.posting_count,
        "seconds": {
            "build_synthetic_book": build_seconds,
            "close_day_batch": close_seconds,
            "posting_rows_arrays": arrays_seconds,
            "posting_rows_with_tuples": rows_seconds,
            "entries_from_batch": entries_seconds,
            "write_ledger": write_seconds,
            "rows_writer": rows_writer_seconds,
            "per_loan_sample": per_loan_sample_seconds,
            "per_loan_scaled": per_loan_seconds,
            "total_batch": total,
            "total_batch_scaled_to_1m": scaled_total,
        },
        "writer": writer,
        "ledger_balanced": balanced,
        "per_loan_sample": len(timed_states),
        "ratio_per_loan_over_batch_close": per_loan_seconds / (close_seconds + entries_seconds),
        "target_seconds": TARGET_SECONDS,
        "meets_target": meets,
        "checked_against_per_loan": len(checked_rows),
        "checked_equal": checked_ok,
        "problems": problems[:20],
        "peak_memory_mb": peak_memory_mb(),
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "numpy": np.__version__,
    }
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        print()
        print(f"book: {len(book):,} loans ({active:,} active), up to {book.max_installments} installments, closing {day}")
        print(f"(a) close_day_batch                 {close_seconds:8.2f} s")
        print(f"(b) posting rows (arrays / +tuples)  {arrays_seconds:8.2f} s / {rows_seconds:.2f} s")
        print(f"(b) entries_from_batch (JournalEntry){entries_seconds:8.2f} s   {len(rows):,} entries, {rows.posting_count:,} postings")
        print(f"(c) write ledger ({writer})  {write_seconds:8.2f} s")
        if rows_writer_seconds is not None:
            print(f"(c') rows writer (executemany)      {rows_writer_seconds:8.2f} s")
        print(f"(d) per loan, {len(timed_states):,} loans scaled        {per_loan_seconds:8.1f} s  (batch (a)+(b) is {report['ratio_per_loan_over_batch_close']:.0f}x faster)")
        print(f"total (a) + (b entries) + (c)       {total:8.2f} s  ->  {scaled_total:.1f} s for 1,000,000 loans: "
              f"{'meets' if meets else 'MISSES'} the target of {TARGET_SECONDS:.0f} s ({os.cpu_count()} CPUs)")
        print(f"peak memory {peak_memory_mb():,.0f} MB; checked {len(checked_rows):,} loans against accrual.close_day: {'equal' if checked_ok else 'DIFFERENT'}")
    return 0 if checked_ok and not problems else 1


if __name__ == "__main__":
    sys.exit(main())
