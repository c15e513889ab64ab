"""Line changes against the real store: random sequences of reassessments, draws and repayments keep
``used + available = limit`` with ``available >= 0`` (a decrease caps at used and blocks draws; its
decided limit stays as the line's target, stepped down to as principal is repaid), every change —
step-downs too — is recorded with its reasons and versions and queued for the borrower, and writing
the same decisions again changes nothing. On SQLite and PostgreSQL."""

from __future__ import annotations

import json
from datetime import date, timedelta
from decimal import Decimal

import polars as pl
import pytest
from hypothesis import HealthCheck, example, given, settings, strategies as st
from sqlalchemy import func, select
from stdnum.cn import uscc as stdnum_uscc

from smelend.errors import InvalidInput
from smelend.lines.changes import LineChange, apply_change
from smelend.lines.reassess import build_context, reassess
from smelend.operations.cob import close_business
from smelend.operations.context import open_book
from smelend.operations.lines import DrawRequest, draw, open_line
from smelend.operations.repayments import repay
from smelend.servicing.conventions import Method
from smelend.store import open_store
from smelend.store.lending import get_business_day, get_line
from smelend.store.line_changes import Versions, latest_changes, pending_target, write_changes
from smelend.store.outbox import mark_sent, pending_notifications
from smelend.store.tables import credit_lines, line_changes, line_notifications, loans

CONTEXT = build_context()
VERSIONS = Versions("rules@test", "settings@test", "strategy@test", "model@test")
START = date(2026, 1, 5)


def valid_uscc(sequence: int) -> str:
    body = f"91310000{sequence:09d}"
    return body + stdnum_uscc.calc_check_digit(body + "0")


def row_for(conn, line_id: int, day: date, facts: dict) -> pl.DataFrame:
    """The snapshot row reassessment reads, from the stored line plus the example's behaviour facts."""
    line = get_line(conn, line_id)
    last = latest_changes(conn, [line_id])
    temp = last.row(0, named=True) if last.height else {"last_change_date": None, "temp_limit_fen": None, "temp_limit_until": None}
    row = {
        "line_id": line.id, "enterprise_id": line.enterprise_id, "product_id": line.product_id, "status": line.status.value,
        "limit_fen": line.limit_fen, "used_fen": line.used_fen, "start_date": line.start, "end_date": line.end,
        "months_on_book": (day - line.start).days // 30, "revenue_12m_fen": 500_000_000, "event_new_tax_record": False, "event_new_invoice": False,
        "last_change_date": temp["last_change_date"], "temp_limit_fen": temp["temp_limit_fen"], "temp_limit_until": temp["temp_limit_until"], **facts,
    }
    return pl.DataFrame([row], schema_overrides={"last_change_date": pl.Date, "temp_limit_until": pl.Date, "temp_limit_fen": pl.Int64, "revenue_trend": pl.Float64})


def check_line(conn, line_id: int) -> None:
    line = get_line(conn, line_id)  # CreditLine asserts 0 <= used <= limit
    assert line.used_fen + line.available_fen == line.limit_fen and line.available_fen >= 0
    live = conn.scalar(select(func.coalesce(func.sum(loans.c.principal_outstanding_fen), 0)).where(loans.c.line_id == line_id, loans.c.status.in_(["active", "pending"])))
    assert line.used_fen == live
    pending = pending_target(conn, line_id)
    if pending is not None:  # a decrease still stepping down: capped at used, nothing available, target below
        assert pending[0] < line.limit_fen == line.used_fen and line.available_fen == 0
    changes = conn.scalar(select(func.count()).select_from(line_changes).where(line_changes.c.line_id == line_id))
    notices = conn.scalar(select(func.count()).select_from(line_notifications).where(line_notifications.c.line_id == line_id))
    assert changes == notices, "every change has its notice"


facts = st.fixed_dictionaries(
    {
        "behaviour_grade": st.sampled_from("ABCDE"), "max_dpd": st.sampled_from([0, 0, 0, 5, 45]), "max_dpd_365d": st.sampled_from([0, 0, 20, 60]),
        "on_time_streak": st.integers(0, 12), "late_payments_365d": st.integers(0, 3), "revenue_trend": st.sampled_from([-0.4, 0.0, 0.1, 0.3]),
        "tax_grade": st.sampled_from(["A", "B", "C"]), "event_external_alert": st.booleans(),
    }
)
WEAK_TAX = {"behaviour_grade": "C", "max_dpd": 0, "max_dpd_365d": 0, "on_time_streak": 0, "late_payments_365d": 0, "revenue_trend": 0.0, "tax_grade": "D", "event_external_alert": False}
"""Facts the rules answer with a decrease (DEC_TAX): drawn often enough that decreases capped at used, and their step-downs, happen."""
steps = st.lists(
    st.one_of(
        st.tuples(st.just("reassess"), facts),
        st.tuples(st.just("reassess"), st.just(WEAK_TAX)),
        st.tuples(st.just("draw"), st.one_of(st.floats(0.05, 1.0), st.just(0.9))),  # often most of the line: a decrease then caps at used
        st.tuples(st.just("repay"), st.floats(0.1, 1.0)),
    ),
    min_size=3,
    max_size=10,
)


