"""The book-wide close of business on a real book, on SQLite and PostgreSQL: what it changes, that the
same date again changes nothing, that a later date catches up day by day, and the CLI contract."""

from __future__ import annotations

import json
from datetime import date, timedelta

import pytest
from sqlalchemy import func, select

from smelend.cli import main
from smelend.cob.pipeline import run_close_of_business
from smelend.cob.runners import LocalRunner
from smelend.operations.context import open_book
from smelend.operations.reconcile import trial_balance
from smelend.store import open_store
from smelend.store.lending import get_business_day
from smelend.store.tables import cob_pipeline_runs, credit_lines, journal_entries, line_changes, line_notifications, loans

from .book import START, make_book


def line_rows(conn) -> list[tuple]:
    return [tuple(r) for r in conn.execute(select(credit_lines.c.id, credit_lines.c.limit_fen, credit_lines.c.used_fen, credit_lines.c.status, credit_lines.c.end_date).order_by(credit_lines.c.id))]


def check_book(engine) -> None:
    with engine.connect() as conn:
        for line_id, limit, used, status, end in line_rows(conn):
            assert 0 <= used <= limit
            live = conn.scalar(select(func.coalesce(func.sum(loans.c.principal_outstanding_fen), 0)).where(loans.c.line_id == line_id, loans.c.status.in_(["active", "pending"])))
            assert used == live
        assert conn.scalar(select(func.count()).select_from(line_changes)) == conn.scalar(select(func.count()).select_from(line_notifications))
        per_day = conn.execute(select(line_changes.c.line_id, line_changes.c.effective_date, func.count()).group_by(line_changes.c.line_id, line_changes.c.effective_date)).all()
        assert all(n == 1 for *_, n in per_day)
    kept, recomputed = trial_balance(open_book(engine))
    assert kept.balanced and kept == recomputed


def test_close_of_business_reassesses_then_the_same_date_changes_nothing_and_a_later_date_catches_up(db_url, tmp_path):
    engine = open_store(db_url)
    make_book(engine)
    book = open_book(engine)
    through = START + timedelta(days=40)
    first = run_close_of_business(book, through, LocalRunner(1), tmp_path)
    assert len(first.days) == 41 and first.totals.interest_fen > 0
    assert first.changes["freeze"] > 0  # the first missed installments: grade E and late
    check_book(engine)
    with engine.connect() as conn:
        before = line_rows(conn), conn.scalar(select(func.count()).select_from(line_changes)), conn.scalar(select(func.count()).select_from(journal_entries))
        assert get_business_day(conn).last_closed == through
        assert conn.scalar(select(func.count()).select_from(cob_pipeline_runs).where(cob_pipeline_runs.c.status == "finished")) == 41
        change = conn.execute(select(line_changes).where(line_changes.c.action == "freeze")).mappings().first()
        assert (change["status_before"], change["status_after"]) == ("active", "frozen") and change["reasons"]
        assert change["rules_version"].startswith("line-reassessment@1.0") and change["model_version"] != "interim-dpd-grade"

    again = run_close_of_business(book, through, LocalRunner(1), tmp_path)
    assert again.days == [] and sum(again.changes.values()) == 0 and again.totals.interest_fen == 0
    with engine.connect() as conn:
        assert (line_rows(conn), conn.scalar(select(func.count()).select_from(line_changes)), conn.scalar(select(func.count()).select_from(journal_entries))) == before

    later = run_close_of_business(book, through + timedelta(days=2), LocalRunner(1), tmp_path)
    assert later.days == [through + timedelta(days=1), through + timedelta(days=2)]
    check_book(engine)
    engine.dispose()


def cli(capsys, *argv: str) -> tuple[int, dict | None, str]:
    with pytest.raises(SystemExit) as exited:
        main(list(argv))
    out, err = capsys.readouterr()
    return exited.value.code, (json.loads(out) if out.strip() else None), err


def test_cob_cli_contract(db_url, capsys):
    engine = open_store(db_url)
    make_book(engine, lines=6)
    engine.dispose()
    capsys.readouterr()
    for argv, option in (
        (("--runner", "spark"), "--runner"),
        (("--workers", "0"), "--workers"),
        (("--ray-address", "127.0.0.1:6379"), "--ray-address"),
        (("--date", "2026-02-30"), "--date"),
    ):
        args = ["cob", "--date", "2026-01-20", *argv, "--json"] if option != "--date" else ["cob", *argv, "--json"]
        code, doc, err = cli(capsys, *args)
        assert code == 2 and doc is None and err.count("\n") == 1 and option in err, err
    code, doc, err = cli(capsys, "cob", "--date", "2026-01-25", "--workers", "1", "--json")
    assert code == 0, err
    assert {"date", "accounts", "changes", "buckets", "accrued_interest", "ledger_balanced", "timings"} <= doc.keys()
    assert doc["date"] == "2026-01-25" and doc["accounts"] == 6 and doc["ledger_balanced"] is True and doc["days_closed"] == 21
    assert set(doc["changes"]) >= {"increase", "decrease", "freeze", "unfreeze", "renew"} and all(isinstance(v, int) for v in doc["changes"].values())
    assert isinstance(doc["accrued_interest"], str) and "." in doc["accrued_interest"]
    assert {"runner", "workers", "run_ids", "seconds"} <= doc["timings"].keys() and doc["timings"]["runner"] == "local"
    code, again, err = cli(capsys, "cob", "--date", "2026-01-25", "--json")
    assert code == 0 and again["accrued_interest"] == "0.00" and sum(again["changes"].values()) == 0 and again["days_closed"] == 0
