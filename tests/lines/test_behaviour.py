"""The behaviour score: the committed model loads (JSON), scoring is a pure function of a batch (same rows, same
result; batches independent), grades and reasons follow the scorecard, and it separates bad lines from good."""

from __future__ import annotations

from datetime import date

import numpy as np
import polars as pl
from hypothesis import given, settings, strategies as st

from smelend.lines.behaviour import FEATURES, MODEL_DIR, SCORE_COLUMNS, _columns, behaviour_features, load_behaviour_model, score_behaviour
from smelend.lines.snapshot import SNAPSHOT_SCHEMA
from smelend.products.loader import load_catalogue
from smelend.risk.metrics import auc
from smelend.servicing import delinquency
from smelend.store import open_store
from smelend.store.book_generator import generate_book
from smelend.store.snapshot import snapshot_book

MODEL = load_behaviour_model()


def clean_line(**overrides: object) -> dict[str, object]:
    """A well-behaved, half-used line with a growing enterprise."""
    row: dict[str, object] = {
        "line_id": 1, "limit_fen": 20_000_000, "used_fen": 10_000_000, "months_on_book": 9, "open_loans": 1,
        "principal_outstanding_fen": 10_000_000, "max_dpd": 0, "max_dpd_365d": 0, "overdue_principal_fen": 0,
        "on_time_streak": 8, "late_payments_365d": 0, "draws_90d": 0, "drawn_fen_90d": 0, "revenue_12m_fen": 400_000_000,
        "revenue_trend": 0.08, "invoice_trend": 0.06, "settlement_trend": 0.05, "tax_grade": "A", "event_external_alert": False,
    }
    row.update(overrides)
    return row


def frame(rows: list[dict[str, object]]) -> pl.DataFrame:
    schema = {name: pl.from_arrow(SNAPSHOT_SCHEMA.empty_table()).schema[name] for name in rows[0]}  # type: ignore[union-attr]
    return pl.DataFrame(rows, schema=schema)


def test_the_committed_model_is_json_and_loads_once_per_process() -> None:
    assert (MODEL_DIR / "model.json").is_file() and (MODEL_DIR / "grades.yaml").is_file()
    assert not list(MODEL_DIR.glob("*.pkl")) and not list(MODEL_DIR.glob("*.pickle"))
    assert load_behaviour_model() is MODEL  # cached: one load per process
    assert set(MODEL.bundle.scorecard.feature_names) <= set(FEATURES)
    assert [g.grade for g in MODEL.grades.grades] == ["A", "B", "C", "D", "E"]
    assert MODEL.version == "behaviour-v1"


def test_score_columns_grades_and_reasons_follow_the_scorecard() -> None:
    rows = [clean_line(line_id=1), clean_line(line_id=2, max_dpd=20, max_dpd_365d=20, late_payments_365d=3, on_time_streak=0,
                                                 overdue_principal_fen=2_000_000, revenue_trend=-0.3, settlement_trend=-0.3, tax_grade="D")]
    scored = score_behaviour(frame(rows), MODEL)
    assert scored.columns[-len(SCORE_COLUMNS):] == list(SCORE_COLUMNS)
    assert scored["behaviour_score"].dtype == pl.Int32 and scored["behaviour_pd"].dtype == pl.Float64
    good, bad = scored.to_dicts()
    assert good["behaviour_score"] > bad["behaviour_score"] and good["behaviour_pd"] < bad["behaviour_pd"]
    assert bad["behaviour_grade"] > good["behaviour_grade"]  # A (best) .. E (worst)
    scorecard = MODEL.bundle.scorecard
    features = behaviour_features(frame(rows)).drop("line_id")
    exact = scorecard.score_columns(_columns(features, MODEL))
    assert scored["behaviour_score"].to_list() == np.rint(exact).astype(int).tolist()
    assert np.allclose(scored["behaviour_pd"].to_numpy(), scorecard.pd_from_score(exact), rtol=0, atol=1e-15)
    for row, features_row in zip(scored.to_dicts(), features.to_dicts()):
        assert row["behaviour_grade"] == MODEL.grades.grade_for(row["behaviour_pd"]).grade
        lost = scorecard.points_lost(features_row)
        reasons = row["behaviour_reasons"]
        assert len(reasons) <= 3 and all(lost[r] > 0 for r in reasons)
        assert [lost[r] for r in reasons] == sorted((lost[r] for r in reasons), reverse=True)
        if reasons:
            assert lost[reasons[0]] == max(lost.values())


