"""The shipped SME models: retrained on a fresh seed they clear an AUC floor, and the AUC reported for
the scorecard is the AUC of its points-sum score on the holdout."""

from __future__ import annotations

import numpy as np
import pytest

from smelend.risk.features import feature_frame
from smelend.risk.metrics import auc
from smelend.risk.providers.simulated import simulate_table
from smelend.risk.strategy import load_strategy
from smelend.risk.training import group_specs, model_columns, numpy_columns, split, train_group

AUC_FLOOR = 0.78  # the oracle (the latent PD itself) reaches ~0.87 on this market


@pytest.fixture(scope="module")
def retrained(tmp_path_factory):
    table = simulate_table(16_000, seed=424242)
    spec = group_specs(feature_frame(table.head(1)).columns)[0]
    bundle, report = train_group(table, spec, seed=424242, workdir=tmp_path_factory.mktemp("train"))
    return table, spec, bundle, report


def test_retrained_scorecard_and_challenger_clear_the_floor(retrained):
    _, _, _, report = retrained
    holdout = report["holdout"]
    assert holdout["scorecard"]["auc"] >= AUC_FLOOR
    assert holdout["challenger"]["auc"] >= AUC_FLOOR
    assert holdout["scorecard"]["auc"] <= holdout["oracle"]["auc"] + 0.02  # no model beats the truth by more than noise


def test_reported_auc_is_the_points_sum_scores_auc(retrained):
    table, spec, bundle, report = retrained
    y = table["defaulted"].to_numpy()
    _, holdout = split(y, 0.25, 424242)
    columns = numpy_columns(model_columns(feature_frame(table).select(spec.features))[holdout])
    card = bundle.scorecard
    points = sum(np.asarray(f.points)[f.slots(columns[f.name])] for f in card.features)  # the sum of each feature's bin points
    np.testing.assert_allclose(points, card.score_columns(columns), rtol=0, atol=1e-9)
    assert auc(y[holdout], -points) == pytest.approx(report["holdout"]["scorecard"]["auc"], abs=1e-12)
    assert bundle.metrics["holdout"]["scorecard"]["auc"] == report["holdout"]["scorecard"]["auc"]


def test_shipped_models_load_and_record_their_holdout_auc():
    strategy = load_strategy()
    for group, bundle in strategy.models.items():
        assert bundle.metrics["holdout"]["scorecard"]["auc"] >= AUC_FLOOR, group
        assert set(bundle.scorecard.feature_names) <= set(feature_frame(simulate_table(5, 1)).columns)
