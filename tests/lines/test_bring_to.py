"""Days closed by a dated operation get the full close of business — the same pipeline as `smelend cob`
(snapshot, behaviour score, reassessment, collections actions), in process — and an operation on the
open business day closes nothing. On SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

from sqlalchemy import func, select

from smelend.operations.context import open_book
from smelend.operations.lines import DrawRequest, bring_to, draw, open_line
from smelend.servicing.conventions import Method
from smelend.store import open_store
from smelend.store.lending import get_business_day
from smelend.store.tables import cob_pipeline_runs, cob_runs, collection_actions

from .test_changes import valid_uscc

START = date(2026, 3, 2)


def test_a_draw_dated_later_closes_the_days_before_with_the_whole_pipeline(db_url: str, smelend_env: Path) -> None:
    engine = open_store(db_url)
    book = open_book(engine)
    line = open_line(book, valid_uscc(1), "tax-data-loan", 20_000_000, Decimal("0.072"), START)
    loan = draw(book, DrawRequest(line.id, 6_000_000, Method.EQUAL_INSTALLMENT, 12, START, auto_debit=True))  # paid on its due date
    assert bring_to(book, START) is False  # nothing to close: the open business day
    later = START + timedelta(days=35)  # past the first due date (2 April)
    draw(book, DrawRequest(line.id, 1_000_000, Method.EQUAL_INSTALLMENT, 12, later))
    closed = [START + timedelta(days=k) for k in range(35)]
    with engine.connect() as conn:
        assert get_business_day(conn).business_date == later
        runs = dict(conn.execute(select(cob_pipeline_runs.c.business_date, cob_pipeline_runs.c.status)).all())
        assert runs == dict.fromkeys(closed, "finished")  # every day by the pipeline, as `smelend cob` would
        assert conn.scalar(select(func.count()).select_from(cob_runs)) == 35
        reminders = conn.execute(select(collection_actions.c.business_date, collection_actions.c.step).where(collection_actions.c.loan_id == loan.id).order_by(collection_actions.c.business_date)).all()
    due = loan.installments[0].due_date
    assert [tuple(r) for r in reminders][:2] == [(due - timedelta(days=3), "reminder-3d"), (due - timedelta(days=1), "reminder-1d")]
    assert len(list((smelend_env / "cob").glob(f"*/cob-{START.isoformat()}/snapshot.parquet"))) == 1  # the data folder `smelend cob` uses
    assert bring_to(book, later) is False
    engine.dispose()


def test_two_operations_dated_later_at_once_close_the_days_once(db_url: str) -> None:
    from concurrent.futures import ThreadPoolExecutor

    engine = open_store(db_url)
    book = open_book(engine)
    open_line(book, valid_uscc(2), "tax-data-loan", 20_000_000, Decimal("0.072"), START)
    later = START + timedelta(days=3)
    with ThreadPoolExecutor(2) as pool:
        done = list(pool.map(lambda _: bring_to(book, later), range(2)))
    assert sorted(done) == [False, True]  # the one that waited found the days closed
    with engine.connect() as conn:
        assert conn.scalar(select(func.count()).select_from(cob_pipeline_runs)) == 3
        assert get_business_day(conn).business_date == later
    engine.dispose()
