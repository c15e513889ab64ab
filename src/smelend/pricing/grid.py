"""A product's pricing grid (risk grade × term), and what it earns against one flat price.

Each cell is a :func:`~smelend.pricing.quote.price` at the grade's representative PD, so the grid is
exactly what origination would quote. A grade's representative PD is the geometric midpoint of its PD
band, sqrt(lower·upper): PDs are spread over orders of magnitude, so the midpoint in log space is the
typical PD of the band; the best grade's band starts at :data:`PD_FLOOR` (the Basel III retail PD floor
of 0.05%), not at 0. Grades whose action is "decline" get no price.

The comparison prices the same applicants (an array of PDs, optionally their amounts) twice: each at
its grade's rate, and all at the single flat rate that maximises their total expected profit. It
reports, for each, total expected profit, take-up and volume.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import ArrayLike
from rich.table import Table
from scipy.optimize import minimize_scalar

from smelend.errors import InvalidInput
from smelend.pricing.optimize import RATE_LIMIT, expected_profit
from smelend.pricing.quote import FloorSpec, Model, PriceQuote, price, round_rate
from smelend.pricing.settings import PricingSettings
from smelend.pricing.takeup import TakeupModel

PD_FLOOR = 0.0005  # Basel III PD floor for retail exposures: the lower edge of the best grade's band
MAX_GRADES = 30
MAX_TERMS = 24
MAX_APPLICANTS = 2_000_000
FLAT_SEARCH_POINTS = 201
CURVE_POINTS = 120


@dataclass(frozen=True)
class GradePD:
    """A grade and the PD it is priced at; ``max_pd`` (its band's ceiling) assigns applicants to it."""

    grade: str
    pd: float
    max_pd: float | None = None

    def __post_init__(self) -> None:
        assert 0 < self.pd < 1, self.pd
        assert self.max_pd is None or self.pd <= self.max_pd <= 1, (self.pd, self.max_pd)


def representative_pds(grades: Iterable[Any], include_declined: bool = False) -> tuple[GradePD, ...]:
    """One :class:`GradePD` per grade of a grade table (objects with ``grade``, ``max_pd``, ``action``).

    >>> from types import SimpleNamespace as G
    >>> table = [G(grade="A", max_pd=0.005, action="approve"), G(grade="B", max_pd=0.02, action="approve"), G(grade="D", max_pd=1.0, action="decline")]
    >>> [(g.grade, round(g.pd, 4)) for g in representative_pds(table)]
    [('A', 0.0016), ('B', 0.01)]
    """
    out, lower = [], PD_FLOOR
    for grade in grades:
        upper = float(grade.max_pd)
        if include_declined or getattr(grade, "action", "approve") != "decline":
            mid = math.sqrt(min(lower, upper) * upper)
            out.append(GradePD(grade.grade, min(mid, 0.999), upper))
        lower = upper
    return tuple(out)


@dataclass(frozen=True)
class GridCell:
    grade: str
    pd: float
    term_months: int
    quote: PriceQuote

    @property
    def rate(self) -> Decimal:
        return self.quote.annual_rate

    def to_dict(self) -> dict[str, Any]:
        q = self.quote
        return {
            "grade": self.grade,
            "pd": self.pd,
            "term_months": self.term_months,
            "rate": float(q.annual_rate),
            "takeup": q.takeup,
            "expected_profit": q.expected_profit,
            "raroc": q.raroc,
            "breakeven_rate": q.breakeven_rate,
            "funds_rate": float(q.components.funds),
            "capital": q.capital,
            "bound": q.bound,
        }


@dataclass(frozen=True)
class PricingGrid:
    """Rates by grade and term for one product, with the inputs they were priced from."""

    product_id: str
    channel: str
    lgd: float
    takeup: TakeupModel
    model: Model
    terms: tuple[int, ...]
    grades: tuple[GradePD, ...]
    cells: tuple[GridCell, ...]
    cap: float | None
    settings_version: str

    def cell(self, grade: str, term_months: int) -> GridCell:
        for cell in self.cells:
            if cell.grade == grade and cell.term_months == term_months:
                return cell
        raise KeyError((grade, term_months))

    def rates_for(self, applicant_pd: ArrayLike, term_months: int) -> np.ndarray:
        """Each applicant's grid rate at ``term_months`` (NaN beyond the worst priced grade's ceiling).

        Applicants fall into the band whose ceiling is the first at or above their PD; grades without a
        ceiling take the applicants whose PD is nearest theirs in log space.
        """
        pds = np.asarray(applicant_pd, float)
        rates = np.array([float(self.cell(g.grade, term_months).rate) for g in self.grades])
        if all(g.max_pd is not None for g in self.grades):
            ceilings = np.array([g.max_pd for g in self.grades])
            index = np.searchsorted(ceilings, pds, side="left")
            inside = index < len(ceilings)
            return np.where(inside, rates[np.minimum(index, len(ceilings) - 1)], np.nan)
        centres = np.log([g.pd for g in self.grades])
        return rates[np.argmin(np.abs(np.log(pds)[:, None] - centres[None, :]), axis=1)]

    def to_dict(self) -> dict[str, Any]:
        return {
            "product": self.product_id,
            "settings_version": self.settings_version,
            "channel": self.channel,
            "lgd": self.lgd,
            "model": self.model,
            "takeup": {"a": self.takeup.a, "b": self.takeup.b},
            "cap": self.cap,
            "terms": list(self.terms),
            "grades": [{"grade": g.grade, "pd": g.pd, "max_pd": g.max_pd} for g in self.grades],
            "cells": [cell.to_dict() for cell in self.cells],
        }

    def table(self) -> Table:
        """The grid for people (percentages shown to two decimals; the JSON has full precision)."""
        table = Table(title=f"{self.product_id}: pricing grid ({self.model}, channel {self.channel}, LGD {self.lgd:.0%})")
        for column in ("grade", "PD", "term", "rate", "take-up", "profit / offer", "RAROC", "break-even", "bound"):
            table.add_column(column, justify="left" if column in ("grade", "bound") else "right")
        for cell in self.cells:
            q = cell.quote
            pct = lambda v: "" if v is None else f"{100 * v:.2f}%"  # noqa: E731
            table.add_row(
                cell.grade, pct(cell.pd), f"{cell.term_months}m", pct(float(q.annual_rate)), pct(q.takeup),
                "" if q.expected_profit is None else f"{q.expected_profit:.4f}", pct(q.raroc), pct(q.breakeven_rate), q.bound or "",
            )
        return table

    def figure(self, settings: PricingSettings, term_months: int | None = None) -> Any:
        """A plotly figure of expected profit per offer against take-up: each cell as a point, and for
        each grade at ``term_months`` (default the longest term) the curve traced as the rate varies."""
        import plotly.graph_objects as go

        term = term_months or max(self.terms)
        figure = go.Figure()
        for t in self.terms:
            cells = [c for c in self.cells if c.term_months == t]
            figure.add_trace(
                go.Scatter(
                    x=[c.quote.takeup for c in cells], y=[c.quote.expected_profit for c in cells], mode="markers+text",
                    text=[c.grade for c in cells], textposition="top center", name=f"grid, {t} months",
                    customdata=[[float(c.rate), c.quote.raroc] for c in cells],
                    hovertemplate="%{text}: rate %{customdata[0]:.2%}, take-up %{x:.1%}, profit %{y:.4f}, RAROC %{customdata[1]:.1%}<extra></extra>",
                )
            )
        rates = np.linspace(0.0, self.cap or 0.36, CURVE_POINTS)
        cost = settings.cost_rate(self.channel)
        for g in self.grades:
            profit = expected_profit(
                rates, pd=g.pd, lgd=self.lgd, funds_rate=settings.funds_rate(term), cost_rate=cost,
                capital=float(settings.capital_rate(g.pd, self.lgd)), hurdle=settings.hurdle_rate, takeup=self.takeup,
            )
            figure.add_trace(
                go.Scatter(
                    x=self.takeup.takeup(rates), y=profit, mode="lines", line={"dash": "dot", "width": 1}, name=f"{g.grade} as the rate varies ({term}m)",
                    customdata=rates, hovertemplate=f"{g.grade}: rate %{{customdata:.2%}}, take-up %{{x:.1%}}, profit %{{y:.4f}}<extra></extra>",
                )
            )
        figure.update_layout(
            title=f"{self.product_id}: expected profit per unit offered against take-up", xaxis_title="expected take-up",
            yaxis_title="expected profit per unit offered (a year)", xaxis_tickformat=".0%", template="plotly_white",
        )
        return figure

    def write_html(self, path: Path, settings: PricingSettings, term_months: int | None = None) -> None:
        """An offline HTML chart: plotly.js is embedded, nothing is fetched from the network."""
        self.figure(settings, term_months).write_html(str(path), include_plotlyjs=True, include_mathjax=False, full_html=True)


def build_grid(
    product_id: str,
    grades: Sequence[GradePD | tuple[str, float]],
    terms: Sequence[int],
    settings: PricingSettings,
    takeup: TakeupModel,
    *,
    lgd: float,
    channel: str | None = None,
    cap: float | Decimal | None = None,
    model: Model = "optimal",
    margin: float | Decimal | None = None,
    floor: FloorSpec = None,
) -> PricingGrid:
    """Price every grade × term of a product: each cell is :func:`~smelend.pricing.quote.price` at the
    grade's PD with these settings (``channel`` None: the settings' default channel)."""
    if not 1 <= len(grades) <= MAX_GRADES:
        raise InvalidInput.one("grades", f"give between 1 and {MAX_GRADES} grades")
    if not 1 <= len(terms) <= MAX_TERMS or len(set(terms)) != len(terms):
        raise InvalidInput.one("terms", f"give between 1 and {MAX_TERMS} distinct terms")
    points = tuple(g if isinstance(g, GradePD) else GradePD(g[0], float(g[1])) for g in grades)
    channel = channel or settings.acquisition.default_channel
    model = getattr(model, "value", model)
    cells = tuple(
        GridCell(g.grade, g.pd, term, price(g.pd, lgd, term, channel, settings, takeup=takeup, floor=floor, cap=cap, model=model, margin=margin))
        for g in points
        for term in terms
    )
    return PricingGrid(product_id, channel, lgd, takeup, model, tuple(terms), points, cells, None if cap is None else float(cap), settings.version)


@dataclass(frozen=True)
class PolicyOutcome:
    """What one pricing policy earns on the applicants: sums over them, amounts in the applicants' units."""

    applicants: int
    expected_borrowers: float  # Σ q_i
    takeup: float  # share of the offered amount accepted: Σ q_i·amount_i / Σ amount_i
    volume: float  # Σ q_i·amount_i
    expected_profit: float  # Σ q_i·m_i·amount_i, a year
    mean_rate: float  # volume-weighted rate of the accepted loans

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: a mean rate over no volume is null, not NaN."""
        return {k: None if isinstance(v, float) and math.isnan(v) else v for k, v in self.__dict__.items()}


@dataclass(frozen=True)
class FlatComparison:
    term_months: int
    flat_rate: Decimal
    grid: PolicyOutcome
    flat: PolicyOutcome
    declined: int  # applicants above the worst priced grade: offered nothing under either policy

    @property
    def profit_uplift(self) -> float:
        """Grid profit over flat profit, minus 1 (nan when the flat price earns nothing)."""
        return self.grid.expected_profit / self.flat.expected_profit - 1 if self.flat.expected_profit > 0 else float("nan")

    def to_dict(self) -> dict[str, Any]:
        uplift = self.profit_uplift
        return {
            "term_months": self.term_months, "flat_rate": float(self.flat_rate), "declined": self.declined,
            "grid": self.grid.to_dict(), "flat": self.flat.to_dict(), "profit_uplift": None if math.isnan(uplift) else uplift,
        }


def compare_flat(grid: PricingGrid, applicant_pd: ArrayLike, term_months: int, settings: PricingSettings, amounts: ArrayLike | None = None) -> FlatComparison:
    """The grid against the single flat rate that maximises total expected profit on the same applicants.

    The flat rate is searched on [LPR floor, cap] (a grid of rates, then ``minimize_scalar`` beside the
    best), then rounded like any contract rate.
    """
    if term_months not in grid.terms:
        raise InvalidInput.one("term_months", f"the grid has no {term_months}-month column (terms: {', '.join(map(str, grid.terms))})")
    pds = np.asarray(applicant_pd, float).ravel()
    weights = np.ones_like(pds) if amounts is None else np.asarray(amounts, float).ravel()
    if not 1 <= pds.size <= MAX_APPLICANTS or weights.shape != pds.shape:
        raise InvalidInput.one("applicants", f"give between 1 and {MAX_APPLICANTS} applicants, each with an amount if amounts are given")
    if not np.all(np.isfinite(pds) & (pds > 0) & (pds < 1)):
        raise InvalidInput.one("pd", "every applicant PD must lie strictly between 0 and 1")
    if not np.all(np.isfinite(weights) & (weights > 0)):
        raise InvalidInput.one("amount", "every amount must be positive")
    grid_rates = grid.rates_for(pds, term_months)
    priced = ~np.isnan(grid_rates)
    pds, weights, grid_rates = pds[priced], weights[priced], grid_rates[priced]
    if pds.size == 0:
        raise InvalidInput.one("applicants", "every applicant is above the worst priced grade")
    economics = dict(
        pd=pds, lgd=grid.lgd, funds_rate=settings.funds_rate(term_months), cost_rate=settings.cost_rate(grid.channel),
        capital=settings.capital_rate(pds, grid.lgd), hurdle=settings.hurdle_rate, takeup=grid.takeup,
    )

    def total(rate: float) -> float:
        return float(np.sum(weights * np.asarray(expected_profit(rate, **economics))))

    low = float(settings.lpr_floor(term_months))
    high = RATE_LIMIT if grid.cap is None else grid.cap
    candidates = np.linspace(low, high, FLAT_SEARCH_POINTS)
    k = int(np.argmax([total(r) for r in candidates]))
    span = (candidates[max(k - 1, 0)], candidates[min(k + 1, FLAT_SEARCH_POINTS - 1)])
    best = minimize_scalar(lambda r: -total(r), bounds=span, method="bounded", options={"xatol": 1e-10}).x
    best = best if total(best) >= total(candidates[k]) else candidates[k]
    flat_rate = round_rate(float(best), settings.rounding, low, grid.cap)

    def outcome(rates: np.ndarray) -> PolicyOutcome:
        q = np.asarray(grid.takeup.takeup(rates))
        profit = np.asarray(expected_profit(rates, **economics))
        volume = float(np.sum(q * weights))
        return PolicyOutcome(
            applicants=int(pds.size), expected_borrowers=float(q.sum()),
            takeup=volume / float(weights.sum()), volume=volume, expected_profit=float(np.sum(profit * weights)),
            mean_rate=float(np.sum(rates * q * weights) / volume) if volume > 0 else float("nan"),
        )

    flat = outcome(np.full(pds.shape, float(flat_rate)))
    return FlatComparison(term_months, flat_rate, outcome(grid_rates), flat, int((~priced).sum()))
