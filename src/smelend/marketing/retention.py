"""Customer maintenance: attrition prediction, reactivation and renewal offers, limit increases, reminders, CLV.

The attrition model (scikit-learn logistic regression on behaviour and risk, standardised) predicts who
leaves in the next 90 days; it is checked on held-out customers (AUC, and the attrition rate among the
top decile against the book's). The dormancy model is built the same way for a line holder drawing
nothing in the next 90 days (held-out AUC and top-decile lift); its probability ranks the reactivation
offers (:func:`reactivation_list`). Offers follow the rules in ``data/retention.yaml``, except limit increases,
which are the line-management rules' own decisions (:mod:`smelend.marketing.line_review`, the real
reassessment engine); the "save" list ranks customers by attrition probability x CLV, where a retention
call pays most.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import date
from functools import lru_cache
from pathlib import Path

import numpy as np
import polars as pl
from pydantic import BaseModel, ConfigDict, Field

from smelend.datafiles import load_yaml_model
from smelend.errors import InvalidInput
from smelend.marketing.channels import DATA_DIR
from smelend.marketing.clv import clv_yuan
from smelend.marketing.line_review import DEFAULT_ON, limit_increases

MODEL_FEATURES = ("days_since_last_draw", "utilisation", "rate", "months_on_book", "draws_12m", "late_payments_12m", "log_limit", "pd")  # recency: never drawn -> days since the line opened


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Reactivation(_Strict):
    stages: list[str]
    max_pd: float = Field(gt=0, le=1)
    coupon_bp: int = Field(gt=0, le=2000)
    top: int = Field(100, gt=0, le=100_000)  # offers listed, ranked by the dormancy model


class Renewal(_Strict):
    expires_within_days: int = Field(gt=0)
    max_late_payments: int = Field(ge=0)
    max_pd: float = Field(gt=0, le=1)


class Reminder(_Strict):
    days_before_due: int = Field(ge=0, le=30)


class Save(_Strict):
    min_attrition: float = Field(ge=0, le=1)
    top: int = Field(gt=0)


class ClvSettings(_Strict):
    horizon_years: int = Field(ge=1, le=30)
    discount_rate: float = Field(ge=0, le=1)
    funds_rate: float = Field(ge=0, le=1)
    lgd: float = Field(ge=0, le=1)


class RetentionSettings(_Strict):
    version: str
    reactivation: Reactivation
    renewal: Renewal
    reminder: Reminder
    save: Save
    clv: ClvSettings


@lru_cache(maxsize=4)
def _load(path: Path) -> RetentionSettings:
    return load_yaml_model(path, RetentionSettings, "retention settings")


def load_retention_settings(path: Path | None = None) -> RetentionSettings:
    return _load((path or DATA_DIR / "retention.yaml").resolve())


def model_frame(book: pl.DataFrame, pd: np.ndarray) -> np.ndarray:
    return book.with_columns(pl.Series("pd", pd, dtype=pl.Float64)).select(
        pl.col("days_since_last_draw").fill_null(pl.col("months_on_book") * 30.0), pl.col("utilisation").fill_null(0.0), pl.col("rate").fill_null(0.09),
        pl.col("months_on_book").cast(pl.Float64), pl.col("draws_12m").cast(pl.Float64), pl.col("late_payments_12m").cast(pl.Float64),
        (pl.col("limit_fen").cast(pl.Float64) / 100 + 1).log().alias("log_limit"), pl.col("pd"),
    ).to_numpy()


@dataclass(frozen=True)
class AttritionModel:
    auc: float  # on held-out line holders
    base_rate: float
    top_decile_rate: float
    coefficients: dict[str, float]  # standardised: the direction and weight of each feature
    probability: np.ndarray  # for every customer of the book (0 without a line)


@dataclass(frozen=True)
class DormancyModel:
    """Who draws nothing in the next 90 days among line holders: the same validation as attrition."""

    auc: float  # on held-out line holders
    base_rate: float
    top_decile_rate: float
    top_decile_lift: float  # top-decile rate / base rate (1 = no better than random)
    coefficients: dict[str, float]
    probability: np.ndarray  # for every customer of the scored book (0 without a line)


@dataclass(frozen=True)
class _Fitted:
    auc: float
    base_rate: float
    top_decile_rate: float
    coefficients: dict[str, float]
    probability: np.ndarray


def _fit_held_out(book: pl.DataFrame, pd: np.ndarray, label: str, seed: int, what: str,
                  score_book: pl.DataFrame | None, score_pd: np.ndarray | None) -> _Fitted:
    """Logistic regression on 70% of ``book``'s line holders, AUC and top decile on the rest; probabilities
    for ``score_book`` (default ``book`` itself: the synthetic book carries its own truth; the stored book
    learns from what its holders did in the 90 days before the date it is scored on)."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import roc_auc_score
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    lines = book["has_line"].to_numpy()
    x = model_frame(book, pd)
    y = book[label].to_numpy()
    idx = np.flatnonzero(lines)
    rng = np.random.default_rng(seed)
    train = rng.random(len(idx)) < 0.7
    test = idx[~train]
    if min(len(np.unique(y[idx[train]])), len(np.unique(y[test]))) < 2:  # a tiny book: nobody (or everybody) has the outcome in a half
        if score_book is None:
            raise InvalidInput.one("customers", f"too few line holders to fit and check the {what} model (each half needs both outcomes): use more customers")
        raise InvalidInput.one("database", f"too few line holders 90 days before the business date to fit and check the {what} model (each half needs both outcomes)")
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=500))
    model.fit(x[idx[train]], y[idx[train]])
    p_test = model.predict_proba(x[test])[:, 1]
    top = p_test >= np.quantile(p_test, 0.9)
    target, target_pd = (book, pd) if score_book is None else (score_book, score_pd)
    assert target_pd is not None
    held = np.flatnonzero(target["has_line"].to_numpy())
    probability = np.zeros(target.height)
    if len(held):
        probability[held] = model.predict_proba(model_frame(target, target_pd)[held])[:, 1]
    coefs = model[-1].coef_[0]
    return _Fitted(float(roc_auc_score(y[test], p_test)), float(y[test].mean()), float(y[test][top].mean()), dict(zip(MODEL_FEATURES, map(float, coefs))), probability)


