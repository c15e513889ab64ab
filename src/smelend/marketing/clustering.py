"""Clustering on firmographic and behavioural features (scikit-learn k-means) with readable profiles.

Features are put on comparable scales first (logs of money, then standardised), so no one unit
dominates. Each cluster is described by the features furthest from the whole book in standard
deviations ("high deposits, low utilisation"), its size, and its mean PD — words a marketer can act on.
MiniBatchKMeans keeps a million customers to seconds.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import polars as pl

FEATURES: dict[str, tuple[str, pl.Expr]] = {
    "sales": ("annual sales", (pl.coalesce("tax_declared_sales_12m_fen", "invoice_sales_12m_fen", pl.lit(0)).cast(pl.Float64) / 100 + 1).log()),
    "years": ("years in business", pl.col("registration_age_days").fill_null(0) / 365.25),
    "deposits": ("deposits", (pl.col("relationship_deposits_avg_fen").fill_null(0).cast(pl.Float64) / 100 + 1).log()),
    "limit": ("credit line", (pl.col("limit_fen").cast(pl.Float64) / 100 + 1).log()),
    "utilisation": ("utilisation", pl.col("utilisation").fill_null(0.0)),
    "draws": ("draws a year", pl.col("draws_12m").fill_null(0).cast(pl.Float64)),
    "recency": ("days since last draw", pl.col("days_since_last_draw").fill_null(400.0).clip(0, 400)),
    "pd": ("risk (PD)", pl.col("pd")),
}
DESCRIBE_TOP = 3
THRESHOLD_SD = 0.4


@dataclass(frozen=True)
class ClusterProfile:
    cluster: int
    customers: int
    share: float
    description: str
    means: dict[str, float]  # in the features' own units (logs for money)
    z: dict[str, float]  # standardised distance from the whole book


@dataclass(frozen=True)
class Clustering:
    labels: np.ndarray
    profiles: tuple[ClusterProfile, ...]
    inertia: float


def feature_matrix(customers: pl.DataFrame, pd: np.ndarray) -> tuple[np.ndarray, list[str]]:
    frame = customers.with_columns(pl.Series("pd", pd, dtype=pl.Float64)).select([expr.alias(name) for name, (_, expr) in FEATURES.items()])
    return frame.to_numpy().astype(np.float64), list(FEATURES)


def cluster(customers: pl.DataFrame, pd: np.ndarray, k: int = 5, seed: int = 0) -> Clustering:
    from sklearn.cluster import MiniBatchKMeans
    from threadpoolctl import threadpool_limits

    if not 2 <= k <= 20:
        raise ValueError("k must be between 2 and 20")
    x, names = feature_matrix(customers, pd)
    mean, sd = x.mean(axis=0), x.std(axis=0)
    sd[sd == 0] = 1.0
    z = (x - mean) / sd
    with threadpool_limits(limits=1):
        model = MiniBatchKMeans(n_clusters=k, random_state=seed, batch_size=4096, n_init=3).fit(z)
    labels = model.labels_
    out = []
    for c in range(k):
        members = labels == c
        zc = z[members].mean(axis=0)
        order = np.argsort(-np.abs(zc))
        words = [f"{'high' if zc[i] > 0 else 'low'} {FEATURES[names[i]][0]}" for i in order[:DESCRIBE_TOP] if abs(zc[i]) >= THRESHOLD_SD]
        out.append(ClusterProfile(c, int(members.sum()), float(members.mean()), ", ".join(words) or "close to the book average",
                                  {n: float(v) for n, v in zip(names, x[members].mean(axis=0))}, {n: float(v) for n, v in zip(names, zc)}))
    return Clustering(labels, tuple(out), float(model.inertia_))
