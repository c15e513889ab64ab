"""The main job shown end to end: a sample enterprise on embedded SQLite, and every repayment method.

Each later issue extends it; for now it stores the sample enterprise and its owner (PII encrypted)
and prints, for each repayment method, the schedule the product would give and its APR.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from smelend.ids import mobile, ric
from smelend.products import Catalogue, Product
from smelend.servicing import LoanTerms, Method, Schedule, build_schedule
from smelend.servicing.conventions import Conventions

SAMPLE_OWNER = {"name": "张伟", "resident_id": "11010519491231002X", "mobile": "13800138000", "bank_account": "6222021001112223334"}
SAMPLE_ENTERPRISE = {"uscc": "91310000MA1FL8T5X3", "name": "上海示例商贸有限公司"}
SAMPLE_PRODUCT = "tax-data-loan"
SAMPLE_DRAW_FEN = 10_000_000  # 100,000 yuan
SAMPLE_RATE = Decimal("0.072")
SAMPLE_TERM = 12
SAMPLE_START = date(2026, 1, 15)
COMPARISON_FEE_RATE = Decimal("0.006")  # a "0.6% a month" flat-fee loan, the kind the APR rule exposes


@dataclass(frozen=True)
class DemoDraw:
    """One illustrative draw: which product offers the method, and the schedule it gives."""

    method: Method
    product_id: str
    schedule: Schedule


def product_for(catalogue: Catalogue, method: Method, preferred: str) -> Product:
    """The preferred product if it offers ``method``, else the first product in the catalogue that does."""
    if preferred in catalogue and method in catalogue[preferred].repayment_methods:
        return catalogue[preferred]
    return next(p for p in catalogue.values() if method in p.repayment_methods)


def sample_draws(catalogue: Catalogue, preferred_product: str) -> list[DemoDraw]:
    """A 100,000-yuan draw at 7.2% with every method some product offers, and a flat-fee comparison."""
    draws = []
    for method in Method:
        if method is Method.FLAT:
            continue
        product = product_for(catalogue, method, preferred_product)
        term = min(SAMPLE_TERM, product.repayment_methods[method].max_term)
        terms = LoanTerms(SAMPLE_DRAW_FEN, SAMPLE_RATE, term, method, SAMPLE_START, product.conventions_for(method))
        draws.append(DemoDraw(method, product.id, build_schedule(terms)))
    flat = LoanTerms(SAMPLE_DRAW_FEN, Decimal(0), SAMPLE_TERM, Method.FLAT, SAMPLE_START, Conventions(monthly_fee_rate=COMPARISON_FEE_RATE))
    draws.append(DemoDraw(Method.FLAT, "(comparison: 0.6%/month fee, no product)", build_schedule(flat)))
    return draws


def masked_owner(person_name: str, resident_id: str, mobile_e164: str) -> dict[str, str]:
    return {"name": person_name[:1] + "*" * (len(person_name) - 1), "resident_id": ric.mask(resident_id), "mobile": mobile.mask(mobile_e164)}
