"""Read the book into the snapshot (:data:`smelend.lines.snapshot.SNAPSHOT_SCHEMA`) as of a business date.

Why set-based: the close of business snapshots every line of the book each night (a million lines),
so the reading is a handful of grouped queries — lines, loans by line, overdue principal, the next
due installment, past installments and repayments, the latest enterprise records, line changes —
and the per-line figures that need an ordering (repayment behaviour) are computed from them with
polars, never loan by loan in Python.

Repayment behaviour is read from amounts, so it holds for any history however it was paid: an
installment counts as paid on the first day the loan's repayments of principal, interest and fees
(penalties and credit balances left out), summed in date order, reach everything scheduled through
that installment; it was late when that day is after its due date, and it is still late (days past
due running) when that day has not come by ``as_of``.
"""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
from sqlalchemy import and_, case, func, literal, literal_column, select
from sqlalchemy.engine import Connection, Engine

from smelend.lines.snapshot import SNAPSHOT_COLUMNS, SNAPSHOT_SCHEMA, with_owner_limits
from smelend.servicing.delinquency import Category
from smelend.store.bulk_read import read_frame
from smelend.store.db import reading
from smelend.store.tables import credit_lines, enterprise_events, enterprises, installments, line_changes, loans, repayments

WINDOW_DAYS = 365
DRAW_WINDOW_DAYS = 90
_CATEGORIES = tuple(c.value for c in Category)
_AMOUNT_BITS = 38  # cumulative amounts of one loan stay below 2^38 fen (2.7 billion yuan): asserted


def independent_parts(engine: Engine, as_of: date, since: date | None = None) -> dict[str, pl.DataFrame]:
    """The parts of the snapshot that closing the loans for ``as_of`` does not change — repayment
    behaviour (installments already due, repayments) and the latest enterprise records — read on a
    read-only connection of their own, so the close of business can read them while its loans stage
    writes (on SQLite a WAL reader neither waits for nor blocks the writer). Pass them to
    :func:`snapshot_book` as ``parts``."""
    since = since if since is not None else as_of - timedelta(days=1)
    with reading(engine) as conn:
        return {"behaviour": _behaviour(conn, as_of), "enterprise": _enterprise_data(conn, as_of, since)}


def snapshot_book(
    engine: Engine | Connection, as_of: date, since: date | None = None, positions: pl.DataFrame | None = None, parts: dict[str, pl.DataFrame] | None = None,
) -> pa.Table:
    """The book as of ``as_of``, one row per credit line, typed by SNAPSHOT_SCHEMA.

    ``as_of`` is meant to be the business date: the loans' standing (days past due, balances, category)
    is what the book holds now; the dated figures (installments due before ``as_of``, repayments up to
    it, draws in the 90 days to it, enterprise records on or before it) follow ``as_of``.

    ``since`` (default: the day before ``as_of``) bounds the event flags: records dated after it and
    on or before ``as_of`` are new. Reads in one transaction (a consistent picture on PostgreSQL).

    ``positions`` (every active loan's standing, :data:`smelend.store.cob_loans.POSITIONS_SCHEMA`, as
    the close of business's loans stage leaves it in memory) replaces the overdue and next-due queries;
    ``parts`` (:func:`independent_parts`, read earlier for the same dates) the behaviour and enterprise ones.
    """
    since = since if since is not None else as_of - timedelta(days=1)
    if isinstance(engine, Connection):
        return _snapshot(engine, as_of, since, positions, parts)
    with engine.connect() as conn:
        return _snapshot(conn, as_of, since, positions, parts)


