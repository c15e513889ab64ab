"""The break-even rate of a one-year loan of 1, and the risk-adjusted return (RAROC) of an offered rate.

Inputs (all annual fractions): ``pd`` one-year probability of default, ``lgd`` loss given default,
``funds_rate`` r_F (the FTP rate at the term), ``cost_rate`` c (operating + acquisition), ``capital`` K
(capital per unit of exposure), ``hurdle`` h (return on equity the capital must earn). Every function
takes floats or numpy arrays (broadcast together), since grids and books are priced as tables.

The loan pays 1 + r if the borrower survives; on default (at the year's end) the bank recovers 1 - LGD
and receives no interest. The capital K replaces K of funding and must earn h, hence the charge
K(h - r_F). Setting the expected repayment equal to the cost gives the exact break-even rate; the usual
additive formula r_F + PD·LGD + c + K(h - r_F) ignores that defaulted loans pay no interest, so it is
a little lower.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray

FloatOrArray = float | NDArray[np.float64]


def scalar_or_array(value: NDArray[np.float64]) -> FloatOrArray:
    """A 0-d result as a float, so scalar callers get scalars back."""
    return float(value) if value.ndim == 0 else value


def capital_charge(capital: ArrayLike, hurdle: ArrayLike, funds_rate: ArrayLike) -> FloatOrArray:
    """K(h - r_F): what the capital must earn above the funding it replaces.

    >>> round(capital_charge(0.07875, 0.12, 0.02), 10)
    0.007875
    """
    k, h, rf = np.asarray(capital, float), np.asarray(hurdle, float), np.asarray(funds_rate, float)
    return scalar_or_array(k * (h - rf))


def breakeven_rate(pd: ArrayLike, lgd: ArrayLike, funds_rate: ArrayLike, cost_rate: ArrayLike, capital: ArrayLike, hurdle: ArrayLike) -> FloatOrArray:
    """The exact break-even rate: 1 + r_BE = [1 + r_F + c + K(h - r_F) - PD(1 - LGD)] / (1 - PD).

    DESIGN.md example (r_F 2%, c 1.5%, PD 3%, LGD 80%, K 7.875%, h 12%):

    >>> round(breakeven_rate(0.03, 0.8, 0.02, 0.015, 0.07875, 0.12), 4)
    0.0689
    >>> breakeven_rate(np.array([0.01, 0.03]), 0.8, 0.02, 0.015, 0.07875, 0.12).round(4).tolist()
    [0.0514, 0.0689]
    """
    p, lgd_ = np.asarray(pd, float), np.asarray(lgd, float)
    assert np.all((p >= 0) & (p < 1)), "pd must lie in [0, 1)"
    cost = 1 + np.asarray(funds_rate, float) + np.asarray(cost_rate, float) + np.asarray(capital_charge(capital, hurdle, funds_rate))
    return scalar_or_array((cost - p * (1 - lgd_)) / (1 - p) - 1)


def additive_breakeven_rate(pd: ArrayLike, lgd: ArrayLike, funds_rate: ArrayLike, cost_rate: ArrayLike, capital: ArrayLike, hurdle: ArrayLike) -> FloatOrArray:
    """The additive approximation r_F + PD·LGD + c + K(h - r_F).

    >>> round(additive_breakeven_rate(0.03, 0.8, 0.02, 0.015, 0.07875, 0.12), 6)
    0.066875
    """
    p, lgd_ = np.asarray(pd, float), np.asarray(lgd, float)
    rf, c = np.asarray(funds_rate, float), np.asarray(cost_rate, float)
    return scalar_or_array(rf + p * lgd_ + c + np.asarray(capital_charge(capital, hurdle, funds_rate)))


def raroc(rate: ArrayLike, pd: ArrayLike, lgd: ArrayLike, funds_rate: ArrayLike, cost_rate: ArrayLike, capital: ArrayLike) -> FloatOrArray:
    """Risk-adjusted return on the capital a loan of 1 uses, at the offered ``rate``.

    RAROC = [(1 - PD)·r - PD·LGD - r_F·(1 - K) - c] / K: expected interest received (defaulters pay
    none), less expected principal loss, less the funding the capital does not replace, less costs, per
    unit of capital. Equivalently (r - r_F - c - PD·(LGD + r)) / K + r_F. It equals the hurdle exactly at
    the exact break-even rate, so "RAROC above hurdle" and "rate above break-even" are the same test.

    >>> r_be = breakeven_rate(0.03, 0.8, 0.02, 0.015, 0.07875, 0.12)
    >>> round(raroc(r_be, 0.03, 0.8, 0.02, 0.015, 0.07875), 12)
    0.12
    >>> round(raroc(0.136, 0.03, 0.8, 0.02, 0.015, 0.07875), 4)
    0.946
    """
    r, p, lgd_ = np.asarray(rate, float), np.asarray(pd, float), np.asarray(lgd, float)
    rf, c, k = np.asarray(funds_rate, float), np.asarray(cost_rate, float), np.asarray(capital, float)
    assert np.all(k > 0), "capital must be positive for a return on it"
    return scalar_or_array(((1 - p) * r - p * lgd_ - rf * (1 - k) - c) / k)