def test_scoring_is_pure_and_batches_are_independent() -> None:
    rng = np.random.default_rng(4)
    rows = [clean_line(line_id=i, max_dpd_365d=int(rng.integers(0, 60)), late_payments_365d=int(rng.integers(0, 4)),
                       on_time_streak=int(rng.integers(0, 12)), used_fen=int(rng.integers(0, 20_000_000)),
                       tax_grade=["A", "B", "M", "C", "D", None][int(rng.integers(0, 6))], revenue_trend=None if i % 7 == 0 else float(rng.normal(0, 0.2)))
            for i in range(1, 301)]
    whole = score_behaviour(frame(rows), MODEL)
    assert whole.equals(score_behaviour(frame(rows), MODEL))
    parts = pl.concat([score_behaviour(frame(rows[k : k + 37]), MODEL) for k in range(0, len(rows), 37)])
    assert parts.equals(whole)
    reversed_ = score_behaviour(frame(rows[::-1]), MODEL)
    assert reversed_.reverse().equals(whole)


def test_empty_batch() -> None:
    empty = pl.from_arrow(SNAPSHOT_SCHEMA.empty_table())
    assert isinstance(empty, pl.DataFrame)
    scored = score_behaviour(empty, MODEL)
    assert scored.height == 0 and set(SCORE_COLUMNS) <= set(scored.columns)
    assert behaviour_features(empty).columns == ["line_id", *FEATURES]


@settings(max_examples=40, deadline=None)
@given(
    dpd=st.integers(0, 400), late=st.integers(0, 12), streak=st.integers(0, 24), used=st.integers(0, 20_000_000),
    trend=st.one_of(st.none(), st.floats(-0.9, 2.0)), grade=st.sampled_from(["A", "B", "M", "C", "D", "X", None]),
)
def test_any_line_gets_a_probability_and_its_grade(dpd: int, late: int, streak: int, used: int, trend: float | None, grade: str | None) -> None:
    row = clean_line(max_dpd=dpd, max_dpd_365d=dpd, late_payments_365d=late, on_time_streak=streak, used_fen=used, revenue_trend=trend, tax_grade=grade)
    scored = score_behaviour(frame([row]), MODEL).to_dicts()[0]
    assert 0 < scored["behaviour_pd"] < 1
    assert scored["behaviour_grade"] == MODEL.grades.grade_for(scored["behaviour_pd"]).grade


def test_the_score_separates_lines_that_go_bad(tmp_path, smelend_env) -> None:  # type: ignore[no-untyped-def]
    engine = open_store(f"sqlite:///{tmp_path / 'book.db'}")
    as_of = date(2027, 3, 31)  # neither the training nor the validation date
    result = generate_book(engine, 4_000, 424242, as_of, load_catalogue(), delinquency.load_policy(), keep_truth=True)
    snapshot = pl.from_arrow(snapshot_book(engine, as_of))
    engine.dispose()
    assert isinstance(snapshot, pl.DataFrame) and result.truth is not None
    scored = score_behaviour(snapshot, MODEL).join(result.truth, on="line_id").filter(pl.col("max_dpd") < 90)
    y = scored["bad_next_12m"].cast(pl.Int8).to_numpy()
    assert 20 < y.sum() < len(y) / 5
    assert auc(y, scored["behaviour_pd"].to_numpy()) > 0.72  # 0.80 on the 40,000-line validation sample (docs/behaviour-validation.md)
    by_grade = scored.group_by("behaviour_grade").agg(pl.col("bad_next_12m").mean()).sort("behaviour_grade")
    rates = by_grade["bad_next_12m"].to_list()
    assert rates[0] < rates[-1]


def test_scores_are_stored_once_per_line_and_day(generated_book) -> None:  # type: ignore[no-untyped-def]
    from sqlalchemy import func, select

    from smelend.store.collections import collections_frame
    from smelend.store.snapshot import write_behaviour_scores
    from smelend.store.tables import behaviour_scores

    engine = generated_book.engine
    scored = score_behaviour(pl.from_arrow(snapshot_book(engine, generated_book.as_of)), MODEL)  # type: ignore[arg-type]
    with engine.begin() as conn:
        assert write_behaviour_scores(conn, generated_book.as_of, scored) == scored.height
    with engine.begin() as conn:
        assert write_behaviour_scores(conn, generated_book.as_of, scored) == 0
    with engine.connect() as conn:
        stored = dict(conn.execute(select(behaviour_scores.c.line_id, behaviour_scores.c.grade)).all())
        assert conn.scalar(select(func.count()).select_from(behaviour_scores)) == scored.height
        grades = collections_frame(conn, generated_book.as_of)
    assert stored == dict(zip(scored["line_id"].to_list(), scored["behaviour_grade"].to_list()))
    assert all(stored[line] == grade for line, grade in zip(grades["line_id"].to_list(), grades["behaviour_grade"].to_list()))
