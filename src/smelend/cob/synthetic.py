"""A synthetic snapshot of a book of lines, as numpy builds it: for tests and benchmarks of the batch work.

Why: the batch work (behaviour grade -> reassessment) is a pure function of snapshot rows; testing
and timing it on a million lines must not wait for a million lines to be generated through the
servicing engine. The columns are the snapshot's (``smelend.lines.snapshot.SNAPSHOT_SCHEMA``) that
reassessment reads, plus ``behaviour_grade``; the mix (mostly performing lines, some late, a few
with alerts, lines near expiry, temporary limits) is chosen so every rule fires on some rows.
"""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np
import polars as pl

PRODUCTS = ("tax-data-loan", "invoice-loan", "settlement-flow-loan", "owner-credit-loan")
GRADES = ("A", "B", "C", "D", "E")
TAX_GRADES = ("A", "B", "M", "C", "D")


def snapshot_frame(lines: int, as_of: date, seed: int = 7, first_line_id: int = 1, graded: bool = True) -> pl.DataFrame:
    """``lines`` rows of a plausible book on ``as_of`` (deterministic for a seed): every column of the
    snapshot schema, plus ``behaviour_grade`` when ``graded`` (else the behaviour model grades it)."""
    rng = np.random.default_rng(seed)
    n = lines
    product = rng.choice(len(PRODUCTS), n, p=[0.35, 0.25, 0.25, 0.15])
    limit_fen = (np.exp(rng.normal(np.log(150_000), 0.8, n)).clip(10_000, 900_000) // 1000 * 1000 * 100).astype(np.int64)
    utilisation = rng.beta(1.2, 1.6, n) * (rng.random(n) < 0.8)
    used_fen = (limit_fen * utilisation).astype(np.int64)
    status = np.where(rng.random(n) < 0.04, "frozen", "active")
    start_offset = rng.integers(1, 700, n)
    start = np.datetime64(as_of, "D") - start_offset.astype("timedelta64[D]")
    validity = np.where(start_offset > 365, 730, 365)
    end = start + validity.astype("timedelta64[D]")
    end = np.where(end <= np.datetime64(as_of, "D"), np.datetime64(as_of, "D") + rng.integers(1, 60, n).astype("timedelta64[D]"), end)
    late = rng.random(n)
    max_dpd = np.where(late < 0.9, 0, np.where(late < 0.97, rng.integers(1, 30, n), rng.integers(30, 200, n)))
    max_dpd_365d = np.maximum(max_dpd, np.where(rng.random(n) < 0.85, 0, rng.integers(1, 90, n)))
    grade_index = np.clip((rng.normal(1.2, 1.0, n) + (max_dpd > 0) * 1.5 + (max_dpd_365d > 30)).round(), 0, 4).astype(int)
    temp = rng.random(n) < 0.03
    temp_limit_fen = np.where(temp, limit_fen // 5 // 100_000 * 100_000, 0).astype(np.int64)
    temp_until = np.datetime64(as_of, "D") + rng.integers(-5, 40, n).astype("timedelta64[D]")
    last_change = np.datetime64(as_of, "D") - rng.integers(1, 400, n).astype("timedelta64[D]")
    has_change = rng.random(n) < 0.4
    outstanding = used_fen
    overdue = np.where(max_dpd > 0, outstanding // rng.integers(3, 12, n), 0).astype(np.int64)
    next_due = np.datetime64(as_of, "D") + rng.integers(0, 31, n).astype("timedelta64[D]")
    frame = pl.DataFrame(
        {
            "as_of": np.full(n, np.datetime64(as_of, "D")),
            "line_id": np.arange(first_line_id, first_line_id + n, dtype=np.int64),
            "enterprise_id": np.arange(first_line_id, first_line_id + n, dtype=np.int64),
            "owner_person_id": np.arange(first_line_id, first_line_id + n, dtype=np.int64),
            "product_id": np.array(PRODUCTS)[product],
            "status": status,
            "annual_rate": np.array(["0.072", "0.096", "0.12", "0.15"])[rng.integers(0, 4, n)],
            "limit_fen": limit_fen + temp_limit_fen,
            "used_fen": used_fen,
            "start_date": start.astype("datetime64[D]"),
            "end_date": end.astype("datetime64[D]"),
            "months_on_book": (start_offset // 30).astype(np.int64),
            "open_loans": np.where(used_fen > 0, rng.integers(1, 4, n), 0).astype(np.int64),
            "principal_outstanding_fen": outstanding,
            "max_dpd": max_dpd.astype(np.int64),
            "max_dpd_365d": max_dpd_365d.astype(np.int64),
            "overdue_principal_fen": overdue,
            "worst_category": np.where(max_dpd > 90, "substandard", np.where(max_dpd > 0, "special-mention", "pass")),
            "on_time_streak": np.where(max_dpd > 0, 0, rng.integers(0, 30, n)).astype(np.int64),
            "late_payments_365d": np.where(max_dpd_365d > 0, rng.integers(1, 6, n), 0).astype(np.int64),
            "draws_90d": np.where(used_fen > 0, rng.integers(0, 4, n), 0).astype(np.int64),
            "drawn_fen_90d": (used_fen * rng.uniform(0, 1, n)).astype(np.int64),
            "next_due_date": np.where(used_fen > 0, next_due, np.datetime64("NaT")).astype("datetime64[D]"),
            "next_due_fen": np.where(used_fen > 0, used_fen // 6, 0).astype(np.int64),
            "revenue_12m_fen": (limit_fen * rng.uniform(1.5, 8.0, n)).astype(np.int64),
            "revenue_trend": rng.normal(0.03, 0.18, n).round(4),
            "invoice_trend": rng.normal(0.03, 0.2, n).round(4),
            "settlement_trend": rng.normal(0.02, 0.2, n).round(4),
            "tax_grade": np.array(TAX_GRADES)[rng.choice(5, n, p=[0.3, 0.35, 0.2, 0.1, 0.05])],
            "event_new_tax_record": rng.random(n) < 0.03,
            "event_new_invoice": rng.random(n) < 0.05,
            "event_external_alert": rng.random(n) < 0.003,
            "last_change_date": np.where(has_change, last_change, np.datetime64("NaT")).astype("datetime64[D]"),
            "last_change_action": pl.Series(np.where(has_change, "increase", ""), dtype=pl.Utf8),
            "temp_limit_fen": temp_limit_fen,
            "temp_limit_until": np.where(temp, temp_until, np.datetime64("NaT")).astype("datetime64[D]"),
            "behaviour_grade": np.array(GRADES)[grade_index],
        }
    ).with_columns(
        pl.col("as_of", "start_date", "end_date", "last_change_date", "temp_limit_until", "next_due_date").cast(pl.Date),
        pl.when(pl.col("last_change_action") == "").then(None).otherwise(pl.col("last_change_action")).alias("last_change_action"),
    )
    return frame if graded else frame.drop("behaviour_grade")
