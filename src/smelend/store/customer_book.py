"""The customer book from the platform's own database: the columns of the synthetic book
(:func:`smelend.marketing.customers.simulate_customers`) built from what the database holds, so
segments, the pre-approved list, retention and CLV run on the bank's own customers.

Why point-in-time: every column is read *as of* a date (default: the business date) from dated
records only — line starts and ends, line changes (the limit, status and end a line had before a later
change), loans (a draw is a loan, dated by its start), repayments, installments, enterprise records,
applications — so the book of 90 days ago can be rebuilt, and what happened in the 90 days since
(:func:`observed_outcomes`) is a label the retention models learn from (the synthetic book has its
truth drawn instead).

One row per enterprise (the customer: ``customer_id`` = ``E-{enterprise id}``) that has a line started
on or before ``as_of`` or an application made by then:

==========================  ===========================================================================
has_line                    a credit line started on or before ``as_of`` (expired lines included)
applied                     no line, and an application made on or before ``as_of`` (any outcome)
limit_fen                   sum over its lines of the limit in force on ``as_of`` (a line change after
                            ``as_of`` gives its ``limit_before_fen``)
balance_fen                 principal outstanding on ``as_of``: per loan started by then, principal
                            less the principal of repayments dated on or before ``as_of``; 0 for a loan
                            written off
utilisation                 balance / limit, clipped to 0..1 (0 without a line)
rate                        the lines' annual rates weighted by limit (null without a line)
months_on_book              whole months from the first line's start to ``as_of``
draws_12m                   loans started in the 365 days to ``as_of`` (after ``as_of`` - 365)
days_since_last_draw        days from the latest of those draws to ``as_of``; null without one
line_expires_in_days        days from ``as_of`` to the latest line end in force, at least 0
next_due_in_days            days to the earliest installment due on or after ``as_of`` of a loan with a
                            balance; 0 without one
late_payments_12m           installments due in the 365 days before ``as_of`` paid after their due
                            date or still unpaid (the snapshot's reading of repayment behaviour,
                            :mod:`smelend.store.snapshot`)
flat record                 every column of :data:`smelend.risk.features.FLAT_COLUMNS`: the latest
                            decision's evidence made on or before ``as_of`` (``flatten`` of its stored
                            application and evidence), then the latest enterprise records on or before
                            ``as_of`` over it (tax record: grade and declared sales; invoice record:
                            invoiced sales, the year before from its trend; settlement record: monthly
                            inflow = revenue / 12), each making its source ``ok``. Without a decision,
                            tax, invoices and cash flow without a record are ``missing``, the other sources
                            ``not_requested``, except the relationship: ``ok`` with ``relationship_days``
                            from the bank core's first settled disbursement of the customer's loans
enterprise_id, line_count   the enterprise's id and how many lines it has
==========================  ===========================================================================
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

import polars as pl
from sqlalchemy import and_, exists, func, select
from sqlalchemy.engine import Connection

from smelend.errors import InvalidInput
from smelend.risk.features import FLAT_NAMES, FLAT_SCHEMA, flatten
from smelend.risk.schemas import SOURCES
from smelend.store.tables import (
    applications,
    bank_core_transfers,
    business_day,
    credit_lines,
    decisions,
    enterprise_events,
    installments,
    line_changes,
    loans,
    repayments,
)

YEAR_DAYS = 365
EVENT_SOURCES = {"tax_record": "tax", "invoice_record": "invoices", "settlement_record": "cashflow"}
BEHAVIOUR_COLUMNS = ("customer_id", "has_line", "applied", "limit_fen", "balance_fen", "utilisation", "rate", "months_on_book", "draws_12m",
                     "days_since_last_draw", "line_expires_in_days", "next_due_in_days", "late_payments_12m")


def holds_lines(conn: Connection) -> bool:
    """Whether the database holds any credit line (the rule for the marketing commands' default source)."""
    return bool(conn.scalar(select(exists().where(credit_lines.c.id.is_not(None)))))


def business_date(conn: Connection) -> date | None:
    return conn.scalar(select(business_day.c.business_date))


def _read(conn: Connection, statement: Any, schema: dict[str, Any]) -> pl.DataFrame:
    """``statement`` into a typed polars frame by the snapshot's fast path (plain driver tuples, dates parsed by polars)."""
    from smelend.store.snapshot import _frame

    return _frame(conn, statement, schema)


def _months_between(start: pl.Expr, as_of: date) -> pl.Expr:
    months = (as_of.year - start.dt.year().cast(pl.Int32)) * 12 + (as_of.month - start.dt.month().cast(pl.Int32))
    months = months - (start.dt.day().cast(pl.Int32) > as_of.day).cast(pl.Int32)
    return pl.max_horizontal(months, pl.lit(0, pl.Int32))


def _lines(conn: Connection, as_of: date) -> pl.DataFrame:
    """Lines started by ``as_of`` with the limit, status and end they had on ``as_of``."""
    lines = _read(conn,
        select(credit_lines.c.id, credit_lines.c.enterprise_id, credit_lines.c.limit_fen, credit_lines.c.annual_rate, credit_lines.c.start_date,
               credit_lines.c.end_date, credit_lines.c.status).where(credit_lines.c.start_date <= as_of), {"line_id": pl.Int64, "enterprise_id": pl.Int64, "limit_fen": pl.Int64, "annual_rate": pl.Utf8, "start_date": pl.Date,
                          "end_date": pl.Date, "status": pl.Utf8})
    first_change = (select(line_changes.c.line_id, func.min(line_changes.c.id).label("id")).where(line_changes.c.effective_date > as_of)
                    .group_by(line_changes.c.line_id).subquery())
    later = _read(conn,
        select(line_changes.c.line_id, line_changes.c.limit_before_fen, line_changes.c.end_before, line_changes.c.status_before)
        .join(first_change, first_change.c.id == line_changes.c.id),
        {"line_id": pl.Int64, "limit_then": pl.Int64, "end_then": pl.Date, "status_then": pl.Utf8})
    return lines.join(later, on="line_id", how="left").with_columns(
        pl.coalesce("limit_then", "limit_fen").alias("limit_fen"), pl.coalesce("end_then", "end_date").alias("end_date"),
        pl.coalesce("status_then", "status").alias("status"), pl.col("annual_rate").cast(pl.Float64).alias("rate"),
    ).drop("limit_then", "end_then", "status_then", "annual_rate")


def _loans(conn: Connection, as_of: date) -> pl.DataFrame:
    """Loans started by ``as_of`` with their principal outstanding on ``as_of``."""
    repaid = (select(repayments.c.loan_id, func.sum(repayments.c.principal_fen).label("repaid")).where(repayments.c.business_date <= as_of)
              .group_by(repayments.c.loan_id).subquery())
    frame = _read(conn,
        select(loans.c.id, loans.c.line_id, credit_lines.c.enterprise_id, loans.c.start_date, loans.c.principal_fen, loans.c.status, func.coalesce(repaid.c.repaid, 0))
        .join(credit_lines, credit_lines.c.id == loans.c.line_id).outerjoin(repaid, repaid.c.loan_id == loans.c.id).where(loans.c.start_date <= as_of), {"loan_id": pl.Int64, "line_id": pl.Int64, "enterprise_id": pl.Int64, "start_date": pl.Date, "principal_fen": pl.Int64,
                          "status": pl.Utf8, "repaid_fen": pl.Int64})
    return frame.with_columns(
        pl.when(pl.col("status") == "written-off").then(0).otherwise(pl.max_horizontal(pl.col("principal_fen") - pl.col("repaid_fen"), pl.lit(0))).alias("balance_fen"))


def _next_due(conn: Connection, as_of: date, owing: list[int]) -> pl.DataFrame:
    schema = {"loan_id": pl.Int64, "due": pl.Date}
    if not owing:
        return pl.DataFrame(schema=schema)
    due = _read(conn, select(installments.c.loan_id, func.min(installments.c.due_date)).where(installments.c.due_date >= as_of).group_by(installments.c.loan_id), schema)
    return due.join(pl.DataFrame({"loan_id": owing}, schema={"loan_id": pl.Int64}), on="loan_id")


def _late_payments(conn: Connection, as_of: date) -> pl.DataFrame:
    """Late installments in the 365 days before ``as_of`` per line: the snapshot's amount-based reading."""
    from smelend.store.snapshot import _behaviour  # one reading of repayment behaviour for the book and marketing

    return _behaviour(conn, as_of).select("line_id", pl.col("late_payments_365d").cast(pl.Int64))


def _decided_records(conn: Connection, as_of: date) -> pl.DataFrame:
    """The flat record of each enterprise's latest decision made on or before ``as_of`` (its stored inputs)."""
    from smelend.risk.schemas import Application, Evidence

    latest = (select(applications.c.enterprise_id, func.max(applications.c.applied_on).label("on")).where(applications.c.applied_on <= as_of)
              .group_by(applications.c.enterprise_id).subquery())
    rows = conn.execute(
        select(applications.c.enterprise_id, decisions.c.document, decisions.c.created_at, decisions.c.id)
        .join(latest, and_(latest.c.enterprise_id == applications.c.enterprise_id, latest.c.on == applications.c.applied_on))
        .join(decisions, decisions.c.application_id == applications.c.id)
        .order_by(applications.c.enterprise_id, decisions.c.created_at, decisions.c.id)
    ).all()
    records: dict[int, dict[str, Any]] = {}
    for enterprise_id, document, _, _ in rows:  # the last decision of the latest application wins
        inputs = json.loads(document)["inputs"]
        flat = flatten(Application.model_validate(inputs["application"]), Evidence.model_validate(inputs["evidence"]))
        records[int(enterprise_id)] = flat
    frame = pl.DataFrame([{n: r.get(n) for n in FLAT_NAMES} for r in records.values()], schema=FLAT_SCHEMA, orient="row")
    return frame.with_columns(pl.Series("enterprise_id", list(records), dtype=pl.Int64), pl.lit(True).alias("decided"))


def _latest_events(conn: Connection, as_of: date) -> pl.DataFrame:
    e = enterprise_events
    newest = func.row_number().over(partition_by=(e.c.enterprise_id, e.c.kind), order_by=(e.c.event_date.desc(), e.c.id.desc())).label("newest")
    ranked = select(e.c.enterprise_id, e.c.kind, e.c.revenue_12m_fen, e.c.trend, e.c.tax_grade, newest).where(
        e.c.event_date <= as_of, e.c.kind.in_(tuple(EVENT_SOURCES))).subquery()
    records = _read(conn, select(ranked.c.enterprise_id, ranked.c.kind, ranked.c.revenue_12m_fen, ranked.c.trend, ranked.c.tax_grade).where(ranked.c.newest == 1), {"enterprise_id": pl.Int64, "kind": pl.Utf8, "revenue_12m_fen": pl.Int64, "trend": pl.Float64, "tax_grade": pl.Utf8})

    def of(kind: str) -> pl.DataFrame:
        return records.filter(pl.col("kind") == kind).drop("kind")

    tax = of("tax_record").select("enterprise_id", pl.col("tax_grade").alias("ev_tax_grade"), pl.col("revenue_12m_fen").alias("ev_tax_sales"))
    inv = of("invoice_record").select("enterprise_id", pl.col("revenue_12m_fen").alias("ev_invoice_sales"),
                                      pl.when(pl.col("trend") > -1).then((pl.col("revenue_12m_fen") / (1 + pl.col("trend"))).round(0)).otherwise(None).cast(pl.Int64).alias("ev_invoice_prev"))
    cash = of("settlement_record").select("enterprise_id", (pl.col("revenue_12m_fen") / 12).round(0).cast(pl.Int64).alias("ev_inflow"))
    return tax.join(inv, on="enterprise_id", how="full", coalesce=True).join(cash, on="enterprise_id", how="full", coalesce=True)


def _bank_core_since(conn: Connection, as_of: date) -> pl.DataFrame:
    """The first settled bank-core transfer of each enterprise's loans on or before ``as_of`` (a loan's first is its
    disbursement: nothing is repaid before it is paid out)."""
    return _read(conn,
        select(credit_lines.c.enterprise_id, func.min(bank_core_transfers.c.business_date))
        .join(loans, loans.c.id == bank_core_transfers.c.loan_id).join(credit_lines, credit_lines.c.id == loans.c.line_id)
        .where(bank_core_transfers.c.status == "settled", bank_core_transfers.c.kind == "disbursement", bank_core_transfers.c.business_date <= as_of)
        .group_by(credit_lines.c.enterprise_id),
        {"enterprise_id": pl.Int64, "first_transfer": pl.Date})


def _flat_records(conn: Connection, as_of: date, customers: pl.DataFrame) -> pl.DataFrame:
    """The flat record per customer (module table): decision evidence, then enterprise records over it."""
    decided = _decided_records(conn, as_of)
    frame = customers.select("enterprise_id").join(decided, on="enterprise_id", how="left")
    frame = frame.join(_latest_events(conn, as_of), on="enterprise_id", how="left").join(_bank_core_since(conn, as_of), on="enterprise_id", how="left")
    undecided = pl.col("decided").is_null()
    status = {f"status_{s}": pl.when(undecided).then(pl.lit("not_requested")).otherwise(pl.col(f"status_{s}")) for s in SOURCES}
    for kind, source in EVENT_SOURCES.items():
        marker = {"tax_record": "ev_tax_grade", "invoice_record": "ev_invoice_sales", "settlement_record": "ev_inflow"}[kind]
        present = pl.col("ev_tax_sales").is_not_null() if kind == "tax_record" else pl.col(marker).is_not_null()
        status[f"status_{source}"] = pl.when(present).then(pl.lit("ok")).otherwise(pl.when(undecided).then(pl.lit("missing")).otherwise(pl.col(f"status_{source}")))
    bank_core = undecided & pl.col("first_transfer").is_not_null()
    status["status_relationship"] = pl.when(bank_core).then(pl.lit("ok")).otherwise(status["status_relationship"])
    frame = frame.with_columns(
        pl.coalesce("ev_tax_grade", "tax_grade").alias("tax_grade"),
        pl.coalesce("ev_tax_sales", "tax_declared_sales_12m_fen").alias("tax_declared_sales_12m_fen"),
        pl.coalesce("ev_invoice_sales", "invoice_sales_12m_fen").alias("invoice_sales_12m_fen"),
        pl.when(pl.col("ev_invoice_sales").is_not_null()).then(pl.col("ev_invoice_prev")).otherwise(pl.col("invoice_sales_prev_12m_fen")).alias("invoice_sales_prev_12m_fen"),
        pl.coalesce("ev_inflow", "cashflow_inflow_monthly_avg_fen").alias("cashflow_inflow_monthly_avg_fen"),
        pl.when(bank_core).then((pl.lit(as_of) - pl.col("first_transfer")).dt.total_days()).otherwise(pl.col("relationship_days")).cast(pl.Int64).alias("relationship_days"),
    ).with_columns(**status)
    return frame.select("enterprise_id", *[pl.col(n).cast(t) for n, t in FLAT_SCHEMA.items()])


def customer_book(conn: Connection, as_of: date | None = None) -> pl.DataFrame:
    """The customer book on ``as_of`` (default: the business date); see the module table for each column."""
    day = as_of or business_date(conn)
    if day is None:
        raise InvalidInput.one("database", "has no business date: generate a book (`smelend book generate`) or run the service first")
    lines = _lines(conn, day)
    loans_then = _loans(conn, day)
    applied = _read(conn, select(applications.c.enterprise_id).where(applications.c.applied_on <= day).distinct(), {"enterprise_id": pl.Int64})
    year_ago = day - timedelta(days=YEAR_DAYS)
    late = _late_payments(conn, day).join(lines.select("line_id", "enterprise_id"), on="line_id").group_by("enterprise_id").agg(pl.col("late_payments_365d").sum().alias("late_payments_12m"))
    owing = loans_then.filter(pl.col("balance_fen") > 0)
    due = _next_due(conn, day, owing["loan_id"].to_list()).join(owing.select("loan_id", "enterprise_id"), on="loan_id").group_by("enterprise_id").agg(pl.col("due").min())
    draws = loans_then.filter(pl.col("start_date") > year_ago).group_by("enterprise_id").agg(pl.len().alias("draws_12m"), pl.col("start_date").max().alias("last_draw"))
    balance = loans_then.group_by("enterprise_id").agg(pl.col("balance_fen").sum())
    per_line = lines.group_by("enterprise_id").agg(
        pl.len().alias("line_count"), pl.col("limit_fen").sum(), ((pl.col("rate") * pl.col("limit_fen")).sum() / pl.col("limit_fen").sum()).alias("rate"),
        pl.col("start_date").min().alias("first_start"), pl.col("end_date").max().alias("last_end"),
    )
    ids = pl.concat([per_line.select("enterprise_id"), applied]).unique().sort("enterprise_id")
    book = ids.join(per_line, on="enterprise_id", how="left").join(balance, on="enterprise_id", how="left").join(draws, on="enterprise_id", how="left") \
        .join(due, on="enterprise_id", how="left").join(late, on="enterprise_id", how="left") \
        .join(applied.with_columns(pl.lit(True).alias("any_application")), on="enterprise_id", how="left")
    has_line = pl.col("line_count").is_not_null()
    book = book.with_columns(
        has_line.alias("has_line"),
        pl.col("limit_fen").fill_null(0), pl.col("balance_fen").fill_null(0), pl.col("draws_12m").fill_null(0).cast(pl.Int64),
        pl.col("line_count").fill_null(0).cast(pl.Int64), pl.col("late_payments_12m").fill_null(0).cast(pl.Int64),
    ).with_columns(
        (pl.lit("E-") + pl.col("enterprise_id").cast(pl.Utf8)).alias("customer_id"),
        (~pl.col("has_line") & pl.col("any_application").fill_null(False)).alias("applied"),
        pl.when(pl.col("limit_fen") > 0).then((pl.col("balance_fen") / pl.col("limit_fen")).clip(0.0, 1.0)).otherwise(0.0).alias("utilisation"),
        pl.when(has_line).then(_months_between(pl.col("first_start"), day)).otherwise(0).cast(pl.Int64).alias("months_on_book"),
        (pl.lit(day) - pl.col("last_draw")).dt.total_days().cast(pl.Float64).alias("days_since_last_draw"),
        pl.when(has_line).then(pl.max_horizontal((pl.col("last_end") - pl.lit(day)).dt.total_days(), pl.lit(0))).otherwise(0).cast(pl.Int64).alias("line_expires_in_days"),
        pl.when(pl.col("due").is_not_null()).then((pl.col("due") - pl.lit(day)).dt.total_days()).otherwise(0).cast(pl.Int64).alias("next_due_in_days"),
    )
    flat = _flat_records(conn, day, book)
    return book.select(*BEHAVIOUR_COLUMNS, "enterprise_id", "line_count").join(flat, on="enterprise_id", how="left", maintain_order="left")


@dataclass(frozen=True)
class Outcomes:
    """What line holders on ``start`` did in the ``days`` after it (the labels the retention models learn)."""

    start: date
    days: int
    frame: pl.DataFrame  # customer_id, dormant (no draw in the window), attrited (left: no line in force and no balance at its end)


def observed_outcomes(conn: Connection, start: date, days: int) -> Outcomes:
    """Per line holder on ``start``: ``dormant`` (no loan started in ``(start, start + days]``) and ``attrited``
    (at ``start + days`` every line has ended (expired, or its end passed) and nothing is owed)."""
    end = start + timedelta(days=days)
    lines_end = _lines(conn, end)
    holders = _lines(conn, start).select("enterprise_id").unique()
    drew = _loans(conn, end).filter(pl.col("start_date") > start).select("enterprise_id").unique().with_columns(pl.lit(True).alias("drew"))
    in_force = lines_end.filter((pl.col("status") != "expired") & (pl.col("end_date") > end)).select("enterprise_id").unique().with_columns(pl.lit(True).alias("in_force"))
    owed = _loans(conn, end).group_by("enterprise_id").agg(pl.col("balance_fen").sum().alias("owed"))
    frame = holders.join(drew, on="enterprise_id", how="left").join(in_force, on="enterprise_id", how="left").join(owed, on="enterprise_id", how="left").select(
        (pl.lit("E-") + pl.col("enterprise_id").cast(pl.Utf8)).alias("customer_id"),
        (~pl.col("drew").fill_null(False)).alias("dormant"),
        (~pl.col("in_force").fill_null(False) & (pl.col("owed").fill_null(0) == 0)).alias("attrited"),
    )
    return Outcomes(start, days, frame.sort("customer_id"))


def labelled_book(conn: Connection, as_of: date, days: int) -> pl.DataFrame:
    """The book of ``as_of - days`` with what its line holders did since: ``attrites_90d`` and ``dormant_next_90d``
    (named as the synthetic book's truth columns; the window is ``days``). Customers without a line have both false."""
    start = as_of - timedelta(days=days)
    book = customer_book(conn, start)
    seen = observed_outcomes(conn, start, days).frame
    labelled = book.join(seen, on="customer_id", how="left", maintain_order="left")
    return labelled.with_columns(
        (pl.col("has_line") & pl.col("attrited").fill_null(False)).alias("attrites_90d"),
        (pl.col("has_line") & pl.col("dormant").fill_null(False)).alias("dormant_next_90d"),
    ).drop("attrited", "dormant")


# --- which book the marketing commands and endpoints read ------------------------------------------------

SOURCES_OF_BOOK = ("db", "synthetic")
HISTORY_DAYS = 90  # the retention models learn from what line holders did in the 90 days before the business date


@dataclass(frozen=True)
class ChosenBook:
    """The customer book a marketing figure runs on, and where it came from."""

    source: str  # db, synthetic
    book: pl.DataFrame
    as_of: date | None  # db: the business date the book stands at
    note: str | None  # why the source was chosen, when it was not asked for (for stderr)
    history: pl.DataFrame | None = None  # db with history: the labelled book of as_of - 90 days


def resolve_source(source: str | None, customers: int | None, lines_held: Any) -> tuple[str, str | None]:
    """The rule: ``--source`` when given; else ``synthetic`` when ``--customers`` sizes a synthetic book; else
    ``db`` when the database holds credit lines, ``synthetic`` otherwise (with a note). ``lines_held`` is called
    only when the database must be asked."""
    if source is not None and source not in SOURCES_OF_BOOK:
        raise InvalidInput.one("source", f"must be one of {', '.join(SOURCES_OF_BOOK)}")
    if source == "db" and customers is not None:
        raise InvalidInput.one("customers", "sizes the synthetic book only: leave it out with source db")
    if source is not None:
        return source, None
    if customers is not None:
        return "synthetic", None
    if lines_held():
        return "db", None
    return "synthetic", "the database holds no credit lines: using the synthetic customer book (--source synthetic to choose it, --source db to refuse)"


def read_book(conn: Connection, *, history: bool = False) -> ChosenBook:
    """The stored book on the business date (and, with ``history``, the labelled book of 90 days before)."""
    if not holds_lines(conn):
        raise InvalidInput.one("source", "the database holds no credit lines: generate a book (`smelend book generate`) or use source synthetic")
    day = business_date(conn)
    book = customer_book(conn, day)
    past = labelled_book(conn, day, HISTORY_DAYS) if history and day is not None else None
    return ChosenBook("db", book, day, None, past)
