"""Credit rationing (Stiglitz & Weiss 1981): why the bank's expected return is not monotonic in the rate.

Every loan is of 1 for one period at the rate ``r``; the borrower owes the gross amount ``g = 1 + r``.
A project succeeds with probability ``p`` and then pays ``R``; it fails otherwise and pays 0. Liability is
limited: on failure the bank keeps the collateral ``C`` but never more than it is owed, ``min(C, g)``.

- A borrower's expected profit at ``r`` is ``p·(R − g) − (1 − p)·min(C, g)``. It applies when that is
  **at least** its outside option ``u`` (so at the exit rate itself it still applies). With ``C = 0`` this is
  ``p·(R − (1 + r)) ≥ u``, which reproduces DESIGN.md's 18.94%; for ``C ≤ g`` it is
  ``p·(R − (1 + r)) + (1 − p)·(−C) ≥ u``. With ``u ≥ 0`` an applicant always has ``R ≥ g``, so on success it
  repays in full.
- The bank's expected gross return per unit lent is ``Σ share·[p·g + (1 − p)·min(C, g)] / Σ share`` over the
  types that apply.
- Each type's exit rate solves profit = ``u`` exactly. Profit falls faster with the rate for a borrower who
  repays more often, so safe types with thin payoffs leave first (adverse selection) and the return drops there.
- Moral hazard: a type may also have a risky project (lower ``p``, higher ``R``). It takes the project with the
  higher expected profit, the safe one when indifferent; above its *switch rate* it takes the risky one.
- A lognormal continuum of risk: borrowers whose failure probability ``1 − p`` is lognormal (truncated below 1),
  all with the same project value ``p·R = V`` (a mean-preserving spread, as in Stiglitz-Weiss). It is integrated
  in closed form, not sampled: at ``g > C`` a borrower applies exactly when ``p ≤ (V − C − u)/(g − C)``, and the
  lognormal's partial expectation gives the applicants' mean ``p``. (No moral hazard within the continuum.)

Between breakpoints (exits, switches) the set of applicants and their projects are fixed and the return rises
with ``r``, so with discrete types the peak is at a breakpoint; a continuum's peak can be interior, and is found
on the grid and refined by a bounded Brent search. The curve holds the grid, every breakpoint exactly, and the
point :data:`JUST_ABOVE` each breakpoint; rates where nobody applies have no return and are left out.

The example of DESIGN.md §6:

>>> design = Population(
...     types=(BorrowerType(0.7, Project(0.98, 1.22), "safe"), BorrowerType(0.3, Project(0.80, 1.30), "risky")),
...     outside_option=0.03,
... )
>>> round(exit_rate(design.types[0].safe, design.outside_option, design.collateral), 6)
0.189388
>>> curve = return_curve(design)
>>> round(curve.peak.rate, 4), round(curve.peak.gross_return, 3)
(0.1894, 1.101)
>>> round(evaluate(design, curve.peak.rate + JUST_ABOVE).gross_return, 3)
0.952
"""

from __future__ import annotations

import bisect
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from smelend.datafiles import read_bounded_text
from smelend.errors import Collector, InvalidInput

MAX_TYPES = 64  # discrete borrower types in one population
MAX_GRID_POINTS = 10_001  # evenly spaced grid points of a return curve
MAX_RATE_LIMIT = 1.0  # curves stop at 100% a year: rates are annual fractions in 0..1
DEFAULT_MAX_RATE = 0.36  # at least this far by default (the 36% line of Chinese private-lending rulings)
DEFAULT_STEP = 0.001  # default grid step: 0.1 percentage point
JUST_ABOVE = 1e-6  # a point this far above each breakpoint shows the jump in the curve exactly
MAX_FILE_BYTES = 256 * 1024
_SLACK = 1e-12  # rates closer than this are one point


