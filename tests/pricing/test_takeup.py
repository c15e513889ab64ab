"""Take-up and adverse selection: the model, and fits that recover known parameters from simulated price tests."""

from __future__ import annotations

import numpy as np
import pytest

from smelend.errors import InvalidInput
from smelend.pricing.takeup import AdverseSelection, SegmentTruth, TakeupModel, fit_adverse_selection, fit_takeup, simulate_price_test

TRUTHS = {
    "app": SegmentTruth(a=3.0, b=25.0, pd0=0.03, slope=10.0, reference_rate=0.10),
    "partner": SegmentTruth(a=2.0, b=15.0, pd0=0.05, slope=5.0, reference_rate=0.10),
    "branch": SegmentTruth(a=1.5, b=30.0, pd0=0.02, slope=0.0, reference_rate=0.10),
}


@pytest.fixture(scope="module")
def price_test():
    return simulate_price_test(TRUTHS, 20_000, seed=11)


def test_takeup_curve():
    model = TakeupModel(3, 25)
    assert model.takeup(0.0) == pytest.approx(1 / (1 + np.exp(-3)))
    assert model.takeup(0.12) == pytest.approx(0.5)
    rates = np.linspace(0, 0.5, 11)
    assert np.all(np.diff(model.takeup(rates)) < 0)
    assert model.pd_at(0.03, rates).tolist() == [0.03] * 11


def test_adverse_selection_is_logit_linear_and_anchored_at_the_reference_rate():
    s = AdverseSelection(slope=10.0, reference_rate=0.10)
    assert s.pd_at(0.03, 0.10) == pytest.approx(0.03, abs=1e-15)
    logit = lambda p: np.log(p / (1 - p))  # noqa: E731
    assert logit(s.pd_at(0.03, 0.25)) - logit(0.03) == pytest.approx(10 * 0.15)
    assert 0 < s.pd_at(0.5, 1.0) < 1


def test_take_up_must_fall_with_the_rate():
    with pytest.raises(AssertionError):
        TakeupModel(3, -1)


def test_simulated_price_test_shape(price_test):
    assert price_test.columns == ["segment", "rate", "accepted", "defaulted"]
    assert price_test.height == 60_000
    took = price_test["accepted"].to_numpy() == 1
    assert price_test["defaulted"].is_null().to_numpy().tolist() == (~took).tolist()
    assert simulate_price_test(TRUTHS, 100, seed=1).equals(simulate_price_test(TRUTHS, 100, seed=1))


def test_fit_recovers_take_up_within_standard_errors(price_test):
    fits = fit_takeup(price_test)
    assert set(fits) == set(TRUTHS)
    for name, truth in TRUTHS.items():
        fit = fits[name]
        assert fit.n == 20_000 and 0 < fit.accepted < fit.n
        assert abs(fit.a - truth.a) < 3 * fit.se_a, (name, fit)
        assert abs(fit.b - truth.b) < 3 * fit.se_b, (name, fit)
        assert 0 < fit.se_b < 1.0
        assert fit.model().b == fit.b
        assert set(fit.to_dict()) == {"segment", "a", "b", "se_a", "se_b", "n", "accepted"}


def test_fit_recovers_adverse_selection_within_standard_errors(price_test):
    fits = fit_adverse_selection(price_test, reference_rate=0.10)
    for name, truth in TRUTHS.items():
        fit = fits[name]
        assert abs(fit.slope - truth.slope) < 3 * fit.se_slope, (name, fit)
        logit = lambda p: np.log(p / (1 - p))  # noqa: E731
        assert abs(logit(fit.pd0) - logit(truth.pd0)) < 3 * fit.se_logit_pd0, (name, fit)
        assert fit.n == int(price_test.filter(price_test["segment"] == name)["accepted"].sum())
        assert fit.selection.reference_rate == 0.10


def test_standard_errors_are_honest():
    """Across independent tests, the truth lies within 2 standard errors about 95% of the time."""
    truth = {"s": SegmentTruth(a=3.0, b=25.0)}
    inside = 0
    for seed in range(40):
        fit = fit_takeup(simulate_price_test(truth, 3_000, seed=seed))["s"]
        inside += abs(fit.b - 25.0) < 2 * fit.se_b
    assert 32 <= inside <= 40


def test_fit_from_plain_columns_and_without_segments():
    rng = np.random.default_rng(5)
    rate = rng.uniform(0.04, 0.24, 5_000)
    accepted = (rng.random(5_000) < TakeupModel(2.5, 20).takeup(rate)).astype(int)
    fits = fit_takeup({"offered": rate, "took": accepted}, rate="offered", accepted="took", segment=None)
    assert list(fits) == ["all"] and abs(fits["all"].b - 20) < 3 * fits["all"].se_b


@pytest.mark.parametrize(
    ("table", "field"),
    [
        ({"rate": [0.1, 0.2] * 20, "accepted": [0, 2] * 20, "segment": ["s"] * 40}, "accepted"),
        ({"rate": [0.1, 2.0] * 20, "accepted": [0, 1] * 20, "segment": ["s"] * 40}, "rate"),
        ({"rate": [0.1] * 40, "accepted": [0, 1] * 20, "segment": ["s"] * 40}, "accepted"),
        ({"rate": [0.1, 0.2] * 5, "accepted": [0, 1] * 5, "segment": ["s"] * 10}, "accepted"),
        ({"rate": [0.1, 0.2] * 20, "accepted": [1] * 40, "segment": ["s"] * 40}, "accepted"),
        ({"rate": [0.1, 0.2] * 20, "segment": ["s"] * 40}, "accepted"),
    ],
)
def test_bad_price_tests_name_the_column(table, field):
    with pytest.raises(InvalidInput) as caught:
        fit_takeup(table)
    assert caught.value.first.field == field


def test_perfect_separation_is_reported():
    table = {"rate": np.linspace(0.05, 0.25, 100), "accepted": (np.linspace(0.05, 0.25, 100) < 0.15).astype(int), "segment": ["s"] * 100}
    with pytest.raises(InvalidInput) as caught:
        fit_takeup(table)
    assert caught.value.first.field == "accepted"


def test_defaults_must_be_recorded_for_accepted_offers():
    table = {"rate": [0.1, 0.2] * 20, "accepted": [1, 1] * 20, "defaulted": [0, None] * 20, "segment": ["s"] * 40}
    with pytest.raises(InvalidInput) as caught:
        fit_adverse_selection(table, reference_rate=0.1)
    assert caught.value.first.field == "defaulted"
