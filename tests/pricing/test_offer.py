"""Offers: every allowed method's APR disclosed on all costs, and the APR cap respected or no offer."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from smelend.pricing.caps import load_caps
from smelend.pricing.offer import disclose, make_offer
from smelend.products import load_catalogue
from smelend.servicing import Method

START = date(2026, 3, 10)
LIMIT = 20_000_000  # 200,000 yuan


def product(name: str = "owner-credit-loan", **fees):
    base = load_catalogue()[name]
    if not fees:
        return base
    return base.model_copy(update={"fees": base.fees.model_copy(update={k: Decimal(v) for k, v in fees.items()})})


def test_every_method_is_disclosed_and_period_interest_without_fees_has_apr_equal_to_the_rate():
    p = product()
    methods = disclose(p, LIMIT, Decimal("0.072"), START)
    assert {m.method for m in methods} == {m.value for m in p.repayment_methods}
    for m in methods:
        assert m.min_term <= m.sample_term <= m.max_term
        if m.method in ("equal-installment", "equal-principal", "interest-first"):
            assert abs(m.apr - Decimal("0.072")) < Decimal("1e-6")  # monthly IRR x 12 of period interest: the rate, up to rounding to the fen


def test_fees_raise_the_apr_and_are_counted():
    plain = {m.method: m for m in disclose(product(), LIMIT, Decimal("0.072"), START)}
    with_fees = {m.method: m for m in disclose(product(monthly_fee_rate="0.002", arrangement_fee_rate="0.01"), LIMIT, Decimal("0.072"), START)}
    for name, m in with_fees.items():
        assert m.apr > plain[name].apr + Decimal("0.01")
        assert m.total_fees_fen > plain[name].total_fees_fen >= 0
    assert with_fees["equal-installment"].total_fees_fen == 12 * 40_000 + 200_000  # 0.2% a month x 12 + 1% up front


def test_an_offer_within_the_cap_is_unchanged():
    offer = make_offer(product(), LIMIT, Decimal("0.12"), Decimal("0.07"), Decimal("0.24"), START)
    assert offer is not None and offer.annual_rate == Decimal("0.12") and not offer.priced_down_to_cap
    assert offer.max_apr <= Decimal("0.24")


def test_an_offer_above_the_cap_is_priced_down_to_the_highest_basis_point_within_it():
    fees = product(monthly_fee_rate="0.005")  # 0.5% a month on the original principal: about 11% of APR on its own
    offer = make_offer(fees, LIMIT, Decimal("0.17"), Decimal("0.06"), Decimal("0.24"), START)
    assert offer is not None and offer.priced_down_to_cap
    assert offer.max_apr <= Decimal("0.24")
    above = disclose(fees, LIMIT, offer.annual_rate + Decimal("0.0001"), START)
    assert max(m.apr for m in above) > Decimal("0.24")  # one basis point more would break the cap
    assert offer.annual_rate == offer.annual_rate.quantize(Decimal("0.0001"))


def test_no_offer_when_the_cap_leaves_less_than_break_even():
    fees = product(monthly_fee_rate="0.008")
    assert make_offer(fees, LIMIT, Decimal("0.15"), Decimal("0.10"), Decimal("0.24"), START) is None


def test_the_lower_of_product_and_lender_caps_binds():
    caps = load_caps()
    assert caps.effective(Decimal("0.18")) == Decimal("0.18")
    assert caps.effective(Decimal("0.30")) == caps.for_lender() == Decimal("0.24")


def test_offer_document_is_json_ready():
    import json

    offer = make_offer(product("tax-data-loan"), LIMIT, Decimal("0.0985"), Decimal("0.06"), Decimal("0.24"), START)
    document = offer.to_dict()
    json.dumps(document)
    assert document["limit"] == "200000.00" and document["annual_rate"] == "0.0985"
    assert {m["method"] for m in document["methods"]} >= {Method.REVOLVING.value, Method.BULLET.value}


def _reference_document(offer) -> dict:
    """The offer document as it was first built (``dataclasses.asdict`` then converted): stored decisions hold it."""
    from dataclasses import asdict

    from smelend.money import format_yuan

    document = asdict(offer)
    document["limit"] = format_yuan(document.pop("limit_fen"))
    for name in ("annual_rate", "arrangement_fee_rate", "monthly_fee_rate", "apr_cap"):
        document[name] = str(document[name])
    for method in document["methods"]:
        method["apr"], method["effective_annual_rate"] = str(method["apr"]), str(method["effective_annual_rate"])
        method["total_interest"] = format_yuan(method.pop("total_interest_fen"))
        method["total_fees"] = format_yuan(method.pop("total_fees_fen"))
    return document


@pytest.mark.parametrize("name", sorted(load_catalogue()))
@pytest.mark.parametrize("rate", ["0.0365", "0.072", "0.1799"])
def test_the_offer_document_is_what_it_always_was(name: str, rate: str) -> None:
    import json

    offer = make_offer(product(name, arrangement_fee_rate="0.005"), LIMIT, Decimal(rate), Decimal("0.02"), Decimal("0.24"), START)
    assert offer is not None
    built, reference = offer.to_dict(), _reference_document(offer)
    assert json.dumps(built) == json.dumps(reference)  # the same keys in the same order, the same values
