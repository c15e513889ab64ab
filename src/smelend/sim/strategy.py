"""A strategy file: what the bank does in the simulated market, validated on load with every error at once.

Why a file: a strategy is compared against a baseline before it goes live, so it must be data staff can
read, diff and review, not code. The fields group into levers (:data:`LEVER_FIELDS`): the six of the issue
(channel expansion, active acquisition, risk-control adaptation, process optimisation, customer maintenance,
new-customer conversion) plus optimised pricing and rationing. An ablation swaps one lever's fields at a
time between the baseline and the strategy (:func:`with_levers`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from smelend.datafiles import load_yaml_model
from smelend.errors import Collector, InvalidInput

METHODS = ("equal-installment", "equal-principal", "interest-first", "bullet")
SIZE_BANDS = ("micro", "small", "medium")

LEVER_FIELDS: dict[str, tuple[str, ...]] = {
    "channel_expansion": ("channels",),
    "active_acquisition": ("campaigns",),
    "risk_control": ("reassessment", "segments"),
    "process_optimisation": ("process",),
    "customer_maintenance": ("maintenance",),
    "new_customer_conversion": ("repayment_methods", "conversion"),
    "optimised_pricing": ("pricing",),
    "rationing": ("rationing",),
}
LEVERS = tuple(LEVER_FIELDS)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Campaign(_Strict):
    """Outbound acquisition: each month ``share_contacted`` of the businesses not yet customers (rounded) are
    contacted through ``channel``, the pre-approved list's best first (those the bank may approach, then the
    lowest PD by the real scorecards: :func:`smelend.sim.targeting.campaign_targets`); a contacted business in
    need applies with ``conversion``."""

    name: str = Field(min_length=1, max_length=80)
    channel: str
    share_contacted: float = Field(gt=0, le=1)
    conversion: float = Field(ge=0, le=1)
    cost_per_contact_yuan: float = Field(ge=0, le=10_000)
    months: tuple[int, int] | None = None  # [first, last] month (0-based), all months when absent


class Pricing(_Strict):
    """``flat``: the bank's grid as the pricer quotes it; ``optimised``: the profit-optimal rate per applicant
    (smelend.pricing.optimize) for the segment's estimated price sensitivity, within the floor and cap."""

    mode: Literal["flat", "optimised"]
    assumed_b: float = Field(default=18.0, gt=0, le=500)  # the bank's estimate of price sensitivity
    assumed_a: float = Field(default=2.6, ge=-20, le=20)


class Rationing(_Strict):
    """``none``: every priced approval is offered; ``curve``: no rate above the peak of the population's
    return curve (Stiglitz-Weiss, smelend.pricing.rationing): such applicants are rationed instead."""

    mode: Literal["none", "curve"]


class Reassessment(_Strict):
    """How often every open line is reviewed by the real reassessment engine (smelend.lines: its rules decide
    increases, decreases, freezes and renewals)."""

    every_months: int = Field(ge=1, le=24)


class SegmentStrategy(_Strict):
    limit_factor: float = Field(default=1.0, gt=0, le=3)
    rate_add: float = Field(default=0.0, ge=-0.1, le=0.1)


class Process(_Strict):
    review_approve_share: float | None = Field(default=None, ge=0, le=1)  # None: the market's share
    takeup_uplift: float = Field(default=0.0, ge=0, le=5)  # added to the take-up intercept (a faster process)
    operating_cost_factor: float = Field(default=1.0, gt=0, le=3)


class MaintenanceAction(_Strict):
    """A monthly action on the customers: ``calls_share`` of them (rounded), the ones the bank ranks most at risk
    of leaving first (:func:`smelend.sim.targeting.retention_targets`), get ``attrition_reduction`` off their
    attrition; ``repeat_draw_uplift`` applies to every customer; the cost is per customer reached a month
    (``calls_share`` x customers). ``calls_share`` 1 (the default) reaches every customer."""

    name: str = Field(min_length=1, max_length=80)
    attrition_reduction: float = Field(ge=0, le=1)
    repeat_draw_uplift: float = Field(default=0.0, ge=0, le=5)
    cost_per_customer_month_yuan: float = Field(ge=0, le=10_000)
    calls_share: float = Field(default=1.0, gt=0, le=1)


