"""Discrimination metrics shared by cross-validation, training and the validation report.

``risk`` is any number that rises with the chance of default (a PD, or minus a scorecard score).

>>> import numpy as np
>>> m = discrimination(np.array([0, 0, 1, 1]), np.array([0.1, 0.4, 0.35, 0.8]))
>>> m["auc"], m["gini"], m["ks"]
(0.75, 0.5, 0.5)
"""

from __future__ import annotations

import numpy as np


def _checked(y_bad: np.ndarray, risk: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    y = np.asarray(y_bad).astype(np.int8, copy=False)
    r = np.asarray(risk, dtype=np.float64)
    assert y.shape == r.shape and y.ndim == 1, "y_bad and risk must be 1-d arrays of one length"
    assert set(np.unique(y)).issubset({0, 1}), "y_bad must hold 0 (good) and 1 (bad)"
    if y.min() == y.max():
        raise ValueError("discrimination needs both goods and bads")
    return y, r


def auc(y_bad: np.ndarray, risk: np.ndarray) -> float:
    """Area under the ROC curve (ties count one half), by ranks: exact and O(n log n)."""
    from scipy.stats import rankdata

    y, r = _checked(y_bad, risk)
    ranks = rankdata(r)
    n_bad = int(y.sum())
    n_good = y.size - n_bad
    return float((ranks[y == 1].sum() - n_bad * (n_bad + 1) / 2) / (n_bad * n_good))


def ks(y_bad: np.ndarray, risk: np.ndarray) -> float:
    """Kolmogorov-Smirnov: the largest gap between the bads' and the goods' cumulative shares."""
    y, r = _checked(y_bad, risk)
    order = np.argsort(-r, kind="mergesort")
    r_sorted, y_sorted = r[order], y[order]
    last_of_tie = np.r_[r_sorted[1:] != r_sorted[:-1], True]  # evaluate only between distinct values
    cum_bad = np.cumsum(y_sorted)[last_of_tie] / y.sum()
    cum_good = np.cumsum(1 - y_sorted)[last_of_tie] / (y.size - y.sum())
    return float(np.max(np.abs(cum_bad - cum_good)))


def discrimination(y_bad: np.ndarray, risk: np.ndarray) -> dict[str, float]:
    """AUC, Gini (2·AUC − 1) and KS of one model on one sample."""
    area = auc(y_bad, risk)
    return {"auc": area, "gini": 2 * area - 1, "ks": ks(y_bad, risk)}
