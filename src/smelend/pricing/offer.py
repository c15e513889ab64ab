"""The offer: a line, its annual rate, the repayment methods and terms allowed, fees, and the APR of
every method for a sample draw, kept within the APR cap.

The APR is the servicing engine's IRR over all the borrower's cash flows (interest, the monthly fee,
and the arrangement fee taken at drawdown), PBoC announcement [2021] No. 3. A rate whose APR for any
method exceeds the effective cap (the product's or the lender type's, whichever is lower) is priced
down, in whole basis points, to the highest rate within the cap; if that rate no longer covers the
break-even rate, there is no offer (reason ``PRICE_ABOVE_APR_CAP``).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import date
from decimal import ROUND_FLOOR, Decimal

from smelend.money import format_yuan
from smelend.products.model import Product
from smelend.servicing import LoanTerms, Method, build_schedule
from smelend.servicing.apr import annualised_rates
from smelend.servicing.daycount import periods_per_year
from smelend.servicing.schedule import payments_by_period

BASIS_POINT = Decimal("0.0001")
MAX_SEARCH_STEPS = 40  # bisection over basis points: 2^40 bp is far beyond any rate


@dataclass(frozen=True)
class MethodDisclosure:
    """One repayment method's terms and its APR for a sample draw of the whole line."""

    method: str
    min_term: int
    max_term: int
    sample_term: int
    apr: Decimal
    effective_annual_rate: Decimal
    total_interest_fen: int
    total_fees_fen: int


@dataclass(frozen=True)
class Offer:
    limit_fen: int
    annual_rate: Decimal
    line_validity_months: int
    methods: tuple[MethodDisclosure, ...]
    arrangement_fee_rate: Decimal
    monthly_fee_rate: Decimal
    apr_cap: Decimal
    priced_down_to_cap: bool

    @property
    def max_apr(self) -> Decimal:
        return max(m.apr for m in self.methods)

    def to_dict(self) -> dict[str, object]:
        """JSON-ready: money as yuan strings, rates as fraction strings at full precision.

        Built field by field (``dataclasses.asdict`` deep-copies every Decimal first, a noticeable part of a
        decision); the keys come in the order ``asdict`` gave them, so stored documents do not change."""
        return {
            "annual_rate": str(self.annual_rate),
            "line_validity_months": self.line_validity_months,
            "methods": [
                {
                    "method": m.method, "min_term": m.min_term, "max_term": m.max_term, "sample_term": m.sample_term,
                    "apr": str(m.apr), "effective_annual_rate": str(m.effective_annual_rate),
                    "total_interest": format_yuan(m.total_interest_fen), "total_fees": format_yuan(m.total_fees_fen),
                }
                for m in self.methods
            ],
            "arrangement_fee_rate": str(self.arrangement_fee_rate),
            "monthly_fee_rate": str(self.monthly_fee_rate),
            "apr_cap": str(self.apr_cap),
            "priced_down_to_cap": self.priced_down_to_cap,
            "limit": format_yuan(self.limit_fen),
        }


def sample_term(product: Product, method: Method) -> int:
    """The term the APR is shown for: the product's pricing term, within what the method allows."""
    terms = product.repayment_methods[method]
    return min(max(product.pricing.pricing_term_months, terms.min_term), terms.max_term)


def disclose(product: Product, limit_fen: int, annual_rate: Decimal, start: date) -> tuple[MethodDisclosure, ...]:
    """Each allowed method's APR for a draw of the whole line at ``annual_rate``, all costs included."""
    assert limit_fen > 0 and 0 < annual_rate < 1
    disclosures = []
    arrangement_fen = int((Decimal(limit_fen) * product.fees.arrangement_fee_rate).to_integral_value(rounding=ROUND_FLOOR))
    for method, terms in product.repayment_methods.items():
        term = sample_term(product, method)
        conventions = product.conventions_for(method)
        schedule = build_schedule(LoanTerms(limit_fen, annual_rate, term, method, start, conventions))
        apr, effective = schedule.apr, schedule.effective_annual_rate
        if arrangement_fen:
            payments = payments_by_period(schedule.terms, schedule.installments)
            apr, effective = annualised_rates(limit_fen - arrangement_fen, payments, periods_per_year(conventions.frequency))
        disclosures.append(
            MethodDisclosure(method.value, terms.min_term, terms.max_term, term, apr, effective, schedule.total_interest_fen, schedule.total_fee_fen + arrangement_fen)
        )
    return tuple(disclosures)


def make_offer(product: Product, limit_fen: int, annual_rate: Decimal, breakeven_rate: Decimal, apr_cap: Decimal, start: date) -> Offer | None:
    """The offer at ``annual_rate``, priced down to the APR cap if needed; None if the cap leaves no margin."""
    methods = disclose(product, limit_fen, annual_rate, start)
    priced_down = False
    if max(m.apr for m in methods) > apr_cap:
        # The APR rises with the rate: find the highest whole basis point whose APR is within the cap.
        low, high = 0, int(annual_rate / BASIS_POINT)  # in basis points; high is known to be above the cap
        for _ in range(MAX_SEARCH_STEPS):
            if high - low <= 1:
                break
            middle = (low + high) // 2
            if max(m.apr for m in disclose(product, limit_fen, middle * BASIS_POINT, start)) <= apr_cap:
                low = middle
            else:
                high = middle
        annual_rate = low * BASIS_POINT
        if annual_rate <= 0 or annual_rate < breakeven_rate:
            return None
        methods = disclose(product, limit_fen, annual_rate, start)
        priced_down = True
    assert max(m.apr for m in methods) <= apr_cap, "an offer never discloses an APR above its cap"
    return Offer(
        limit_fen=limit_fen,
        annual_rate=annual_rate,
        line_validity_months=product.line_validity_months,
        methods=methods,
        arrangement_fee_rate=product.fees.arrangement_fee_rate,
        monthly_fee_rate=product.fees.monthly_fee_rate,
        apr_cap=apr_cap,
        priced_down_to_cap=priced_down,
    )
