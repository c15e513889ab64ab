"""Cross-validated discrimination of the scorecard and the challenger, on the same stratified folds.

Both models see exactly the same training and test rows in each fold, so their AUCs compare like for
like. The scorecard's risk is minus its score; the challenger's is its calibrated PD.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from smelend.errors import InvalidInput
from smelend.risk.challenger import ChallengerSettings, fit_challenger
from smelend.risk.metrics import discrimination
from smelend.risk.scorecard import ScorecardSettings, fit_scorecard
from smelend.risk.tabular import Table

MAX_FOLDS = 20
MODELS = ("scorecard", "challenger")


@dataclass(frozen=True)
class ModelCV:
    """One model's metrics per fold, and their means."""

    folds: tuple[dict[str, float], ...]

    def mean(self, metric: str) -> float:
        return float(np.mean([f[metric] for f in self.folds]))

    def summary(self) -> dict[str, float]:
        """Mean AUC, KS and Gini over folds, and the AUC's standard deviation across folds."""
        return {
            "auc": self.mean("auc"), "ks": self.mean("ks"), "gini": self.mean("gini"),
            "auc_std": float(np.std([f["auc"] for f in self.folds], ddof=1)) if len(self.folds) > 1 else 0.0,
        }


@dataclass(frozen=True)
class CrossValidation:
    rows: int
    bad_rate: float
    folds: int
    seed: int
    models: dict[str, ModelCV]

    def to_dict(self) -> dict[str, object]:
        """The ``risk benchmark --json`` document."""
        return {"rows": self.rows, "bad_rate": self.bad_rate, "folds": self.folds,
                "models": {name: cv.summary() for name, cv in self.models.items()}}


def stratified_folds(y_bad: np.ndarray, folds: int, seed: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """sklearn's StratifiedKFold, shuffled with ``seed``: (train, test) index pairs."""
    from sklearn.model_selection import StratifiedKFold

    y = np.asarray(y_bad)
    smaller = int(min(y.sum(), y.size - y.sum()))
    if not 2 <= folds <= MAX_FOLDS:
        raise InvalidInput.one("folds", f"must be between 2 and {MAX_FOLDS}")
    if folds > smaller:
        raise InvalidInput.one("folds", f"{folds} folds need at least {folds} bads and {folds} goods; the smaller class has {smaller}")
    splitter = StratifiedKFold(folds, shuffle=True, random_state=seed)
    return list(splitter.split(np.zeros(y.size), y))


def cross_validate(table: Table, folds: int = 5, seed: int = 0,
                   scorecard_settings: ScorecardSettings = ScorecardSettings(),
                   challenger_settings: ChallengerSettings = ChallengerSettings(),
                   models: Sequence[str] = MODELS,
                   progress: Callable[[str], None] | None = None) -> CrossValidation:
    """Fit each model on each fold's training rows and measure it on the fold's test rows."""
    assert table.y_bad is not None, "cross-validation needs the target"
    assert set(models) <= set(MODELS)
    results: dict[str, list[dict[str, float]]] = {m: [] for m in models}
    for k, (train_idx, test_idx) in enumerate(stratified_folds(table.y_bad, folds, seed), start=1):
        train, test = table.take(train_idx), table.take(test_idx)
        assert train.y_bad is not None and test.y_bad is not None
        if "scorecard" in models:
            if progress:
                progress(f"fold {k}/{folds}: scorecard")
            _, compiled = fit_scorecard(train.frame(), train.y_bad, scorecard_settings)
            results["scorecard"].append(discrimination(test.y_bad, -compiled.score_columns(test.columns)))
        if "challenger" in models:
            if progress:
                progress(f"fold {k}/{folds}: challenger")
            challenger = fit_challenger(train.columns, train.y_bad, challenger_settings, features=train.features)
            results["challenger"].append(discrimination(test.y_bad, challenger.predict_pd(test.columns)))
    return CrossValidation(table.rows, table.bad_rate, folds, seed, {m: ModelCV(tuple(r)) for m, r in results.items()})
