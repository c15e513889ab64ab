"""The close of business's columnar loans stage on a generated book, on SQLite and PostgreSQL: it closes
loans exactly as the per-loan path does, and the positions it hands on are what the snapshot's and the
collections' queries read from the database after it; a direct snapshot reads the latest line change
by its effective date."""

from __future__ import annotations

from datetime import date, timedelta

import polars as pl
from sqlalchemy import select

from smelend.cob.pipeline import run_close_of_business
from smelend.cob.runners import LocalRunner
from smelend.operations import cob
from smelend.operations.context import open_book
from smelend.store import open_store
from smelend.store.book_generator import generate_book
from smelend.store.bulk_read import read_frame
from smelend.store.cob_loans import collections_input
from smelend.store.collections import collections_frame
from smelend.store.line_changes import latest_changes
from smelend.store.snapshot import independent_parts, snapshot_book
from smelend.store.tables import installments, journal_entries, loans, postings

AS_OF = date(2026, 6, 30)
ACCOUNTS = 240


def generated(url: str):  # type: ignore[no-untyped-def]
    engine = open_store(url)
    book = open_book(engine)
    generate_book(engine, ACCOUNTS, 11, AS_OF, book.catalogue, book.policy)
    return engine, book


def book_rows(engine) -> dict[str, list[tuple]]:  # type: ignore[no-untyped-def]
    with engine.connect() as conn:
        return {
            "loans": [tuple(r) for r in conn.execute(select(*[c for c in loans.c if c.name != "created_at"]).order_by(loans.c.id))],
            "installments": [tuple(r) for r in conn.execute(select(installments).order_by(installments.c.loan_id, installments.c.number))],
            "entries": [tuple(r) for r in conn.execute(select(journal_entries.c.idempotency_key, journal_entries.c.business_date, journal_entries.c.kind, journal_entries.c.loan_id).order_by(journal_entries.c.id))],
            "postings": [tuple(r) for r in conn.execute(
                select(journal_entries.c.idempotency_key, postings.c.account, postings.c.amount_fen, postings.c.loan_id)
                .join(journal_entries, journal_entries.c.id == postings.c.entry_id).order_by(postings.c.id)
            )],
        }


def test_columnar_close_equals_the_per_loan_path_day_after_day(db_url, tmp_path):
    reference, reference_book = generated(f"sqlite:///{tmp_path / 'per-loan.db'}")
    engine, book = generated(db_url)
    for day in (AS_OF, AS_OF + timedelta(days=1), AS_OF + timedelta(days=2)):
        totals, expected = cob.CobTotals(), cob.CobTotals()
        cob.close_loans(reference_book, day, expected, batch=False)
        standing = cob.close_loans(book, day, totals, batch=True)
        assert standing is not None and standing.height == totals.loan_days
        assert (totals.loan_days, totals.interest_fen, totals.suspended_interest_fen, totals.penalty_fen, totals.suspended_penalty_fen, totals.provision_change_fen) == (
            expected.loan_days, expected.interest_fen, expected.suspended_interest_fen, expected.penalty_fen, expected.suspended_penalty_fen, expected.provision_change_fen)
        assert totals.interest_fen > 0 and totals.penalty_fen > 0  # the generated book has late loans
        cob.finish_day(reference_book, day, expected)
        cob.finish_day(book, day, totals)
        assert book_rows(engine) == book_rows(reference)
    again = cob.close_loans(book, AS_OF + timedelta(days=3), cob.CobTotals(), batch=True)
    assert again is not None  # a fresh day: every active loan read again
    rerun = cob.close_loans(book, AS_OF + timedelta(days=3), cob.CobTotals(), batch=True)
    assert rerun is None  # nothing left to close: the later stages read the database
    engine.dispose()
    reference.dispose()


def test_positions_are_what_the_snapshot_and_collections_read_from_the_database(db_url):
    engine, book = generated(db_url)
    for day in (AS_OF, AS_OF + timedelta(days=1)):
        standing = cob.close_loans(book, day, cob.CobTotals(), batch=True)
        assert standing is not None
        with engine.connect() as conn:
            queried = snapshot_book(conn, day)
            assert snapshot_book(conn, day, positions=standing).equals(queried)
            assert snapshot_book(conn, day, positions=standing, parts=independent_parts(engine, day)).equals(queried)
            from_positions = collections_input(conn, day, standing)
            queried = collections_frame(conn, day)
        assert from_positions.equals(queried)
        assert from_positions.filter(pl.col("past_due_fen") > 0).height > 0 and from_positions["next_due_date"].null_count() < from_positions.height
        cob.finish_day(book, day, cob.CobTotals())
    engine.dispose()


def test_a_direct_snapshot_reads_the_latest_change_by_its_effective_date(db_url, tmp_path):
    engine, book = generated(db_url)
    run_close_of_business(book, AS_OF, LocalRunner(1), tmp_path)
    with engine.connect() as conn:
        latest = latest_changes(conn, before=AS_OF + timedelta(days=2))
        table = pl.from_arrow(snapshot_book(conn, AS_OF + timedelta(days=1)))
    assert latest.height > 0  # day one of the rules changes lines
    got = table.select("line_id", "last_change_date", "last_change_action").join(latest.select("line_id", "last_change_date", "last_change_action"), on="line_id", suffix="_table")
    assert got.height == latest.height
    assert got["last_change_date"].to_list() == got["last_change_date_table"].to_list() == [AS_OF] * got.height
    assert got["last_change_action"].to_list() == got["last_change_action_table"].to_list()
    engine.dispose()


def test_read_frame_keeps_every_value_on_both_backends(db_url):
    from sqlalchemy import Boolean, Date, Float, String, literal

    engine = open_store(db_url)
    with engine.connect() as conn:
        frame = read_frame(
            conn,
            select(literal(5), literal(""), literal('a,"b\nc'), literal(None, String), literal(True, Boolean), literal(date(2026, 6, 30), Date), literal(0.1 + 0.2, Float), literal(None, Date)),
            {"i": pl.Int64, "empty": pl.Utf8, "quoted": pl.Utf8, "null": pl.Utf8, "flag": pl.Boolean, "day": pl.Date, "x": pl.Float64, "no_day": pl.Date},
        )
    assert frame.rows() == [(5, "", 'a,"b\nc', None, True, date(2026, 6, 30), 0.1 + 0.2, None)]
    engine.dispose()
