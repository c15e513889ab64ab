"""The behaviour score: how likely a line is to reach 90 days past due within 12 months, from how it behaves.

An application score sees an applicant once; a behaviour score re-reads every line every night from
what the bank has since learnt — repayment history (days past due, on-time streaks, late payments),
utilisation and draw patterns, and refreshed enterprise data (tax, invoice and settlement trends,
external alerts). Its own scorecard, trained and validated with the risk engine's tools
(``scripts/train_behaviour_model.py``; report in ``docs/behaviour-validation.md``), lives in
``lines/models/behaviour-v1/`` as JSON (the compiled scorecard; the LightGBM challenger as text).

Both public functions are pure functions of a batch, so the close of business can call them inside
process-pool workers and Ray actors: load the model once per process (:func:`load_behaviour_model`)
and pass it to :func:`score_behaviour` for each batch.

>>> import polars as pl
>>> from datetime import date
>>> row = {"line_id": 1, "limit_fen": 10_000_000, "used_fen": 2_500_000, "months_on_book": 8, "open_loans": 1,
...        "principal_outstanding_fen": 2_500_000, "max_dpd": 0, "max_dpd_365d": 0, "overdue_principal_fen": 0,
...        "on_time_streak": 7, "late_payments_365d": 0, "draws_90d": 1, "drawn_fen_90d": 2_500_000,
...        "revenue_12m_fen": 300_000_000, "revenue_trend": 0.05, "invoice_trend": 0.04, "settlement_trend": None,
...        "tax_grade": "B", "event_external_alert": False}
>>> scored = score_behaviour(pl.DataFrame([row]))
>>> scored.select("behaviour_grade").item() in {g.grade for g in load_behaviour_model().grades.grades}
True
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
import polars as pl

from smelend.risk.grades import GradeTable, load_grade_table
from smelend.risk.modelstore import ModelBundle, load_model
from smelend.risk.tabular import CATEGORICAL, CodedColumn, Column

MODEL_VERSION = "behaviour-v1"
MODEL_DIR = Path(__file__).with_name("models") / MODEL_VERSION
GRADES_FILE = "grades.yaml"
TOP_REASONS = 3

# Features: name -> (polars expression over the snapshot, meaning). Ratios are floats; a missing input
# stays missing (the scorecard gives "missing" its own points).
_SAFE_LIMIT = pl.when(pl.col("limit_fen") > 0).then(pl.col("limit_fen").cast(pl.Float64))
FEATURES: dict[str, tuple[pl.Expr, str]] = {
    "utilisation": (pl.col("used_fen").cast(pl.Float64) / _SAFE_LIMIT, "used / limit"),
    "months_on_book": (pl.col("months_on_book").cast(pl.Float64), "whole months since the line opened"),
    "open_loans": (pl.col("open_loans").cast(pl.Float64), "loans outstanding on the line"),
    "max_dpd": (pl.col("max_dpd").cast(pl.Float64), "days past due today (worst open loan)"),
    "max_dpd_365d": (pl.col("max_dpd_365d").cast(pl.Float64), "worst days past due in the last 365 days"),
    "late_payments_365d": (pl.col("late_payments_365d").cast(pl.Float64), "installments paid after their due date in the last 365 days"),
    "on_time_streak": (pl.col("on_time_streak").cast(pl.Float64), "installments paid on time since the last late one"),
    "overdue_share": (
        pl.when(pl.col("principal_outstanding_fen") > 0).then(pl.col("overdue_principal_fen").cast(pl.Float64) / pl.col("principal_outstanding_fen").cast(pl.Float64)).otherwise(0.0),
        "past-due principal / principal outstanding",
    ),
    "draws_90d": (pl.col("draws_90d").cast(pl.Float64), "draws in the last 90 days"),
    "drawn_share_90d": (pl.col("drawn_fen_90d").cast(pl.Float64) / _SAFE_LIMIT, "drawn in the last 90 days / limit"),
    "limit_to_revenue": (
        pl.when(pl.col("revenue_12m_fen") > 0).then(pl.col("limit_fen").cast(pl.Float64) / pl.col("revenue_12m_fen").cast(pl.Float64)),
        "limit / the enterprise's revenue over 12 months",
    ),
    "revenue_trend": (pl.col("revenue_trend").cast(pl.Float64), "tax-declared revenue growth"),
    "invoice_trend": (pl.col("invoice_trend").cast(pl.Float64), "VAT-invoiced sales growth"),
    "settlement_trend": (pl.col("settlement_trend").cast(pl.Float64), "settlement inflow growth"),
    "external_alert": (pl.col("event_external_alert").cast(pl.Float64), "an external alert (court judgement) arrived today"),
    "tax_grade": (pl.col("tax_grade").cast(pl.Utf8), "the tax authority's credit grade"),
}
CATEGORICAL_FEATURES = frozenset({"tax_grade"})
DESCRIPTIONS: dict[str, str] = {name: meaning for name, (_, meaning) in FEATURES.items()}
SCORE_COLUMNS = ("behaviour_score", "behaviour_pd", "behaviour_grade", "behaviour_reasons", "behaviour_model")


@dataclass(frozen=True)
class BehaviourModel:
    """The scorecard bundle and the grade table, loaded once per process."""

    bundle: ModelBundle
    grades: GradeTable
    version: str = MODEL_VERSION

    def __post_init__(self) -> None:
        ceilings = np.array([g.max_pd for g in self.grades.grades], dtype=np.float64)
        object.__setattr__(self, "_ceilings", ceilings)
        object.__setattr__(self, "_labels", np.array([g.grade for g in self.grades.grades], dtype=object))

    def grade_of(self, pd: np.ndarray) -> np.ndarray:
        """Grades of many PDs at once: the first grade whose max_pd covers the PD (as GradeTable.grade_for)."""
        index = np.searchsorted(self._ceilings, pd, side="left")  # type: ignore[attr-defined]
        return self._labels[np.minimum(index, len(self._labels) - 1)]  # type: ignore[attr-defined]


@lru_cache(maxsize=4)
def load_behaviour_model(directory: str | Path = MODEL_DIR) -> BehaviourModel:
    """The committed behaviour model (or another model folder): the scorecard JSON and ``grades.yaml``."""
    where = Path(directory)
    return BehaviourModel(load_model(where), load_grade_table(where / GRADES_FILE), where.name)


def behaviour_features(frame: pl.DataFrame) -> pl.DataFrame:
    """The behaviour features of snapshot rows (SNAPSHOT_SCHEMA columns), ``line_id`` first; pure and vectorised."""
    keep = [pl.col("line_id")] if "line_id" in frame.columns else []
    return frame.select(*keep, *[expr.alias(name) for name, (expr, _) in FEATURES.items()])


def _columns(features: pl.DataFrame, model: BehaviourModel) -> dict[str, Column]:
    """The features as the compiled scorecard reads them: float arrays (NaN missing) or coded categories."""
    columns: dict[str, Column] = {}
    for feature in model.bundle.features:
        series = features[feature.name]
        if feature.kind == CATEGORICAL:
            categories = tuple(series.drop_nulls().unique(maintain_order=True).to_list())
            codes = series.cast(pl.Enum(list(categories))).to_physical().cast(pl.Int64).fill_null(-1).to_numpy() if categories else np.full(series.len(), -1, np.int64)
            columns[feature.name] = CodedColumn(np.ascontiguousarray(codes), categories)
        else:
            columns[feature.name] = np.ascontiguousarray(series.cast(pl.Float64).fill_null(np.nan).to_numpy(), dtype=np.float64)
    return columns


def score_behaviour(frame: pl.DataFrame, model: BehaviourModel | None = None) -> pl.DataFrame:
    """``frame`` with the behaviour score added: ``behaviour_score`` (integer points, higher is safer),
    ``behaviour_pd`` (12-month probability of reaching 90 days past due), ``behaviour_grade``,
    ``behaviour_reasons`` (up to three features costing the most points against their best bin, largest
    first: the reason codes) and ``behaviour_model`` (the model version). Pure: same rows, same result."""
    model = model or load_behaviour_model()
    scorecard = model.bundle.scorecard
    if frame.is_empty():
        return frame.with_columns(
            pl.lit(None, pl.Int32).alias("behaviour_score"), pl.lit(None, pl.Float64).alias("behaviour_pd"),
            pl.lit(None, pl.Utf8).alias("behaviour_grade"), pl.lit(None, pl.List(pl.Utf8)).alias("behaviour_reasons"),
            pl.lit(None, pl.Utf8).alias("behaviour_model"),
        )
    columns = _columns(behaviour_features(frame), model)
    slots = scorecard.bin_indices(columns)
    points = np.stack([np.asarray(f.points, dtype=np.float64).take(slots[f.name]) for f in scorecard.features], axis=1)
    score = points.sum(axis=1) + scorecard.intercept
    pd = np.asarray(scorecard.pd_from_score(score), dtype=np.float64)
    lost = np.array([f.best_points for f in scorecard.features])[None, :] - points
    names = np.array(scorecard.feature_names, dtype=object)
    order = np.argsort(-lost, axis=1, kind="stable")[:, :TOP_REASONS]
    top_lost = np.take_along_axis(lost, order, axis=1)
    reasons = [[str(n) for n, loss in zip(row_names, row_lost) if loss > 1e-9] for row_names, row_lost in zip(names[order].tolist(), top_lost.tolist())]
    return frame.with_columns(
        pl.Series("behaviour_score", np.rint(score).astype(np.int32)),
        pl.Series("behaviour_pd", pd),
        pl.Series("behaviour_grade", model.grade_of(pd).tolist(), dtype=pl.Utf8),
        pl.Series("behaviour_reasons", reasons, dtype=pl.List(pl.Utf8)),
        pl.lit(model.version).alias("behaviour_model"),
    )
