"""The product catalogue: shipped files load, and bad files fail with every error named."""

from __future__ import annotations

from pathlib import Path

import pytest

from smelend.errors import InvalidInput
from smelend.products import load_catalogue, load_product_file
from smelend.products.loader import CATALOGUE_DIR
from smelend.servicing import InterestCalc, Method

GOOD = (CATALOGUE_DIR / "tax-data-loan.yaml").read_text(encoding="utf-8")


def test_default_catalogue_has_the_four_products_each_with_equal_installment_3_to_12():
    catalogue = load_catalogue()
    assert {"tax-data-loan", "invoice-loan", "settlement-flow-loan", "owner-credit-loan"} <= set(catalogue)
    for product in catalogue.values():
        terms = product.repayment_methods[Method.EQUAL_INSTALLMENT]
        assert terms.allows(3) and terms.allows(12), product.id
        assert len(product.repayment_methods) >= 3, product.id
        assert Method.FLAT not in product.repayment_methods


def test_revolving_draws_always_accrue_daily():
    product = load_catalogue()["owner-credit-loan"]
    assert product.servicing_conventions().interest_calc is InterestCalc.PERIOD
    assert load_catalogue()["tax-data-loan"].conventions_for(Method.REVOLVING).interest_calc is InterestCalc.DAILY


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_every_error_names_the_file_and_the_field(tmp_path):
    bad = GOOD.replace("rate_multiplier: 1.5", "rate_multiplier: 7").replace("max_term: 12}", "max_term: 2}", 1)
    bad = bad.replace("days_in_year: 360", "days_in_year: 366").replace("prepayment: reduce-installment", "prepayment: never\ncolour: red")
    path = write(tmp_path, "tax-data-loan.yaml", bad)
    with pytest.raises(InvalidInput) as caught:
        load_product_file(path)
    fields = [e.field for e in caught.value.errors]
    assert "tax-data-loan.yaml: penalty.rate_multiplier" in fields
    assert "tax-data-loan.yaml: repayment_methods.equal-installment" in fields
    assert "tax-data-loan.yaml: conventions.days_in_year" in fields
    assert "tax-data-loan.yaml: prepayment" in fields
    assert "tax-data-loan.yaml: colour" in fields


def test_flat_is_never_offered(tmp_path):
    path = write(tmp_path, "tax-data-loan.yaml", GOOD.replace("revolving: {min_term: 1, max_term: 12}", "flat: {min_term: 1, max_term: 12}"))
    with pytest.raises(InvalidInput, match="flat is for APR comparisons only"):
        load_product_file(path)


def test_file_name_must_match_id(tmp_path):
    with pytest.raises(InvalidInput) as caught:
        load_product_file(write(tmp_path, "other.yaml", GOOD))
    assert caught.value.first.field == "other.yaml: id"


def test_not_yaml_and_not_a_mapping(tmp_path):
    with pytest.raises(InvalidInput, match="not valid YAML"):
        load_product_file(write(tmp_path, "x.yaml", "id: [unclosed"))
    with pytest.raises(InvalidInput, match="must hold a mapping"):
        load_product_file(write(tmp_path, "y.yaml", "- a\n- b\n"))


def test_catalogue_collects_errors_from_every_file(tmp_path):
    write(tmp_path, "tax-data-loan.yaml", GOOD.replace("rate_multiplier: 1.5", "rate_multiplier: 0"))
    write(tmp_path, "b.yaml", "id: b\n")
    with pytest.raises(InvalidInput) as caught:
        load_catalogue(tmp_path)
    files = {e.field.split(":")[0] for e in caught.value.errors}
    assert files == {"tax-data-loan.yaml", "b.yaml"}


def test_conventions_conflicting_with_a_method_are_refused(tmp_path):
    text = GOOD.replace("days_in_month: actual", "days_in_month: 30").replace("days_in_year: 360 ", "days_in_year: actual ")
    with pytest.raises(InvalidInput, match="30-day months"):
        load_product_file(write(tmp_path, "tax-data-loan.yaml", text))


def test_allocation_order_is_a_product_setting(tmp_path):
    good = GOOD.replace("prepayment: reduce-installment", "prepayment: reduce-installment\nallocation_order: [past-due-principal, past-due-interest, penalty, current-interest, current-principal]")
    assert load_product_file(write(tmp_path, "tax-data-loan.yaml", good)).allocation_order[0] == "past-due-principal"
    bad = GOOD.replace("prepayment: reduce-installment", "prepayment: reduce-installment\nallocation_order: [penalty]")
    with pytest.raises(InvalidInput) as caught:
        load_product_file(write(tmp_path, "tax-data-loan.yaml", bad))
    assert caught.value.first.field == "tax-data-loan.yaml: allocation_order"


def test_every_product_states_its_commercial_side():
    for product in load_catalogue().values():
        assert product.limit.min_fen < product.limit.max_fen
        assert product.eligibility.regions and product.eligibility.customer_groups and product.eligibility.data_required
        assert product.line_validity_months >= 1
        assert 0 < product.pricing.cap <= product.regulatory.apr_cap
        assert product.pricing.takeup.b > 0 and 0 < product.pricing.lgd <= 1
        if Method.BULLET in product.repayment_methods:
            assert product.repayment_methods[Method.BULLET].max_term <= product.regulatory.bullet_max_term


def test_commercial_settings_are_checked_together(tmp_path):
    bad = GOOD.replace("bullet_max_term: 12", "bullet_max_term: 3").replace("cap: 0.15 ", "cap: 0.30 ")
    bad = bad.replace('regions: ["11",', 'regions: ["99",').replace("customer_groups: [data-rich]", "customer_groups: [vip]")
    path = write(tmp_path, "tax-data-loan.yaml", bad)
    with pytest.raises(InvalidInput) as caught:
        load_product_file(path)
    text = str(caught.value)
    assert "not GB/T 2260 province codes: 99" in text and "unknown customer groups: vip" in text
    fixed_lists = bad.replace('regions: ["99",', 'regions: ["11",').replace("customer_groups: [vip]", "customer_groups: [data-rich]")
    with pytest.raises(InvalidInput, match="bullet max_term 6 exceeds regulatory.bullet_max_term 3"):
        load_product_file(write(tmp_path, "tax-data-loan.yaml", fixed_lists))
    only_cap = GOOD.replace("cap: 0.15 ", "cap: 0.30 ")
    with pytest.raises(InvalidInput, match="pricing.cap must not exceed regulatory.apr_cap"):
        load_product_file(write(tmp_path, "tax-data-loan.yaml", only_cap))
