"""The explained price of one offer: a contract rate and the components it is made of.

:func:`price` is what a decision calls. It builds the rate from the bank's settings (FTP at the term,
costs by channel, capital, hurdle) and the applicant's PD and LGD, either at the profit-optimal rate of
a take-up model ("optimal") or at the exact break-even rate plus a margin ("breakeven-plus-margin");
keeps it within the floor (LPR-based, and never below break-even when the settings say so) and an
optional cap; rounds it to a contract rate (``Decimal``, by the settings' step and mode, then kept
within floor and cap); and explains it. The components sum exactly to the contract rate:

- ``funds``: the FTP rate at the term, r_F;
- ``expected_loss``: PD·LGD, the principal expected to be lost in a year;
- ``lost_interest``: PD·r, the interest defaulting borrowers never pay (the difference between the exact
  and the additive break-even);
- ``operating_cost`` and ``acquisition_cost`` (by channel);
- ``capital_charge``: K(h - r_F);
- ``margin``: the rest, which is exactly m(r), the expected economic profit per unit lent after the
  capital has earned its hurdle: zero at the exact break-even rate.

All components are annual rates on a year of exposure: PD is the one-year PD, and a shorter term changes
only the FTP rate (a line is re-drawn within the year). Capital is set at the applicant's assessed PD;
with adverse selection the PD of those who accept at the quoted rate (``pd_at_rate``) drives the loss
components, break-even and RAROC.
"""

from __future__ import annotations

import decimal
import math
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Literal

from smelend.errors import InvalidInput
from smelend.money import calc_context
from smelend.pricing.breakeven import additive_breakeven_rate, breakeven_rate, raroc
from smelend.pricing.optimize import check_inputs, margin as margin_of, optimal_rate
from smelend.pricing.settings import PricingSettings, RateRounding
from smelend.pricing.takeup import TakeupModel

Model = Literal["optimal", "breakeven-plus-margin"]
FloorSpec = float | Decimal | Literal["lpr", "breakeven"] | None
MODELS: tuple[Model, ...] = ("optimal", "breakeven-plus-margin")
_MODES = {"up": decimal.ROUND_CEILING, "down": decimal.ROUND_FLOOR, "half-up": decimal.ROUND_HALF_UP, "half-even": decimal.ROUND_HALF_EVEN}


def decimal_text(value: float | Decimal) -> str:
    """A rate as a decimal string at full precision, never in exponent form.

    >>> decimal_text(1e-07), decimal_text(Decimal("0.1360"))
    ('0.0000001', '0.1360')
    """
    number = value if isinstance(value, Decimal) else Decimal(repr(float(value)))
    return format(number, "f")


def _exact(value: float) -> Decimal:
    """A float rate as the Decimal of its shortest representation (what it prints as)."""
    assert math.isfinite(value), value
    return Decimal(repr(float(value)))


def round_rate(rate: float, rounding: RateRounding, floor: float, cap: float | None = None) -> Decimal:
    """The contract rate: ``rate`` rounded to the step by the mode, then kept within [floor, cap] on the step.

    A rate rounded below the floor goes up to the first step at or above it; above the cap, down to the
    last step at or below it.

    >>> up = RateRounding(step=Decimal("0.0001"), mode="up")
    >>> round_rate(0.13591, up, floor=0.03), round_rate(0.1359, up, floor=0.03)
    (Decimal('0.1360'), Decimal('0.1359'))
    >>> round_rate(0.0299, RateRounding(step=Decimal("0.0001"), mode="half-even"), floor=0.02995)
    Decimal('0.0300')
    >>> round_rate(0.24, up, floor=0.03, cap=0.23995)
    Decimal('0.2399')
    """
    step = rounding.step
    ctx = calc_context()

    def on_step(value: Decimal, mode: str) -> Decimal:
        return (ctx.divide(value, step).to_integral_value(rounding=mode) * step).quantize(step)

    low = _exact(floor)  # bounds as they print: a cap of 0.03 allows 0.0300, though 0.03 is a hair less in binary
    result = on_step(_exact(rate), _MODES[rounding.mode])
    if result < low:
        result = on_step(low, decimal.ROUND_CEILING)
    if cap is not None and result > _exact(cap):
        result = on_step(_exact(cap), decimal.ROUND_FLOOR)
    if result < low:
        raise InvalidInput.one("cap", f"no rate on the {step} step lies between the floor {floor} and the cap {cap}")
    return result


@dataclass(frozen=True)
class PriceComponents:
    """What the annual rate is made of (annual fractions); they sum exactly to it."""

    funds: Decimal
    expected_loss: Decimal
    lost_interest: Decimal
    operating_cost: Decimal
    acquisition_cost: Decimal
    capital_charge: Decimal
    margin: Decimal

    def total(self) -> Decimal:
        parts = (self.funds, self.expected_loss, self.lost_interest, self.operating_cost, self.acquisition_cost, self.capital_charge, self.margin)
        return _sum(parts)

    def to_dict(self) -> dict[str, str]:
        return {name: decimal_text(getattr(self, name)) for name in self.__dataclass_fields__}


