"""Uplift models for campaign targeting: T- and X-learners (scikit-learn), evaluated with Qini and AUUC.

A campaign should reach the customers it *changes* (persuadables), not those who would respond anyway,
so customers are ranked by predicted uplift tau(x) = P(y | x, treated) - P(y | x, control):

* **T-learner**: one classifier per arm; tau = mu1(x) - mu0(x).
* **X-learner** (Kuenzel et al. 2019): the T-learner's models impute each unit's effect (treated:
  y - mu0(x); control: mu1(x) - y), a regressor per arm learns those, blended by the propensity g(x):
  tau = g tau0 + (1 - g) tau1. Better when the arms differ in size or the effect is simpler than the outcome.

Evaluation on held-out data, customers sorted by the score: the **Qini curve** Q(k) = Y_T(k) - Y_C(k)
N_T(k)/N_C(k) (incremental responders among the top k), the **Qini coefficient** (area between the curve
and the random-targeting line, per customer), and **AUUC** (area under the cumulative-gain curve
(rate_T(k) - rate_C(k)) k, per customer). The learner with the higher validation Qini is chosen.

:func:`make_uplift_data` draws data with a known true uplift (including "sleeping dogs" whom an offer
puts off), so the models can be checked against the oracle ranking.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

Learner = Literal["t", "x"]
LEARNERS: tuple[Learner, ...] = ("t", "x")
FEATURES = 6


@dataclass(frozen=True)
class UpliftData:
    x: np.ndarray  # (n, features)
    treatment: np.ndarray  # 0/1
    y: np.ndarray  # 0/1
    true_uplift: np.ndarray  # P(y | x, 1) - P(y | x, 0)

    def split(self, share: float, seed: int) -> tuple["UpliftData", "UpliftData"]:
        rng = np.random.default_rng(seed)
        mask = rng.random(len(self.y)) < share
        return self.take(mask), self.take(~mask)

    def take(self, index: np.ndarray) -> "UpliftData":
        return UpliftData(self.x[index], self.treatment[index], self.y[index], self.true_uplift[index])


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-z))


def base_probability(x: np.ndarray) -> np.ndarray:
    """The generator's true response without the offer: logistic in x0 and x1."""
    return _sigmoid(-2.0 + 0.6 * x[:, 0] + 0.4 * x[:, 1])


def treated_probability(x: np.ndarray) -> np.ndarray:
    """The generator's true response with the offer: a lift growing with x2, falling with x3; x4 > 1.2 is put off."""
    base = base_probability(x)
    uplift_logit = -2.2 + 1.2 * x[:, 2] - 0.8 * x[:, 3]
    return _sigmoid(np.log(base / (1 - base)) + np.where(x[:, 4] > 1.2, -0.8, 0.0) + 3.0 * _sigmoid(uplift_logit))


def make_uplift_data(n: int, seed: int = 0, treated_share: float = 0.5) -> UpliftData:
    """``n`` customers with a random treatment, their responses, and the true uplift of each."""
    rng = np.random.default_rng(np.random.SeedSequence([seed, 0x0F7]))
    x = rng.normal(size=(n, FEATURES))
    base, treated_p = base_probability(x), treated_probability(x)
    t = (rng.random(n) < treated_share).astype(np.int64)
    y = (rng.random(n) < np.where(t == 1, treated_p, base)).astype(np.int64)
    return UpliftData(x, t, y, treated_p - base)


@dataclass
class UpliftModel:
    """A fitted learner: ``predict(x)`` gives the uplift score."""

    learner: Learner
    models: dict[str, object]
    propensity: float

    def predict(self, x: np.ndarray, threads: int = 1) -> np.ndarray:
        from threadpoolctl import threadpool_limits

        with threadpool_limits(limits=threads):
            return self._predict(x)

    def _predict(self, x: np.ndarray) -> np.ndarray:
        mu0, mu1 = self.models["mu0"], self.models["mu1"]
        if self.learner == "t":
            return mu1.predict_proba(x)[:, 1] - mu0.predict_proba(x)[:, 1]  # type: ignore[attr-defined]
        g = self.propensity
        return g * self.models["tau0"].predict(x) + (1 - g) * self.models["tau1"].predict(x)  # type: ignore[attr-defined]


def _classifier(seed: int) -> object:
    from sklearn.ensemble import HistGradientBoostingClassifier

    return HistGradientBoostingClassifier(max_iter=150, learning_rate=0.05, max_leaf_nodes=15, min_samples_leaf=40, random_state=seed)


def _regressor(seed: int) -> object:
    from sklearn.ensemble import HistGradientBoostingRegressor

    return HistGradientBoostingRegressor(max_iter=150, learning_rate=0.05, max_leaf_nodes=15, min_samples_leaf=40, random_state=seed)


