"""The customer book from the database (smelend.store.customer_book) on SQLite and PostgreSQL: every column of a
hand-built book equals its value worked out by hand, a decided applicant's flat record is its decision's evidence,
a generated book agrees with its own tables, and the outcomes the retention models learn from are what happened."""

from __future__ import annotations

import json
from datetime import date, timedelta

import polars as pl
import pytest
from sqlalchemy import func, insert, select

from smelend.errors import InvalidInput
from smelend.store import open_store
from smelend.store.customer_book import customer_book, labelled_book, observed_outcomes, read_book, resolve_source
from smelend.store.tables import (
    bank_core_transfers,
    business_day,
    credit_lines,
    enterprise_events,
    enterprises,
    installments,
    line_changes,
    loans,
    repayments,
)

AS_OF = date(2026, 6, 30)


@pytest.fixture
def engine(db_url: str):
    engine = open_store(db_url)
    yield engine
    engine.dispose()


def _loan(conn, loan_id: int, line_id: int, start: date, principal: int, status: str, outstanding: int) -> None:
    conn.execute(insert(loans).values(
        id=loan_id, line_id=line_id, status=status, method="equal-principal", term=2, principal_fen=principal, annual_rate="0.12", penalty_rate="0.18",
        compound_overdue_interest=False, grace_days=3, prepayment="shorten", conventions="{}", start_date=start, principal_outstanding_fen=outstanding, flags="",
    ))


def _installment(conn, loan_id: int, number: int, due: date, principal: int, paid: int) -> None:
    conn.execute(insert(installments).values(
        loan_id=loan_id, number=number, period_start=due - timedelta(days=30), due_date=due, principal_fen=principal, interest_fen=0, fee_fen=0,
        accrued_interest_fen=0, paid_principal_fen=paid, paid_interest_fen=0, paid_fee_fen=0, accrued_at_start_fen=0,
    ))


def _repayment(conn, loan_id: int, key: str, on: date, principal: int) -> None:
    conn.execute(insert(repayments).values(
        loan_id=loan_id, instruction_id=key, business_date=on, channel="paid-in", amount_fen=principal, penalty_fen=0, interest_fen=0, fee_fen=0,
        principal_fen=principal, credit_balance_fen=0, recovery_fen=0,
    ))


def _decided_applicant(conn, enterprise_id: int) -> dict:
    """A real decision of a simulated applicant, stored as the lending service stores it; its flat record."""
    from smelend.pricing.pricer import Pricer
    from smelend.products.loader import load_catalogue
    from smelend.risk.decision import decide
    from smelend.risk.features import flatten
    from smelend.risk.providers.base import gather
    from smelend.risk.providers.simulated import SimulatedProvider, simulate_applications
    from smelend.risk.strategy import load_strategy
    from smelend.store import add_person
    from smelend.store.origination import insert_application, insert_decision

    application = simulate_applications(1, 11, start=date(2026, 6, 1), days=1)[0]
    from datetime import datetime, time, timezone

    evidence = gather(application, SimulatedProvider(seed=11), clock=lambda: datetime.combine(application.applied_on, time(9, 0), timezone.utc))
    product = load_catalogue()[application.product_id]
    decision = decide(application, evidence, load_strategy(), product, Pricer.load())
    person = add_person(conn, application.applicant.name, application.applicant.id_number, application.applicant.mobile)
    conn.execute(insert(enterprises).values(id=enterprise_id, uscc=application.enterprise.uscc, name="decided applicant", owner_person_id=person))
    insert_application(conn, id=application.id, person_id=person, enterprise_id=enterprise_id, product_id=application.product_id,
                       requested_fen=application.requested_amount_fen, channel="own-app", partner_id=None, user_id=None, status="declined", applied_on=application.applied_on)
    insert_decision(conn, id=f"DEC-{application.id}", application_id=application.id, outcome=decision.outcome, limit_fen=decision.limit_fen,
                    strategy_sha256="0" * 64, document=json.loads(json.dumps(decision.to_dict(), default=str)))
    return flatten(application, evidence)


