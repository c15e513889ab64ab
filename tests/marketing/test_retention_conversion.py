"""Retention (attrition model against the generator's truth, offer rules exactly), CLV, and conversion."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from smelend.marketing.clv import clv_yuan
from smelend.marketing.conversion import conversion
from smelend.marketing.customers import simulate_customers
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
    li = s.limit_increase
    increase = f.filter(pl.col("has_line") & (pl.col("utilisation") >= li.min_utilisation) & (pl.col("late_payments_12m") <= li.max_late_payments) & (pl.col("pd") <= li.max_pd))
    assert counts.limit_increase == increase.height
    step = li.round_to_yuan * 100
    assert counts.limit_increase_total_fen == sum(int(v * li.increase_share // step) * step for v in increase["limit_fen"].to_list())
    assert counts.reactivation == f.filter(pl.col("stage").is_in(s.reactivation.stages) & (pl.col("pd") <= s.reactivation.max_pd)).height
    assert counts.reminders == f.filter(pl.col("has_line") & (pl.col("balance_fen") > 0) & (pl.col("next_due_in_days") <= s.reminder.days_before_due)).height
    assert len(counts.save_list) <= s.save.top
    risks = [r["value_at_risk_yuan"] for r in counts.save_list]
    assert risks == sorted(risks, reverse=True)
    assert (clv[~customers["has_line"].to_numpy()] == 0).all()


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
