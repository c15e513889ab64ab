"""Customer lifetime value: the expected margin over a horizon, surviving default and attrition, discounted.

CLV = sum_{t=1..H} m x s^(t-1) x (1 - PD) / (1 + d)^t, where m is the yearly margin of the line
(balance x (rate - funds rate - PD x LGD)), s = (1 - attrition_year)(1 - PD) the chance the customer is
still a performing borrower a year later, attrition_year = 1 - (1 - p_90d)^4 from the attrition model.
A customer without a line has no margin yet (their potential is in the segments' value band).
"""

from __future__ import annotations

import numpy as np
import polars as pl


def clv_yuan(balance_fen: np.ndarray, rate: np.ndarray, pd: np.ndarray, attrition_90d: np.ndarray, *,
             horizon_years: int = 3, discount_rate: float = 0.10, funds_rate: float = 0.02, lgd: float = 0.8) -> np.ndarray:
    """Per customer CLV in yuan (a float figure for ranking and planning, not a booked amount)."""
    if horizon_years < 1 or discount_rate <= -1:
        raise ValueError("horizon_years must be positive and discount_rate above -1")
    margin = balance_fen / 100.0 * (np.nan_to_num(rate, nan=0.0) - funds_rate - pd * lgd)
    yearly_attrition = 1.0 - (1.0 - attrition_90d) ** 4
    survive = (1.0 - yearly_attrition) * (1.0 - pd)
    total = np.zeros_like(margin)
    for t in range(1, horizon_years + 1):
        total += margin * survive ** (t - 1) * (1.0 - pd) / (1.0 + discount_rate) ** t
    return total


def clv_by_segment(segments: pl.DataFrame, clv: np.ndarray, by: str) -> list[dict[str, object]]:
    """Customers, total and mean CLV per value of ``by`` (a column of the segment table)."""
    frame = segments.select(by).with_columns(pl.Series("clv", clv))
    table = frame.group_by(by).agg(pl.len().alias("customers"), pl.col("clv").sum().alias("clv_total_yuan"), pl.col("clv").mean().alias("clv_mean_yuan")).sort(by)
    return table.rename({by: "segment"}).to_dicts()
