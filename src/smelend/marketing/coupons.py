"""Interest-discount coupons: what one costs on a draw, computed by the servicing engine.

A coupon takes ``discount_bp`` basis points off the annual rate of one draw, up to ``max_discount_fen``.
Its cost is exactly the interest forgone: the schedule at the contract rate less the schedule at the
discounted rate (both from :func:`build_schedule`), capped. The cost posts to the ledger as a marketing
expense (:func:`smelend.ledger.rules.coupon_cost`), so a campaign's spend is in the books, not only in a report.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from smelend.errors import Collector
from smelend.servicing import LoanTerms, Method, build_schedule
from smelend.servicing.conventions import Conventions

MAX_DISCOUNT_BP = 2000


@dataclass(frozen=True)
class Coupon:
    discount_bp: int
    max_discount_fen: int

    def __post_init__(self) -> None:
        found = Collector()
        if not 0 < self.discount_bp <= MAX_DISCOUNT_BP:
            found.add("coupon_bp", f"must be between 1 and {MAX_DISCOUNT_BP} basis points")
        if self.max_discount_fen <= 0:
            found.add("coupon_cap", "must be positive")
        found.raise_if_any()


@dataclass(frozen=True)
class CouponCost:
    full_interest_fen: int
    discounted_interest_fen: int
    cost_fen: int  # forgone interest, capped


def coupon_cost(coupon: Coupon, amount_fen: int, annual_rate: Decimal, term: int, method: Method, start: date, conventions: Conventions | None = None) -> CouponCost:
    """The interest a coupon forgoes on one draw (never below zero: the rate does not go negative)."""
    conventions = conventions or Conventions()
    discounted_rate = max(Decimal(0), annual_rate - Decimal(coupon.discount_bp) / 10_000)
    full = build_schedule(LoanTerms(amount_fen, annual_rate, term, method, start, conventions)).total_interest_fen
    cut = build_schedule(LoanTerms(amount_fen, discounted_rate, term, method, start, conventions)).total_interest_fen
    return CouponCost(full, cut, min(full - cut, coupon.max_discount_fen))