class Conversion(_Strict):
    first_draw_coupon_bp: int = Field(default=0, ge=0, le=1000)  # interest discount on the first draw, a marketing cost
    first_draw_uplift: float = Field(default=0.0, ge=0, le=5)


class StrategyFile(_Strict):
    name: str = Field(pattern=r"^[a-z][a-z0-9_-]{0,39}$")
    description: str = ""
    channels: tuple[str, ...] = Field(min_length=1)
    campaigns: tuple[Campaign, ...] = ()
    products: tuple[str, ...] = Field(min_length=1)
    repayment_methods: tuple[Literal["equal-installment", "equal-principal", "interest-first", "bullet"], ...] = Field(min_length=1)
    pricing: Pricing
    rationing: Rationing
    reassessment: Reassessment
    segments: dict[Literal["micro", "small", "medium"], SegmentStrategy] = {}
    process: Process = Process()
    maintenance: tuple[MaintenanceAction, ...] = ()
    conversion: Conversion = Conversion()

    @model_validator(mode="after")
    def _distinct(self) -> "StrategyFile":
        for name in ("channels", "products", "repayment_methods"):
            values = getattr(self, name)
            if len(set(values)) != len(values):
                raise ValueError(f"{name} lists a value twice")
        return self


def check_references(strategy: StrategyFile, field: str) -> None:
    """Channels and products must exist in the channel catalogue and the product catalogue (every error at once)."""
    from smelend.marketing.channels import load_channels
    from smelend.products.loader import load_catalogue
    from smelend.sim.population import load_market

    known_channels = set(load_channels().channels) & set(load_market().channels)
    catalogue = load_catalogue()
    found = Collector()
    for name in strategy.channels:
        if name not in known_channels:
            found.add(field, f"channels: unknown channel {name!r} (known: {', '.join(sorted(known_channels))})")
    for c in strategy.campaigns:
        if c.channel not in known_channels:
            found.add(field, f"campaigns.{c.name}.channel: unknown channel {c.channel!r}")
    for p in strategy.products:
        if p not in catalogue:
            found.add(field, f"products: unknown product {p!r} (known: {', '.join(sorted(catalogue))})")
    offered = {m.value for p in strategy.products if p in catalogue for m in catalogue[p].repayment_methods}
    for m in strategy.repayment_methods:
        if offered and m not in offered:
            found.add(field, f"repayment_methods: {m!r} is offered by none of the strategy's products")
    found.raise_if_any()


def load_strategy_file(path: Path, field: str = "strategy") -> StrategyFile:
    """The strategy at ``path``, or :class:`InvalidInput` naming ``field`` and every bad entry."""
    try:
        strategy = load_yaml_model(path, StrategyFile, "strategy")
    except InvalidInput as exc:
        raise InvalidInput([type(e)(field, f"{e.field}: {e.reason}") for e in exc.errors]) from None
    check_references(strategy, field)
    return strategy


def with_levers(baseline: StrategyFile, strategy: StrategyFile, levers: tuple[str, ...], name: str) -> StrategyFile:
    """``baseline`` with the fields of ``levers`` taken from ``strategy``: the ablation's mixtures."""
    unknown = set(levers) - set(LEVER_FIELDS)
    assert not unknown, unknown
    changes = {f: getattr(strategy, f) for lever in levers for f in LEVER_FIELDS[lever]}
    return baseline.model_copy(update={"name": name, **changes})


def ablation(baseline: StrategyFile, strategy: StrategyFile) -> list[StrategyFile]:
    """Each lever alone (on the baseline) and all but one (the strategy without it), for levers that differ."""
    differing = [lever for lever in LEVERS if any(getattr(baseline, f) != getattr(strategy, f) for f in LEVER_FIELDS[lever])]
    out = [with_levers(baseline, strategy, (lever,), f"only-{lever}") for lever in differing]
    out += [with_levers(baseline, strategy, tuple(x for x in differing if x != lever), f"without-{lever}") for lever in differing]
    return out
