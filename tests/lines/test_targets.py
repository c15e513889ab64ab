"""A decrease capped at used keeps stepping down: the decided limit stays on the line as its target, each
repayment of principal lowers the limit to max(target, used) — recorded as a change of its own with its
notice — until the target is reached; no draws meanwhile; a later decision replaces or clears the
target (a freeze keeps it). On SQLite and PostgreSQL."""

from __future__ import annotations

import json
from datetime import date, timedelta
from decimal import Decimal

import polars as pl
import pytest
from sqlalchemy import func, select

from smelend.errors import InvalidInput
from smelend.lines.changes import step_down_reason
from smelend.lines.reassess import CHANGE_SCHEMA, reassess
from smelend.operations.context import open_book
from smelend.operations.lines import DrawRequest, draw, open_line
from smelend.operations.repayments import repay
from smelend.servicing.conventions import Method
from smelend.store import open_store
from smelend.store.lending import get_line
from smelend.store.line_changes import latest_changes, pending_target, write_changes
from smelend.store.tables import line_changes, line_notifications, loans

from .test_changes import CONTEXT, START, VERSIONS, check_line, row_for, valid_uscc

WEAK = {"behaviour_grade": "C", "max_dpd": 0, "max_dpd_365d": 0, "on_time_streak": 0, "late_payments_365d": 0, "revenue_trend": 0.0, "tax_grade": "D", "event_external_alert": False}


def capped_line(engine, book, auto_debit: bool = False):  # type: ignore[no-untyped-def]
    """A 200,000-yuan line drawn to 180,000, then decided down by 30% (to 140,000): capped at 180,000."""
    line = open_line(book, valid_uscc(1), "tax-data-loan", 20_000_000, Decimal("0.072"), START)
    loan = draw(book, DrawRequest(line.id, 18_000_000, Method.EQUAL_INSTALLMENT, 12, START, auto_debit))
    with engine.begin() as conn:
        changes = reassess(row_for(conn, line.id, START, WEAK), START, CONTEXT)
        decided = changes.row(0, named=True)
        assert (decided["action"], decided["limit_after_fen"], decided["target_limit_fen"]) == ("decrease", 18_000_000, 14_000_000)
        write_changes(conn, f"cob-{START}", changes, VERSIONS)
        change_id = conn.scalar(select(line_changes.c.id).where(line_changes.c.line_id == line.id))
        assert pending_target(conn, line.id) == (14_000_000, change_id)
        assert conn.scalar(select(line_changes.c.target_limit_fen).where(line_changes.c.id == change_id)) == 14_000_000
    return line, loan, change_id


def counts(conn) -> tuple[int, int, int]:  # type: ignore[no-untyped-def]
    return tuple(conn.scalar(select(func.count()).select_from(t)) for t in (line_changes, line_notifications, loans))  # type: ignore[return-value]


def test_a_capped_decrease_steps_down_to_its_target_as_principal_is_repaid(db_url):
    engine = open_store(db_url)
    book = open_book(engine)
    line, loan, decided_by = capped_line(engine, book)

    with engine.connect() as conn:
        before = counts(conn)
    for amount in (100, 18_000_000):  # no draw while the target is pending, however small
        with pytest.raises(InvalidInput, match="amount|line"):
            draw(book, DrawRequest(line.id, amount, Method.EQUAL_INSTALLMENT, 12, START))
    with engine.connect() as conn:
        assert counts(conn) == before

    repay(book, loan.id, 3_000_000, START)  # principal 180,000 -> 150,000: the limit follows it down
    with engine.connect() as conn:
        stepped = get_line(conn, line.id)
        assert (stepped.limit_fen, stepped.used_fen, stepped.available_fen) == (15_000_000, 15_000_000, 0)
        assert pending_target(conn, line.id) == (14_000_000, decided_by)
        check_line(conn, line.id)
    with pytest.raises(InvalidInput):
        draw(book, DrawRequest(line.id, 100, Method.EQUAL_INSTALLMENT, 12, START))

    repay(book, loan.id, 2_000_000, START)  # 150,000 -> 130,000, below the target: the limit stops at 140,000
    with engine.connect() as conn:
        done = get_line(conn, line.id)
        assert (done.limit_fen, done.used_fen, done.available_fen) == (14_000_000, 13_000_000, 1_000_000)
        assert pending_target(conn, line.id) is None
        check_line(conn, line.id)
        steps = conn.execute(
            select(line_changes.c.step, line_changes.c.action, line_changes.c.reasons, line_changes.c.limit_before_fen, line_changes.c.limit_after_fen,
                   line_changes.c.used_fen, line_changes.c.target_limit_fen, line_changes.c.rules_version, line_changes.c.effective_date)
            .where(line_changes.c.line_id == line.id).order_by(line_changes.c.id)
        ).all()
        reason = step_down_reason(decided_by)
        assert [tuple(s) for s in steps] == [
            (0, "decrease", "DEC_TAX", 20_000_000, 18_000_000, 18_000_000, 14_000_000, "rules@test", START),
            (1, "decrease", reason, 18_000_000, 15_000_000, 15_000_000, 14_000_000, "rules@test", START),
            (2, "decrease", reason, 15_000_000, 14_000_000, 13_000_000, None, "rules@test", START),
        ]
        notices = conn.execute(select(line_notifications.c.event, line_notifications.c.payload).where(line_notifications.c.line_id == line.id).order_by(line_notifications.c.id)).all()
        assert [n.event for n in notices] == ["line.decrease"] * 3
        last = json.loads(notices[-1].payload)
        assert (last["reasons"], last["limit_after"], last["available_after"], last["target_limit"]) == ([reason], "140000.00", "10000.00", None)
        assert json.loads(notices[0].payload)["target_limit"] == "140000.00"
        # the step-downs decide nothing: the line's last decision is still the decrease
        assert latest_changes(conn, [line.id]).row(0, named=True)["last_change_action"] == "decrease"

    draw(book, DrawRequest(line.id, 1_000_000, Method.EQUAL_INSTALLMENT, 12, START))  # the target reached: draws again, within it
    with engine.connect() as conn:
        assert get_line(conn, line.id).available_fen == 0
        check_line(conn, line.id)
    engine.dispose()


