"""New-customer conversion: approved lines never drawn, and declined applicants another product would take.

* **Approved, not drawn**: lines approved (accepted or not) with no draw yet, by how long ago, each with
  the action the segment strategy gives (a reminder and a first-draw coupon).
* **Declined but eligible elsewhere**: at decision time the same application and evidence go through the
  real ``decide`` for every other product of the catalogue (:func:`alternatives`); an approval there is a
  conversion opportunity ("your invoice data does not support an invoice loan, but a tax-data loan of ...").
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import polars as pl

from smelend.marketing.events import MarketingData

AGE_BUCKETS_DAYS = (7, 30, 90)


def alternatives(application: Any, evidence: Any, strategy: Any, catalogue: Any, pricer: Any) -> tuple[str, int] | None:
    """The other product with the largest approved line for this application and evidence (real ``decide``), or None."""
    from smelend.risk.decision import decide

    best: tuple[str, int] | None = None
    for product_id in catalogue:
        if product_id == application.product_id:
            continue
        other = application.model_copy(update={"product_id": product_id})
        d = decide(other, evidence, strategy, catalogue[product_id], pricer)
        if d.outcome == "approve" and (best is None or d.limit_fen > best[1]):
            best = (product_id, d.limit_fen)
    return best


@dataclass(frozen=True)
class Conversion:
    approved: int
    approved_not_drawn: int
    not_drawn_by_age_days: dict[str, int]  # "<=7", "<=30", "<=90", ">90"
    not_drawn_limit_fen: int  # lines open and unused
    accepted_not_drawn: int
    declined: int
    declined_eligible_elsewhere: int
    eligible_elsewhere: list[dict[str, object]]  # from product -> to product, count, total line
    top_not_drawn: list[dict[str, object]]  # the largest unused lines, to call first


def conversion(data: MarketingData, top: int = 20) -> Conversion:
    apps = data.applications
    drawn = set(data.draws["application_id"].to_list())
    approved = apps.filter(pl.col("outcome") == "approve")
    idle = approved.filter(~pl.col("application_id").is_in(list(drawn))).with_columns(
        ((pl.lit(data.as_of) - pl.col("decided_at")).dt.total_microseconds() / 8.64e10).alias("days")
    )
    ages: dict[str, int] = {}
    low = -1.0
    for high in AGE_BUCKETS_DAYS:
        ages[f"<={high}"] = int(idle.filter((pl.col("days") > low) & (pl.col("days") <= high)).height)
        low = high
    ages[f">{AGE_BUCKETS_DAYS[-1]}"] = int(idle.filter(pl.col("days") > low).height)
    declined = apps.filter(pl.col("outcome") == "decline")
    elsewhere = declined.filter(pl.col("alternative_product").is_not_null())
    moves = elsewhere.group_by("product_id", "alternative_product").agg(pl.len().alias("applicants"), pl.col("alternative_limit_fen").sum().alias("limit_fen")).sort(
        "applicants", descending=True)
    return Conversion(
        approved.height, idle.height, ages, int(idle["limit_fen"].sum() or 0), int(idle["accepted_at"].is_not_null().sum()),
        declined.height, elsewhere.height,
        [{"from_product": r["product_id"], "to_product": r["alternative_product"], "applicants": r["applicants"], "limit_fen": int(r["limit_fen"])} for r in moves.iter_rows(named=True)],
        idle.sort("limit_fen", descending=True).head(top).select("application_id", "channel", "product_id", "limit_fen", "days", pl.col("accepted_at").is_not_null().alias("accepted")).to_dicts(),
    )
