"""The capacity model: exact limits in fen, and a reason for every reduction below the request."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from smelend.errors import InvalidInput
from smelend.risk.grades import load_grade_table
from smelend.risk.limits import CapacityInputs, compute_limit, load_limit_settings

STRATEGY = Path(__file__).resolve().parents[2] / "src/smelend/risk/strategies/sme-v1"
SETTINGS = load_limit_settings(STRATEGY / "limits.yaml")
YUAN = 100

BASE = CapacityInputs(
    requested_fen=200_000 * YUAN,
    tax_paid_12m_fen=60_000 * YUAN,
    invoiced_sales_12m_fen=3_000_000 * YUAN,
    settlement_inflow_monthly_fen=None,
    declared_sales_12m_fen=3_200_000 * YUAN,
    owner_income_monthly_fen=20_000 * YUAN,
    bureau_outstanding_fen=0,
    bureau_monthly_debt_service_fen=0,
    owner_bank_limits_fen=0,
    owner_bank_outstanding_fen=0,
)


def limit(inputs: CapacityInputs, product: str = "tax-data-loan", grade_cap: int | None = None):
    return compute_limit(inputs, SETTINGS, product_id=product, product_min_fen=10_000 * YUAN, product_max_fen=1_000_000 * YUAN, grade_cap_fen=grade_cap)


def test_request_within_every_cap_is_granted_in_full_without_reasons():
    result = limit(BASE)
    assert result.limit_fen == 200_000 * YUAN
    assert result.reductions == ()


def test_tax_basis_caps_at_eight_times_tax_paid_rounded_down_to_1000_yuan():
    result = limit(replace(BASE, tax_paid_12m_fen=20_123_45, requested_fen=500_000 * YUAN))
    # 20,123.45 x 8 = 160,987.60 -> 160,000
    assert result.limit_fen == 160_000 * YUAN
    assert [c.code for c in result.reductions][0] == "LIMIT_CAPACITY"
    assert result.reductions[0].amount_fen == 160_987_60


def test_debt_service_cap_subtracts_existing_instalments():
    # revenue 3,200,000/yr -> 266,666.67/month x 12% = 32,000 free; existing 30,000 -> 2,000/month
    result = limit(replace(BASE, bureau_monthly_debt_service_fen=30_000 * YUAN))
    serviceable = Decimal(2_000 * YUAN) * (1 - (1 + Decimal("0.01")) ** -12) / Decimal("0.01")
    codes = {c.code: c.amount_fen for c in result.caps}
    assert abs(codes["LIMIT_DEBT_SERVICE"] - int(serviceable)) <= 1  # the rest is the precision of 1.01^-12
    assert result.limit_fen == 22_000 * YUAN
    assert result.reductions[0].code == "LIMIT_DEBT_SERVICE"


def test_owner_exposure_on_other_enterprises_reduces_the_line():
    result = limit(replace(BASE, owner_bank_limits_fen=2_900_000 * YUAN))
    assert result.limit_fen == 100_000 * YUAN
    assert [c.code for c in result.reductions] == ["LIMIT_OWNER_EXPOSURE"]


def test_grade_cap_and_several_reasons_are_ranked_tightest_first():
    result = limit(replace(BASE, requested_fen=900_000 * YUAN), grade_cap=300_000 * YUAN)
    codes = [c.code for c in result.reductions]
    assert codes[0] == "LIMIT_GRADE_CAP" or result.limit_fen < 300_000 * YUAN
    assert "LIMIT_CAPACITY" in codes  # 60,000 x 8 = 480,000 < 900,000
    amounts = [c.amount_fen for c in result.reductions]
    assert amounts == sorted(amounts)
    assert result.limit_fen == min(amounts) // (1000 * YUAN) * (1000 * YUAN)


def test_missing_basis_data_gives_no_line_with_its_reason():
    result = limit(replace(BASE, tax_paid_12m_fen=None))
    assert result.limit_fen == 0
    assert [c.code for c in result.reductions][:2] == ["LIMIT_BELOW_MINIMUM", "LIMIT_BASIS_MISSING"]


def test_owner_product_uses_income_for_basis_and_debt_service():
    result = limit(BASE, product="owner-credit-loan")
    # basis 20,000 x 10 = 200,000; debt service 10,000/month -> ~112,550 over 12 months at 12%
    assert result.limit_fen == 112_000 * YUAN
    assert result.reductions[0].code == "LIMIT_DEBT_SERVICE"


def test_rounding_alone_is_a_reason():
    result = limit(replace(BASE, requested_fen=150_500 * YUAN))
    assert result.limit_fen == 150_000 * YUAN
    assert [c.code for c in result.reductions] == ["LIMIT_ROUNDED"]


@given(
    requested=st.integers(1, 2_000_000 * YUAN),
    tax=st.one_of(st.none(), st.integers(0, 500_000 * YUAN)),
    debt=st.integers(0, 5_000_000 * YUAN),
    service=st.integers(0, 200_000 * YUAN),
    owner_limits=st.integers(0, 4_000_000 * YUAN),
)
def test_limit_never_exceeds_any_cap_and_every_reduction_has_a_reason(requested, tax, debt, service, owner_limits):
    inputs = replace(BASE, requested_fen=requested, tax_paid_12m_fen=tax, bureau_outstanding_fen=debt,
                     bureau_monthly_debt_service_fen=service, owner_bank_limits_fen=owner_limits)
    result = limit(inputs)
    assert result.limit_fen % (1000 * YUAN) == 0
    assert all(result.limit_fen <= c.amount_fen for c in result.caps)
    assert result.limit_fen <= requested
    if result.limit_fen < requested:
        assert result.reductions, "every reduction below the request carries a reason code"


def test_grade_table_covers_every_pd_in_order():
    table = load_grade_table(STRATEGY / "grades.yaml")
    assert table.grade_for(0.0).grade == "A1"
    assert table.grade_for(1.0).action == "decline"
    labels = [table.grade_for(p / 1000).grade for p in range(0, 1001)]
    order = [g.grade for g in table.grades]
    assert [order.index(x) for x in labels] == sorted(order.index(x) for x in labels)


def test_bad_settings_name_every_field(tmp_path):
    bad = tmp_path / "limits.yaml"
    bad.write_text("bases: {}\nproducts: {x: nowhere}\nmax_debt_to_revenue: -1\nowner_cap: 0\nrounding_unit: 1000\n")
    with pytest.raises(InvalidInput) as caught:
        load_limit_settings(bad)
    fields = {e.field for e in caught.value.errors}
    assert {"limits.yaml: bases", "limits.yaml: debt_service", "limits.yaml: max_debt_to_revenue", "limits.yaml: owner_cap"} <= fields