@pytest.fixture
def handmade_book(engine) -> dict:
    """Three enterprises, built row by row (see each test for the values worked out by hand)."""
    with engine.begin() as conn:
        conn.execute(insert(business_day).values(id=1, business_date=AS_OF, last_closed=AS_OF - timedelta(days=1)))
        conn.execute(insert(enterprises).values(id=1, uscc="91350100M000100Y43", name="one", owner_person_id=None))
        conn.execute(insert(enterprises).values(id=3, uscc="91350100M000100Y44", name="three", owner_person_id=None))
        # E-1: a line renewed and raised on 5 July (after AS_OF): on AS_OF it had the old limit and end
        conn.execute(insert(credit_lines).values(id=1, enterprise_id=1, product_id="tax-data-loan", limit_fen=15_000_000, used_fen=3_000_000, annual_rate="0.12",
                                                 start_date=date(2025, 9, 15), end_date=date(2027, 9, 15), status="active"))
        conn.execute(insert(line_changes).values(run_id="cob-2026-07-05", line_id=1, effective_date=date(2026, 7, 5), action="renew", reasons="RENEW",
                                                 limit_before_fen=10_000_000, limit_after_fen=15_000_000, used_fen=3_000_000, status_before="active",
                                                 status_after="active", end_before=date(2026, 9, 15), end_after=date(2027, 9, 15), rules_version="t", settings_version="t", strategy_version="t", model_version="t"))
        _loan(conn, 1, 1, date(2025, 10, 1), 3_000_000, "closed", 0)
        _installment(conn, 1, 1, date(2025, 11, 1), 1_500_000, 1_500_000)
        _installment(conn, 1, 2, date(2025, 12, 1), 1_500_000, 1_500_000)
        _repayment(conn, 1, "r1", date(2025, 11, 1), 1_500_000)
        _repayment(conn, 1, "r2", date(2025, 12, 5), 1_500_000)  # four days late
        _loan(conn, 2, 1, date(2026, 5, 20), 4_000_000, "active", 2_500_000)
        _installment(conn, 2, 1, date(2026, 6, 20), 1_000_000, 1_000_000)
        _installment(conn, 2, 2, date(2026, 7, 20), 3_000_000, 500_000)
        _repayment(conn, 2, "r3", date(2026, 6, 20), 1_000_000)
        _repayment(conn, 2, "r4", date(2026, 7, 10), 500_000)  # after AS_OF: not in the balance on AS_OF
        conn.execute(insert(bank_core_transfers).values(instruction_id="disburse:1", kind="disbursement", loan_id=1, amount_fen=3_000_000,
                                                        business_date=date(2025, 10, 1), status="settled", attempts=1))
        for kind, on, revenue, trend, grade in (("tax_record", date(2026, 6, 10), 500_000_000, 0.1, "B"), ("tax_record", date(2026, 7, 2), 100, 0.0, "D"),
                                                ("invoice_record", date(2026, 6, 15), 4_000_000, 0.25, None), ("settlement_record", date(2026, 6, 1), 1_200_000, 0.0, None)):
            conn.execute(insert(enterprise_events).values(enterprise_id=1, kind=kind, event_date=on, revenue_12m_fen=revenue, trend=trend, tax_grade=grade))
        # E-3: a line that expired on 10 January, never drawn
        conn.execute(insert(credit_lines).values(id=3, enterprise_id=3, product_id="owner-credit-loan", limit_fen=5_000_000, used_fen=0, annual_rate="0.09",
                                                 start_date=date(2025, 1, 10), end_date=date(2026, 1, 10), status="expired"))
        # E-2: an applicant without a line, decided by the real engine
        flat = _decided_applicant(conn, 2)
    return flat


def test_every_column_of_a_line_holder_is_what_the_records_say(engine, handmade_book) -> None:
    with engine.connect() as conn:
        book = customer_book(conn)
    assert book["customer_id"].to_list() == ["E-1", "E-2", "E-3"]
    one = book.row(0, named=True)
    expected = {
        "has_line": True, "applied": False,
        "limit_fen": 10_000_000,  # the limit before the change of 5 July
        "balance_fen": 3_000_000,  # loan 1 repaid in full; loan 2: 4,000,000 - 1,000,000 (the July repayment comes later)
        "utilisation": 0.3, "rate": 0.12,
        "months_on_book": 9,  # 15 Sep 2025 -> 30 Jun 2026
        "draws_12m": 2, "days_since_last_draw": 41.0,  # 20 May -> 30 Jun
        "line_expires_in_days": 77,  # the end before the renewal: 15 Sep 2026
        "next_due_in_days": 20,  # loan 2's installment of 20 July
        "late_payments_12m": 1,  # loan 1's installment due 1 Dec, paid 5 Dec
        "status_tax": "ok", "tax_grade": "B", "tax_declared_sales_12m_fen": 500_000_000,  # the record of 2 July is later
        "status_invoices": "ok", "invoice_sales_12m_fen": 4_000_000, "invoice_sales_prev_12m_fen": 3_200_000,  # 4,000,000 / 1.25
        "status_cashflow": "ok", "cashflow_inflow_monthly_avg_fen": 100_000,
        "status_relationship": "ok", "relationship_days": 272,  # the bank core's first settled transfer, 1 Oct 2025
        "status_bureau": "not_requested", "bureau_max_dpd_24m": None, "enterprise_id": 1, "line_count": 1,
    }
    assert {k: one[k] for k in expected} == expected


