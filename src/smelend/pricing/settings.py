"""The bank's pricing settings, from a data file: FTP curve, LPR, costs by channel, LGD, capital, hurdle.

One validated file (``pricing/data/pricing.yaml`` by default) holds every figure the risk-based price is
built from, so a price can be explained and replayed from the file's version. Rates are annual fractions.
Figures that end up in a contract or a disclosure (LPR, rounding step, floor spread) are ``Decimal``;
model inputs are floats.
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Literal

import numpy as np
from numpy.typing import ArrayLike
from pydantic import BaseModel, ConfigDict, Field, model_validator

from smelend.datafiles import load_yaml_model
from smelend.errors import InvalidInput
from smelend.pricing.breakeven import FloatOrArray, scalar_or_array
from smelend.pricing.capital import IRB_MINIMUM_RATIO, irb_capital, standardised_capital

SHIPPED_FILE = Path(__file__).with_name("data") / "pricing.yaml"
MAX_CURVE_POINTS = 40
MAX_CHANNELS = 50
MAX_TERM_MONTHS = 360
LPR_5Y_FROM_MONTHS = 60  # loans longer than five years reference the 5-year LPR

Rate = float  # an annual fraction, for models
ChannelId = str


class _Strict(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class CurvePoint(_Strict):
    term_months: int = Field(ge=1, le=MAX_TERM_MONTHS)
    rate: float = Field(ge=0, le=0.2, description="FTP rate for funds of this term.")


class Lpr(_Strict):
    one_year: Decimal = Field(ge=0, le=Decimal("0.2"))
    five_year: Decimal = Field(ge=0, le=Decimal("0.2"))


class Channel(_Strict):
    """A channel's acquisition cost: a cost per new borrower spread over balance and life, or a direct rate."""

    cost_per_borrower: float | None = Field(default=None, ge=0, le=1_000_000, description="yuan")
    average_balance: float | None = Field(default=None, gt=0, le=1e9, description="yuan")
    life_years: float | None = Field(default=None, gt=0, le=30)
    annual_rate: float | None = Field(default=None, ge=0, le=0.2)

    @model_validator(mode="after")
    def _one_form(self) -> "Channel":
        per_borrower = (self.cost_per_borrower, self.average_balance, self.life_years)
        if self.annual_rate is not None:
            if any(v is not None for v in per_borrower):
                raise ValueError("give either annual_rate or cost_per_borrower/average_balance/life_years, not both")
        elif any(v is None for v in per_borrower):
            raise ValueError("give annual_rate, or all of cost_per_borrower, average_balance and life_years")
        return self

    @property
    def rate(self) -> float:
        """The acquisition cost as an annual rate on the balance.

        >>> Channel(cost_per_borrower=200, average_balance=50000, life_years=2).rate
        0.002
        """
        if self.annual_rate is not None:
            return self.annual_rate
        assert self.cost_per_borrower is not None and self.average_balance is not None and self.life_years is not None
        return self.cost_per_borrower / (self.average_balance * self.life_years)


class Acquisition(_Strict):
    default_channel: ChannelId
    channels: dict[ChannelId, Channel] = Field(min_length=1, max_length=MAX_CHANNELS)

    @model_validator(mode="after")
    def _default_known(self) -> "Acquisition":
        if self.default_channel not in self.channels:
            raise ValueError(f"default_channel {self.default_channel!r} is not among the channels")
        return self


class Capital(_Strict):
    method: Literal["standardised", "irb"]
    risk_weight: float = Field(gt=0, le=4, description="standardised approach risk weight")
    capital_ratio: float = Field(ge=IRB_MINIMUM_RATIO, le=0.5, description="total capital ratio the bank holds")
    irb_scale_to_ratio: bool = True


class RateRounding(_Strict):
    step: Decimal = Field(gt=0, le=Decimal("0.01"))
    mode: Literal["up", "down", "half-up", "half-even"] = "up"


class Floor(_Strict):
    lpr_spread: Decimal = Field(ge=Decimal("-0.05"), le=Decimal("0.2"))
    at_breakeven: bool = True


