"""The explained price of one offer, and the pricing settings it is built from."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from smelend.errors import InvalidInput
from smelend.pricing.breakeven import breakeven_rate
from smelend.pricing.optimize import optimal_rate
from smelend.pricing.quote import PriceQuote, decimal_text, price, price_product, round_rate
from smelend.pricing.settings import SHIPPED_FILE, Channel, RateRounding, load_pricing_settings
from smelend.pricing.takeup import AdverseSelection, TakeupModel
from smelend.products import load_catalogue
from smelend.products.model import PricingModel

SHIPPED = load_pricing_settings()


def design_settings(tmp_path: Path, **changes) -> object:
    """The DESIGN.md example as a settings file: r_F 2% flat, c 1.5% (all operating), K 7.875%, h 12%."""
    document = yaml.safe_load(SHIPPED_FILE.read_text(encoding="utf-8"))
    document.update(
        funds_transfer_pricing=[{"term_months": 12, "rate": 0.02}],
        operating_cost_rate=0.015,
        acquisition={"default_channel": "free", "channels": {"free": {"annual_rate": 0.0}, "platform": {"cost_per_borrower": 1000, "average_balance": 50000, "life_years": 2}}},
    )
    document.update(changes)
    path = tmp_path / "pricing.yaml"
    path.write_text(yaml.safe_dump(document), encoding="utf-8")
    return load_pricing_settings(path)


@pytest.fixture
def design(tmp_path):
    return design_settings(tmp_path)


def test_design_example_quote(design):
    quote = price(0.03, 0.8, 12, None, design, takeup=TakeupModel(3, 25))
    best = optimal_rate(pd=0.03, lgd=0.8, funds_rate=0.02, cost_rate=0.015, capital=0.07875, hurdle=0.12, takeup=TakeupModel(3, 25))
    assert quote.unrounded_rate == pytest.approx(best.rate, abs=1e-12)
    assert quote.annual_rate == Decimal("0.1359")  # 0.135854... rounded up to the next basis point
    assert quote.bound is None and quote.channel == "free" and quote.model == "optimal"
    assert round(quote.breakeven_rate, 4) == 0.0689 and round(quote.breakeven_additive, 4) == 0.0669
    assert round(quote.takeup, 2) == 0.40 and round(quote.expected_profit, 4) == 0.0261
    assert quote.capital == pytest.approx(0.07875)
    c = quote.components
    assert (c.funds, c.expected_loss, c.operating_cost, c.acquisition_cost) == (Decimal("0.02"), Decimal("0.024"), Decimal("0.015"), Decimal("0.0"))
    assert c.lost_interest == Decimal("0.03") * Decimal("0.1359")
    assert c.capital_charge == Decimal("0.07875") * (Decimal("0.12") - Decimal("0.02"))
    assert c.total() == quote.annual_rate
    assert float(c.margin) == pytest.approx(quote.expected_profit / quote.takeup, abs=1e-12)
    assert quote.floor == pytest.approx(breakeven_rate(0.03, 0.8, 0.02, 0.015, 0.07875, 0.12))
    assert quote.lpr == Decimal("0.030") and quote.spread_over_lpr == Decimal("0.1059")


def test_breakeven_plus_margin(design):
    quote = price(0.03, 0.8, 12, None, design, model="breakeven-plus-margin", margin=0.01)
    assert quote.annual_rate == Decimal("0.0790")  # 0.068943 + 0.01, rounded up
    assert quote.takeup is None and quote.expected_profit is None
    at_breakeven = price(0.03, 0.8, 12, None, design, model="breakeven-plus-margin", margin=0.0)
    assert at_breakeven.annual_rate == Decimal("0.0690")
    assert Decimal(0) <= at_breakeven.components.margin < Decimal("0.0001")  # margin is zero at the exact break-even rate
    assert at_breakeven.raroc >= 0.12
    default = price(0.03, 0.8, 12, None, design, model="breakeven-plus-margin")
    assert default.annual_rate == Decimal("0.0790")  # the settings' target margin is 1%


def test_floor_and_cap_bind(design):
    takeup = TakeupModel(3, 25)
    floored = price(0.03, 0.8, 12, None, design, takeup=takeup, floor=0.15)
    assert floored.annual_rate == Decimal("0.1500") and floored.bound == "floor"
    capped = price(0.03, 0.8, 12, None, design, takeup=takeup, cap=0.1)
    assert capped.annual_rate == Decimal("0.1000") and capped.bound == "cap"
    odd_cap = price(0.03, 0.8, 12, None, design, takeup=takeup, cap=0.10005)
    assert odd_cap.annual_rate == Decimal("0.1000")  # rounded down to stay under the cap
    with pytest.raises(InvalidInput) as caught:
        price(0.03, 0.8, 12, None, design, takeup=takeup, cap=0.05)  # below the break-even floor
    assert caught.value.first.field == "cap"


def test_lpr_floor(tmp_path):
    settings = design_settings(tmp_path, floor={"lpr_spread": "0.02", "at_breakeven": True})
    quote = price(0.001, 0.5, 12, None, settings, model="breakeven-plus-margin", margin=0.0)
    assert quote.breakeven_rate < 0.05
    assert quote.annual_rate == Decimal("0.0500") and quote.bound == "floor"  # LPR 3.0% + 2%


def test_breakeven_is_a_floor_only_when_the_settings_say_so(tmp_path):
    settings = design_settings(tmp_path, floor={"lpr_spread": "-0.01", "at_breakeven": False})
    quote = price(0.03, 0.8, 12, None, settings, takeup=TakeupModel(3, 25), cap=0.03)
    assert quote.annual_rate == Decimal("0.0300") and quote.bound == "cap"
    assert quote.components.margin < 0 and quote.raroc < settings.hurdle_rate  # priced under break-even, and the quote says so
    with pytest.raises(InvalidInput):
        price(0.03, 0.8, 12, None, design_settings(tmp_path), takeup=TakeupModel(3, 25), cap=0.03)


def test_floor_specs_as_products_write_them(design):
    takeup = TakeupModel(3, 25)
    breakeven = breakeven_rate(0.03, 0.8, 0.02, 0.015, 0.07875, 0.12)
    assert price(0.03, 0.8, 12, None, design, takeup=takeup, floor="lpr").floor == pytest.approx(breakeven)  # break-even is above the LPR
    assert price(0.03, 0.8, 12, None, design, takeup=takeup, floor="breakeven").floor == pytest.approx(breakeven)
    fixed = price(0.03, 0.8, 12, None, design, takeup=takeup, floor=Decimal("0.14"), cap=Decimal("0.2"), model=PricingModel.OPTIMAL)
    assert fixed.annual_rate == Decimal("0.1400") and fixed.bound == "floor" and fixed.cap == 0.2 and fixed.model == "optimal"
    with pytest.raises(InvalidInput) as caught:
        price(0.03, 0.8, 12, None, design, takeup=takeup, floor="zero")
    assert caught.value.first.field == "floor"


def test_price_product_uses_the_products_own_settings():
    product = load_catalogue()["tax-data-loan"]
    p = product.pricing
    quote = price_product(0.03, product, SHIPPED)
    assert quote == price(0.03, float(p.lgd), p.pricing_term_months, None, SHIPPED, takeup=TakeupModel(float(p.takeup.a), float(p.takeup.b)), floor=p.floor, cap=p.cap, model=p.model)
    assert quote.annual_rate <= p.cap and quote.term_months == p.pricing_term_months
    risky = price_product(0.08, product, SHIPPED, term_months=6, channel="partner-tax")
    assert risky.bound == "cap" and risky.annual_rate == p.cap.quantize(Decimal("0.0001"))
    for product in load_catalogue().values():
        quote = price_product(0.01, product, SHIPPED)
        assert quote.components.total() == quote.annual_rate <= product.pricing.cap


def test_channel_cost_and_irb_capital(tmp_path):
    settings = design_settings(tmp_path, capital={"method": "irb", "risk_weight": 0.75, "capital_ratio": 0.105, "irb_scale_to_ratio": True})
    quote = price(0.03, 0.8, 12, "platform", settings, model="breakeven-plus-margin")
    assert quote.components.acquisition_cost == Decimal("0.01")  # 1000 / (50000 x 2)
    assert quote.capital == pytest.approx(0.08930398 * 0.105 / 0.08, rel=1e-6)


def test_adverse_selection_moves_the_loss_components(design):
    takeup = TakeupModel(3, 25, AdverseSelection(10.0, 0.10))
    quote = price(0.03, 0.8, 12, None, design, takeup=takeup)
    assert quote.pd_at_rate == pytest.approx(takeup.pd_at(0.03, float(quote.annual_rate)))
    assert quote.pd_at_rate > 0.03
    assert quote.components.expected_loss == Decimal(repr(quote.pd_at_rate)) * Decimal("0.8")
    assert quote.components.total() == quote.annual_rate


def test_to_dict_is_json_with_rates_as_decimal_strings(design):
    quote = price(0.03, 0.8, 12, None, design, takeup=TakeupModel(3, 25))
    document = json.loads(json.dumps(quote.to_dict()))
    assert document["annual_rate"] == "0.1359"
    assert set(document["components"]) == {"funds", "expected_loss", "lost_interest", "operating_cost", "acquisition_cost", "capital_charge", "margin"}
    assert sum(Decimal(v) for v in document["components"].values()) == Decimal(document["annual_rate"])
    assert Decimal(document["breakeven_rate"]) == Decimal(repr(quote.breakeven_rate))
    assert document["bound"] is None and document["cap"] is None and document["settings_version"] == "2026-01"
    for key in ("raroc", "takeup", "expected_profit", "pd_at_rate", "floor", "capital"):
        assert isinstance(document[key], str) and "e" not in document[key].lower()


def test_quote_is_frozen(design):
    quote = price(0.03, 0.8, 12, None, design, takeup=TakeupModel(3, 25))
    with pytest.raises(AttributeError):
        quote.annual_rate = Decimal("0.5")  # type: ignore[misc]
    assert isinstance(quote, PriceQuote)


@pytest.mark.parametrize(
    ("args", "kwargs", "field"),
    [
        ((0.0, 0.8, 12, None), {}, "pd"),
        ((0.03, 1.5, 12, None), {}, "lgd"),
        ((0.03, 0.8, 0, None), {}, "term_months"),
        ((0.03, 0.8, 12, "pigeon"), {}, "channel"),
        ((0.03, 0.8, 12, None), {"takeup": None}, "takeup"),
        ((0.03, 0.8, 12, None), {"model": "cheapest"}, "model"),
        ((0.03, 0.8, 12, None), {"model": "breakeven-plus-margin", "margin": -0.01}, "margin"),
        ((0.03, 0.8, 12, None), {"cap": -0.1}, "cap"),
    ],
)
def test_bad_input_names_the_field(design, args, kwargs, field):
    with pytest.raises(InvalidInput) as caught:
        price(*args, design, **{"takeup": TakeupModel(3, 25), **kwargs})
    assert caught.value.first.field == field


STEP = RateRounding(step=Decimal("0.0001"), mode="up")


@given(rate=st.floats(0, 0.5), floor=st.floats(0, 0.3), width=st.floats(0.0001, 0.3), mode=st.sampled_from(["up", "down", "half-up", "half-even"]))
def test_rounding_stays_on_the_step_within_floor_and_cap(rate, floor, width, mode):
    cap = floor + width
    rounded = round_rate(rate, RateRounding(step=Decimal("0.0001"), mode=mode), floor, cap)
    as_printed = lambda x: Decimal(repr(x))  # noqa: E731
    assert as_printed(floor) <= rounded <= as_printed(cap)
    assert rounded == rounded.quantize(Decimal("0.0001"))
    if mode == "up" and floor <= rate <= cap - 0.0001:
        assert rounded - Decimal("0.0001") < as_printed(rate) <= rounded


def test_rounding_modes_and_a_window_narrower_than_a_step():
    assert round_rate(0.125, RateRounding(step=Decimal("0.01"), mode="half-even"), 0) == Decimal("0.12")  # 0.125 is exact in binary
    assert round_rate(0.125, RateRounding(step=Decimal("0.01"), mode="half-up"), 0) == Decimal("0.13")
    assert round_rate(0.12344, RateRounding(step=Decimal("0.0005"), mode="up"), 0) == Decimal("0.1235")
    assert round_rate(0.12349, RateRounding(step=Decimal("0.0001"), mode="down"), 0) == Decimal("0.1234")
    with pytest.raises(InvalidInput):
        round_rate(0.1, STEP, 0.10001, 0.10009)
    assert decimal_text(1.5e-08) == "0.000000015"


def test_shipped_settings():
    s = SHIPPED
    assert s.lpr.one_year == Decimal("0.030") and 0.018 <= s.funds_rate(12) <= 0.022
    assert s.funds_rate(0.5 + 0.5) == s.funds_transfer_pricing[0].rate and s.funds_rate(360) == s.funds_transfer_pricing[-1].rate  # flat beyond the ends
    assert s.funds_rate(9) == pytest.approx((s.funds_rate(6) + s.funds_rate(12)) / 2)
    assert s.lpr_for(12) == Decimal("0.030") and s.lpr_for(72) == Decimal("0.035")
    assert s.capital_rate(0.03, 0.8) == pytest.approx(0.07875)
    assert s.cost_rate("own-app") == pytest.approx(0.01 + 200 / (50_000 * 2))
    assert s.acquisition_rate("partner-ecommerce") == 0.012
    assert s.default_lgd == 0.8 and s.target_margin == 0.01


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"surprise": 1}, "surprise"),
        ({"funds_transfer_pricing": [{"term_months": 12, "rate": 0.02}, {"term_months": 6, "rate": 0.02}]}, "(file)"),
        ({"default_lgd": 1.5}, "default_lgd"),
        ({"capital": {"method": "advanced", "risk_weight": 0.75, "capital_ratio": 0.105}}, "capital.method"),
        ({"acquisition": {"default_channel": "x", "channels": {"x": {"annual_rate": 0.01, "cost_per_borrower": 5}}}}, "acquisition"),
    ],
)
def test_bad_settings_files_name_the_field(tmp_path, change, field):
    with pytest.raises(InvalidInput) as caught:
        design_settings(tmp_path, **change)
    assert caught.value.first.field.startswith("pricing.yaml: ")
    assert field in caught.value.first.field


def test_channel_forms():
    assert Channel(cost_per_borrower=800, average_balance=40_000, life_years=2).rate == 0.01
    with pytest.raises(ValueError):
        Channel(cost_per_borrower=800)