def test_an_expired_line_and_a_decided_applicant(engine, handmade_book) -> None:
    with engine.connect() as conn:
        book = customer_book(conn)
    three = book.row(2, named=True)
    assert {k: three[k] for k in ("has_line", "limit_fen", "balance_fen", "utilisation", "months_on_book", "draws_12m", "days_since_last_draw",
                                   "line_expires_in_days", "next_due_in_days", "late_payments_12m", "status_tax")} == {
        "has_line": True, "limit_fen": 5_000_000, "balance_fen": 0, "utilisation": 0.0, "months_on_book": 17, "draws_12m": 0, "days_since_last_draw": None,
        "line_expires_in_days": 0, "next_due_in_days": 0, "late_payments_12m": 0, "status_tax": "missing"}
    two = book.row(1, named=True)
    assert two["has_line"] is False and two["applied"] is True and two["limit_fen"] == 0 and two["rate"] is None
    assert {k: two[k] for k in handmade_book} == handmade_book  # the decision's evidence, flattened


def test_the_book_of_an_earlier_date_and_what_happened_since(engine, handmade_book) -> None:
    with engine.connect() as conn:
        before = customer_book(conn, date(2026, 3, 31))
        seen = observed_outcomes(conn, date(2025, 12, 1), 90).frame
        later = observed_outcomes(conn, date(2026, 4, 1), 90).frame
        labelled = labelled_book(conn, AS_OF, 90)
    one = before.row(0, named=True)
    assert (one["balance_fen"], one["draws_12m"], one["days_since_last_draw"], one["late_payments_12m"]) == (0, 1, 181.0, 1)
    assert before["customer_id"].to_list() == ["E-1", "E-3"]  # E-2 applied in June
    assert seen.rows() == [("E-1", True, False), ("E-3", True, True)]  # E-3's line ended in January with nothing owed: it left
    assert later.rows() == [("E-1", False, False), ("E-3", True, True)]  # E-1 drew on 20 May
    assert labelled.select("customer_id", "attrites_90d", "dormant_next_90d").rows() == [("E-1", False, False), ("E-3", True, True)]


def test_source_rule_and_refusals(engine) -> None:
    asked: list[bool] = []

    def held(answer: bool):
        def ask() -> bool:
            asked.append(answer)
            return answer
        return ask

    assert resolve_source(None, 500, held(True)) == ("synthetic", None) and asked == []
    assert resolve_source(None, None, held(True)) == ("db", None)
    source, note = resolve_source(None, None, held(False))
    assert source == "synthetic" and "no credit lines" in (note or "")
    assert resolve_source("synthetic", None, held(True)) == ("synthetic", None)
    for args, field in ((("db", 500), "customers"), (("cloud", None), "source")):
        with pytest.raises(InvalidInput) as caught:
            resolve_source(*args, held(True))
        assert caught.value.errors[0].field == field
    with engine.connect() as conn, pytest.raises(InvalidInput) as caught:
        read_book(conn)
    assert caught.value.errors[0].field == "source"


@pytest.fixture
def generated(engine):
    from smelend.products.loader import load_catalogue
    from smelend.servicing.delinquency import load_policy
    from smelend.store.book_generator import generate_book

    generate_book(engine, 250, 3, AS_OF, load_catalogue(), load_policy())
    return engine


