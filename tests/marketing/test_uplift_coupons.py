"""Uplift learners on data with a known true uplift; coupon costs from the servicing engine."""

from __future__ import annotations

from datetime import date
from decimal import ROUND_HALF_UP, Decimal

import numpy as np
import pytest

from smelend.errors import InvalidInput
from smelend.marketing.campaign import plan
from smelend.marketing.coupons import Coupon, coupon_cost
from smelend.marketing.uplift import choose, make_uplift_data, qini_curve
from smelend.servicing import Method


@pytest.fixture(scope="module")
def split():
    return make_uplift_data(16_000, seed=3).split(0.6, seed=0)


def test_chosen_learner_beats_random_and_comes_near_the_true_ranking(split) -> None:
    train, valid = split
    model, comparison = choose(train, valid)
    scores = comparison.validation
    assert comparison.chosen == model.learner and scores[model.learner].qini == max(scores["t"].qini, scores["x"].qini)
    assert abs(scores["random"].qini) < 0.3 * scores["oracle"].qini
    assert scores[model.learner].qini > 0.6 * scores["oracle"].qini
    assert scores[model.learner].auuc > scores["random"].auuc
    assert scores["t"].qini > 0 and scores["x"].qini > 0  # both learners learn
    # the predicted uplift tracks the truth
    assert np.corrcoef(model.predict(valid.x), valid.true_uplift)[0, 1] > 0.5


def test_qini_curve_by_hand() -> None:
    # scores rank: a (treated, 1), b (control, 0), c (treated, 0), d (control, 1)
    curve = qini_curve(np.array([4.0, 3.0, 2.0, 1.0]), np.array([1, 0, 1, 0]), np.array([1, 0, 0, 1]))
    # k=1: 1 - 0; k=2: 1 - 0*1/1; k=3: 1 - 0*2/1; k=4: 1 - 1*2/2
    assert curve.qini.tolist() == [0.0, 1.0, 1.0, 1.0, 0.0]
    assert curve.fraction.tolist() == [0.0, 0.25, 0.5, 0.75, 1.0]


def test_campaign_targets_positive_uplift_only() -> None:
    history, audience = make_uplift_data(6_000, 1), make_uplift_data(3_000, 2)
    result = plan(history, audience.x, 0.3, 50_000)
    assert 0 < result.targeted <= 900
    assert audience.true_uplift[result.targeted_index].mean() > audience.true_uplift.mean()
    assert result.expected_cost_fen == round(result.expected_redemptions * 50_000)
    with pytest.raises(InvalidInput):
        plan(history, audience.x, 0.0, 1)


def _equal_principal_interest(principal_fen: int, annual: Decimal, n: int) -> int:
    """By hand: each month interest = balance x annual / 12, half up to the fen; principal P / n (the last takes the rest)."""
    balance, total = principal_fen, 0
    part = principal_fen // n
    for i in range(n):
        total += int((Decimal(balance) * annual / 12).quantize(Decimal(1), rounding=ROUND_HALF_UP))
        balance -= part if i < n - 1 else balance
    return total


def test_coupon_cost_is_the_interest_forgone() -> None:
    cost = coupon_cost(Coupon(100, 10**9), 10_000_000, Decimal("0.072"), 12, Method.EQUAL_PRINCIPAL, date(2026, 1, 15))
    assert cost.full_interest_fen == 390_000  # DESIGN.md: 100,000 at 7.2% equal principal over 12 months, interest 3,900.00
    assert cost.full_interest_fen == _equal_principal_interest(10_000_000, Decimal("0.072"), 12)
    assert cost.discounted_interest_fen == _equal_principal_interest(10_000_000, Decimal("0.062"), 12)
    assert cost.cost_fen == cost.full_interest_fen - cost.discounted_interest_fen


def test_coupon_cap_and_validation() -> None:
    capped = coupon_cost(Coupon(500, 20_000), 10_000_000, Decimal("0.072"), 12, Method.EQUAL_INSTALLMENT, date(2026, 1, 15))
    assert capped.cost_fen == 20_000 and capped.full_interest_fen == 394_275  # DESIGN.md: 3,942.75
    free = coupon_cost(Coupon(2000, 10**9), 10_000_000, Decimal("0.072"), 12, Method.EQUAL_INSTALLMENT, date(2026, 1, 15))
    assert free.discounted_interest_fen == 0 and free.cost_fen == 394_275  # the rate stops at zero
    with pytest.raises(InvalidInput) as caught:
        Coupon(0, -1)
    assert {e.field for e in caught.value.errors} == {"coupon_bp", "coupon_cap"}


from hypothesis import given, settings
from hypothesis import strategies as st


@settings(max_examples=40, deadline=None)
@given(st.integers(1, 2000), st.integers(1, 2000), st.integers(100_000, 500_000_000), st.integers(300, 2400), st.sampled_from([3, 6, 12]),
       st.sampled_from([Method.EQUAL_INSTALLMENT, Method.EQUAL_PRINCIPAL, Method.INTEREST_FIRST, Method.BULLET]))
def test_coupon_cost_is_bounded_and_grows_with_the_discount(bp_a: int, bp_b: int, amount_fen: int, rate_bp: int, term: int, method: Method) -> None:
    rate = Decimal(rate_bp) / 10_000
    low, high = sorted((bp_a, bp_b))
    a = coupon_cost(Coupon(low, 10**12), amount_fen, rate, term, method, date(2026, 1, 31))
    b = coupon_cost(Coupon(high, 10**12), amount_fen, rate, term, method, date(2026, 1, 31))
    assert 0 <= a.cost_fen <= b.cost_fen <= b.full_interest_fen
    capped = coupon_cost(Coupon(high, 1), amount_fen, rate, term, method, date(2026, 1, 31))
    assert capped.cost_fen == min(1, b.cost_fen)
