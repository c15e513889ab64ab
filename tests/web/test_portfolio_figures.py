"""The portfolio's figures, grouped in the database, equal the same figures taken loan by loan
(:func:`smelend.operations.cob.book_buckets` and a per-loan reference for classification and vintages)
on a random book, on SQLite and PostgreSQL."""

from __future__ import annotations

import random
from collections import Counter
from datetime import date, timedelta

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import insert

from smelend.operations.cob import book_buckets
from smelend.operations.context import open_book
from smelend.store import open_store
from smelend.store.tables import credit_lines, enterprises, loans
from smelend.web.portfolio import VINTAGE_BAD_DPD, portfolio

CATEGORIES = ("pass", "special-mention", "substandard", "doubtful", "loss")
STATUSES = ("active", "active", "active", "closed", "written-off", "pending", "cancelled")


def random_loans(seed: int, count: int) -> list[dict[str, object]]:
    rng = random.Random(seed)
    rows = []
    for _ in range(count):
        principal = rng.randrange(1_000_00, 500_000_00)
        status = rng.choice(STATUSES)
        rows.append({
            "line_id": 1, "status": status, "method": "equal-installment", "term": 12, "principal_fen": principal,
            "annual_rate": "0.072", "penalty_rate": "0.108", "compound_overdue_interest": False, "grace_days": 3,
            "prepayment": "reduce-term", "conventions": "{}", "flags": "",
            "start_date": date(2025, 1, 1) + timedelta(days=rng.randrange(0, 600)),
            "principal_outstanding_fen": rng.randrange(0, principal + 1) if status in ("active", "pending") else 0,
            "days_past_due": rng.choice((0, 0, 0, rng.randrange(1, 30), rng.randrange(30, 400))) if status == "active" else 0,
            "category": rng.choice(CATEGORIES),
            "written_off_fen": rng.randrange(0, principal) if status == "written-off" else 0,
        })
    return rows


@settings(max_examples=3, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])  # each example empties the tables
@given(seed=st.integers(0, 2**32 - 1))
def test_grouped_figures_equal_the_per_loan_ones(db_url: str, seed: int) -> None:
    engine = open_store(db_url)
    try:
        rows = random_loans(seed, 300)
        with engine.begin() as conn:
            conn.execute(loans.delete())
            conn.execute(credit_lines.delete())
            conn.execute(enterprises.delete())
            conn.execute(insert(enterprises).values(id=1, uscc="91350100M000100Y43", name="random book"))
            conn.execute(insert(credit_lines).values(id=1, enterprise_id=1, product_id="tax-data-loan", limit_fen=10**15, annual_rate="0.072",
                                                     start_date=date(2025, 1, 1), end_date=date(2030, 1, 1), status="active"))
            conn.execute(insert(loans), rows)
        book = open_book(engine)
        found = portfolio(book)
        expected = book_buckets(book)
        assert {r.name: (r.loans, r.principal_fen) for r in found.buckets} == {k: (v["loans"], v["principal_fen"]) for k, v in expected["buckets"].items()}
        active = [r for r in rows if r["status"] == "active"]
        count = Counter(str(r["category"]) for r in active)
        assert {r.name: r.loans for r in found.classification if r.loans} == dict(count) == expected["classification"]
        assert {r.name: r.principal_fen for r in found.classification} == {c: sum(int(r["principal_outstanding_fen"]) for r in active if r["category"] == c) for c in CATEGORIES}  # type: ignore[call-overload]
        drawn = [r for r in rows if r["status"] in ("active", "closed", "written-off")]
        months = sorted({f"{r['start_date']:%Y-%m}" for r in drawn})
        assert [v.month for v in found.vintages] == months
        for v in found.vintages:
            mine = [r for r in drawn if f"{r['start_date']:%Y-%m}" == v.month]
            assert v.loans == len(mine) and v.lent_fen == sum(int(r["principal_fen"]) for r in mine)  # type: ignore[call-overload]
            assert v.outstanding_fen == sum(int(r["principal_outstanding_fen"]) for r in mine if r["status"] == "active")  # type: ignore[call-overload]
            assert v.past_due_fen == sum(int(r["principal_outstanding_fen"]) for r in mine if r["status"] == "active" and int(r["days_past_due"]) >= VINTAGE_BAD_DPD)  # type: ignore[call-overload]
            assert v.written_off_fen == sum(int(r["written_off_fen"]) for r in mine)  # type: ignore[call-overload]
        assert found.loans_active == len(active) and found.lines_active == 1
    finally:
        engine.dispose()