def test_a_generated_book_agrees_with_its_own_tables(generated) -> None:
    from smelend.store.snapshot import snapshot_book

    with generated.connect() as conn:
        book = customer_book(conn)
        lines = pl.DataFrame(conn.execute(select(credit_lines.c.enterprise_id, credit_lines.c.limit_fen, credit_lines.c.annual_rate)).all(),
                             schema={"enterprise_id": pl.Int64, "limit": pl.Int64, "rate": pl.Utf8}, orient="row")
        outstanding = dict(conn.execute(select(credit_lines.c.enterprise_id, func.sum(loans.c.principal_outstanding_fen)).join(loans, loans.c.line_id == credit_lines.c.id)
                                        .where(loans.c.status == "active").group_by(credit_lines.c.enterprise_id)).all())
        drawn = dict(conn.execute(select(credit_lines.c.enterprise_id, func.count()).join(loans, loans.c.line_id == credit_lines.c.id)
                                  .where(loans.c.start_date > AS_OF - timedelta(days=365)).group_by(credit_lines.c.enterprise_id)).all())
        snapshot = pl.from_arrow(snapshot_book(conn, AS_OF))
    assert book.height == 250 and book["has_line"].all()
    joined = book.join(lines, on="enterprise_id")
    assert (joined["limit_fen"] == joined["limit"]).all() and (joined["rate"] == joined["rate_right"].cast(pl.Float64)).all()
    assert dict(zip(book["enterprise_id"].to_list(), book["balance_fen"].to_list())) == {e: int(outstanding.get(e, 0)) for e in book["enterprise_id"].to_list()}
    assert dict(zip(book["enterprise_id"].to_list(), book["draws_12m"].to_list())) == {e: int(drawn.get(e, 0)) for e in book["enterprise_id"].to_list()}
    late = snapshot.select("enterprise_id", "late_payments_365d").join(book.select("enterprise_id", "late_payments_12m"), on="enterprise_id")
    assert (late["late_payments_365d"] == late["late_payments_12m"]).all() and late["late_payments_12m"].sum() > 0

    with generated.connect() as conn:  # a few lines worked out in plain Python from their raw rows
        for enterprise in (1, 2, 3, 50, 125):
            (start, end) = conn.execute(select(credit_lines.c.start_date, credit_lines.c.end_date).where(credit_lines.c.enterprise_id == enterprise)).one()
            own = conn.execute(select(loans.c.id, loans.c.start_date, loans.c.principal_outstanding_fen).join(credit_lines, credit_lines.c.id == loans.c.line_id)
                               .where(credit_lines.c.enterprise_id == enterprise)).all()
            recent = [s for _, s, _ in own if s > AS_OF - timedelta(days=365)]
            owing = [i for i, _, o in own if o > 0]
            dues = [d for (d,) in conn.execute(select(installments.c.due_date).where(installments.c.loan_id.in_(owing), installments.c.due_date >= AS_OF))] if owing else []
            row = book.filter(pl.col("enterprise_id") == enterprise).row(0, named=True)
            months = (AS_OF.year - start.year) * 12 + AS_OF.month - start.month - (start.day > AS_OF.day)
            assert (row["months_on_book"], row["line_expires_in_days"], row["days_since_last_draw"], row["next_due_in_days"]) == (
                months, max((end - AS_OF).days, 0), float((AS_OF - max(recent)).days) if recent else None, (min(dues) - AS_OF).days if dues else 0), enterprise


def test_marketing_documents_run_on_a_generated_book(generated) -> None:
    from smelend.marketing.documents import retention_document, segments_run

    with generated.connect() as conn:
        chosen = read_book(conn, history=True)
    assert chosen.source == "db" and chosen.as_of == AS_OF and chosen.history is not None
    segments = segments_run(chosen.book, 3, 0).document
    assert segments["customers"] == 250 and sum(p["customers"] for p in segments["segments"] if p["kind"] == "stage") == 250
    retention = retention_document(chosen.book, 0, AS_OF, chosen.history)
    assert 0 <= retention["dormancy_model"]["auc"] <= 1 and retention["offers"]["reactivation"] >= len(retention["reactivation_list"])


def test_a_stored_applicant_is_screened_on_its_own_evidence(engine, handmade_book) -> None:
    from smelend.marketing.whitelist import base_mask, screen

    with engine.connect() as conn:
        book = customer_book(conn)
    assert handmade_book["status_tax"] == "ok"  # this simulated applicant has a tax record: the pre-approved list may approach it
    assert base_mask(book).tolist() == [False, True, False]  # line holders are not approached
    result = screen(book, 5, on=AS_OF)
    assert (result.customers, result.base, result.score_approved, result.decided, result.approved) == (3, 1, 1, 1, 1)  # the real decide on its record
    (entry,) = result.entries
    assert entry.customer_id == "E-2" and entry.product_id == "tax-data-loan" and entry.limit_fen > 0 and entry.rate and entry.reasons
