"""The bank's customers as one vectorised table: firmographics from the risk engine's simulated market,
relationship data, and line behaviour, for segmentation, pre-approval screening, retention and CLV.

Rows come from :func:`smelend.risk.providers.simulated.simulate_table` (the flat record every risk
feature reads, plus the latent PD), so the real scorecards score them in batch. Behaviour is drawn per
row with numpy, tied to the latent PD and to a hidden "engagement" factor, and includes the truth a
test can check a model against: ``attrites_90d`` (the customer leaves in the next 90 days).

==========================  ===========================================================================
has_line                    45% of customers (more among existing relationships)
applied                     15% of those without a line applied once and were not approved
limit_fen                   LN(200,000 CNY, 0.8), to 1,000 CNY
utilisation                 Beta(2, 3) shifted by engagement, 0..1
rate                        5% + 2.5 x latent PD^0.5 + N(0, 1%), 4.35%..24%
months_on_book              uniform 1..48
draws_12m                   Poisson(e^(0.8 + 0.6 engagement))
days_since_last_draw        exponential(45 e^(-0.7 engagement)) days; none without a draw in 12 months
line_expires_in_days        uniform 1..365
next_due_in_days            uniform 0..30 while a balance is out
late_payments_12m           Poisson(4 x latent PD)
attrites_90d                logistic(-2.6 - 0.9 engagement + 0.01 idle days + 8 (rate - 0.09) - 1.2 utilisation); idle days:
                            since the last draw, or since the line opened (30 x months on book) if never drawn
dormant_next_90d            a line holder draws nothing in the next 90 days: a leaver, or no draw from a
                            Poisson of mean e^(0.8 + 0.6 engagement) x 90/365 x (0.4 + 1.2 (1 - utilisation))
                            x e^(-idle days / 240) (drawn after every other column, so they stay as they were)
==========================  ===========================================================================

Both truth columns (``attrites_90d``, ``dormant_next_90d``) are what a test checks the retention models
against; they are not features.
"""

from __future__ import annotations

import numpy as np
import polars as pl

from smelend.risk.providers.simulated import simulate_table

YUAN = 100


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-z))


def simulate_customers(n: int, seed: int = 0) -> pl.DataFrame:
    """``n`` customers: ``customer_id``, the flat record, ``latent_pd`` and the behaviour columns above."""
    if n < 1 or seed < 0:
        raise ValueError("n must be positive and seed non-negative")
    table = simulate_table(n, seed).drop("defaulted")
    rng = np.random.default_rng(np.random.SeedSequence([seed, 0xC057]))
    pd = table["latent_pd"].to_numpy()
    relationship = (table["relationship_days"].fill_null(0).to_numpy() > 0)
    engagement = rng.standard_normal(n)
    has_line = rng.random(n) < np.where(relationship, 0.6, 0.37)
    limit = np.where(has_line, np.maximum(1000, np.rint(200_000 * np.exp(rng.normal(0, 0.8, n)) / 1000) * 1000) * YUAN, 0).astype(np.int64)
    utilisation = np.where(has_line, np.clip(rng.beta(2, 3, n) + 0.12 * engagement, 0, 1), 0.0)
    rate = np.where(has_line, np.clip(0.05 + 2.5 * np.sqrt(pd) * 0.1 + rng.normal(0, 0.01, n), 0.0435, 0.24), np.nan)
    draws = np.where(has_line, rng.poisson(np.exp(0.8 + 0.6 * engagement)), 0)
    since = np.where(draws > 0, np.ceil(rng.exponential(45 * np.exp(-0.7 * engagement))), np.nan)
    months_on_book = np.where(has_line, rng.integers(1, 49, n), 0)
    idle_days = np.where(np.isnan(since), months_on_book * 30.0, since)  # never drawn: idle since the line opened
    attrition_p = _sigmoid(-2.6 - 0.9 * engagement + 0.01 * idle_days + 8 * (np.nan_to_num(rate, nan=0.09) - 0.09) - 1.2 * utilisation)
    behaviour = pl.DataFrame({
        "customer_id": [f"C{seed}-{i + 1:07d}" for i in range(n)],
        "has_line": has_line,
        "applied": ~has_line & (rng.random(n) < 0.15),
        "limit_fen": limit,
        "balance_fen": (limit * utilisation).astype(np.int64) // YUAN * YUAN,
        "utilisation": utilisation,
        "rate": rate,
        "months_on_book": months_on_book,
        "draws_12m": draws.astype(np.int64),
        "days_since_last_draw": since,
        "line_expires_in_days": np.where(has_line, rng.integers(1, 366, n), 0),
        "next_due_in_days": np.where(has_line & (utilisation > 0), rng.integers(0, 31, n), 0),
        "late_payments_12m": np.where(has_line, rng.poisson(4 * pd), 0).astype(np.int64),
        "attrites_90d": has_line & (rng.random(n) < attrition_p),
    }).with_columns(pl.col("rate").fill_nan(None), pl.col("days_since_last_draw").fill_nan(None))
    draw_mean = np.exp(0.8 + 0.6 * engagement) * 90 / 365 * (0.4 + 1.2 * (1 - utilisation)) * np.exp(-idle_days / 240)
    draws_next = rng.random(n) < 1.0 - np.exp(-draw_mean)
    behaviour = behaviour.with_columns(pl.Series("dormant_next_90d", has_line & (behaviour["attrites_90d"].to_numpy() | ~draws_next)))
    return pl.concat([behaviour, table], how="horizontal")