def attrition(book: pl.DataFrame, pd: np.ndarray, seed: int = 0, score_book: pl.DataFrame | None = None, score_pd: np.ndarray | None = None) -> AttritionModel:
    """Fit on 70% of line holders (label ``attrites_90d``), measure on the rest, predict for everyone (of ``score_book``)."""
    f = _fit_held_out(book, pd, "attrites_90d", seed, "attrition", score_book, score_pd)
    return AttritionModel(f.auc, f.base_rate, f.top_decile_rate, f.coefficients, f.probability)


def dormancy(book: pl.DataFrame, pd: np.ndarray, seed: int = 0, score_book: pl.DataFrame | None = None, score_pd: np.ndarray | None = None) -> DormancyModel:
    """The dormancy model (label ``dormant_next_90d``: a line holder draws nothing in the next 90 days), as :func:`attrition`."""
    f = _fit_held_out(book, pd, "dormant_next_90d", seed + 1, "dormancy", score_book, score_pd)
    lift = f.top_decile_rate / f.base_rate if f.base_rate > 0 else float("nan")
    return DormancyModel(f.auc, f.base_rate, f.top_decile_rate, lift, f.coefficients, f.probability)


def reactivation_list(table: pl.DataFrame, dormancy_p: np.ndarray, top: int) -> tuple[dict[str, object], ...]:
    """The reactivation offers ranked by the dormancy model: most likely to stay idle without a nudge first (CLV breaks ties)."""
    ranked = table.with_columns(pl.Series("dormancy", dormancy_p)).filter(pl.col("reactivate")).sort(["dormancy", "clv_yuan"], descending=True)
    return tuple(ranked.head(top).select("customer_id", "stage", "dormancy", "clv_yuan", "pd").to_dicts())


@dataclass(frozen=True)
class Offers:
    reactivation: int
    renewal: int
    renewal_without_repaying_principal: int
    limit_increase: int
    limit_increase_total_fen: int
    limit_increase_reasons: dict[str, int]  # reason code of the line rules -> offers it backs (an offer may carry several)
    reminders: int
    save_list: tuple[dict[str, object], ...]


def offers(book: pl.DataFrame, stages: pl.Series, pd: np.ndarray, attrition_p: np.ndarray, settings: RetentionSettings | None = None,
           on: date = DEFAULT_ON) -> tuple[Offers, np.ndarray, pl.DataFrame]:
    """Counts of each offer, the save list, every customer's CLV, and a per-customer offer table (lines reviewed on ``on``)."""
    s = settings or load_retention_settings()
    c = s.clv
    clv = clv_yuan(book["balance_fen"].to_numpy(), book["rate"].fill_null(np.nan).to_numpy(), pd, attrition_p,
                   horizon_years=c.horizon_years, discount_rate=c.discount_rate, funds_rate=c.funds_rate, lgd=c.lgd)
    f = book.select("customer_id", "has_line", "limit_fen", "balance_fen", "utilisation", "late_payments_12m", "line_expires_in_days", "next_due_in_days").with_columns(
        stages.alias("stage"), pl.Series("pd", pd), pl.Series("attrition", attrition_p), pl.Series("clv_yuan", clv))
    r, n = s.reactivation, s.renewal
    f = pl.concat([f, limit_increases(book, pd, on)], how="horizontal").with_columns(
        (pl.col("stage").is_in(r.stages) & (pl.col("pd") <= r.max_pd)).alias("reactivate"),
        (pl.col("has_line") & (pl.col("line_expires_in_days") <= n.expires_within_days) & (pl.col("late_payments_12m") <= n.max_late_payments) & (pl.col("pd") <= n.max_pd)).alias("renew"),
        (pl.col("increase_fen") > 0).alias("increase"),
        (pl.col("has_line") & (pl.col("balance_fen") > 0) & (pl.col("next_due_in_days") <= s.reminder.days_before_due)).alias("remind"),
    )
    save = f.filter(pl.col("has_line") & (pl.col("attrition") >= s.save.min_attrition)).with_columns((pl.col("attrition") * pl.col("clv_yuan")).alias("value_at_risk_yuan")).sort(
        "value_at_risk_yuan", descending=True).head(s.save.top).select("customer_id", "stage", "attrition", "clv_yuan", "value_at_risk_yuan")
    counts = Offers(
        int(f["reactivate"].sum()), int(f["renew"].sum()), int((f["renew"] & (f["balance_fen"] > 0)).sum()), int(f["increase"].sum()),
        int(f["increase_fen"].sum()), _reason_counts(f.filter(pl.col("increase"))["increase_reasons"]), int(f["remind"].sum()), tuple(save.to_dicts()),
    )
    return counts, clv, f


def _reason_counts(reasons: pl.Series) -> dict[str, int]:
    counts = Counter(code for codes in reasons.to_list() for code in codes.split(",") if code)
    return dict(sorted(counts.items()))
