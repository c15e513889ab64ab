"""Segments, clusters and pre-approved screening: rules applied exactly, batch scoring equal to decide's."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from smelend.errors import InvalidInput
from smelend.marketing.clustering import cluster
from smelend.marketing.customers import simulate_customers
from smelend.marketing.scoring import score_table
from smelend.marketing.segments import STAGES, load_segment_settings, profiles, segment_table, value_risk_grid
from smelend.marketing.whitelist import base_mask, screen
from smelend.risk.features import compute_features
from smelend.risk.strategy import load_strategy


@pytest.fixture(scope="module")
def book() -> pl.DataFrame:
    return simulate_customers(4_000, seed=7)


@pytest.fixture(scope="module")
def scores(book):
    return score_table(book, load_strategy())


def test_batch_scores_equal_the_per_application_scorecard(book, scores) -> None:
    strategy = load_strategy()
    for i, row in enumerate(book.head(150).iter_rows(named=True)):
        card = strategy.models[scores.group[i]].scorecard
        assert scores.score[i] == card.score_row(compute_features(row))
        assert scores.grade[i] == strategy.grades.grade_for(float(scores.pd[i])).grade


def test_life_cycle_rules_exactly(book, scores) -> None:
    settings = load_segment_settings()
    seg = segment_table(book, scores.pd).join(book.select("customer_id", "has_line", "applied", "draws_12m", "days_since_last_draw", "months_on_book"), on="customer_id")
    assert set(seg["stage"].unique()) == set(STAGES)  # the book has every stage
    dormant, churned = settings.life_cycle.dormant_after_days, settings.life_cycle.churned_after_days
    for row in seg.iter_rows(named=True):
        since = row["days_since_last_draw"]
        if not row["has_line"]:
            expected = "applicant" if row["applied"] else "prospect"
        elif row["draws_12m"] == 0:
            expected = "approved-not-drawn" if row["months_on_book"] * 30 <= churned else "churned"
        elif since > churned:
            expected = "churned"
        elif since > dormant:
            expected = "dormant"
        else:
            expected = "active"
        assert row["stage"] == expected


def test_value_risk_cells_and_strategies(book, scores) -> None:
    seg = segment_table(book, scores.pd)
    assert seg.filter((pl.col("pd") <= 0.01) != (pl.col("risk_band") == "low")).is_empty()
    assert seg.filter((pl.col("expected_margin_yuan") > 8000) != (pl.col("value_band") == "high")).is_empty()
    grid = value_risk_grid(seg)
    assert sum(c["customers"] for c in grid) == book.height
    found = profiles(seg)
    for kind in ("stage", "cell", "size_band"):
        assert sum(p.customers for p in found if p.kind == kind) == book.height
    assert all(p.strategy is not None for p in found if p.kind in ("stage", "cell"))


def test_segment_settings_are_validated(tmp_path) -> None:
    text = (load_segment_settings.__globals__["DATA_DIR"] / "segments.yaml").read_text().replace("channel: partner-tax", "channel: carrier-pigeon")
    bad = tmp_path / "segments.yaml"
    bad.write_text(text)
    with pytest.raises(InvalidInput) as caught:
        load_segment_settings(bad)
    assert "carrier-pigeon" in caught.value.errors[0].reason


def test_clusters_have_readable_profiles(book, scores) -> None:
    found = cluster(book, scores.pd, k=4, seed=1)
    assert len(found.profiles) == 4 and sum(p.customers for p in found.profiles) == book.height
    assert all(p.description for p in found.profiles)
    # the description names the cluster's most distinctive features, with the right direction
    for p in found.profiles:
        top = max(p.z, key=lambda k: abs(p.z[k]))
        if abs(p.z[top]) >= 0.4:
            assert p.description.startswith("high" if p.z[top] > 0 else "low")


def test_whitelist_keeps_what_the_real_decide_approves(book, scores) -> None:
    result = screen(book, 40, seed=7)
    assert result.base == int(base_mask(book).sum()) and result.decided == 40
    assert result.approved + result.referred + result.declined == 40
    assert result.approved == len(result.entries) > 0
    base = book.filter(pl.Series(base_mask(book)))
    base_scores = score_table(base, load_strategy())
    pd_of = dict(zip(base["customer_id"].to_list(), base_scores.pd))
    for e in result.entries:
        assert e.outcome == "approve" and e.limit_fen > 0 and e.rate is not None and e.apr is not None
        assert e.pd == pytest.approx(pd_of[e.customer_id], rel=1e-12)  # decide scores the same record the batch did
    assert set(result.seconds) == {"base", "score", "decide"}
    assert not book.filter(pl.Series(base_mask(book)) & pl.col("has_line")).height
