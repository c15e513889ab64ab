"""The lab's marketing staff target as the bank would: the pre-approved list for campaigns (real scorecards),
the customers most at risk for retention calls (what the bank sees)."""

from __future__ import annotations

from datetime import date

import numpy as np
import pytest
from pydantic import ValidationError

from smelend.risk.providers.simulated import SimulatedProvider
from smelend.risk.strategy import load_strategy
from smelend.sim.market import CUSTOMER
from smelend.sim.population import generate_population
from smelend.sim.strategy import MaintenanceAction
from smelend.sim.targeting import campaign_targets, prospect_scores, retention_targets


def test_the_campaign_contacts_the_best_scored_eligible_businesses() -> None:
    population = generate_population(300, 7)
    pd, approachable = prospect_scores(population, SimulatedProvider(seed=7), load_strategy(), date(2026, 1, 1))
    assert pd.shape == approachable.shape == (300,)
    assert 0 < approachable.sum() < 300 and np.all((pd > 0) & (pd < 1))
    eligible = np.arange(300) % 5 != 0
    contacted = campaign_targets(eligible, pd, approachable, 0.1)
    assert contacted.sum() == round(0.1 * eligible.sum())  # today's expected count: costs stay comparable
    assert not (contacted & ~eligible).any()
    assert pd[contacted].mean() < pd[eligible].mean()
    # the list's order: approachable businesses first, lowest PD first among them
    left = eligible & ~contacted
    assert approachable[contacted].all()
    assert pd[contacted].max() <= pd[left & approachable].min()


def test_campaign_targets_fall_back_to_pd_when_few_may_be_approached() -> None:
    pd = np.array([0.05, 0.01, 0.02, 0.03, 0.04, 0.5])
    approachable = np.array([False, False, True, False, False, False])
    contacted = campaign_targets(np.ones(6, bool), pd, approachable, 0.5)
    assert np.flatnonzero(contacted).tolist() == [1, 2, 3]


def test_retention_calls_go_to_the_highest_ranked_customers() -> None:
    status = np.array([CUSTOMER] * 6 + [0, 0])
    rate = np.array([0.10, 0.15, 0.12, 0.15, 0.08, 0.20, 0.30, 0.30])
    bank_pd = np.array([0.01, 0.01, 0.06, 0.10, 0.01, 0.30, 0.01, 0.01])
    called = retention_targets(status == CUSTOMER, rate, bank_pd, 0.5, 0.5)
    gap = rate - 0.5 * bank_pd  # 0.095 0.145 0.09 0.10 0.075 0.05: the rate above the competitor's posted price for the risk
    assert np.flatnonzero(called).tolist() == [0, 1, 3]
    assert called.sum() == 3 and not called[6:].any()
    assert gap[called].min() >= gap[(status == CUSTOMER) & ~called].max()


def test_calls_share_defaults_to_everyone_and_is_validated() -> None:
    action = MaintenanceAction(name="call", attrition_reduction=0.4, cost_per_customer_month_yuan=2)
    assert action.calls_share == 1.0
    with pytest.raises(ValidationError, match="calls_share"):
        MaintenanceAction(name="call", attrition_reduction=0.4, cost_per_customer_month_yuan=2, calls_share=0)


def test_the_run_calls_a_share_of_its_customers(results, strategies) -> None:
    """The optimised file calls a quarter of the book a month, the most at risk first; the baseline calls nobody."""
    share = next(a.calls_share for a in strategies[1].maintenance if a.attrition_reduction > 0)
    for r in results["baseline"]:
        assert all(row["retention_calls"] == 0 for row in r.by_month)
    called = [row["retention_calls"] for r in results["optimized"] for row in r.by_month]
    assert sum(called) > 0
    for r in results["optimized"]:
        for before, row in zip([{"open_lines": 0}] + r.by_month, r.by_month):
            assert row["retention_calls"] <= round(share * (before["open_lines"] + row["lines"])) + 1
