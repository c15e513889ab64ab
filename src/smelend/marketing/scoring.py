"""The real scorecards over a whole table: features (polars) -> group -> compiled scorecard -> PD -> grade.

The batch path of what :func:`smelend.risk.decision.decide` does per application before the policy rules
and the limit: the same feature expressions (:func:`feature_frame`), the same customer groups (the first
group with any required source present), the same compiled scorecards and grade table. Used to screen or
segment a million customers in seconds; a shortlist then goes through the real ``decide``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import polars as pl

from smelend.risk.features import feature_frame
from smelend.risk.strategy import Strategy


@dataclass(frozen=True)
class BatchScores:
    group: np.ndarray  # group name per row
    score: np.ndarray
    pd: np.ndarray
    grade: np.ndarray
    action: np.ndarray  # approve / refer / decline (the grade's action)


def group_of(table: pl.DataFrame, strategy: Strategy) -> np.ndarray:
    """Each row's customer group: the first group one of whose required sources has status ``ok``."""
    n = table.height
    out = np.full(n, "", dtype=object)
    for g in reversed(strategy.groups):  # earlier groups win: assign last first, overwrite
        if not g.requires_any:
            out[:] = g.name
        else:
            ok = np.zeros(n, dtype=bool)
            for source in g.requires_any:
                column = f"status_{source}"
                if column in table.columns:
                    ok |= (table[column] == "ok").fill_null(False).to_numpy()
            out[ok] = g.name
    return out


def score_table(table: pl.DataFrame, strategy: Strategy) -> BatchScores:
    features = feature_frame(table)
    groups = group_of(table, strategy)
    score = np.zeros(table.height)
    pd = np.zeros(table.height)
    for name, bundle in strategy.models.items():
        rows = np.flatnonzero(groups == name)
        if not len(rows):
            continue
        card = bundle.scorecard  # type: ignore[attr-defined]
        part = features[rows]
        columns = {c: (part[c].to_numpy() if part[c].dtype != pl.String else part[c].to_numpy().astype(object)) for c in card.feature_names}
        s = card.score_columns(columns)
        score[rows] = s
        pd[rows] = np.clip(card.pd_from_score(s), 0.0, 1.0)
    ceilings = np.array([g.max_pd for g in strategy.grades.grades])
    index = np.searchsorted(ceilings, pd, side="left")  # pd <= max_pd: the first ceiling at or above
    labels = np.array([g.grade for g in strategy.grades.grades], dtype=object)
    actions = np.array([g.action for g in strategy.grades.grades], dtype=object)
    return BatchScores(groups, score, pd, labels[index], actions[index])