@dataclass(frozen=True)
class Project:
    """A project financed by a loan of 1: it pays ``payoff`` with probability ``success_prob``, else 0."""

    success_prob: float
    payoff: float

    def __post_init__(self) -> None:
        assert 0 < self.success_prob <= 1, self.success_prob
        assert self.payoff > 0, self.payoff


@dataclass(frozen=True)
class BorrowerType:
    """A group of borrowers: its weight in the population, its project, and (moral hazard) a riskier one."""

    share: float
    safe: Project
    name: str = ""
    risky: Project | None = None

    def __post_init__(self) -> None:
        assert self.share > 0 and math.isfinite(self.share), self.share
        if self.risky is not None:
            assert self.risky.success_prob < self.safe.success_prob, "the risky project must fail more often"


@dataclass(frozen=True)
class LognormalRisk:
    """A continuum of borrowers: failure probability lognormal (median, sigma of its log), truncated below 1.

    Every borrower's project has the same value ``p·R = project_value``: riskier means a bigger payoff.
    """

    share: float
    project_value: float
    median_pd: float
    sigma: float

    def __post_init__(self) -> None:
        assert self.share > 0 and self.project_value > 0, (self.share, self.project_value)
        assert 0 < self.median_pd < 1 and 0 < self.sigma <= 5, (self.median_pd, self.sigma)


@dataclass(frozen=True)
class Population:
    """Who might borrow: discrete types and/or a lognormal continuum, an outside option, collateral per unit."""

    types: tuple[BorrowerType, ...]
    outside_option: float
    collateral: float = 0.0
    continuum: LognormalRisk | None = None

    def __post_init__(self) -> None:
        assert self.types or self.continuum is not None, "a population needs types or a continuum"
        assert len(self.types) <= MAX_TYPES, len(self.types)
        assert self.outside_option >= 0, "a negative outside option would let borrowers apply who cannot repay"
        assert self.collateral >= 0, self.collateral

    @property
    def total_weight(self) -> float:
        return sum(t.share for t in self.types) + (self.continuum.share if self.continuum else 0.0)

    def label(self, index: int) -> str:
        return self.types[index].name or f"type {index + 1}"


@dataclass(frozen=True)
class CurvePoint:
    """The bank's expected gross return per unit lent at one rate, and the share of the population applying."""

    rate: float
    gross_return: float
    applicant_share: float


@dataclass(frozen=True)
class Breakpoint:
    """A rate where the curve jumps or bends: above it a type exits, or switches to its risky project."""

    rate: float
    kind: Literal["exit", "switch", "continuum"]
    who: str

    def describe(self) -> str:
        if self.kind == "exit":
            return f"{self.who} applies up to here"
        if self.kind == "switch":
            return f"{self.who} takes the risky project above"
        return f"{self.who}: the safest start to leave above"


@dataclass(frozen=True)
class Curve:
    """The return curve on a grid from 0 to ``max_rate`` with every breakpoint and the point just above it.

    Rates at which nobody applies have no return and are left out.
    """

    points: tuple[CurvePoint, ...]
    peak: CurvePoint
    breakpoints: tuple[Breakpoint, ...]
    max_rate: float

    def __post_init__(self) -> None:
        rates = [p.rate for p in self.points]
        assert rates == sorted(rates) and len(set(rates)) == len(rates), "curve rates must increase"
        assert self.peak in self.points
        assert all(self.peak.gross_return >= p.gross_return for p in self.points)


# -- one borrower, one project --------------------------------------------------------------------------


def borrower_profit(project: Project, rate: float, collateral: float) -> float:
    """Expected profit of a borrower who runs ``project`` on a loan of 1 at ``rate``."""
    gross = 1 + rate
    return project.success_prob * (project.payoff - gross) - (1 - project.success_prob) * min(collateral, gross)


def bank_receipt(project: Project, rate: float, collateral: float) -> float:
    """What the bank expects back per unit lent to a borrower running ``project``."""
    gross = 1 + rate
    return project.success_prob * gross + (1 - project.success_prob) * min(collateral, gross)


