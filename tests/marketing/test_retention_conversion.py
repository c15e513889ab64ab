"""Retention (attrition model against the generator's truth, offer rules exactly, limit increases by the line rules), CLV, and conversion."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from smelend.marketing.clv import clv_yuan
from smelend.marketing.conversion import conversion
from smelend.marketing.customers import simulate_customers
from smelend.errors import InvalidInput
from smelend.lines.reassess import reassess
from smelend.marketing.line_review import DEFAULT_ON, limit_increases, review_context, review_frame
from smelend.marketing.retention import attrition, load_retention_settings, offers
from smelend.marketing.scoring import score_table
from smelend.marketing.segments import segment_table
from smelend.risk.strategy import load_strategy

from tests.marketing.handmade import handmade


@pytest.fixture(scope="module")
def book():
    customers = simulate_customers(6_000, seed=11)
    scores = score_table(customers, load_strategy())
    return customers, scores.pd, segment_table(customers, scores.pd)


def test_attrition_model_finds_who_leaves(book) -> None:
    customers, pd, _ = book
    model = attrition(customers, pd, seed=1)
    assert model.auc > 0.8
    assert model.top_decile_rate > 2 * model.base_rate
    assert model.coefficients["days_since_last_draw"] > 0 and model.coefficients["utilisation"] < 0  # the generator's truth
    assert (model.probability[~customers["has_line"].to_numpy()] == 0).all()


def test_offer_rules_exactly(book) -> None:
    customers, pd, segments = book
    s = load_retention_settings()
    model = attrition(customers, pd)
    counts, clv, table = offers(customers, segments["stage"], pd, model.probability)
    f = customers.with_columns(pl.Series("pd", pd), segments["stage"])
    # limit increases are the line reassessment engine's own "increase" decisions on the book's lines, reasons and all
    changes = reassess(review_frame(customers, pd, DEFAULT_ON), DEFAULT_ON, review_context()).filter(pl.col("action") == "increase")
    assert counts.limit_increase == changes.height == int(table["increase"].sum()) > 0
    assert counts.limit_increase_total_fen == int((changes["limit_after_fen"] - changes["limit_before_fen"]).sum())
    offered = table.with_row_index("row").filter(pl.col("increase"))
    assert (offered["row"] + 1).to_list() == changes["line_id"].to_list() and offered["increase_reasons"].to_list() == changes["reasons"].to_list()
    assert set(counts.limit_increase_reasons) <= {"INC_GOOD_USE", "INC_GROWTH"} and sum(counts.limit_increase_reasons.values()) >= counts.limit_increase
    clean = offered.join(f.with_row_index("row").select("row", "late_payments_12m", "limit_fen"), on="row")
    assert (clean["late_payments_12m"] == 0).all()  # a late payment in the year blocks an increase (max_dpd_365d must be 0)
    assert ((clean["increase_fen"] > 0) & (clean["increase_fen"] <= clean["limit_fen"] // 5) & (clean["increase_fen"] % 100_000 == 0)).all()  # +20% at most, whole 1,000 yuan
    assert (table.filter(~pl.col("has_line"))["increase_fen"] == 0).all()
    assert counts.reactivation == f.filter(pl.col("stage").is_in(s.reactivation.stages) & (pl.col("pd") <= s.reactivation.max_pd)).height
    assert counts.reminders == f.filter(pl.col("has_line") & (pl.col("balance_fen") > 0) & (pl.col("next_due_in_days") <= s.reminder.days_before_due)).height
    assert len(counts.save_list) <= s.save.top
    risks = [r["value_at_risk_yuan"] for r in counts.save_list]
    assert risks == sorted(risks, reverse=True)
    assert (clv[~customers["has_line"].to_numpy()] == 0).all()


def test_limit_increase_by_hand() -> None:
    """Three known lines: busy and clean (+20%, INC_GOOD_USE), the same with a late payment (none), no line (none)."""
    book = simulate_customers(3, seed=2).with_columns(
        pl.Series("has_line", [True, True, False]), pl.Series("limit_fen", [10_000_000, 10_000_000, 0]), pl.Series("balance_fen", [8_000_000, 8_000_000, 0]),
        pl.Series("months_on_book", [12, 12, 0]), pl.Series("late_payments_12m", [0, 1, 0]), pl.Series("line_expires_in_days", [200, 200, 0]),
        pl.Series("status_tax", ["ok"] * 3), pl.Series("tax_declared_sales_12m_fen", [1_000_000_000] * 3),
        pl.Series("invoice_sales_12m_fen", [100, 100, 100]), pl.Series("invoice_sales_prev_12m_fen", [100, 100, 100]))
    got = limit_increases(book, np.array([0.001, 0.001, 0.001]), DEFAULT_ON)
    assert got["increase_fen"].to_list() == [2_000_000, 0, 0]
    assert got["increase_reasons"].to_list() == ["INC_GOOD_USE", "", ""]


def test_too_small_a_book_is_refused_clearly() -> None:
    customers = simulate_customers(10, seed=0)
    with pytest.raises(InvalidInput) as raised:
        attrition(customers, np.full(10, 0.01))
    assert raised.value.errors[0].field == "customers"


def test_clv_by_hand() -> None:
    # balance 100,000 yuan at 10%, PD 2%, no attrition: margin 100,000 x (0.10 - 0.02 - 0.02 x 0.8) = 6,400 a year;
    # survival 0.98; CLV = 6,400 x 0.98 x (1/1.1 + 0.98/1.1^2 + 0.98^2/1.1^3)
    got = clv_yuan(np.array([10_000_000]), np.array([0.10]), np.array([0.02]), np.array([0.0]), horizon_years=3, discount_rate=0.10)
    expected = 6400 * 0.98 * (1 / 1.1 + 0.98 / 1.1**2 + 0.98**2 / 1.1**3)
    assert got[0] == pytest.approx(expected, rel=1e-12)
    leaving = clv_yuan(np.array([10_000_000]), np.array([0.10]), np.array([0.02]), np.array([0.5]))
    assert leaving[0] < got[0]


def test_conversion_on_handmade_data() -> None:
    c = conversion(handmade())
    assert (c.approved, c.approved_not_drawn, c.accepted_not_drawn) == (2, 1, 0)
    assert c.not_drawn_limit_fen == 10_000_000
    assert c.declined == 1 and c.declined_eligible_elsewhere == 1
    assert c.eligible_elsewhere == [{"from_product": "tax-data-loan", "to_product": "owner-credit-loan", "applicants": 1, "limit_fen": 5_000_000}]
    assert sum(c.not_drawn_by_age_days.values()) == 1 and c.not_drawn_by_age_days["<=30"] == 1


def test_generated_alternatives_are_real_approvals(data) -> None:
    from datetime import datetime

    from smelend.pricing.pricer import Pricer
    from smelend.products.loader import load_catalogue
    from smelend.risk.decision import decide
    from smelend.risk.providers.base import gather
    from smelend.risk.providers.simulated import SimulatedProvider, simulate_applications

    from tests.marketing.conftest import PROSPECTS, SEED

    row = data.applications.filter(pl.col("alternative_product").is_not_null()).row(0, named=True)
    index = int(row["application_id"].split("-")[-1]) - 1
    base = simulate_applications(PROSPECTS, SEED, start=datetime(2026, 1, 1).date(), days=180)[index]
    doc = base.model_dump(mode="json")
    doc.update(id=row["application_id"], channel=row["channel"], applied_on=row["applied_at"].date().isoformat(), product_id=row["alternative_product"])
    doc["consent"].update(channel=row["channel"], granted_at=row["applied_at"].isoformat())
    from smelend.risk.schemas import Application

    app = Application.model_validate(doc)
    catalogue = load_catalogue()
    d = decide(app, gather(app, SimulatedProvider(seed=SEED), clock=lambda: row["applied_at"]), load_strategy(), catalogue[app.product_id], Pricer.load())
    assert d.outcome == "approve" and d.limit_fen == row["alternative_limit_fen"]
