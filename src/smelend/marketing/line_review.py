"""Limit-increase offers from the line-management rules: the real reassessment engine on the customer book.

Why: an increase marketing offers must be one the bank's own line review would grant (its JDM rules,
step, caps and minimum intervals, :func:`smelend.lines.reassess.reassess`), not a second rule of
marketing's. The customer book is not a book snapshot, so :func:`review_frame` builds the columns
reassessment reads from what the book knows:

=======================  =====================================================================
line_id                  the row's position + 1 (lines only)
product_id               the product whose data the customer has (as the pre-approved list does)
status                   active
limit_fen / used_fen     the line's limit / balance
end_date                 ``on`` + days until the line expires
max_dpd                  0 (the book has no overdue today)
max_dpd_365d             15 after a late payment in 12 months, else 0
on_time_streak           months on book without a late payment (0 after one)
late_payments_365d       late payments in 12 months
revenue_12m_fen          tax-declared sales, else invoiced sales (null: neither)
revenue_trend            invoiced sales against the year before (0 without invoice history)
behaviour_grade          the behaviour model's grade of the customer's PD (its grade table)
events, last change,     none
temporary limit
=======================  =====================================================================

Every line is reviewed on ``on`` (the settings' schedule is for the close of business, not for a
campaign). Only ``increase`` decisions become offers; other changes (a renewal, a decrease) are the
line review's business and other retention offers'.
"""

from __future__ import annotations

from datetime import date
from functools import lru_cache
from typing import Any

import numpy as np
import polars as pl

from smelend.marketing.whitelist import DEFAULT_PRODUCT, PRODUCT_BY_DATA

INCREASE = "increase"
DEFAULT_ON = date(2026, 7, 1)  # the review date when none is given: the pre-approved list's default screening date


@lru_cache(maxsize=1)
def review_context() -> Any:
    """The reassessment context with every line reviewed whenever called (built once per process)."""
    from smelend.lines.reassess import build_context
    from smelend.lines.settings import load_settings

    return build_context(load_settings().model_copy(update={"frequency": "daily"}))


def review_frame(book: pl.DataFrame, pd: np.ndarray, on: date) -> pl.DataFrame:
    """The snapshot-shaped frame of the book's lines (one row per customer with a line), see the table above."""
    from smelend.lines.behaviour import load_behaviour_model

    grades = load_behaviour_model().grade_of(np.asarray(pd, dtype=float))
    product = pl.lit(DEFAULT_PRODUCT)
    for column, name in reversed(PRODUCT_BY_DATA):
        product = pl.when(pl.col(column) == "ok").then(pl.lit(name)).otherwise(product)
    late = pl.col("late_payments_12m") > 0
    prev = pl.col("invoice_sales_prev_12m_fen").cast(pl.Float64)
    lines = book.with_row_index("row").with_columns(pl.Series("behaviour_grade", grades, dtype=pl.Utf8)).filter(pl.col("has_line"))
    return lines.select(
        (pl.col("row").cast(pl.Int64) + 1).alias("line_id"),
        product.alias("product_id"),
        pl.lit("active").alias("status"),
        pl.col("limit_fen").cast(pl.Int64),
        pl.col("balance_fen").cast(pl.Int64).alias("used_fen"),
        (pl.lit(on) + pl.duration(days=pl.col("line_expires_in_days"))).cast(pl.Date).alias("end_date"),
        pl.col("months_on_book").cast(pl.Int32),
        pl.lit(0, pl.Int32).alias("max_dpd"),
        pl.when(late).then(15).otherwise(0).cast(pl.Int32).alias("max_dpd_365d"),
        pl.when(late).then(0).otherwise(pl.col("months_on_book")).cast(pl.Int32).alias("on_time_streak"),
        pl.col("late_payments_12m").cast(pl.Int32).alias("late_payments_365d"),
        pl.coalesce(pl.col("tax_declared_sales_12m_fen"), pl.col("invoice_sales_12m_fen")).cast(pl.Int64).alias("revenue_12m_fen"),
        pl.when(prev > 0).then(pl.col("invoice_sales_12m_fen").cast(pl.Float64) / prev - 1.0).otherwise(0.0).fill_null(0.0).alias("revenue_trend"),
        pl.col("tax_grade").cast(pl.Utf8),
        pl.lit(False).alias("event_new_tax_record"),
        pl.lit(False).alias("event_new_invoice"),
        pl.lit(False).alias("event_external_alert"),
        pl.lit(None, pl.Date).alias("last_change_date"),
        pl.lit(None, pl.Int64).alias("temp_limit_fen"),
        pl.lit(None, pl.Date).alias("temp_limit_until"),
        pl.col("behaviour_grade"),
    )


def limit_increases(book: pl.DataFrame, pd: np.ndarray, on: date) -> pl.DataFrame:
    """Per customer of ``book`` (in order): ``increase_fen`` (0: no offer) and ``increase_reasons`` (the rules' codes)."""
    from smelend.lines.reassess import reassess

    changes = reassess(review_frame(book, pd, on), on, review_context()).filter(pl.col("action") == INCREASE)
    offered = changes.select((pl.col("line_id") - 1).alias("row"), (pl.col("limit_after_fen") - pl.col("limit_before_fen")).alias("increase_fen"), pl.col("reasons").alias("increase_reasons"))
    rows = pl.DataFrame({"row": np.arange(book.height, dtype=np.int64)})
    return rows.join(offered, on="row", how="left").sort("row").select(
        pl.col("increase_fen").fill_null(0), pl.col("increase_reasons").fill_null(""))

