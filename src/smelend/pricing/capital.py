"""Capital per unit of exposure: the Basel IRB "other retail" formula, and the standardised approach.

Capital K is what the bank must hold against a loan of 1; the price charges K(h - r_F) for it
(:mod:`smelend.pricing.breakeven`). Both functions take floats or numpy arrays.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike
from scipy.stats import norm

from smelend.pricing.breakeven import FloatOrArray, scalar_or_array

CONFIDENCE = 0.999  # Basel IRB: the one-year loss quantile capital covers
IRB_MINIMUM_RATIO = 0.08
R_LOW, R_HIGH, K_SHAPE = 0.03, 0.16, 35.0  # other retail: asset correlation from 16% (low PD) down to 3%


def other_retail_correlation(pd: ArrayLike) -> FloatOrArray:
    """Asset correlation R = 0.03w + 0.16(1 - w), w = (1 - e^(-35 PD)) / (1 - e^(-35)).

    >>> round(other_retail_correlation(0.03), 6)
    0.075492
    """
    p = np.asarray(pd, float)
    w = -np.expm1(-K_SHAPE * p) / -np.expm1(-K_SHAPE)
    return scalar_or_array(R_LOW * w + R_HIGH * (1 - w))


def irb_capital(pd: ArrayLike, lgd: ArrayLike, capital_ratio: float | None = None) -> FloatOrArray:
    """IRB capital for "other retail": K = LGD·[N((G(PD) + √R·G(0.999)) / √(1 - R)) - PD].

    That is capital at the 8% minimum ratio (unexpected loss at the 99.9% quantile); with
    ``capital_ratio`` it is scaled by capital_ratio / 8%, for a hurdle earned on the capital the bank
    really holds. PD must lie in (0, 1); the Basel PD floor is the caller's policy, not applied here.

    DESIGN.md: at LGD 80%, K ≈ 6.51%, 8.93%, 9.45% for PD 1%, 3%, 5%.

    >>> irb_capital(np.array([0.01, 0.03, 0.05]), 0.8).round(4).tolist()
    [0.0651, 0.0893, 0.0945]
    >>> round(irb_capital(0.03, 0.8, capital_ratio=0.105), 4)
    0.1172
    """
    p, lgd_ = np.asarray(pd, float), np.asarray(lgd, float)
    assert np.all((p > 0) & (p < 1)), "pd must lie in (0, 1)"
    assert np.all((lgd_ >= 0) & (lgd_ <= 1)), "lgd must lie in [0, 1]"
    r = np.asarray(other_retail_correlation(p))
    stressed = norm.cdf((norm.ppf(p) + np.sqrt(r) * norm.ppf(CONFIDENCE)) / np.sqrt(1 - r))
    k = lgd_ * (stressed - p)
    if capital_ratio is not None:
        assert IRB_MINIMUM_RATIO <= capital_ratio <= 1, capital_ratio
        k = k * (capital_ratio / IRB_MINIMUM_RATIO)
    assert np.all(k >= 0)
    return scalar_or_array(k)


def standardised_capital(risk_weight: float = 0.75, capital_ratio: float = 0.105) -> float:
    """Standardised approach: risk weight × capital ratio (75% retail × 10.5% = 7.875%).

    >>> round(standardised_capital(0.75, 0.105), 10)
    0.07875
    """
    assert 0 < risk_weight <= 4 and 0 < capital_ratio <= 1, (risk_weight, capital_ratio)
    return risk_weight * capital_ratio