def test_the_days_decision_is_still_one_a_line_after_step_downs(db_url):
    engine = open_store(db_url)
    book = open_book(engine)
    line, loan, _ = capped_line(engine, book)
    repay(book, loan.id, 3_000_000, START)
    with engine.begin() as conn:  # the same day's decisions again: already written, the step-down does not count as one
        again = write_changes(conn, f"cob-{START}", reassess(row_for(conn, line.id, START, WEAK), START, CONTEXT), VERSIONS)
        assert dict(again) in ({"already": 1}, {})
    engine.dispose()


def manual(line, action: str, limit_after_fen: int, day: date, status_after: str | None = None) -> pl.DataFrame:  # type: ignore[no-untyped-def]
    """A decided change written by hand (the rules' own choices are tested in test_reassess)."""
    return pl.DataFrame(
        [{
            "line_id": line.id, "action": action, "reasons": "TEST", "limit_before_fen": line.limit_fen, "limit_after_fen": limit_after_fen,
            "used_fen": line.used_fen, "status_before": line.status.value, "status_after": status_after or line.status.value,
            "end_before": line.end, "end_after": line.end, "temp_limit_fen": 0, "temp_limit_until": None, "effective_date": day, "target_limit_fen": None,
        }],
        schema=CHANGE_SCHEMA,
    )


def test_a_freeze_keeps_the_target_and_a_later_unfreeze_or_increase_clears_it(db_url):
    engine = open_store(db_url)
    book = open_book(engine)
    line, loan, decided_by = capped_line(engine, book)
    day = START + timedelta(days=1)
    with engine.begin() as conn:
        current = get_line(conn, line.id)
        write_changes(conn, "test-freeze", manual(current, "freeze", current.limit_fen, day, "frozen"), VERSIONS)
        assert pending_target(conn, line.id) == (14_000_000, decided_by)
    with engine.begin() as conn:
        current = get_line(conn, line.id)
        write_changes(conn, "test-unfreeze", manual(current, "unfreeze", current.limit_fen, day + timedelta(days=1), "active"), VERSIONS)
        assert pending_target(conn, line.id) is None
        assert get_line(conn, line.id).available_fen == 0  # the capped limit stays: repayments now free it up
    with engine.begin() as conn:
        current = get_line(conn, line.id)
        write_changes(conn, "test-increase", manual(current, "increase", 21_600_000, day + timedelta(days=2)), VERSIONS)
        assert pending_target(conn, line.id) is None and get_line(conn, line.id).available_fen == 3_600_000
    engine.dispose()


def test_an_auto_debit_in_the_close_of_business_steps_the_line_down(db_url, smelend_env):
    from smelend.cob.pipeline import run_close_of_business
    from smelend.cob.runners import LocalRunner

    engine = open_store(db_url)
    book = open_book(engine)
    line, loan, decided_by = capped_line(engine, book, auto_debit=True)
    due = loan.installments[0].due_date
    result = run_close_of_business(book, due, LocalRunner(1), smelend_env)
    assert result.days[-1] == due
    with engine.connect() as conn:
        check_line(conn, line.id)
        now = get_line(conn, line.id)
        steps = conn.execute(
            select(line_changes.c.effective_date, line_changes.c.step, line_changes.c.reasons, line_changes.c.limit_after_fen).where(line_changes.c.line_id == line.id, line_changes.c.step > 0)
        ).all()
        assert [tuple(s)[:3] for s in steps] == [(due, 1, step_down_reason(decided_by))]  # the installment's principal, debited on its due date
        assert steps[0].limit_after_fen == now.used_fen < 18_000_000 and now.available_fen == 0
        assert pending_target(conn, line.id) == (14_000_000, decided_by)
    engine.dispose()


def test_a_step_down_does_not_take_the_days_decision(db_url):
    from smelend.operations.cob import close_business

    engine = open_store(db_url)
    book = open_book(engine)
    line, loan, decided_by = capped_line(engine, book)
    close_business(book, START)
    day = START + timedelta(days=1)
    repay(book, loan.id, 3_000_000, day)  # a step-down on the day, before its close of business
    with engine.begin() as conn:
        current = get_line(conn, line.id)
        written = write_changes(conn, f"cob-{day}", manual(current, "freeze", current.limit_fen, day, "frozen"), VERSIONS)
        assert dict(written) == {"already": 0, "freeze": 1}
        rows = conn.execute(select(line_changes.c.step, line_changes.c.action).where(line_changes.c.line_id == line.id, line_changes.c.effective_date == day).order_by(line_changes.c.id)).all()
        assert [tuple(r) for r in rows] == [(1, "decrease"), (0, "freeze")]
        assert pending_target(conn, line.id) == (14_000_000, decided_by)  # a freeze keeps the target
        check_line(conn, line.id)
    engine.dispose()
