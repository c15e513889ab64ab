"""Collections in the database: the loan rows collections decide on, the actions a run decided (written
idempotently by run, loan and step), and restructurings applied atomically.

The decisions themselves are pure (:mod:`smelend.lines.collections`); this module reads their input
set-based and writes their output.
"""

from __future__ import annotations

from dataclasses import asdict
from datetime import date

import polars as pl
from sqlalchemy import and_, case, func, insert, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, Engine

from smelend.errors import InvalidInput
from smelend.lines.collections import ACTIONS_SCHEMA, COLLECTIONS_INPUT, RESTRUCTURED_FLAG, CollectionRules, Restructuring, load_rules, restructured_state
from smelend.servicing import delinquency
from smelend.store.lending import get_business_day, get_line, line_of_loan, load_loan, save_loan
from smelend.store.snapshot import _frame
from smelend.store.tables import RUN_ID_MAX_CHARS, behaviour_scores, collection_actions, installments, loans, restructurings

WRITE_CHUNK = 10_000


def _unpaid():  # type: ignore[no-untyped-def]
    i = installments.c
    return (i.principal_fen - i.paid_principal_fen) + (i.accrued_interest_fen - i.paid_interest_fen) + (i.fee_fen - i.paid_fee_fen)


def collections_frame(conn: Connection, as_of: date) -> pl.DataFrame:
    """One row per active loan, typed by :data:`~smelend.lines.collections.COLLECTIONS_INPUT` (a few grouped queries).

    Amounts due count interest accrued so far (what the borrower owes today); the behaviour grade is the
    line's latest stored score on or before ``as_of`` (null when never scored).
    """
    due_today = and_(installments.c.due_date >= as_of, (installments.c.principal_fen - installments.c.paid_principal_fen) + (installments.c.interest_fen - installments.c.paid_interest_fen) + (installments.c.fee_fen - installments.c.paid_fee_fen) > 0)
    earliest = func.min(installments.c.due_date).over(partition_by=installments.c.loan_id).label("earliest")
    upcoming = (
        select(installments.c.loan_id.label("loan_id"), installments.c.due_date.label("due"),
               ((installments.c.principal_fen - installments.c.paid_principal_fen) + (installments.c.interest_fen - installments.c.paid_interest_fen) + (installments.c.fee_fen - installments.c.paid_fee_fen)).label("amount"), earliest)
        .join(loans, loans.c.id == installments.c.loan_id)
        .where(loans.c.status == "active", due_today)
        .subquery()
    )
    nxt = _frame(conn, select(upcoming.c.loan_id, upcoming.c.due, func.sum(upcoming.c.amount)).where(upcoming.c.due == upcoming.c.earliest).group_by(upcoming.c.loan_id, upcoming.c.due),
                 {"loan_id": pl.Int64, "next_due_date": pl.Date, "next_due_fen": pl.Int64})
    past = _frame(conn, select(installments.c.loan_id, func.sum(_unpaid())).join(loans, loans.c.id == installments.c.loan_id)
                  .where(loans.c.status == "active", installments.c.due_date < as_of).group_by(installments.c.loan_id),
                  {"loan_id": pl.Int64, "past_due_fen": pl.Int64})
    newest = func.row_number().over(partition_by=behaviour_scores.c.line_id, order_by=behaviour_scores.c.business_date.desc()).label("newest")
    ranked = select(behaviour_scores.c.line_id, behaviour_scores.c.grade, newest).where(behaviour_scores.c.business_date <= as_of).subquery()
    grades = _frame(conn, select(ranked.c.line_id, ranked.c.grade).where(ranked.c.newest == 1), {"line_id": pl.Int64, "behaviour_grade": pl.Utf8})
    base = _frame(conn, select(loans.c.id, loans.c.line_id, loans.c.days_past_due, case((loans.c.flags.like(f"%{RESTRUCTURED_FLAG}%"), True), else_=False))
                  .where(loans.c.status == "active").order_by(loans.c.id),
                  {"loan_id": pl.Int64, "line_id": pl.Int64, "days_past_due": pl.Int32, "restructured": pl.Boolean})
    frame = base.join(nxt, on="loan_id", how="left").join(past, on="loan_id", how="left").join(grades, on="line_id", how="left")
    return frame.with_columns(pl.col("past_due_fen").fill_null(0)).select(list(COLLECTIONS_INPUT)).cast(COLLECTIONS_INPUT)  # type: ignore[arg-type]


_INSERT_IGNORING_DUPLICATES = {
    name: dialect.insert(collection_actions).on_conflict_do_nothing(index_elements=["run_id", "loan_id", "step"])
    for name, dialect in (("postgresql", postgresql), ("sqlite", sqlite))
}


def write_collection_actions(conn: Connection, run_id: str, actions: pl.DataFrame) -> int:
    """Write a run's actions in the caller's transaction; an action already written for (run, loan, step) is
    skipped, so a resumed run writes each once. Returns how many rows were new."""
    if not 1 <= len(run_id) <= RUN_ID_MAX_CHARS:
        raise InvalidInput.one("run_id", f"must be 1 to {RUN_ID_MAX_CHARS} characters")
    missing = [c for c in ACTIONS_SCHEMA if c not in actions.columns]
    if missing:
        raise InvalidInput.one("actions", f"lack the columns {', '.join(missing)}")
    before = conn.scalar(select(func.count()).select_from(collection_actions).where(collection_actions.c.run_id == run_id)) or 0
    rows = actions.select("loan_id", "step", "business_date", "channel", "amount_due_fen", "days_past_due").to_dicts()
    statement = _INSERT_IGNORING_DUPLICATES[conn.dialect.name]
    for start in range(0, len(rows), WRITE_CHUNK):
        conn.execute(statement, [{"run_id": run_id, **row} for row in rows[start : start + WRITE_CHUNK]])
    after = conn.scalar(select(func.count()).select_from(collection_actions).where(collection_actions.c.run_id == run_id)) or 0
    return int(after - before)


def latest_grade(conn: Connection, line_id: int, on: date) -> str | None:
    return conn.scalar(
        select(behaviour_scores.c.grade).where(behaviour_scores.c.line_id == line_id, behaviour_scores.c.business_date <= on)
        .order_by(behaviour_scores.c.business_date.desc()).limit(1)
    )


def apply_restructuring(engine: Engine, loan_id: int, day: date, kind: str, grade: str | None = None,
                        rules: CollectionRules | None = None, policy: delinquency.DelinquencyPolicy | None = None) -> Restructuring:
    """Reschedule a loan under the ``kind`` rule in one transaction: the new schedule and flag on the loan,
    a ``restructurings`` row; the ledger is untouched (the principal does not change). ``grade`` defaults
    to the line's latest stored behaviour grade. Any refusal raises InvalidInput before anything is written.
    """
    rules = rules or load_rules()
    policy = policy or delinquency.load_policy()
    with engine.begin() as conn:
        current = get_business_day(conn)
        if day != current.business_date:
            raise InvalidInput.one("date", f"must be the business date {current.business_date}")
        line_id = line_of_loan(conn, loan_id)
        get_line(conn, line_id, for_update=True)
        stored = load_loan(conn, loan_id, for_update=True)
        if grade is None:
            grade = latest_grade(conn, line_id, day)
        state, record = restructured_state(stored.state, day, kind, grade, rules, policy)
        save_loan(conn, stored, state)
        values = asdict(record)
        values["new_method"] = record.new_method.value
        conn.execute(insert(restructurings).values(**values))
    return record
