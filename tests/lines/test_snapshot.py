"""The book snapshot: exact figures for a line lived through the real servicing operations, the latest
enterprise records and the day's events, consistency with the tables on a generated book, Parquet."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

import polars as pl
import pyarrow as pa
import pytest
from sqlalchemy import case, func, insert, select

from smelend.lines.snapshot import COLUMN_DOCS, SNAPSHOT_COLUMNS, SNAPSHOT_SCHEMA, conform, empty_snapshot
from smelend.operations.cob import close_business
from smelend.operations.context import open_book
from smelend.operations.lines import DrawRequest, draw, open_line
from smelend.operations.repayments import repay
from smelend.servicing import delinquency
from smelend.servicing.conventions import Method
from smelend.store import open_store
from smelend.store.lending import load_loan
from smelend.store.snapshot import read_parquet, snapshot_book, write_parquet
from smelend.store.tables import credit_lines, enterprise_events, enterprises, loans

from .conftest import BOOK_ACCOUNTS, GeneratedBook

USCC = "91310000MA1FL8T5X3"
AS_OF = date(2026, 4, 25)


def test_schema_documents_every_column() -> None:
    assert len(SNAPSHOT_COLUMNS) == len(set(SNAPSHOT_COLUMNS)) == len(SNAPSHOT_SCHEMA)
    assert all(COLUMN_DOCS[name] and SNAPSHOT_SCHEMA.field(name).metadata[b"doc"] for name in SNAPSHOT_COLUMNS)
    assert empty_snapshot().schema == SNAPSHOT_SCHEMA
    with pytest.raises(ValueError, match="missing columns: as_of"):
        conform(pa.table({"line_id": [1]}))


def _lived_line(db_url: str):  # type: ignore[no-untyped-def]
    """A 500,000-yuan owner-credit line; 120,000 drawn equal-principal over 12 months at 7.2% on 15 January;
    the first installment paid on its due date, the second 5 days late, the third not paid by 25 April."""
    engine = open_store(db_url)
    book = open_book(engine)
    line = open_line(book, USCC, "owner-credit-loan", 50_000_000, Decimal("0.072"), date(2026, 1, 15))
    loan = draw(book, DrawRequest(line.id, 12_000_000, Method.EQUAL_PRINCIPAL, 12, date(2026, 1, 15)))
    repay(book, loan.id, 1_000_000 + 72_000, date(2026, 2, 15))  # 12,000,000 x 7.2% / 12 = 72,000 interest
    close_business(book, date(2026, 3, 19))
    with engine.connect() as conn:
        penalty = load_loan(conn, loan.id).state.penalty_receivable_fen  # 5 nights of penalty by 20 March
    assert penalty > 0
    repay(book, loan.id, penalty + 1_000_000 + 66_000, date(2026, 3, 20))
    close_business(book, AS_OF - timedelta(days=1))
    return engine, line.id, loan.id


def test_snapshot_of_a_lived_line_is_exact(db_url: str) -> None:
    engine, line_id, loan_id = _lived_line(db_url)
    with engine.begin() as conn:
        enterprise_id = conn.scalar(select(credit_lines.c.enterprise_id).where(credit_lines.c.id == line_id))
        records = [
            ("tax_record", date(2026, 3, 1), 100, -0.5, "D", None),
            ("tax_record", AS_OF, 300_000_000, 0.1, "B", None),
            ("invoice_record", date(2026, 4, 20), 250_000_000, -0.05, None, None),
            ("external_alert", AS_OF, None, None, None, "court judgement"),
            ("tax_record", AS_OF + timedelta(days=3), 1, 9.0, "A", None),  # the future: not seen
        ]
        conn.execute(insert(enterprise_events), [
            {"enterprise_id": enterprise_id, "kind": k, "event_date": d, "revenue_12m_fen": r, "trend": t, "tax_grade": g, "detail": x} for k, d, r, t, g, x in records
        ])
    table = snapshot_book(engine, AS_OF)
    assert table.schema == SNAPSHOT_SCHEMA and table.num_rows == 1
    row = table.to_pylist()[0]
    expected = {
        "as_of": AS_OF, "line_id": line_id, "enterprise_id": enterprise_id, "owner_person_id": None, "product_id": "owner-credit-loan",
        "status": "active", "annual_rate": "0.072", "limit_fen": 50_000_000, "used_fen": 10_000_000, "start_date": date(2026, 1, 15),
        "months_on_book": 3, "open_loans": 1, "principal_outstanding_fen": 10_000_000,
        "max_dpd": 10, "max_dpd_365d": 10, "overdue_principal_fen": 1_000_000,
        "worst_category": delinquency.classify(10, frozenset(), delinquency.load_policy()).value,
        "on_time_streak": 0, "late_payments_365d": 2, "draws_90d": 0, "drawn_fen_90d": 0,
        "next_due_date": date(2026, 5, 15), "next_due_fen": 1_000_000 + 54_000,  # 9,000,000 x 0.6%
        "revenue_12m_fen": 300_000_000, "revenue_trend": 0.1, "invoice_trend": -0.05, "settlement_trend": None, "tax_grade": "B",
        "event_new_tax_record": True, "event_new_invoice": False, "event_external_alert": True,
        "last_change_date": None, "last_change_action": None, "temp_limit_fen": None, "temp_limit_until": None,
    }
    assert {k: row[k] for k in expected} == expected
    # The dated windows moved back to 16 March: the first installment on time, the second one day late
    # (its payment on 20 March not yet seen). Loan standing (days past due today) is the book's current one.
    earlier = snapshot_book(engine, date(2026, 3, 16)).to_pylist()[0]
    assert (earlier["on_time_streak"], earlier["late_payments_365d"]) == (0, 1)
    assert (earlier["draws_90d"], earlier["drawn_fen_90d"], earlier["event_new_tax_record"], earlier["tax_grade"]) == (1, 12_000_000, False, "D")
    engine.dispose()


def test_snapshot_of_a_generated_book_agrees_with_the_tables(generated_book: GeneratedBook, tmp_path: Path) -> None:
    engine = generated_book.engine
    table = snapshot_book(engine, generated_book.as_of)
    frame = pl.from_arrow(table)
    assert isinstance(frame, pl.DataFrame)
    assert table.schema == SNAPSHOT_SCHEMA and frame.height == BOOK_ACCOUNTS and frame["line_id"].is_unique().all()
    with engine.connect() as conn:
        lines = dict(conn.execute(select(credit_lines.c.id, credit_lines.c.used_fen)).all())
        open_loans = dict(conn.execute(select(loans.c.line_id, func.count()).where(loans.c.status == "active").group_by(loans.c.line_id)).all())
        worst = dict(conn.execute(select(loans.c.line_id, func.max(loans.c.days_past_due)).where(loans.c.status == "active").group_by(loans.c.line_id)).all())
    for row in frame.iter_rows(named=True):
        assert row["used_fen"] == lines[row["line_id"]] == row["principal_outstanding_fen"]
        assert row["open_loans"] == open_loans.get(row["line_id"], 0) and row["max_dpd"] == (worst.get(row["line_id"]) or 0)
        assert row["max_dpd_365d"] >= row["max_dpd"] and row["overdue_principal_fen"] <= row["principal_outstanding_fen"]
        assert (row["next_due_date"] is None) == (row["next_due_fen"] is None)
        assert row["next_due_date"] is None or row["next_due_date"] >= generated_book.as_of
    assert frame["late_payments_365d"].sum() > 0 and frame["on_time_streak"].sum() > 0 and frame["tax_grade"].null_count() < frame.height
    assert frame["event_new_tax_record"].any() or frame["event_new_invoice"].any()
    with engine.connect() as conn:  # the owner's exposure over every enterprise, from the tables
        exposure = select(
            enterprises.c.owner_person_id,
            func.sum(case((credit_lines.c.status == "expired", credit_lines.c.used_fen), else_=credit_lines.c.limit_fen)),
        ).join(enterprises, enterprises.c.id == credit_lines.c.enterprise_id).group_by(enterprises.c.owner_person_id)
        by_owner = {owner: int(total) for owner, total in conn.execute(exposure).all()}
    for row in frame.iter_rows(named=True):
        own = row["used_fen"] if row["status"] == "expired" else row["limit_fen"]
        assert row["owner_limits_fen"] == (by_owner[row["owner_person_id"]] if row["owner_person_id"] is not None else own) >= own
    path = write_parquet(table, tmp_path / "snap" / "book.parquet")
    assert read_parquet(path).equals(table)
