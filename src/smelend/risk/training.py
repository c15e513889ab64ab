"""Training the shipped SME models on the simulated provider's data, where the true ranking is known.

The simulated provider draws each record's latent default probability from its data, then a default
from that probability; so a model's AUC can be compared with the oracle's (ranking by the latent PD
itself), the ceiling no model can pass. One scorecard (with its LightGBM challenger) per customer
group: ``data-rich`` uses every enterprise feature, ``thin-file`` only what an owner and a registration
record tell. ``scripts/train_sme_models.py`` writes them into the shipped strategy.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from smelend.risk.features import feature_descriptions, feature_frame
from smelend.risk.metrics import discrimination

TARGET = "defaulted"

# Risk rises (+1) or falls (-1) with these features: scorecard bins and challenger trees must agree.
MONOTONE: dict[str, int] = {
    "max_dpd_24m": 1,
    "overdue_count_24m": 1,
    "inquiry_intensity": 1,
    "debt_to_revenue": 1,
    "debt_service_ratio": 1,
    "card_utilisation": 1,
    "invoice_volatility": 1,
    "buyer_concentration": 1,
    "cancelled_invoice_share": 1,
    "court_judgements_24m": 1,
    "years_in_business": -1,
    "credit_history_years": -1,
    "filing_completeness": -1,
    "cashflow_stability": -1,
}

THIN_FILE_FEATURES = (
    "owner_age", "credit_history_years", "max_dpd_24m", "overdue_count_24m", "inquiry_intensity", "lenders_count",
    "card_utilisation", "debt_service_ratio", "years_in_business", "registered_capital_log", "industry_section",
    "court_judgements_24m", "admin_penalties_24m", "shareholder_changes_12m", "legal_rep_matches",
    "bank_relationship_strength", "cashflow_stability", "settlement_coverage",
)
# Knock-out flags (the policy declines on them, so a model learns nothing useful) and the request itself
# (a score must not move with how much the applicant asks for).
NOT_SCORED = ("identity_mismatch", "aml_hit", "registration_active", "dishonest_debtor", "requested_to_revenue", "tax_arrears", "current_overdue")


@dataclass(frozen=True)
class GroupSpec:
    name: str
    features: tuple[str, ...]


def group_specs(available: list[str]) -> tuple[GroupSpec, ...]:
    rich = tuple(f for f in available if f not in NOT_SCORED)
    thin = tuple(f for f in THIN_FILE_FEATURES if f in available)
    return (GroupSpec("data-rich", rich), GroupSpec("thin-file", thin))


def model_columns(frame: pl.DataFrame) -> pl.DataFrame:
    """Booleans as 0/1 floats (missing stays missing), so both models treat them as ordered numbers."""
    return frame.with_columns(pl.col(c).cast(pl.Float64) for c, t in frame.schema.items() if t == pl.Boolean)


def numpy_columns(frame: pl.DataFrame) -> dict[str, np.ndarray]:
    """Numeric columns as float64 with NaN, strings as object arrays with None: what the scorers read."""
    columns: dict[str, np.ndarray] = {}
    for name, dtype in frame.schema.items():
        series = frame[name]
        columns[name] = series.to_numpy().astype(object) if dtype == pl.String else series.cast(pl.Float64).fill_null(float("nan")).to_numpy()
    return columns


def split(y: np.ndarray, holdout_share: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """A stratified train / holdout split of row indices."""
    from sklearn.model_selection import train_test_split

    index = np.arange(y.size)
    train, holdout = train_test_split(index, test_size=holdout_share, stratify=y, random_state=seed)
    return np.sort(train), np.sort(holdout)


def train_group(table: pl.DataFrame, spec: GroupSpec, seed: int, workdir: Path, holdout_share: float = 0.25) -> tuple[Any, dict[str, Any]]:
    """Train the group's scorecard and challenger exactly as ``smelend risk train`` would (from a CSV of
    the training split, through ``train_bundle``), and measure both on the holdout split."""
    from smelend.risk.challenger import ChallengerSettings
    from smelend.risk.modelstore import train_bundle
    from smelend.risk.scorecard import ScorecardSettings
    from smelend.risk.tabular import read_training_table

    features = model_columns(feature_frame(table).select(spec.features))
    y = table["defaulted"].to_numpy().astype(np.int64)
    train, holdout = split(y, holdout_share, seed)
    development = workdir / f"sme-{spec.name}-seed{seed}-development.csv"
    features[train].with_columns(pl.Series(TARGET, y[train])).write_csv(development)
    sample = read_training_table(development, TARGET, "1")

    trends = tuple(sorted((f, "ascending" if s > 0 else "descending") for f, s in MONOTONE.items() if f in spec.features))
    monotone = tuple(sorted((f, s) for f, s in MONOTONE.items() if f in spec.features))
    bundle = train_bundle(sample, ScorecardSettings(trends=trends), ChallengerSettings(seed=seed, monotone=monotone), feature_descriptions())

    test = numpy_columns(features[holdout])
    scores = bundle.scorecard.score_columns(test)
    holdout_metrics = {
        "scorecard": discrimination(y[holdout], -scores),
        "challenger": discrimination(y[holdout], bundle.challenger().predict_pd(test)),
        "oracle": discrimination(y[holdout], table["latent_pd"].to_numpy()[holdout]),
    }
    report = {
        "group": spec.name,
        "seed": seed,
        "rows": int(y.size),
        "train_rows": int(train.size),
        "holdout_rows": int(holdout.size),
        "bad_rate": float(y.mean()),
        "features": list(spec.features),
        "holdout": holdout_metrics,
    }
    metrics = {**bundle.metrics, "holdout": {"rows": int(holdout.size), **holdout_metrics}, "simulation": {"seed": seed, "rows": int(y.size)}}
    return replace(bundle, metrics=metrics), report


def train_sme_models(out_dir: Path, rows: int, seed: int, groups: tuple[str, ...] | None = None) -> dict[str, Any]:
    """Simulate ``rows`` applications, train each group's models and write them under ``out_dir/<group>``."""
    import tempfile

    from smelend.risk.modelstore import save_model
    from smelend.risk.providers.simulated import simulate_table

    table = simulate_table(rows, seed)
    reports = {}
    with tempfile.TemporaryDirectory(prefix="smelend-train-") as workdir:
        for spec in group_specs(feature_frame(table.head(1)).columns):
            if groups is not None and spec.name not in groups:
                continue
            bundle, report = train_group(table, spec, seed, Path(workdir))
            save_model(bundle, out_dir / spec.name)
            reports[spec.name] = report
    return reports
