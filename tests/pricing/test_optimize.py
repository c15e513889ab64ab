"""The profit-optimal rate: the DESIGN.md example, the FOC, bounds, adverse selection, scalar = vectorised."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from smelend.errors import InvalidInput
from smelend.pricing.breakeven import breakeven_rate
from smelend.pricing.optimize import BOUND_NAMES, expected_profit, margin, optimal_rate, optimal_rates
from smelend.pricing.takeup import AdverseSelection, TakeupModel

ECON = dict(pd=0.03, lgd=0.8, funds_rate=0.02, cost_rate=0.015, capital=0.07875, hurdle=0.12)
DESIGN_TAKEUP = TakeupModel(3, 25)


def test_design_example():
    best = optimal_rate(**ECON, takeup=DESIGN_TAKEUP)
    assert round(best.rate, 3) == 0.136
    assert round(best.takeup, 2) == 0.40
    assert round(best.expected_profit, 4) == 0.0261
    assert best.bound is None and best.pd == 0.03
    assert round(expected_profit(0.08, **ECON, takeup=DESIGN_TAKEUP), 4) == 0.0078
    assert round(expected_profit(0.20, **ECON, takeup=DESIGN_TAKEUP), 4) == 0.0152


def test_first_order_condition_holds():
    best = optimal_rate(**ECON, takeup=DESIGN_TAKEUP)
    m = margin(best.rate, **ECON)
    assert m == pytest.approx((1 - 0.03) / (25 * (1 - best.takeup)), rel=1e-10)


def test_margin_is_zero_at_breakeven():
    assert margin(breakeven_rate(**ECON), **ECON) == pytest.approx(0, abs=1e-15)


def test_optimum_is_the_maximum_of_a_dense_grid():
    rates = np.linspace(0, 1, 200_001)
    profit = expected_profit(rates, **ECON, takeup=DESIGN_TAKEUP)
    best = optimal_rate(**ECON, takeup=DESIGN_TAKEUP)
    assert best.expected_profit >= profit.max() - 1e-15
    assert abs(best.rate - rates[np.argmax(profit)]) <= 1e-5


def test_cap_and_floor_bind():
    capped = optimal_rate(**ECON, takeup=DESIGN_TAKEUP, cap=0.12)
    assert capped.rate == 0.12 and capped.bound == "cap"
    floored = optimal_rate(**ECON, takeup=DESIGN_TAKEUP, floor=0.15)
    assert floored.rate == 0.15 and floored.bound == "floor"
    pinned = optimal_rate(**ECON, takeup=DESIGN_TAKEUP, floor=0.1, cap=0.1)
    assert pinned.rate == 0.1 and pinned.bound == "floor"
    out = optimal_rates(**ECON, a=3, b=25, floor=[0.0, 0.15, 0.0], cap=[1.0, 1.0, 0.12])
    assert [BOUND_NAMES[c] for c in out.bound] == [None, "floor", "cap"]


def test_no_cap_means_a_search_limit_of_100_percent():
    nearly_insensitive = TakeupModel(3, 0.5)
    assert optimal_rate(**ECON, takeup=nearly_insensitive).bound == "limit"
    assert BOUND_NAMES[int(optimal_rates(**ECON, a=3, b=0.5).bound)] == "limit"


def test_adverse_selection_lowers_the_optimal_rate():
    plain = optimal_rate(**ECON, takeup=DESIGN_TAKEUP)
    adverse = optimal_rate(**ECON, takeup=TakeupModel(3, 25, AdverseSelection(15.0, 0.10)))
    assert adverse.rate < plain.rate
    assert adverse.pd > 0.03  # those accepting above the reference rate are riskier
    rates = np.linspace(0, 1, 100_001)
    profit = expected_profit(rates, **ECON, takeup=TakeupModel(3, 25, AdverseSelection(15.0, 0.10)))
    assert adverse.expected_profit >= profit.max() - 1e-15


def test_vectorised_keeps_shape_and_matches_scalar_on_a_table():
    pd = np.array([[0.005, 0.01, 0.03], [0.05, 0.1, 0.2]])
    out = optimal_rates(pd=pd, lgd=0.8, funds_rate=0.02, cost_rate=0.015, capital=0.07875, hurdle=0.12, a=3, b=25)
    assert out.rate.shape == out.takeup.shape == out.expected_profit.shape == out.bound.shape == (2, 3)
    for index in np.ndindex(pd.shape):
        one = optimal_rate(**{**ECON, "pd": float(pd[index])}, takeup=DESIGN_TAKEUP)
        assert out.rate[index] == pytest.approx(one.rate, abs=1e-9)
        assert out.expected_profit[index] == pytest.approx(one.expected_profit, abs=1e-12)


def test_vectorised_matches_scalar_on_random_rows_with_adverse_selection_and_bounds():
    rng = np.random.default_rng(7)
    n = 400
    rows = dict(
        pd=np.exp(rng.uniform(np.log(0.0005), np.log(0.4), n)), lgd=rng.uniform(0, 1, n), funds_rate=rng.uniform(0, 0.05, n),
        cost_rate=rng.uniform(0, 0.05, n), capital=rng.uniform(0, 0.2, n), hurdle=rng.uniform(0, 0.3, n),
    )
    a, b = rng.uniform(-3, 7, n), rng.uniform(1, 120, n)
    slope = np.where(rng.random(n) < 0.5, rng.uniform(-20, 80, n), 0.0)
    r0 = rng.uniform(0, 0.3, n)
    cap = rng.uniform(0.05, 1.0, n)
    floor = np.minimum(rng.uniform(0, 0.15, n), cap)
    out = optimal_rates(**rows, a=a, b=b, slope=slope, reference_rate=r0, floor=floor, cap=cap)
    for i in range(n):
        takeup = TakeupModel(a[i], b[i], AdverseSelection(slope[i], r0[i]) if slope[i] else None)
        one = optimal_rate(**{k: float(v[i]) for k, v in rows.items()}, takeup=takeup, floor=float(floor[i]), cap=float(cap[i]))
        assert abs(out.rate[i] - one.rate) <= 1e-6, i
        assert out.pd[i] == pytest.approx(one.pd, abs=1e-9)


finite = dict(allow_nan=False, allow_infinity=False)
economics = st.fixed_dictionaries(
    dict(
        pd=st.floats(1e-4, 0.6, **finite), lgd=st.floats(0, 1, **finite), funds_rate=st.floats(0, 0.06, **finite),
        cost_rate=st.floats(0, 0.06, **finite), capital=st.floats(0, 0.25, **finite), hurdle=st.floats(0, 0.3, **finite),
    )
)
takeups = st.builds(
    lambda a, b, s, r0: TakeupModel(a, b, AdverseSelection(s, r0) if s else None),
    st.floats(-4, 8, **finite), st.floats(0.5, 150, **finite), st.one_of(st.just(0.0), st.floats(-30, 100, **finite)), st.floats(0, 0.3, **finite),
)
bounds = st.tuples(st.one_of(st.none(), st.floats(0, 0.3, **finite)), st.one_of(st.none(), st.floats(0, 0.5, **finite))).filter(
    lambda fc: fc[0] is None or fc[1] is None or fc[0] <= fc[1]
)


@given(econ=economics, takeup=takeups, fc=bounds)
def test_optimum_within_floor_and_cap_and_solvers_agree(econ, takeup, fc):
    floor, cap = fc
    one = optimal_rate(**econ, takeup=takeup, floor=floor, cap=cap)
    assert (floor or 0.0) <= one.rate <= (1.0 if cap is None else cap)
    s = takeup.adverse
    many = optimal_rates(**econ, a=takeup.a, b=takeup.b, slope=0.0 if s is None else s.slope, reference_rate=0.0 if s is None else s.reference_rate, floor=floor, cap=cap)
    assert abs(float(many.rate) - one.rate) <= 1e-6
    # no rate in [floor, cap] does better (checked on a grid)
    rates = np.linspace(floor or 0.0, 1.0 if cap is None else cap, 2001)
    assert one.expected_profit >= expected_profit(rates, **econ, takeup=takeup).max() - 1e-12


@pytest.mark.parametrize(
    ("change", "field"),
    [({"pd": 0.0}, "pd"), ({"pd": 1.0}, "pd"), ({"lgd": 1.2}, "lgd"), ({"funds_rate": -0.01}, "funds_rate"), ({"hurdle": float("nan")}, "hurdle")],
)
def test_bad_inputs_name_the_field(change, field):
    with pytest.raises(InvalidInput) as caught:
        optimal_rate(**{**ECON, **change}, takeup=DESIGN_TAKEUP)
    assert caught.value.first.field == field
    with pytest.raises(InvalidInput) as caught:
        optimal_rates(**{**ECON, **change}, a=3, b=25)
    assert caught.value.first.field == field


def test_cap_below_floor_is_bad_input():
    with pytest.raises(InvalidInput) as caught:
        optimal_rate(**ECON, takeup=DESIGN_TAKEUP, floor=0.2, cap=0.1)
    assert caught.value.first.field == "cap"
    with pytest.raises(InvalidInput) as caught:
        optimal_rates(**ECON, a=3, b=[25, -1])
    assert caught.value.first.field == "b"