def exit_rate(project: Project, outside_option: float, collateral: float) -> float:
    """The highest rate at which a borrower with ``project`` still applies (profit equals the outside option).

    Profit falls with the rate (slope −1 while the collateral covers the debt, −p above), so the root is unique.
    """
    p, value = project.success_prob, project.success_prob * project.payoff
    if value - outside_option <= collateral:  # fully secured at the exit: the borrower repays in every state
        return value - outside_option - 1
    return (value - (1 - p) * collateral - outside_option) / p - 1


def switch_rate(kind: BorrowerType, collateral: float) -> float | None:
    """The highest rate at which ``kind`` still takes its safe project; None without a risky project.

    The safe project's profit advantage is ``A − Δ·(g − min(C, g))`` with ``A = p_s·R_s − p_r·R_r`` and
    ``Δ = p_s − p_r > 0``: constant while the collateral covers the debt, then falling; ``-inf`` when the
    risky project is preferred at every rate.
    """
    if kind.risky is None:
        return None
    advantage = kind.safe.success_prob * kind.safe.payoff - kind.risky.success_prob * kind.risky.payoff
    if advantage < 0:
        return -math.inf
    return collateral + advantage / (kind.safe.success_prob - kind.risky.success_prob) - 1


def type_exit_rate(kind: BorrowerType, outside_option: float, collateral: float) -> float:
    """A type applies while either of its projects beats the outside option."""
    rates = [exit_rate(kind.safe, outside_option, collateral)]
    if kind.risky is not None:
        rates.append(exit_rate(kind.risky, outside_option, collateral))
    return max(rates)


def chosen_project(kind: BorrowerType, rate: float, outside_option: float, collateral: float) -> Project | None:
    """The project a type runs at ``rate``, or None if it does not apply (decided against the exact rates)."""
    if rate > type_exit_rate(kind, outside_option, collateral):
        return None
    switch = switch_rate(kind, collateral)
    if switch is None or rate <= switch:
        return kind.safe
    assert kind.risky is not None
    return kind.risky


# -- the lognormal continuum ----------------------------------------------------------------------------


def _phi(x: float) -> float:
    return 0.5 * (1 + math.erf(x / math.sqrt(2)))


def continuum_at(risk: LognormalRisk, rate: float, outside_option: float, collateral: float) -> tuple[float, float]:
    """(share of the continuum applying, bank's mean receipt per unit from those applying) at ``rate``."""
    gross = 1 + rate
    secured = min(collateral, gross)
    if gross <= collateral:  # fully secured: every borrower pays g in every state, so all act alike
        return (1.0, gross) if risk.project_value - gross >= outside_option else (0.0, 0.0)
    room = risk.project_value - secured - outside_option
    if room <= 0:
        return 0.0, 0.0
    p_max = room / (gross - secured)  # applicants are those with success probability at most this
    mu, sigma = math.log(risk.median_pd), risk.sigma
    total = _phi(-mu / sigma)  # P(failure probability < 1): the truncation
    low = 0.0 if p_max >= 1 else 1 - p_max  # applicants' failure probability lies in [low, 1)
    below = 0.0 if low <= 0 else _phi((math.log(low) - mu) / sigma)
    mass = total - below
    if mass <= 1e-300:
        return 0.0, 0.0
    # partial expectation of a lognormal: E[q; low <= q < 1] = e^(mu + sigma^2/2) [N(d(1)) - N(d(low))]
    shift = mu + sigma * sigma
    upper = _phi(-shift / sigma)
    lower = 0.0 if low <= 0 else _phi((math.log(low) - shift) / sigma)
    mean_pd = math.exp(mu + sigma * sigma / 2) * (upper - lower) / mass
    mean_pd = min(max(mean_pd, low), 1.0)
    return mass / total, secured + (gross - secured) * (1 - mean_pd)


def continuum_breakpoint(risk: LognormalRisk, outside_option: float) -> float:
    """The rate above which the safest borrowers of the continuum (p near 1) leave (all of them, if secured)."""
    return risk.project_value - outside_option - 1


