"""Capital: the Basel IRB "other retail" formula (DESIGN.md figures), scaling, the standardised approach."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from scipy.stats import norm

from smelend.pricing.capital import irb_capital, other_retail_correlation, standardised_capital


def test_design_figures_at_lgd_80():
    k = irb_capital(np.array([0.01, 0.03, 0.05]), 0.8)
    assert k.round(4).tolist() == [0.0651, 0.0893, 0.0945]
    assert k == pytest.approx([0.06509899, 0.08930398, 0.09445713], abs=1e-8)


def test_formula_written_out():
    pd, lgd = 0.02, 0.6
    w = (1 - np.exp(-35 * pd)) / (1 - np.exp(-35))
    r = 0.03 * w + 0.16 * (1 - w)
    expected = lgd * (norm.cdf((norm.ppf(pd) + np.sqrt(r) * norm.ppf(0.999)) / np.sqrt(1 - r)) - pd)
    assert irb_capital(pd, lgd) == pytest.approx(expected, rel=1e-14)


def test_correlation_runs_from_16_to_3_percent():
    assert other_retail_correlation(1e-9) == pytest.approx(0.16, abs=1e-6)
    assert other_retail_correlation(0.5) == pytest.approx(0.03, abs=1e-6)
    r = other_retail_correlation(np.linspace(0.001, 0.5, 50))
    assert np.all(np.diff(r) < 0)


def test_scaling_to_the_capital_ratio_and_standardised():
    assert irb_capital(0.03, 0.8, capital_ratio=0.105) == pytest.approx(irb_capital(0.03, 0.8) * 0.105 / 0.08, rel=1e-14)
    assert standardised_capital(0.75, 0.105) == pytest.approx(0.07875, abs=1e-15)
    assert standardised_capital() == pytest.approx(0.07875, abs=1e-15)


def test_vectorised_equals_scalar_and_linear_in_lgd():
    pd = np.array([0.001, 0.01, 0.1, 0.3])
    vector = irb_capital(pd, 0.45)
    assert [irb_capital(float(p), 0.45) for p in pd] == vector.tolist()
    assert irb_capital(pd, 0.9) == pytest.approx(2 * vector, rel=1e-14)
    assert isinstance(irb_capital(0.03, 0.8), float)


@given(pd=st.floats(1e-5, 0.99), lgd=st.floats(0.0, 1.0))
def test_capital_between_zero_and_the_unexpected_loss_ceiling(pd, lgd):
    k = irb_capital(pd, lgd)
    assert 0 <= k <= lgd * (1 - pd) + 1e-15