@pytest.mark.parametrize("run", [0])
def test_random_reassessments_and_draws_keep_the_line_invariants(db_url, run):
    engine = open_store(db_url)
    book = open_book(engine)
    state = {"day": START, "lines": 0}

    @settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
    @given(steps=steps, limit_yuan=st.sampled_from([20_000, 150_000, 600_000]))
    @example(steps=[("draw", 0.9), ("reassess", WEAK_TAX), ("repay", 0.5), ("draw", 0.5), ("repay", 1.0)], limit_yuan=150_000)  # steps down to the target
    def scenario(steps, limit_yuan):
        state["lines"] += 1
        day = state["day"]
        line = open_line(book, valid_uscc(state["lines"]), "tax-data-loan", limit_yuan * 100, Decimal("0.072"), day)
        for kind, arg in steps:
            with engine.connect() as conn:
                current = get_line(conn, line.id)
            if kind == "draw":
                amount = int(current.available_fen * arg)
                try:
                    draw(book, DrawRequest(line.id, amount, Method.EQUAL_INSTALLMENT, 12, day))
                except InvalidInput:  # frozen, expired, nothing available: refused, nothing written
                    with engine.connect() as conn:
                        assert get_line(conn, line.id) == current
            elif kind == "repay":
                with engine.connect() as conn:
                    live = conn.execute(select(loans.c.id, loans.c.principal_outstanding_fen).where(loans.c.line_id == line.id, loans.c.status == "active")).first()
                if live is not None:
                    repay(book, live.id, max(1, int(live.principal_outstanding_fen * arg)), day)
            else:
                with engine.begin() as conn:
                    frame = row_for(conn, line.id, day, arg)
                    changes = reassess(frame, day, CONTEXT)
                    written = write_changes(conn, f"cob-{day}", changes, VERSIONS)
                    assert sum(v for k, v in written.items() if k not in ("already", "stale")) == changes.height
                    if changes.height:
                        change = LineChange.from_row(changes.row(0, named=True))
                        assert get_line(conn, line.id) == apply_change(current, change)
                        stored = conn.execute(select(line_changes).where(line_changes.c.line_id == line.id, line_changes.c.effective_date == day, line_changes.c.step == 0)).mappings().one()
                        assert stored["reasons"] and stored["rules_version"] == "rules@test" and stored["limit_after_fen"] >= stored["used_fen"]
                with engine.begin() as conn:  # the same decisions again: nothing moves
                    before = get_line(conn, line.id)
                    again = write_changes(conn, f"cob-{day}", changes, VERSIONS)
                    assert sum(v for k, v in again.items() if k != "already") == 0 and get_line(conn, line.id) == before
                close_business(book, day)
                day += timedelta(days=1)
            with engine.connect() as conn:
                check_line(conn, line.id)
        close_business(book, day)
        state["day"] = day + timedelta(days=1)

    scenario()
    with engine.begin() as conn:
        made = dict(conn.execute(select(line_changes.c.action, func.count()).group_by(line_changes.c.action)).all())
        step_downs = conn.scalar(select(func.count()).select_from(line_changes).where(line_changes.c.step > 0))
        print("changes by action:", made, "step-downs:", step_downs, "draws:", conn.scalar(select(func.count()).select_from(loans)))
        assert made, "the examples made at least one change"
        assert step_downs, "a decrease capped at used stepped down as it was repaid (the explicit example at least)"
        pending = pending_notifications(conn)
        if pending:
            notice = pending[0]
            assert json.loads(notice["payload"])["line_id"] == notice["line_id"] and notice["event"].startswith("line.")
            assert mark_sent(conn, notice["id"]) and not mark_sent(conn, notice["id"])
        assert get_business_day(conn).last_closed is not None
    engine.dispose()


def test_a_decrease_below_used_caps_at_used_and_blocks_draws(db_url):
    engine = open_store(db_url)
    book = open_book(engine)
    line = open_line(book, valid_uscc(1), "tax-data-loan", 20_000_000, Decimal("0.072"), START)
    draw(book, DrawRequest(line.id, 18_000_000, Method.EQUAL_INSTALLMENT, 12, START))
    with engine.begin() as conn:
        changes = reassess(row_for(conn, line.id, START, {"behaviour_grade": "C", "max_dpd": 0, "max_dpd_365d": 0, "on_time_streak": 0, "late_payments_365d": 0, "revenue_trend": 0.0, "tax_grade": "D", "event_external_alert": False}), START, CONTEXT)
        assert changes.row(0, named=True)["limit_after_fen"] == 18_000_000
        write_changes(conn, "cob-test", changes, VERSIONS)
        assert get_line(conn, line.id).available_fen == 0
    with pytest.raises(InvalidInput, match="amount"):
        draw(book, DrawRequest(line.id, 100, Method.EQUAL_INSTALLMENT, 12, START))
    with engine.connect() as conn:
        check_line(conn, line.id)
        assert conn.scalar(select(credit_lines.c.limit_fen).where(credit_lines.c.id == line.id)) == 18_000_000
    engine.dispose()