# -- the curve --------------------------------------------------------------------------------------------


def evaluate(population: Population, rate: float) -> CurvePoint | None:
    """The bank's expected gross return per unit lent at ``rate``, or None if nobody applies."""
    weight = population.total_weight
    applying = 0.0
    receipts = 0.0
    for kind in population.types:
        project = chosen_project(kind, rate, population.outside_option, population.collateral)
        if project is not None:
            applying += kind.share
            receipts += kind.share * bank_receipt(project, rate, population.collateral)
    if population.continuum is not None:
        share, receipt = continuum_at(population.continuum, rate, population.outside_option, population.collateral)
        applying += population.continuum.share * share
        receipts += population.continuum.share * share * receipt
    if applying <= 0:
        return None
    gross_return = receipts / applying
    assert 0 <= gross_return <= 1 + rate + 1e-12, gross_return  # the bank never gets more than it is owed
    return CurvePoint(rate=rate, gross_return=gross_return, applicant_share=min(applying / weight, 1.0))


def breakpoints(population: Population) -> tuple[Breakpoint, ...]:
    """Every exit and switch rate (any sign), in rate order."""
    found: list[Breakpoint] = []
    u, collateral = population.outside_option, population.collateral
    for index, kind in enumerate(population.types):
        leaves = type_exit_rate(kind, u, collateral)
        found.append(Breakpoint(leaves, "exit", population.label(index)))
        switch = switch_rate(kind, collateral)
        if switch is not None and math.isfinite(switch) and switch < leaves:
            found.append(Breakpoint(switch, "switch", population.label(index)))
    if population.continuum is not None:
        found.append(Breakpoint(continuum_breakpoint(population.continuum, u), "continuum", "continuum"))
    return tuple(sorted(found, key=lambda b: (b.rate, b.kind, b.who)))


def default_max_rate(population: Population) -> float:
    """Far enough to show every breakpoint: the default 36%, or the next whole percent past the last one."""
    last = max((b.rate for b in breakpoints(population)), default=0.0)
    return min(MAX_RATE_LIMIT, max(DEFAULT_MAX_RATE, math.floor(last * 100 + 1) / 100))


def return_curve(population: Population, max_rate: float | None = None, points: int | None = None) -> Curve:
    """The return curve from 0 to ``max_rate`` on ``points`` evenly spaced rates (default: a 0.1 pp step).

    Each breakpoint in range is a point, and so is the rate :data:`JUST_ABOVE` it, so every exit shows as a
    jump. Raises :class:`InvalidInput` when nobody applies at any rate in range.
    """
    top = default_max_rate(population) if max_rate is None else max_rate
    if not 0 < top <= MAX_RATE_LIMIT:
        raise InvalidInput.one("max_rate", f"must be above 0 and at most {MAX_RATE_LIMIT}, got {top}")
    count = round(top / DEFAULT_STEP) + 1 if points is None else points
    if not 2 <= count <= MAX_GRID_POINTS:
        raise InvalidInput.one("points", f"must be between 2 and {MAX_GRID_POINTS}, got {count}")
    in_range = tuple(b for b in breakpoints(population) if 0 <= b.rate <= top)
    exact = sorted({b.rate for b in in_range} | {min(b.rate + JUST_ABOVE, top) for b in in_range})
    grid = [round(top * i / (count - 1), 12) for i in range(count - 1)] + [top]  # 0.19, not 0.19000000000000003
    curve = _points(population, sorted(exact + [r for r in grid if not _near(r, exact)]))  # a breakpoint wins
    if not curve:
        raise InvalidInput.one("population", f"nobody applies at any rate from 0 to {top}")
    best = _peak(population, curve)
    if best not in curve:
        curve = sorted([*curve, best], key=lambda p: p.rate)
    return Curve(points=tuple(curve), peak=best, breakpoints=in_range, max_rate=top)