def fit(data: UpliftData, learner: Learner = "x", seed: int = 0, threads: int = 1) -> UpliftModel:
    """Fit one learner. ``threads`` bounds OpenMP in the boosting models: on a busy 2-core machine the
    default (all cores, spin-waiting) was measured 16x slower than one thread on 10,000 customers."""
    from threadpoolctl import threadpool_limits  # scikit-learn's own dependency

    with threadpool_limits(limits=threads):
        return _fit(data, learner, seed)


def _fit(data: UpliftData, learner: Learner, seed: int) -> UpliftModel:
    if learner not in LEARNERS:
        raise ValueError(f"learner must be one of {LEARNERS}")
    t = data.treatment == 1
    if t.all() or (~t).all():
        raise ValueError("both arms need customers")
    mu0, mu1 = _classifier(seed), _classifier(seed + 1)
    mu0.fit(data.x[~t], data.y[~t])  # type: ignore[attr-defined]
    mu1.fit(data.x[t], data.y[t])  # type: ignore[attr-defined]
    models: dict[str, object] = {"mu0": mu0, "mu1": mu1}
    g = float(t.mean())
    if learner == "x":
        d1 = data.y[t] - mu0.predict_proba(data.x[t])[:, 1]  # type: ignore[attr-defined]
        d0 = mu1.predict_proba(data.x[~t])[:, 1] - data.y[~t]  # type: ignore[attr-defined]
        tau1, tau0 = _regressor(seed + 2), _regressor(seed + 3)
        tau1.fit(data.x[t], d1)  # type: ignore[attr-defined]
        tau0.fit(data.x[~t], d0)  # type: ignore[attr-defined]
        models |= {"tau1": tau1, "tau0": tau0}
    return UpliftModel(learner, models, g)


@dataclass(frozen=True)
class QiniCurve:
    fraction: np.ndarray  # share of customers targeted, 0..1
    qini: np.ndarray  # incremental responders among the top k
    gain: np.ndarray  # cumulative gain (rate_T - rate_C) x k


def qini_curve(score: np.ndarray, treatment: np.ndarray, y: np.ndarray) -> QiniCurve:
    order = np.argsort(-score, kind="stable")
    t, yy = treatment[order] == 1, y[order]
    n_t, n_c = np.cumsum(t), np.cumsum(~t)
    y_t, y_c = np.cumsum(yy * t), np.cumsum(yy * ~t)
    k = np.arange(1, len(score) + 1)
    with np.errstate(divide="ignore", invalid="ignore"):
        qini = y_t - np.where(n_c > 0, y_c * n_t / n_c, 0.0)
        gain = (np.where(n_t > 0, y_t / n_t, 0.0) - np.where(n_c > 0, y_c / n_c, 0.0)) * k
    zero = np.zeros(1)
    return QiniCurve(np.concatenate([zero, k / len(k)]), np.concatenate([zero, qini]), np.concatenate([zero, gain]))


@dataclass(frozen=True)
class UpliftScores:
    qini: float  # Qini coefficient: area between the Qini curve and the random line, per customer
    auuc: float  # area under the cumulative-gain curve, per customer
    incremental_at_top: dict[str, float]  # share targeted -> incremental responders per customer


def _area(x: np.ndarray, y: np.ndarray) -> float:
    return float(np.sum((y[1:] + y[:-1]) / 2 * np.diff(x)))


def evaluate(score: np.ndarray, treatment: np.ndarray, y: np.ndarray, tops: tuple[float, ...] = (0.1, 0.2, 0.3, 0.5)) -> UpliftScores:
    curve = qini_curve(score, treatment, y)
    n = len(y)
    random_line = curve.qini[-1] * curve.fraction
    qini = _area(curve.fraction, curve.qini - random_line) / n
    auuc = _area(curve.fraction, curve.gain) / n
    at = {f"{top:g}": float(curve.qini[int(round(top * n))] / n) for top in tops}
    return UpliftScores(qini, auuc, at)


@dataclass(frozen=True)
class Comparison:
    chosen: Learner
    validation: dict[str, UpliftScores]  # per learner, plus "oracle" (true uplift) and "random"


def choose(train: UpliftData, valid: UpliftData, seed: int = 0) -> tuple[UpliftModel, Comparison]:
    """Fit every learner on ``train``; keep the one with the higher Qini on ``valid``."""
    fitted = {learner: fit(train, learner, seed) for learner in LEARNERS}
    scores = {learner: evaluate(m.predict(valid.x), valid.treatment, valid.y) for learner, m in fitted.items()}
    best = max(LEARNERS, key=lambda l: scores[l].qini)
    scores["oracle"] = evaluate(valid.true_uplift, valid.treatment, valid.y)
    scores["random"] = evaluate(np.random.default_rng(seed).random(len(valid.y)), valid.treatment, valid.y)
    return fitted[best], Comparison(best, scores)