class PricingSettings(_Strict):
    """Everything a risk-based price needs besides the applicant's PD and LGD and the product's own settings.

    A product file (``smelend.products``) says how its rate is set: model, floor, cap, margin, take-up,
    LGD and pricing term. These are the bank-wide figures beneath every product.
    """

    version: str = Field(min_length=1, max_length=40)
    funds_transfer_pricing: tuple[CurvePoint, ...] = Field(min_length=1, max_length=MAX_CURVE_POINTS)
    lpr: Lpr
    operating_cost_rate: float = Field(ge=0, le=0.2)
    acquisition: Acquisition
    default_lgd: float = Field(ge=0, le=1)
    capital: Capital
    hurdle_rate: float = Field(ge=0, le=1)
    rounding: RateRounding
    floor: Floor
    target_margin: float = Field(ge=0, le=0.5)

    @model_validator(mode="after")
    def _consistent(self) -> "PricingSettings":
        terms = [p.term_months for p in self.funds_transfer_pricing]
        if terms != sorted(terms) or len(set(terms)) != len(terms):
            raise ValueError("funds_transfer_pricing points must have strictly increasing term_months")
        return self

    def funds_rate(self, term_months: float) -> Rate:
        """The FTP rate for funds of ``term_months``: linear between curve points, flat beyond the ends.

        >>> s = load_pricing_settings()
        >>> s.funds_rate(12), round(s.funds_rate(9), 10), s.funds_rate(120)
        (0.019, 0.01825, 0.023)
        """
        _check_term(term_months)
        curve = self.funds_transfer_pricing
        return float(np.interp(term_months, [p.term_months for p in curve], [p.rate for p in curve]))

    def lpr_for(self, term_months: int) -> Decimal:
        """The LPR a loan of ``term_months`` references: 1-year up to five years, 5-year beyond."""
        _check_term(term_months)
        return self.lpr.five_year if term_months > LPR_5Y_FROM_MONTHS else self.lpr.one_year

    def lpr_floor(self, term_months: int) -> Decimal:
        """The policy floor from the LPR: the referenced LPR plus the floor spread."""
        return self.lpr_for(term_months) + self.floor.lpr_spread

    def channel(self, channel_id: ChannelId | None) -> Channel:
        """A channel's settings (the default channel for ``None``); an unknown channel is bad input."""
        channel_id = channel_id or self.acquisition.default_channel
        if channel_id not in self.acquisition.channels:
            known = ", ".join(self.acquisition.channels)
            raise InvalidInput.one("channel", f"no such channel {channel_id!r} (known: {known})")
        return self.acquisition.channels[channel_id]

    def acquisition_rate(self, channel_id: ChannelId | None) -> Rate:
        return self.channel(channel_id).rate

    def cost_rate(self, channel_id: ChannelId | None) -> Rate:
        """Operating plus acquisition cost, the ``c`` of the break-even formula."""
        return self.operating_cost_rate + self.acquisition_rate(channel_id)

    def capital_rate(self, pd: ArrayLike, lgd: ArrayLike) -> FloatOrArray:
        """Capital per unit of exposure under the configured method (see :mod:`smelend.pricing.capital`).

        >>> round(load_pricing_settings().capital_rate(0.03, 0.8), 10)
        0.07875
        """
        method = self.capital
        if method.method == "standardised":
            k = standardised_capital(method.risk_weight, method.capital_ratio)
            return scalar_or_array(np.broadcast_to(k, np.broadcast_shapes(np.shape(pd), np.shape(lgd))).copy())
        return irb_capital(pd, lgd, method.capital_ratio if method.irb_scale_to_ratio else None)


def _check_term(term_months: float) -> None:
    if not 1 <= term_months <= MAX_TERM_MONTHS:
        raise InvalidInput.one("term_months", f"must be between 1 and {MAX_TERM_MONTHS}, got {term_months}")


def load_pricing_settings(path: Path | None = None) -> PricingSettings:
    """The pricing settings in ``path`` (default: the shipped file), validated; errors name file and field."""
    return load_yaml_model(path or SHIPPED_FILE, PricingSettings, "pricing settings")