def _near(rate: float, exact: list[float]) -> bool:
    at = bisect.bisect_left(exact, rate)
    return any(abs(rate - exact[i]) < _SLACK for i in (at - 1, at) if 0 <= i < len(exact))


def _points(population: Population, rates: Sequence[float]) -> list[CurvePoint]:
    kept: list[CurvePoint] = []
    for rate in rates:
        if kept and rate - kept[-1].rate < _SLACK:
            continue
        point = evaluate(population, rate)
        if point is not None:
            kept.append(point)
    return kept


def _peak(population: Population, curve: list[CurvePoint]) -> CurvePoint:
    """The highest point (the lowest rate among equals), refined between its neighbours for a continuum."""
    index = max(range(len(curve)), key=lambda i: (curve[i].gross_return, -curve[i].rate))
    best = curve[index]
    if population.continuum is None:
        return best  # piecewise rising: the maximum is at a breakpoint or the end, all of them points
    for lo, hi in ((index - 1, index), (index, index + 1)):
        if lo < 0 or hi >= len(curve):
            continue
        a, b = curve[lo].rate, curve[hi].rate
        from scipy.optimize import minimize_scalar  # imported on use: the CLI starts without scipy

        found = minimize_scalar(lambda r: -_return_or_zero(population, r), bounds=(a, b), method="bounded", options={"xatol": 1e-10})
        candidate = evaluate(population, float(found.x))
        if candidate is not None and candidate.gross_return > best.gross_return:
            best = candidate
    return best


def _return_or_zero(population: Population, rate: float) -> float:
    point = evaluate(population, rate)
    return 0.0 if point is None else point.gross_return


# -- rationing at the peak --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Supply:
    """Loanable funds as a function of the bank's gross return: ``funds · return^elasticity``.

    Elasticity 0 is a fixed amount of funds; a positive elasticity says depositors supply more when the bank
    can pay more, which is how Stiglitz-Weiss tie supply to the bank's return rather than to the loan rate.
    """

    funds: float
    elasticity: float = 0.0

    def __post_init__(self) -> None:
        assert self.funds >= 0 and math.isfinite(self.funds), self.funds
        assert 0 <= self.elasticity <= 100, self.elasticity

    def at(self, gross_return: float) -> float:
        return self.funds * gross_return**self.elasticity


@dataclass(frozen=True)
class Rationing:
    """The rate the bank charges, demand and supply there, and how much demand is turned away.

    Demand is ``applicant_share × market_size`` (loans of 1). If supply at the peak covers demand the
    market clears at the lowest curve rate up to the peak where it does, and nobody is rationed; otherwise the
    bank stays at the peak (a higher rate would lower its return) and rations the excess.
    """

    rate: float
    gross_return: float
    demand: float
    supply: float
    lent: float
    rationed: float
    is_rationed: bool

    @property
    def rationed_share(self) -> float:
        return self.rationed / self.demand if self.demand > 0 else 0.0


def ration(curve: Curve, market_size: float, supply: Supply) -> Rationing:
    """Credit rationing at the return-maximising rate (or market clearing below it)."""
    if not (market_size > 0 and math.isfinite(market_size)):
        raise InvalidInput.one("market_size", f"must be a positive number, got {market_size}")
    peak = curve.peak
    charged = peak
    if supply.at(peak.gross_return) >= peak.applicant_share * market_size:
        charged = next(p for p in curve.points if p.rate <= peak.rate and supply.at(p.gross_return) >= p.applicant_share * market_size)
    demand = charged.applicant_share * market_size
    available = supply.at(charged.gross_return)
    lent = min(demand, available)
    result = Rationing(charged.rate, charged.gross_return, demand, available, lent, demand - lent, demand > available)
    assert result.lent <= result.demand and result.lent <= result.supply + 1e-9
    return result


# -- the population file ----------------------------------------------------------------------------------


