"""The simulated bank's line review, by the real reassessment engine (:func:`smelend.lines.reassess.reassess`).

Why: a line review in the lab must be the platform's own rules (its JDM tables, steps, caps and minimum
intervals), not a toy. The lab has no book snapshot, so :func:`review_frame` builds the snapshot columns
reassessment reads from the market's state; the one column it cannot have, the behaviour score's grade, is
mapped from what the bank would see: a missed payment since the last review is grade D, a streak of six
or more on-time instalments grade A, anything else grade B. Reviews run when the strategy says (every
``reassessment.every_months``), so the settings' own schedule is overridden to "review whenever called".
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from functools import lru_cache
from typing import Any

import polars as pl


@dataclass(frozen=True)
class LineRow:
    line_id: int
    product_id: str
    frozen: bool
    limit_fen: int
    used_fen: int
    start: date
    validity_months: int
    months_on_book: int
    on_time_streak: int
    missed: bool
    revenue_12m_fen: int | None
    tax_grade: str | None


@lru_cache(maxsize=1)
def context() -> Any:
    from smelend.lines.reassess import build_context
    from smelend.lines.settings import load_settings

    settings = load_settings().model_copy(update={"frequency": "daily"})
    return build_context(settings)


def _end(start: date, months: int) -> date:
    y, m = divmod(start.month - 1 + months, 12)
    return date(start.year + y, m + 1, 1) - timedelta(days=1)


def review_frame(rows: list[LineRow]) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "line_id": [r.line_id for r in rows],
            "product_id": [r.product_id for r in rows],
            "status": ["frozen" if r.frozen else "active" for r in rows],
            "limit_fen": [r.limit_fen for r in rows],
            "used_fen": [r.used_fen for r in rows],
            "end_date": [_end(r.start, r.validity_months) for r in rows],
            "months_on_book": [r.months_on_book for r in rows],
            "max_dpd": [0 for _ in rows],
            "max_dpd_365d": [15 if r.missed else 0 for r in rows],
            "on_time_streak": [0 if r.missed else r.on_time_streak for r in rows],
            "late_payments_365d": [1 if r.missed else 0 for r in rows],
            "revenue_12m_fen": [r.revenue_12m_fen for r in rows],
            "revenue_trend": [0.0 for _ in rows],
            "tax_grade": [r.tax_grade for r in rows],
            "event_new_tax_record": [False for _ in rows],
            "event_new_invoice": [False for _ in rows],
            "event_external_alert": [False for _ in rows],
            "last_change_date": [None for _ in rows],
            "temp_limit_fen": [None for _ in rows],
            "temp_limit_until": [None for _ in rows],
            "behaviour_grade": ["D" if r.missed else "A" if r.on_time_streak >= 6 else "B" for r in rows],
        },
        schema={
            "line_id": pl.Int64, "product_id": pl.Utf8, "status": pl.Utf8, "limit_fen": pl.Int64, "used_fen": pl.Int64, "end_date": pl.Date,
            "months_on_book": pl.Int32, "max_dpd": pl.Int32, "max_dpd_365d": pl.Int32, "on_time_streak": pl.Int32, "late_payments_365d": pl.Int32,
            "revenue_12m_fen": pl.Int64, "revenue_trend": pl.Float64, "tax_grade": pl.Utf8, "event_new_tax_record": pl.Boolean,
            "event_new_invoice": pl.Boolean, "event_external_alert": pl.Boolean, "last_change_date": pl.Date, "temp_limit_fen": pl.Int64,
            "temp_limit_until": pl.Date, "behaviour_grade": pl.Utf8,
        },
    )


def review(rows: list[LineRow], as_of: date) -> pl.DataFrame:
    """The changes the real reassessment engine makes to ``rows`` on ``as_of`` (rows of its CHANGE_SCHEMA)."""
    from smelend.lines.reassess import reassess

    if not rows:
        from smelend.lines.reassess import CHANGE_SCHEMA

        return pl.DataFrame(schema=CHANGE_SCHEMA)
    return reassess(review_frame(rows), as_of, context())
