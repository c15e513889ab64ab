"""Break-even rates and RAROC: the DESIGN.md example, the exact/additive relation, vectorisation, monotonicity."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from smelend.pricing.breakeven import additive_breakeven_rate, breakeven_rate, capital_charge, raroc

DESIGN = dict(pd=0.03, lgd=0.8, funds_rate=0.02, cost_rate=0.015, capital=0.07875, hurdle=0.12)

pds = st.floats(0.0005, 0.5)
lgds = st.floats(0.0, 1.0)
rates = st.floats(0.0, 0.1)
capitals = st.floats(0.0, 0.2)


def test_design_example():
    assert breakeven_rate(**DESIGN) == pytest.approx(1.036875 / 0.97 - 1, abs=1e-15)
    assert round(breakeven_rate(**DESIGN), 4) == 0.0689
    assert additive_breakeven_rate(**DESIGN) == pytest.approx(0.066875, abs=1e-15)
    assert capital_charge(0.07875, 0.12, 0.02) == pytest.approx(0.007875, abs=1e-15)


def test_exact_and_additive_agree_without_default_risk():
    inputs = {**DESIGN, "pd": 0.0}
    assert breakeven_rate(**inputs) == pytest.approx(additive_breakeven_rate(**inputs), abs=1e-15)


def test_vectorised_equals_scalar():
    pd = np.array([[0.001, 0.01], [0.05, 0.2]])
    lgd = np.array([0.45, 0.8])
    vector = breakeven_rate(pd, lgd, 0.02, 0.015, 0.07875, 0.12)
    assert vector.shape == (2, 2)
    for i in range(2):
        for j in range(2):
            assert vector[i, j] == breakeven_rate(float(pd[i, j]), float(lgd[j]), 0.02, 0.015, 0.07875, 0.12)
    assert additive_breakeven_rate(pd, lgd, 0.02, 0.015, 0.07875, 0.12).shape == (2, 2)
    assert isinstance(breakeven_rate(**DESIGN), float)


def test_raroc_is_the_hurdle_at_breakeven_and_rises_with_the_rate():
    rng = np.random.default_rng(3)
    pd, lgd = rng.uniform(0.001, 0.3, 500), rng.uniform(0.1, 1.0, 500)
    rf, c, k, h = rng.uniform(0, 0.04, 500), rng.uniform(0, 0.04, 500), rng.uniform(0.02, 0.15, 500), rng.uniform(0.05, 0.25, 500)
    r_be = breakeven_rate(pd, lgd, rf, c, k, h)
    assert np.allclose(raroc(r_be, pd, lgd, rf, c, k), h, atol=1e-12)
    assert np.all(raroc(r_be + 0.01, pd, lgd, rf, c, k) > h)
    # the documented equivalent form
    assert np.allclose(raroc(0.1, pd, lgd, rf, c, k), (0.1 - rf - c - pd * (lgd + 0.1)) / k + rf, atol=1e-12)


@given(pd=pds, lgd=lgds, rf=rates, c=rates, k=capitals, h=st.floats(0.0, 0.3))
def test_exact_is_never_below_additive(pd, lgd, rf, c, k, h):
    exact = breakeven_rate(pd, lgd, rf, c, k, h)
    additive = additive_breakeven_rate(pd, lgd, rf, c, k, h)
    assert exact >= additive - 1e-15
    # the gap is the interest defaulters never pay: (1 - PD)·r_BE = additive, so r_BE - additive = PD·r_BE
    assert exact - additive == pytest.approx(pd * exact, abs=1e-12)


@given(pd=pds, step=st.floats(1e-4, 0.3), lgd=lgds, rf=rates, c=rates, k=capitals)
def test_breakeven_rises_with_pd(pd, step, lgd, rf, c, k):
    higher = min(pd + step, 0.9)
    assert breakeven_rate(higher, lgd, rf, c, k, 0.12) >= breakeven_rate(pd, lgd, rf, c, k, 0.12) - 1e-15
    assert additive_breakeven_rate(higher, lgd, rf, c, k, 0.12) >= additive_breakeven_rate(pd, lgd, rf, c, k, 0.12) - 1e-15


@given(pd=pds, lgd=lgds, step=st.floats(1e-4, 1.0), rf=rates, c=rates, k=capitals)
def test_breakeven_rises_with_lgd(pd, lgd, step, rf, c, k):
    higher = min(lgd + step, 1.0)
    assert breakeven_rate(pd, higher, rf, c, k, 0.12) >= breakeven_rate(pd, lgd, rf, c, k, 0.12) - 1e-15
    assert additive_breakeven_rate(pd, higher, rf, c, k, 0.12) >= additive_breakeven_rate(pd, lgd, rf, c, k, 0.12) - 1e-15
