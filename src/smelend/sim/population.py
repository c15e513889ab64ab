"""The simulated population: businesses of the risk engine's simulated provider, plus what a market needs.

Why on the provider: the lab must feed the real decision engine the same applications and evidence it
sees in production, so each business *is* one simulated application (industry, size, revenue, tax grade,
invoicing, cash flows, the owner's credit, the bank relationship, the latent true PD). On top of it this
module draws, from the parameterised distributions in ``data/market.yaml``: credit demand, price
sensitivity (riskier businesses are less price-sensitive: adverse selection), the competitor's offer,
which channels reach the business, and how much of a line it would use.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from smelend.datafiles import load_yaml_model

if TYPE_CHECKING:
    from smelend.risk.schemas import Application

DATA_DIR = Path(__file__).resolve().parent / "data"
MARKET_FILE = DATA_DIR / "market.yaml"
MAX_BUSINESSES = 1_000_000


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Demand(_Strict):
    median_monthly: float = Field(gt=0, le=1)
    sigma: float = Field(ge=0, le=3)
    max_monthly: float = Field(gt=0, le=1)


class Takeup(_Strict):
    a: float = Field(ge=-20, le=20)
    b_median: float = Field(gt=0, le=500)
    b_sigma: float = Field(ge=0, le=3)
    adverse_elasticity: float = Field(ge=0, le=3)
    pd_reference: float = Field(gt=0, lt=1)


class Competitor(_Strict):
    base_rate: float = Field(ge=0, le=1)
    pd_loading: float = Field(ge=0, le=20)
    sigma: float = Field(ge=0, le=1)
    floor: float = Field(ge=0, le=1)
    tolerance: float = Field(ge=0, le=1)
    attrition_base_monthly: float = Field(ge=0, le=1)
    attrition_per_point_monthly: float = Field(ge=0, le=1)


class Usage(_Strict):
    draw_monthly: float = Field(ge=0, le=1)
    first_month_draw: float = Field(ge=0, le=1)
    methods_draw_uplift: float = Field(ge=0, le=1)
    utilisation_alpha: float = Field(gt=0)
    utilisation_beta: float = Field(gt=0)
    prepay_monthly: float = Field(ge=0, le=1)
    draw_monthly_with_loan: float = Field(ge=0, le=1)  # another draw on the line while a loan is live (revolving use)


class Default(_Strict):
    pd_scale: float = Field(gt=0, le=20)
    months_to_write_off: int = Field(ge=1, le=36)
    lgd: float = Field(ge=0, le=1)
    warning_factor: float = Field(ge=0, le=50)
    partial_share: float = Field(ge=0, lt=1)
    late_days: int = Field(ge=1, le=27)


class Shock(_Strict):
    start_month: int = Field(ge=0)
    months: int = Field(ge=1)
    default_multiplier: float = Field(gt=0, le=20)
    demand_multiplier: float = Field(gt=0, le=5)


class Macro(_Strict):
    base: float = Field(gt=0, le=10)
    shock: Shock | None = None


class Review(_Strict):
    approve_share: float = Field(ge=0, le=1)
    hours: float = Field(gt=0, le=720)


class Costs(_Strict):
    per_application_yuan: float = Field(ge=0)
    per_review_yuan: float = Field(ge=0)
    per_line_month_yuan: float = Field(ge=0)
    funds_rate: float = Field(ge=0, le=1)
    capital_per_exposure: float = Field(gt=0, le=1)
    visits_per_application: float = Field(ge=0, le=1000)
    fixed_cost_per_businesses: int = Field(ge=1)


class RationingSettings(_Strict):
    project_value: float = Field(gt=1, le=5)
    outside_option: float = Field(ge=0, le=1)
    min_applicants: int = Field(ge=2, le=100_000)


class ChannelReach(_Strict):
    coverage: float = Field(ge=0, le=1)
    conversion: float = Field(ge=0, le=1)


class MarketSettings(_Strict):
    version: str
    demand: Demand
    takeup: Takeup
    competitor: Competitor
    usage: Usage
    default: Default
    macro: Macro
    review: Review
    costs: Costs
    rationing: RationingSettings
    channels: dict[str, ChannelReach] = Field(min_length=1)

    def macro_factor(self, month: int, shock: bool) -> tuple[float, float]:
        """(default multiplier, demand multiplier) in ``month`` (0-based)."""
        s = self.macro.shock
        if shock and s is not None and s.start_month <= month < s.start_month + s.months:
            return self.macro.base * s.default_multiplier, s.demand_multiplier
        return self.macro.base, 1.0


@lru_cache(maxsize=4)
def _load(path: Path) -> MarketSettings:
    settings = load_yaml_model(path, MarketSettings, "market")
    from smelend.marketing.channels import load_channels

    unknown = set(settings.channels) - set(load_channels().channels)
    if unknown:
        from smelend.errors import InvalidInput

        raise InvalidInput.one(f"{path.name}: channels", f"not in the channel catalogue: {', '.join(sorted(unknown))}")
    return settings


def load_market(path: Path | None = None) -> MarketSettings:
    return _load((path or MARKET_FILE).resolve())


@dataclass(frozen=True)
class Population:
    """``n`` businesses as arrays (one row each). A business's own record (its application, facts and
    latent PD, from the risk engine's simulated provider) is made when it first applies: :func:`application_for`.
    """

    seed: int
    demand: np.ndarray  # monthly chance of needing credit
    takeup_noise: np.ndarray  # lognormal factor of the price sensitivity
    competitor_noise: np.ndarray  # normal(0, sigma) part of the competitor's rate
    reached: dict[str, np.ndarray]  # channel -> bool per business
    utilisation: np.ndarray  # share of a line drawn

    def __len__(self) -> int:
        return int(self.demand.shape[0])


def generate_population(n: int, seed: int, settings: MarketSettings | None = None) -> Population:
    """``n`` businesses for ``seed``: the same (n, seed) gives the same population, whatever the strategy,
    so strategies are compared on the same businesses (common random numbers)."""
    if not 1 <= n <= MAX_BUSINESSES or seed < 0:
        raise ValueError("n must be 1..1,000,000 and seed non-negative")
    market = settings or load_market()
    rng = np.random.default_rng(np.random.SeedSequence([seed, 0x51E]))
    d = market.demand
    demand = np.minimum(d.median_monthly * np.exp(d.sigma * rng.standard_normal(n)), d.max_monthly)
    takeup_noise = np.exp(market.takeup.b_sigma * rng.standard_normal(n))
    competitor_noise = market.competitor.sigma * rng.standard_normal(n)
    reached = {ch: rng.random(n) < r.coverage for ch, r in market.channels.items()}
    utilisation = rng.beta(market.usage.utilisation_alpha, market.usage.utilisation_beta, n)
    return Population(seed, demand, takeup_noise, competitor_noise, reached, utilisation)


def application_for(population: Population, index: int, month_start: date, channel: str, product_id: str | None = None) -> "Application":
    """Business ``index``'s application in the month from ``month_start``, through ``channel``: the simulated
    provider's record for (seed, index), dated inside the month; ``product_id`` when the strategy does not
    offer the product the business would ask for."""
    from smelend.risk.providers.simulated import simulate_applications
    from smelend.risk.schemas import Application

    base = simulate_applications(1, population.seed * 10_000_000 + index, start=month_start, days=28)[0]
    doc = base.model_dump(mode="json")
    doc["id"] = f"S{population.seed}-{index:07d}-{month_start:%Y%m}"
    doc["channel"] = channel
    doc["consent"]["channel"] = channel
    if product_id is not None:
        doc["product_id"] = product_id
    return Application.model_validate(doc)


def price_sensitivity(population: Population, index: int, latent_pd: float, settings: MarketSettings) -> float:
    """b of the take-up curve: lower for riskier businesses (adverse selection)."""
    t = settings.takeup
    return float(t.b_median * population.takeup_noise[index] * (max(latent_pd, 1e-4) / t.pd_reference) ** (-t.adverse_elasticity))


def competitor_rate(population: Population, index: int, latent_pd: float, settings: MarketSettings) -> float:
    c = settings.competitor
    return float(max(c.floor, c.base_rate + c.pd_loading * latent_pd + population.competitor_noise[index]))