def _sum(parts: tuple[Decimal, ...]) -> Decimal:
    ctx = calc_context()
    total = Decimal(0)
    for part in parts:
        total = ctx.add(total, part)
    return total


@dataclass(frozen=True)
class PriceQuote:
    """One offer's price with its explanation, for the decision record and the offer."""

    annual_rate: Decimal
    model: Model
    components: PriceComponents
    pd: float
    pd_at_rate: float
    lgd: float
    term_months: int
    channel: str
    capital: float
    hurdle_rate: float
    breakeven_rate: float
    breakeven_additive: float
    raroc: float
    takeup: float | None
    expected_profit: float | None
    unrounded_rate: float
    floor: float
    cap: float | None
    bound: Literal["floor", "cap"] | None
    lpr: Decimal
    settings_version: str

    def __post_init__(self) -> None:
        assert self.components.total() == self.annual_rate, (self.components, self.annual_rate)
        assert _exact(self.floor) <= self.annual_rate and (self.cap is None or self.annual_rate <= _exact(self.cap))

    @property
    def spread_over_lpr(self) -> Decimal:
        return self.annual_rate - self.lpr

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: rates and ratios as decimal strings at full precision."""
        text = lambda v: None if v is None else decimal_text(v)  # noqa: E731
        return {
            "annual_rate": decimal_text(self.annual_rate),
            "model": self.model,
            "components": self.components.to_dict(),
            "pd": text(self.pd),
            "pd_at_rate": text(self.pd_at_rate),
            "lgd": text(self.lgd),
            "term_months": self.term_months,
            "channel": self.channel,
            "capital": text(self.capital),
            "hurdle_rate": text(self.hurdle_rate),
            "breakeven_rate": text(self.breakeven_rate),
            "breakeven_additive": text(self.breakeven_additive),
            "raroc": text(self.raroc),
            "takeup": text(self.takeup),
            "expected_profit": text(self.expected_profit),
            "unrounded_rate": text(self.unrounded_rate),
            "floor": text(self.floor),
            "cap": text(self.cap),
            "bound": self.bound,
            "lpr": decimal_text(self.lpr),
            "spread_over_lpr": decimal_text(self.spread_over_lpr),
            "settings_version": self.settings_version,
        }


def price(
    pd: float,
    lgd: float,
    term_months: int,
    channel: str | None,
    settings: PricingSettings,
    takeup: TakeupModel | None = None,
    floor: FloorSpec = None,
    cap: float | Decimal | None = None,
    model: Model = "optimal",
    margin: float | Decimal | None = None,
) -> PriceQuote:
    """Price one offer and explain the price.

    ``channel`` None is the settings' default channel. ``floor``: None or "lpr" is the LPR floor of the
    settings (LPR + spread), "breakeven" the exact break-even rate alone, a number that rate; with any of
    them the exact break-even rate is a floor too when ``settings.floor.at_breakeven``. ``cap`` None is no
    cap. ``margin`` (breakeven-plus-margin only) defaults to ``settings.target_margin``. The "optimal"
    model needs ``takeup`` (a :class:`TakeupModel`, or anything with ``a`` and ``b``, like a product's
    take-up parameters). Decimals (a product's cap, margin or floor) are taken as they are written.

    >>> from smelend.pricing.settings import load_pricing_settings
    >>> quote = price(0.03, 0.8, 12, "own-app", load_pricing_settings(), takeup=TakeupModel(3, 25))
    >>> quote.annual_rate, quote.bound, quote.components.total() == quote.annual_rate
    (Decimal('0.1335'), None, True)
    """
    model = getattr(model, "value", model)  # a product's PricingModel is a str enum
    if model not in MODELS:
        raise InvalidInput.one("model", f"must be one of {', '.join(MODELS)}, got {model!r}")
    if takeup is not None and not isinstance(takeup, TakeupModel):
        takeup = TakeupModel(float(takeup.a), float(takeup.b))
    floor_rate = None if floor is None or isinstance(floor, str) else float(floor)
    if isinstance(floor, str) and floor not in ("lpr", "breakeven"):
        raise InvalidInput.one("floor", f"must be 'lpr', 'breakeven' or a rate, got {floor!r}")
    cap = None if cap is None else float(cap)
    margin = None if margin is None else float(margin)
    check_inputs(pd, lgd, 0, 0, 0, 0, floor_rate, cap)
    if model == "optimal" and takeup is None:
        raise InvalidInput.one("takeup", "the optimal model needs a take-up model (or use model='breakeven-plus-margin')")
    if margin is not None and not (math.isfinite(margin) and 0 <= margin <= 1):
        raise InvalidInput.one("margin", "must be a fraction between 0 and 1")
    if model == "optimal" and margin is not None:
        raise InvalidInput.one("margin", "applies only to model='breakeven-plus-margin'")
    channel = channel or settings.acquisition.default_channel
    funds = settings.funds_rate(term_months)
    operating, acquisition = settings.operating_cost_rate, settings.acquisition_rate(channel)
    cost = operating + acquisition
    capital = float(settings.capital_rate(pd, lgd))
    hurdle = settings.hurdle_rate
    economics = dict(lgd=lgd, funds_rate=funds, cost_rate=cost, capital=capital, hurdle=hurdle)

    breakeven_floor = float(breakeven_rate(pd, **economics))
    if floor == "breakeven":
        low = breakeven_floor
    else:
        low = float(settings.lpr_floor(term_months)) if floor_rate is None else floor_rate
        if settings.floor.at_breakeven:
            low = max(low, breakeven_floor)
    if cap is not None and low > cap:
        raise InvalidInput.one("cap", f"is below the floor {low} (LPR floor or break-even rate)")

    bound: Literal["floor", "cap"] | None
    if model == "optimal":
        assert takeup is not None
        best = optimal_rate(pd=pd, takeup=takeup, floor=low, cap=cap, **economics)
        raw = best.rate
        bound = best.bound if best.bound in ("floor", "cap") else None
    else:
        raw = breakeven_floor + (settings.target_margin if margin is None else margin)
        bound = "floor" if raw <= low else "cap" if cap is not None and raw >= cap else None
        raw = min(max(raw, low), cap if cap is not None else raw)
    annual_rate = round_rate(raw, settings.rounding, low, cap)
    rate = float(annual_rate)

    pd_at_rate = pd if takeup is None else float(takeup.pd_at(pd, rate))
    ctx = calc_context()  # components in Decimal from the inputs as they print: exact sums, no float residue
    parts = (
        _exact(funds),
        ctx.multiply(_exact(pd_at_rate), _exact(lgd)),
        ctx.multiply(_exact(pd_at_rate), annual_rate),
        _exact(operating),
        _exact(acquisition),
        ctx.multiply(_exact(capital), ctx.subtract(_exact(hurdle), _exact(funds))),
    )
    rest = ctx.subtract(annual_rate, _sum(parts))
    components = PriceComponents(*parts, margin=rest)
    unit_margin = float(margin_of(rate, pd_at_rate, **economics))
    assert abs(float(rest) - unit_margin) < 1e-12, (rest, unit_margin)
    q = None if takeup is None else float(takeup.takeup(rate))
    return PriceQuote(
        annual_rate=annual_rate,
        model=model,
        components=components,
        pd=pd,
        pd_at_rate=pd_at_rate,
        lgd=lgd,
        term_months=term_months,
        channel=channel,
        capital=capital,
        hurdle_rate=hurdle,
        breakeven_rate=float(breakeven_rate(pd_at_rate, **economics)),
        breakeven_additive=float(additive_breakeven_rate(pd_at_rate, **economics)),
        raroc=float(raroc(rate, pd_at_rate, lgd, funds, cost, capital)),
        takeup=q,
        expected_profit=None if q is None else q * unit_margin,
        unrounded_rate=raw,
        floor=low,
        cap=cap,
        bound=bound,
        lpr=settings.lpr_for(term_months),
        settings_version=settings.version,
    )


def price_product(
    pd: float,
    product: Any,
    settings: PricingSettings,
    *,
    channel: str | None = None,
    term_months: int | None = None,
    takeup: TakeupModel | None = None,
    lgd: float | None = None,
) -> PriceQuote:
    """Price one offer of a product (:class:`smelend.products.Product`) by its own pricing settings.

    Model, floor, cap, margin, take-up, LGD and pricing term come from ``product.pricing``; ``term_months``,
    ``takeup`` (e.g. refitted from a price test) and ``lgd`` override them.

    >>> from smelend.pricing.settings import load_pricing_settings
    >>> from smelend.products import load_catalogue
    >>> quote = price_product(0.03, load_catalogue()["tax-data-loan"], load_pricing_settings())
    >>> quote.cap == float(load_catalogue()["tax-data-loan"].pricing.cap) and quote.annual_rate <= Decimal(str(quote.cap))
    True
    """
    p = product.pricing
    optimal = getattr(p.model, "value", p.model) == "optimal"
    return price(
        pd,
        float(p.lgd) if lgd is None else lgd,
        p.pricing_term_months if term_months is None else term_months,
        channel,
        settings,
        takeup=takeup or TakeupModel(float(p.takeup.a), float(p.takeup.b)),
        floor=p.floor,
        cap=p.cap,
        model=p.model,
        margin=None if optimal else p.margin,
    )