def write_parquet(table: pa.Table, path: Path | str) -> Path:
    """Write a snapshot to Parquet (zstd), with the schema's column documentation kept as field metadata."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(table, path, compression="zstd")
    return path


def read_parquet(path: Path | str) -> pa.Table:
    return pq.read_table(path).cast(SNAPSHOT_SCHEMA)


def _frame(conn: Connection, statement, schema: dict[str, pl.DataType]) -> pl.DataFrame:  # type: ignore[no-untyped-def]
    """Run ``statement`` into a polars frame typed by ``schema`` (by position): COPY on PostgreSQL, plain
    tuples on SQLite (:func:`smelend.store.bulk_read.read_frame`)."""
    return read_frame(conn, statement, schema)


def _scanned(conn: Connection, column):  # type: ignore[no-untyped-def]
    """``column`` for a filter that keeps most of a big table: on SQLite written ``+table.column``, which
    keeps the planner off the column's index (walking an index row by row to keep most rows is several
    times slower than reading the table through); other backends plan this well themselves."""
    if conn.dialect.name != "sqlite":
        return column
    return literal_column(f"+{column.table.name}.{column.name}", type_=column.type)


def _snapshot(conn: Connection, as_of: date, since: date, positions: pl.DataFrame | None = None, parts: dict[str, pl.DataFrame] | None = None) -> pa.Table:
    lines = _frame(
        conn,
        select(
            credit_lines.c.id, credit_lines.c.enterprise_id, enterprises.c.owner_person_id, credit_lines.c.product_id, credit_lines.c.status,
            credit_lines.c.annual_rate, credit_lines.c.limit_fen, credit_lines.c.used_fen, credit_lines.c.start_date, credit_lines.c.end_date,
        ).join(enterprises, enterprises.c.id == credit_lines.c.enterprise_id).order_by(credit_lines.c.id),
        {"line_id": pl.Int64, "enterprise_id": pl.Int64, "owner_person_id": pl.Int64, "product_id": pl.Utf8, "status": pl.Utf8,
         "annual_rate": pl.Utf8, "limit_fen": pl.Int64, "used_fen": pl.Int64, "start_date": pl.Date, "end_date": pl.Date},
    )
    frame = lines.with_columns(pl.lit(as_of).alias("as_of"), _months_between(pl.col("start_date"), as_of).alias("months_on_book"))
    if positions is None:
        overdue, next_due = _overdue(conn, as_of), _next_due(conn, as_of)
    else:
        from smelend.store.cob_loans import line_next_due, line_overdue

        overdue, next_due = line_overdue(positions), line_next_due(positions)
    behaviour = parts["behaviour"] if parts is not None else _behaviour(conn, as_of)
    enterprise = parts["enterprise"] if parts is not None else _enterprise_data(conn, as_of, since)
    for part in (_loan_figures(conn, as_of), overdue, next_due, behaviour, enterprise):
        frame = frame.join(part, on=part.columns[0], how="left") if part.columns[0] == "line_id" else frame.join(part, on="enterprise_id", how="left")
    frame = frame.join(_changes(conn, as_of), on="line_id", how="left")
    zero_filled = ("open_loans", "principal_outstanding_fen", "max_dpd", "overdue_principal_fen", "on_time_streak", "late_payments_365d", "draws_90d", "drawn_fen_90d", "max_dpd_365d")
    frame = frame.with_columns(
        [pl.col(c).fill_null(0) for c in zero_filled]
        + [pl.col(c).fill_null(False) for c in ("event_new_tax_record", "event_new_invoice", "event_external_alert")]
        + [pl.col("worst_category").fill_null("pass")]
    ).with_columns(pl.max_horizontal("max_dpd_365d", "max_dpd").alias("max_dpd_365d"))
    return with_owner_limits(frame).select(SNAPSHOT_COLUMNS).to_arrow().cast(SNAPSHOT_SCHEMA)  # the owner's total over the whole book (issue 7, owner-level cap)


def _months_between(start: pl.Expr, as_of: date) -> pl.Expr:
    months = (as_of.year - start.dt.year().cast(pl.Int32)) * 12 + (as_of.month - start.dt.month().cast(pl.Int32))
    months = months - (start.dt.day().cast(pl.Int32) > as_of.day).cast(pl.Int32)
    return pl.max_horizontal(months, pl.lit(0, pl.Int32)).cast(pl.Int32)


def _loan_figures(conn: Connection, as_of: date) -> pl.DataFrame:
    active = loans.c.status == "active"
    recent = and_(loans.c.start_date > as_of - timedelta(days=DRAW_WINDOW_DAYS), loans.c.start_date <= as_of, loans.c.status.in_(("active", "closed", "written-off")))
    category_code = case({name: code for code, name in enumerate(_CATEGORIES)}, value=loans.c.category, else_=0)
    statement = select(
        loans.c.line_id,
        func.sum(case((active, 1), else_=0)),
        func.sum(case((active, loans.c.principal_outstanding_fen), else_=0)),
        func.max(case((active, loans.c.days_past_due), else_=0)),
        func.max(case((active, category_code), else_=0)),
        func.sum(case((recent, 1), else_=0)),
        func.sum(case((recent, loans.c.principal_fen), else_=0)),
    ).group_by(loans.c.line_id)
    frame = _frame(conn, statement, {"line_id": pl.Int64, "open_loans": pl.Int32, "principal_outstanding_fen": pl.Int64, "max_dpd": pl.Int32,
                                     "worst_code": pl.Int32, "draws_90d": pl.Int32, "drawn_fen_90d": pl.Int64})
    return frame.with_columns(
        pl.col("worst_code").replace_strict(list(range(len(_CATEGORIES))), list(_CATEGORIES), default="pass", return_dtype=pl.Utf8).alias("worst_category")
    ).drop("worst_code")


def _unpaid():  # type: ignore[no-untyped-def]
    return (installments.c.principal_fen - installments.c.paid_principal_fen) + (installments.c.interest_fen - installments.c.paid_interest_fen) + (installments.c.fee_fen - installments.c.paid_fee_fen)


def _overdue(conn: Connection, as_of: date) -> pl.DataFrame:
    statement = (
        select(loans.c.line_id, func.sum(installments.c.principal_fen - installments.c.paid_principal_fen))
        .join(loans, loans.c.id == installments.c.loan_id)
        .where(loans.c.status == "active", installments.c.due_date < as_of)
        .group_by(loans.c.line_id)
    )
    return _frame(conn, statement, {"line_id": pl.Int64, "overdue_principal_fen": pl.Int64})


def _next_due(conn: Connection, as_of: date) -> pl.DataFrame:
    earliest = func.min(installments.c.due_date).over(partition_by=loans.c.line_id).label("earliest")
    upcoming = (
        select(loans.c.line_id.label("line_id"), installments.c.due_date.label("due"), _unpaid().label("unpaid"), earliest)
        .join(loans, loans.c.id == installments.c.loan_id)
        .where(loans.c.status == "active", installments.c.due_date >= as_of, _unpaid() > 0)
        .subquery()
    )
    statement = select(upcoming.c.line_id, upcoming.c.due, func.sum(upcoming.c.unpaid)).where(upcoming.c.due == upcoming.c.earliest).group_by(upcoming.c.line_id, upcoming.c.due)
    return _frame(conn, statement, {"line_id": pl.Int64, "next_due_date": pl.Date, "next_due_fen": pl.Int64})


def _behaviour(conn: Connection, as_of: date) -> pl.DataFrame:
    """On-time streak, late installments and worst lateness in the window, from amounts (module docstring)."""
    booked = _frame(conn, select(loans.c.id, loans.c.line_id).where(loans.c.status.in_(("active", "closed", "written-off"))), {"loan_id": pl.Int64, "line_id": pl.Int64})
    due = _frame(
        conn,
        select(installments.c.loan_id, installments.c.number, installments.c.due_date,
               installments.c.principal_fen + installments.c.interest_fen + installments.c.fee_fen)
        .where(_scanned(conn, installments.c.due_date) < as_of),
        {"loan_id": pl.Int64, "number": pl.Int32, "due_date": pl.Date, "amount": pl.Int64},
    ).join(booked, on="loan_id")
    paid = _frame(
        conn,
        select(repayments.c.loan_id, repayments.c.business_date, func.sum(repayments.c.principal_fen + repayments.c.interest_fen + repayments.c.fee_fen))
        .where(repayments.c.business_date <= as_of)
        .group_by(repayments.c.loan_id, repayments.c.business_date),
        {"loan_id": pl.Int64, "paid_on": pl.Date, "amount": pl.Int64},
    )
    empty = pl.DataFrame(schema={"line_id": pl.Int64, "on_time_streak": pl.Int32, "late_payments_365d": pl.Int32, "max_dpd_365d": pl.Int32})
    if due.is_empty():
        return empty
    ranks = due.select("loan_id").unique().sort("loan_id").with_row_index("rank").with_columns(pl.col("rank").cast(pl.Int64))
    due = due.join(ranks, on="loan_id").sort("rank", "number").with_columns(pl.col("amount").cum_sum().over("rank").alias("cum"))
    paid = paid.join(ranks, on="loan_id").sort("rank", "paid_on").with_columns(pl.col("amount").cum_sum().over("rank").alias("cum"))
    assert due["cum"].max() < 2**_AMOUNT_BITS and (paid.is_empty() or paid["cum"].max() < 2**_AMOUNT_BITS)  # type: ignore[operator]
    shift = 2**_AMOUNT_BITS
    due = due.with_columns((pl.col("rank") * shift + pl.col("cum")).alias("key")).sort("key")
    paid = paid.select((pl.col("rank") * shift + pl.col("cum")).alias("key"), pl.col("rank").alias("paid_rank"), "paid_on").sort("key")
    matched = due.join_asof(paid, on="key", strategy="forward")
    matched = matched.with_columns(pl.when(pl.col("paid_rank") == pl.col("rank")).then(pl.col("paid_on")).otherwise(None).alias("paid_on"))
    window_start = as_of - timedelta(days=WINDOW_DAYS)
    late_days = (pl.col("paid_on").fill_null(as_of) - pl.col("due_date")).dt.total_days().cast(pl.Int32)
    matched = matched.with_columns(late_days.alias("late_days")).with_columns((pl.col("late_days") > 0).alias("late"))
    in_window = (pl.col("due_date") >= window_start) | (pl.col("paid_on").fill_null(as_of) >= window_start)
    streak = matched.sort(["line_id", "due_date", "number"], descending=[False, True, True]).with_columns(
        (pl.col("late").cast(pl.Int32).cum_sum().over("line_id") == 0).alias("clean")
    )
    return (
        streak.group_by("line_id")
        .agg(
            pl.col("clean").sum().cast(pl.Int32).alias("on_time_streak"),
            (pl.col("late") & (pl.col("due_date") >= window_start)).sum().cast(pl.Int32).alias("late_payments_365d"),
            pl.when(in_window).then(pl.col("late_days")).otherwise(0).max().clip(0).cast(pl.Int32).alias("max_dpd_365d"),
        )
    )


def _enterprise_data(conn: Connection, as_of: date, since: date) -> pl.DataFrame:
    """The latest record of each kind per enterprise on or before ``as_of``, and which kinds are new since ``since``."""
    e = enterprise_events
    # Dated filter only when the book has records after as_of (a past snapshot): on SQLite the range
    # makes the planner walk the date index row by row, slower than reading the table through.
    later = conn.scalar(select(func.max(e.c.event_date)))
    dated = e.c.event_date <= as_of if later is not None and later > as_of else literal(True)
    newest_first = func.row_number().over(partition_by=(e.c.enterprise_id, e.c.kind), order_by=(e.c.event_date.desc(), e.c.id.desc())).label("newest")
    ranked = (
        select(e.c.enterprise_id, e.c.kind, e.c.revenue_12m_fen, e.c.trend, e.c.tax_grade, newest_first)
        .where(dated, e.c.kind != "external_alert")
        .subquery()
    )
    records = _frame(
        conn,
        select(ranked.c.enterprise_id, ranked.c.kind, ranked.c.revenue_12m_fen, ranked.c.trend, ranked.c.tax_grade).where(ranked.c.newest == 1),
        {"enterprise_id": pl.Int64, "kind": pl.Utf8, "revenue_12m_fen": pl.Int64, "trend": pl.Float64, "tax_grade": pl.Utf8},
    )
    wide = records.pivot(on="kind", index="enterprise_id", values=["revenue_12m_fen", "trend", "tax_grade"], aggregate_function="first") if records.height else pl.DataFrame(schema={"enterprise_id": pl.Int64})
    def col(name: str, dtype: pl.DataType) -> pl.Expr:
        return pl.col(name) if name in wide.columns else pl.lit(None, dtype)
    data = wide.select(
        "enterprise_id",
        pl.coalesce(col("revenue_12m_fen_tax_record", pl.Int64), col("revenue_12m_fen_invoice_record", pl.Int64), col("revenue_12m_fen_settlement_record", pl.Int64)).cast(pl.Int64).alias("revenue_12m_fen"),
        col("trend_tax_record", pl.Float64).cast(pl.Float64).alias("revenue_trend"),
        col("trend_invoice_record", pl.Float64).cast(pl.Float64).alias("invoice_trend"),
        col("trend_settlement_record", pl.Float64).cast(pl.Float64).alias("settlement_trend"),
        col("tax_grade_tax_record", pl.Utf8).cast(pl.Utf8).alias("tax_grade"),
    )
    fresh = _frame(
        conn,
        select(e.c.enterprise_id, e.c.kind).where(e.c.event_date > since, e.c.event_date <= as_of).distinct(),
        {"enterprise_id": pl.Int64, "kind": pl.Utf8},
    ).group_by("enterprise_id").agg(
        (pl.col("kind") == "tax_record").any().alias("event_new_tax_record"),
        (pl.col("kind") == "invoice_record").any().alias("event_new_invoice"),
        (pl.col("kind") == "external_alert").any().alias("event_external_alert"),
    )
    return data.join(fresh, on="enterprise_id", how="full", coalesce=True)


def _changes(conn: Connection, as_of: date) -> pl.DataFrame:
    """The latest line change effective on or before ``as_of`` (``line_changes.effective_date``) and the
    temporary limit in force then: what a caller snapshotting the book directly gets (the close of
    business overlays the same reading, as of the day before, on its own snapshot)."""
    schema = {"line_id": pl.Int64, "last_change_date": pl.Date, "last_change_action": pl.Utf8, "temp_limit_fen": pl.Int64, "temp_limit_until": pl.Date}
    c = line_changes.c
    latest = select(c.line_id.label("line_id"), func.max(c.id).label("last")).where(c.effective_date <= as_of).group_by(c.line_id).subquery()
    rows = _frame(
        conn,
        select(c.line_id, c.effective_date, c.action, c.temp_limit_fen, c.temp_limit_until).join(latest, and_(latest.c.line_id == c.line_id, latest.c.last == c.id)),
        schema,
    )
    live = pl.col("temp_limit_until").is_not_null() & (pl.col("temp_limit_until") >= as_of) & (pl.col("temp_limit_fen").fill_null(0) > 0)
    return rows.with_columns(
        pl.when(live).then(pl.col("temp_limit_fen")).otherwise(None).alias("temp_limit_fen"),
        pl.when(live).then(pl.col("temp_limit_until")).otherwise(None).alias("temp_limit_until"),
    )


_BEHAVIOUR_UPSERT_CHUNK = 10_000


def write_behaviour_scores(conn: Connection, as_of: date, scored: pl.DataFrame) -> int:
    """Store the behaviour scores of ``as_of`` (rows of :func:`smelend.lines.behaviour.score_behaviour`) in the
    caller's transaction, one row per line and date; a line already scored that day keeps its first score
    (a resumed run writes nothing twice). Returns how many rows were new."""
    from sqlalchemy.dialects import postgresql, sqlite

    from smelend.store.tables import behaviour_scores

    needed = ("line_id", "behaviour_score", "behaviour_pd", "behaviour_grade", "behaviour_reasons", "behaviour_model")
    missing = [c for c in needed if c not in scored.columns]
    if missing:
        raise ValueError(f"scored rows lack {', '.join(missing)}")
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    statement = dialect.insert(behaviour_scores).on_conflict_do_nothing(index_elements=["line_id", "business_date"])
    rows = [
        {"line_id": r["line_id"], "business_date": as_of, "score": r["behaviour_score"], "pd": r["behaviour_pd"], "grade": r["behaviour_grade"],
         "model_version": r["behaviour_model"], "reasons": ",".join(r["behaviour_reasons"] or [])}
        for r in scored.select(needed).to_dicts()
    ]
    before = conn.scalar(select(func.count()).select_from(behaviour_scores).where(behaviour_scores.c.business_date == as_of)) or 0
    for start in range(0, len(rows), _BEHAVIOUR_UPSERT_CHUNK):
        conn.execute(statement, rows[start : start + _BEHAVIOUR_UPSERT_CHUNK])
    after = conn.scalar(select(func.count()).select_from(behaviour_scores).where(behaviour_scores.c.business_date == as_of)) or 0
    return int(after - before)