class _ProjectModel(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, allow_inf_nan=False)
    success_prob: float = Field(gt=0, le=1)
    payoff: float = Field(gt=0, le=1000)


class _TypeModel(_ProjectModel):
    share: float = Field(gt=0, le=1e9)
    name: str = Field(default="", max_length=80)
    risky: _ProjectModel | None = None


class _ContinuumModel(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, allow_inf_nan=False)
    share: float = Field(gt=0, le=1e9)
    project_value: float = Field(gt=0, le=1000)
    median_pd: float = Field(gt=0, lt=1)
    sigma: float = Field(gt=0, le=5)


class _PopulationModel(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, allow_inf_nan=False)
    types: list[_TypeModel] = Field(max_length=MAX_TYPES)
    outside_option: float = Field(ge=0, le=100)
    collateral: float = Field(default=0.0, ge=0, le=100)
    continuum: _ContinuumModel | None = None
    description: str = Field(default="", max_length=2000)


def population_from_json(text: str, field: str = "population") -> Population:
    """A population from its JSON document; every problem reported at once, each naming its key.

    Keys: ``types`` (each ``share``, ``success_prob``, ``payoff``; optional ``name``, and ``risky`` with its
    own ``success_prob`` and ``payoff`` for moral hazard), ``outside_option``, optional ``collateral`` (per unit
    lent, default 0), optional ``continuum`` (``share``, ``project_value``, ``median_pd``, ``sigma``) and
    ``description``. Shares are relative weights.

    >>> population_from_json('{"types": [{"share": 1, "success_prob": 1.2, "payoff": 1}], "outside_option": 0}')
    Traceback (most recent call last):
    ...
    smelend.errors.InvalidInput: population: types[0].success_prob: Input should be less than or equal to 1
    """
    try:
        document = json.loads(text)
    except ValueError as exc:
        raise InvalidInput.one(field, f"is not valid JSON: {exc}") from None
    if not isinstance(document, dict):
        raise InvalidInput.one(field, "must be a JSON object with types and outside_option")
    try:
        model = _PopulationModel.model_validate(document)
    except ValidationError as exc:
        found = Collector()
        for error in exc.errors():
            where = "".join(f"[{part}]" if isinstance(part, int) else f".{part}" for part in error["loc"]).lstrip(".")
            reason = "unknown key" if error["type"] == "extra_forbidden" else error["msg"]
            found.add(field, f"{where or '(document)'}: {reason}")
        found.raise_if_any()
        raise AssertionError("unreachable") from None
    found = Collector()
    if not model.types and model.continuum is None:
        found.add(field, "types: needs at least one type (or a continuum)")
    for index, kind in enumerate(model.types):
        if kind.risky is not None and kind.risky.success_prob >= kind.success_prob:
            found.add(field, f"types[{index}].risky.success_prob: must be below the safe project's {kind.success_prob}")
        if kind.risky is not None and kind.risky.payoff <= kind.payoff:
            found.add(field, f"types[{index}].risky.payoff: must exceed the safe project's {kind.payoff}")
    found.raise_if_any()
    return Population(
        types=tuple(
            BorrowerType(
                share=k.share,
                safe=Project(k.success_prob, k.payoff),
                name=k.name,
                risky=Project(k.risky.success_prob, k.risky.payoff) if k.risky else None,
            )
            for k in model.types
        ),
        outside_option=model.outside_option,
        collateral=model.collateral,
        continuum=LognormalRisk(**model.continuum.model_dump()) if model.continuum else None,
    )


def load_population(path: str | Path, field: str = "population") -> Population:
    """The population in a JSON file; :class:`InvalidInput` naming ``field`` when the file is missing or bad."""
    return population_from_json(read_bounded_text(Path(path), field, MAX_FILE_BYTES), field)


def example_path(name: str) -> Path:
    """An example population shipped with the package: ``design``, ``moral-hazard``, ``lognormal``, ``collateral``."""
    return Path(__file__).parent / "data" / f"population-{name}.json"
