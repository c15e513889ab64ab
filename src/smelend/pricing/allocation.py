"""Portfolio rationing: credit limits for approved applicants under a funding and/or capital budget.

When approved demand exceeds what the bank can fund (or hold capital for), it does not raise prices
(Stiglitz-Weiss: past the peak that lowers its return); it rations quantities instead. This module chooses
the limits that maximise risk-adjusted profit, as a linear programme solved by HiGHS:

    maximise   Σ x_i · m_i
    subject to Σ x_i ≤ funding budget,   Σ K_i · x_i ≤ capital budget,   0 ≤ x_i ≤ requested_i

with the one-year expected profit per unit lent, DESIGN.md §6's margin ``m(r)`` expanded:

    m_i = (1 − PD)(1 + r) + PD(1 − LGD) − (1 + r_F + c + K(h − r_F))
        = r·(1 − PD) − PD·LGD − r_F − c − K·(h − r_F)

(capital funds ``K`` of the loan, so it costs the hurdle ``h`` instead of the funds rate ``r_F`` on that part).
An applicant with ``m ≤ 0`` gets nothing (``NOT_PROFITABLE``). With a minimum line, each limit is either 0 or at
least the minimum: a mixed-integer programme (``scipy.optimize.milp``), still HiGHS.

Limits are rounded down to the unit (1,000 CNY by default), or granted in full; the budgets are checked
exactly in fen afterwards, and what rounding freed is handed out again, a unit at a time, by priority. Every
applicant cut below its request gets ranked reason codes: the budget(s) that left no room for its next unit,
ranked by their shadow prices from the LP.

>>> people = applicants_from_arrays(["a", "b"], [50_000_00, 80_000_00], [0.03, 0.03], [0.8, 0.8], [0.136, 0.10])
>>> result = allocate(people, Budget(funding_fen=100_000_00))
>>> [(g.id, g.granted_fen // 100, g.reason.value) for g in result.grants]
[('a', 50000, 'GRANTED_IN_FULL'), ('b', 50000, 'RATIONED_FUNDING_BUDGET')]
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import ROUND_FLOOR, ROUND_UP, Decimal
from enum import Enum

import numpy as np

from smelend.errors import Collector, InvalidInput
from smelend.money import MAX_AMOUNT_FEN, Rounding, calc_context, parse_rate, parse_yuan

MAX_APPLICANTS = 50_000  # per LP; HiGHS solves this size in well under a second
MAX_MILP_APPLICANTS = 5_000  # with minimum lines (binary choices)
MILP_TIME_LIMIT_S = 20.0  # a minimum-line solve stops here with the best limits found
DEFAULT_UNIT_FEN = 1_000_00  # limits in whole thousands of yuan
STANDARDISED_CAPITAL_PER_UNIT = Decimal("0.07875")  # 75% retail risk weight × 10.5% capital ratio (DESIGN.md §6)
COLUMNS = ("id", "requested", "pd", "lgd", "annual_rate", "capital_per_unit")
_FULL = 1 - 1e-9  # an LP share of the request at least this is the whole request


class Reason(str, Enum):
    GRANTED_IN_FULL = "GRANTED_IN_FULL"
    RATIONED_FUNDING_BUDGET = "RATIONED_FUNDING_BUDGET"
    RATIONED_CAPITAL_BUDGET = "RATIONED_CAPITAL_BUDGET"
    NOT_PROFITABLE = "NOT_PROFITABLE"
    BELOW_MINIMUM_LINE = "BELOW_MINIMUM_LINE"


@dataclass(frozen=True)
class Applicant:
    """An approved applicant: the limit asked for, its risk, its price and the capital each unit needs."""

    id: str
    requested_fen: int
    pd: Decimal
    lgd: Decimal
    annual_rate: Decimal
    capital_per_unit: Decimal = STANDARDISED_CAPITAL_PER_UNIT

    def __post_init__(self) -> None:
        assert 0 < self.requested_fen <= MAX_AMOUNT_FEN, self.requested_fen
        assert 0 <= self.pd <= 1 and 0 <= self.lgd <= 1, (self.pd, self.lgd)
        assert 0 <= self.annual_rate <= 1 and 0 <= self.capital_per_unit <= 1


@dataclass(frozen=True)
class Costs:
    """The bank's side of the margin: funds (FTP) rate, operating + acquisition cost, hurdle return on capital."""

    funds_rate: Decimal = Decimal("0.02")
    cost_rate: Decimal = Decimal("0.015")
    hurdle: Decimal = Decimal("0.12")


@dataclass(frozen=True)
class Budget:
    """What may be lent (fen) and the capital it may use (fen of capital); None means unlimited."""

    funding_fen: int | None = None
    capital_fen: int | None = None
    unit_fen: int = DEFAULT_UNIT_FEN
    min_line_fen: int | None = None

    def __post_init__(self) -> None:
        found = Collector()
        if self.funding_fen is None and self.capital_fen is None:
            found.add("funding_budget", "give a funding budget, a capital budget or both")
        if self.funding_fen is not None and not 0 <= self.funding_fen <= MAX_AMOUNT_FEN * MAX_APPLICANTS:
            found.add("funding_budget", "must not be negative")
        if self.capital_fen is not None and not 0 <= self.capital_fen <= MAX_AMOUNT_FEN * MAX_APPLICANTS:
            found.add("capital_budget", "must not be negative")
        if not 0 < self.unit_fen <= MAX_AMOUNT_FEN:
            found.add("unit", "must be greater than zero")
        elif self.min_line_fen is not None and (self.min_line_fen <= 0 or self.min_line_fen % self.unit_fen):
            found.add("min_line", f"must be a positive multiple of the unit ({self.unit_fen} fen)")
        found.raise_if_any()


@dataclass(frozen=True)
class Grant:
    """One applicant's limit, and why it is below the request (reasons ranked, the first the main one)."""

    id: str
    requested_fen: int
    granted_fen: int
    unit_margin: Decimal
    expected_profit_fen: int
    capital: Decimal  # fen of capital the limit uses, exact
    reasons: tuple[Reason, ...]

    def __post_init__(self) -> None:
        assert 0 <= self.granted_fen <= self.requested_fen
        assert self.reasons and (self.reasons == (Reason.GRANTED_IN_FULL,)) == (self.granted_fen == self.requested_fen)

    @property
    def reason(self) -> Reason:
        return self.reasons[0]

    @property
    def rationed_fen(self) -> int:
        return self.requested_fen - self.granted_fen


@dataclass(frozen=True)
class Allocation:
    """Limits for every applicant, in input order, and the budgets they use."""

    grants: tuple[Grant, ...]
    budget: Budget
    solver: str
    optimal: bool
    relaxed_profit: float  # the LP/MILP optimum before rounding, in fen

    @property
    def requested_fen(self) -> int:
        return sum(g.requested_fen for g in self.grants)

    @property
    def granted_fen(self) -> int:
        return sum(g.granted_fen for g in self.grants)

    @property
    def rationed_fen(self) -> int:
        """Profitable demand turned away for lack of funding or capital."""
        return sum(g.rationed_fen for g in self.grants if g.reason in (Reason.RATIONED_FUNDING_BUDGET, Reason.RATIONED_CAPITAL_BUDGET))

    @property
    def declined_fen(self) -> int:
        """Demand not granted because it does not pay (or is below the minimum line)."""
        return sum(g.rationed_fen for g in self.grants if g.reason in (Reason.NOT_PROFITABLE, Reason.BELOW_MINIMUM_LINE))

    @property
    def expected_profit_fen(self) -> int:
        return sum(g.expected_profit_fen for g in self.grants)

    @property
    def capital_used(self) -> Decimal:
        return sum((g.capital for g in self.grants), Decimal(0))


def unit_margin(applicant: Applicant, costs: Costs) -> Decimal:
    """Risk-adjusted one-year profit per unit lent, after expected loss, funds, cost and the capital charge.

    DESIGN.md's break-even example prices at 6.89%, where the margin is zero:

    >>> a = Applicant("x", 100, Decimal("0.03"), Decimal("0.8"), Decimal("0.0689"))
    >>> abs(unit_margin(a, Costs())) < Decimal("0.0001")
    True
    """
    return (
        applicant.annual_rate * (1 - applicant.pd)
        - applicant.pd * applicant.lgd
        - costs.funds_rate
        - costs.cost_rate
        - applicant.capital_per_unit * (costs.hurdle - costs.funds_rate)
    )


# -- the relaxed optimum ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Relaxed:
    """The continuous (or mixed-integer) optimum before rounding: amounts in fen and the shadow prices."""

    amounts_fen: np.ndarray
    profit_fen: float
    funding_price: float  # profit per extra fen of funding (0 when it does not bind or is unknown)
    capital_price: float  # profit per extra fen of capital
    solver: str
    optimal: bool


def solve_relaxed(applicants: Sequence[Applicant], budget: Budget, costs: Costs = Costs()) -> Relaxed:
    """Maximise Σ x_i·m_i under the budgets with HiGHS; x_i is a share of the request, scaled for the solver."""
    from scipy.optimize import linprog  # imported on use: the CLI starts without scipy

    n = len(applicants)
    _check_size(n, budget)
    margins = np.array([float(unit_margin(a, costs)) for a in applicants])
    requested = np.array([a.requested_fen for a in applicants], dtype=float)
    capital = np.array([float(a.capital_per_unit) for a in applicants])
    scale = float(requested.max()) if n else 1.0
    size = requested / scale
    eligible = (margins > 0) & (requested >= (budget.min_line_fen or 0))
    rows, limits = [], []
    if budget.funding_fen is not None:
        rows.append(size)
        limits.append(budget.funding_fen / scale)
    if budget.capital_fen is not None:
        rows.append(capital * size)
        limits.append(budget.capital_fen / scale)
    if n == 0:
        return Relaxed(np.zeros(0), 0.0, 0.0, 0.0, "none", True)
    objective = -margins * size
    upper = np.where(eligible, 1.0, 0.0)
    if budget.min_line_fen is None:
        found = linprog(objective, A_ub=np.array(rows), b_ub=np.array(limits), bounds=np.column_stack([np.zeros(n), upper]), method="highs")
        assert found.status == 0, found.message  # always feasible (x = 0) and bounded (x <= request)
        share = np.clip(found.x, 0.0, upper)
        duals = -np.asarray(found.ineqlin.marginals)  # d(profit in fen)/d(budget in fen): the scale cancels
        prices = iter(duals)
        funding_price = float(next(prices)) if budget.funding_fen is not None else 0.0
        capital_price = float(next(prices)) if budget.capital_fen is not None else 0.0
        return Relaxed(share * requested, float(-found.fun * scale), max(funding_price, 0.0), max(capital_price, 0.0), "highs-lp", True)
    share, profit, optimal = _solve_min_line(objective, size, rows, limits, upper, budget.min_line_fen / requested)
    return Relaxed(share * requested, profit * scale, 0.0, 0.0, "highs-milp", optimal)


def _solve_min_line(objective, size, rows, limits, upper, minimum) -> tuple[np.ndarray, float, bool]:
    """Each x_i either 0 or in [min, request]: x_i ≤ y_i, min_i·y_i ≤ x_i, y_i binary."""
    from scipy.optimize import Bounds, LinearConstraint, milp  # imported on use: the CLI starts without scipy
    from scipy.sparse import csr_array, diags_array, hstack, identity, vstack

    n = len(size)
    eye = identity(n, format="csr")
    link = vstack([hstack([eye, -eye]), hstack([-eye, diags_array(np.minimum(minimum, 1.0), format="csr")])])
    budget_rows = hstack([csr_array(np.array(rows)), csr_array((len(rows), n))])
    constraints = [
        LinearConstraint(link, -np.inf, 0.0),
        LinearConstraint(budget_rows, -np.inf, np.array(limits)),
    ]
    found = milp(
        np.concatenate([objective, np.zeros(n)]),
        constraints=constraints,
        integrality=np.concatenate([np.zeros(n), np.ones(n)]),
        bounds=Bounds(np.zeros(2 * n), np.concatenate([upper, upper])),
        options={"time_limit": MILP_TIME_LIMIT_S},
    )
    if found.x is None:  # only when the time limit hits before any solution: lend nothing rather than guess
        return np.zeros(n), 0.0, False
    share = np.clip(found.x[:n], 0.0, upper)
    return share, float(-found.fun), found.status == 0


def greedy_amounts(applicants: Sequence[Applicant], budget: Budget, costs: Costs = Costs()) -> np.ndarray:
    """The textbook heuristic to compare with: fill requests by profit per unit of the binding resource.

    The binding resource is the budget most oversubscribed by profitable demand. Amounts are continuous (fen).
    """
    margins = np.array([float(unit_margin(a, costs)) for a in applicants])
    requested = np.array([a.requested_fen for a in applicants], dtype=float)
    capital = np.array([float(a.capital_per_unit) for a in applicants])
    profitable = margins > 0
    pressure: dict[str, float] = {}
    if budget.funding_fen is not None:
        pressure["funding"] = _ratio(requested[profitable].sum(), budget.funding_fen)
    if budget.capital_fen is not None:
        pressure["capital"] = _ratio((capital * requested)[profitable].sum(), budget.capital_fen)
    use = capital if max(pressure, key=pressure.__getitem__) == "capital" else np.ones(len(applicants))
    per_unit = np.where(use > 0, margins / np.where(use > 0, use, 1.0), np.inf)
    room_funding = math.inf if budget.funding_fen is None else float(budget.funding_fen)
    room_capital = math.inf if budget.capital_fen is None else float(budget.capital_fen)
    amounts = np.zeros(len(applicants))
    for i in sorted(np.flatnonzero(profitable), key=lambda i: -per_unit[i]):
        fits = min(requested[i], room_funding, room_capital / capital[i] if capital[i] > 0 else math.inf)
        amounts[i] = max(fits, 0.0)
        room_funding -= amounts[i]
        room_capital -= amounts[i] * capital[i]
    return amounts


def _ratio(demand: float, available: int) -> float:
    return demand / available if available > 0 else math.inf


# -- rounding, reasons --------------------------------------------------------------------------------------


def allocate(applicants: Sequence[Applicant], budget: Budget, costs: Costs = Costs()) -> Allocation:
    """Limits that maximise risk-adjusted profit within the budgets, rounded to the unit, with reasons."""
    ids = [a.id for a in applicants]
    if len(set(ids)) != len(ids):
        raise InvalidInput.one("applicants", "ids must be unique")
    relaxed = solve_relaxed(applicants, budget, costs)
    margins = [unit_margin(a, costs) for a in applicants]
    ledger = _Budgets(budget, applicants)
    granted = [ledger.round_down(i, float(x)) for i, x in enumerate(relaxed.amounts_fen)]
    order = _priority(applicants, margins, relaxed)
    ledger.repair(granted, order)
    ledger.top_up(granted, order, margins)
    grants = tuple(
        _grant(a, granted[i], margins[i], ledger.reasons(i, granted, margins[i], relaxed)) for i, a in enumerate(applicants)
    )
    result = Allocation(grants, budget, relaxed.solver, relaxed.optimal, relaxed.profit_fen)
    assert budget.funding_fen is None or result.granted_fen <= budget.funding_fen
    assert budget.capital_fen is None or result.capital_used <= budget.capital_fen
    return result


def _grant(applicant: Applicant, granted_fen: int, margin: Decimal, reasons: tuple[Reason, ...]) -> Grant:
    return Grant(
        id=applicant.id,
        requested_fen=applicant.requested_fen,
        granted_fen=granted_fen,
        unit_margin=margin,
        expected_profit_fen=Rounding().to_fen(calc_context().multiply(Decimal(granted_fen), margin)),
        capital=applicant.capital_per_unit * granted_fen,
        reasons=reasons,
    )


def _priority(applicants: Sequence[Applicant], margins: Sequence[Decimal], relaxed: Relaxed) -> list[int]:
    """Profitable applicants, best first: margin per unit of shadow-priced resource (funding when unpriced)."""
    def key(i: int) -> tuple[float, int]:
        use = relaxed.funding_price + relaxed.capital_price * float(applicants[i].capital_per_unit)
        return (-(float(margins[i]) / use if use > 0 else float(margins[i])), i)

    return sorted((i for i, m in enumerate(margins) if m > 0), key=key)


class _Budgets:
    """Exact bookkeeping of what the limits use, in fen; the only place that decides what still fits."""

    def __init__(self, budget: Budget, applicants: Sequence[Applicant]):
        self.budget = budget
        self.applicants = applicants
        self.funding_used = 0
        self.capital_used = Decimal(0)

    def round_down(self, i: int, amount_fen: float) -> int:
        a, unit = self.applicants[i], self.budget.unit_fen
        if amount_fen >= a.requested_fen * _FULL:
            chosen = a.requested_fen
        else:
            noise = unit * 1e-6  # 19,999.9999999 is 20 units; larger solver noise is given back by the top-up
            chosen = min(int((amount_fen + noise) // unit) * unit, a.requested_fen)
            if self.budget.min_line_fen is not None and chosen < self.budget.min_line_fen:
                chosen = 0
        self._add(i, chosen)
        return chosen

    def _add(self, i: int, amount_fen: int) -> None:
        self.funding_used += amount_fen
        self.capital_used += self.applicants[i].capital_per_unit * amount_fen

    def over_funding(self) -> bool:
        return self.budget.funding_fen is not None and self.funding_used > self.budget.funding_fen

    def over_capital(self) -> bool:
        return self.budget.capital_fen is not None and self.capital_used > self.budget.capital_fen

    def over(self) -> bool:
        return self.over_funding() or self.over_capital()

    def room_fen(self, i: int) -> int:
        """The most that could still be added to applicant ``i`` without breaking a budget."""
        b, rooms = self.budget, [MAX_AMOUNT_FEN]
        if b.funding_fen is not None:
            rooms.append(b.funding_fen - self.funding_used)
        k = self.applicants[i].capital_per_unit
        if b.capital_fen is not None and k > 0:
            rooms.append(int(((b.capital_fen - self.capital_used) / k).to_integral_value(rounding=ROUND_FLOOR)))
        return max(min(rooms), 0)

    def next_step(self, i: int, current: int) -> int:
        """The smallest increase that gives a permitted limit: the next unit, the minimum line, or the request."""
        a, unit = self.applicants[i], self.budget.unit_fen
        target = (current // unit + 1) * unit
        if current == 0 and self.budget.min_line_fen is not None:
            target = self.budget.min_line_fen
        return min(target, a.requested_fen) - current

    def repair(self, granted: list[int], order: list[int]) -> None:
        """Solver tolerance can overshoot a budget by a few fen: take back, from the lowest priority, enough to fit."""
        ranked = set(order)
        last_first = [j for j in range(len(granted)) if j not in ranked] + order[::-1]
        for _ in range(2 * len(granted) + 2):  # each pass clears the excess or empties one limit
            if not self.over():
                return
            b, funding = self.budget, self.over_funding()
            i = next(j for j in last_first if granted[j] > 0 and (funding or self.applicants[j].capital_per_unit > 0))
            k = self.applicants[i].capital_per_unit
            excess = self.funding_used - b.funding_fen if funding else int(((self.capital_used - b.capital_fen) / k).to_integral_value(rounding=ROUND_UP))
            current = granted[i]
            lower = max(current - excess, 0) // b.unit_fen * b.unit_fen
            if b.min_line_fen is not None and lower < b.min_line_fen:
                lower = 0
            self._add(i, lower - current)
            granted[i] = lower
        raise AssertionError("the budgets could not be met by rounding down")

    def top_up(self, granted: list[int], order: list[int], margins: Sequence[Decimal]) -> None:
        """Hand out what rounding freed: to each applicant in priority order, as many whole steps as fit."""
        for i in order:
            requested = self.applicants[i].requested_fen
            if margins[i] <= 0 or granted[i] == requested or requested < (self.budget.min_line_fen or 0):
                continue
            room = self.room_fen(i)
            if room < self.next_step(i, granted[i]):
                continue
            target = granted[i] + room
            new = requested if target >= requested else target // self.budget.unit_fen * self.budget.unit_fen
            self._add(i, new - granted[i])
            granted[i] = new
        assert not self.over()

    def reasons(self, i: int, granted: list[int], margin: Decimal, relaxed: Relaxed) -> tuple[Reason, ...]:
        a, b = self.applicants[i], self.budget
        if granted[i] == a.requested_fen:
            return (Reason.GRANTED_IN_FULL,)
        if margin <= 0:
            return (Reason.NOT_PROFITABLE,)
        if b.min_line_fen is not None and a.requested_fen < b.min_line_fen:
            return (Reason.BELOW_MINIMUM_LINE,)
        need = self.next_step(i, granted[i])
        blocked: list[tuple[float, Reason]] = []
        if b.funding_fen is not None and b.funding_fen - self.funding_used < need:
            blocked.append((relaxed.funding_price, Reason.RATIONED_FUNDING_BUDGET))
        if b.capital_fen is not None and b.capital_fen - self.capital_used < a.capital_per_unit * need:
            blocked.append((relaxed.capital_price * float(a.capital_per_unit), Reason.RATIONED_CAPITAL_BUDGET))
        assert blocked, f"applicant {a.id} cut below its request with room left"
        blocked.sort(key=lambda pair: -pair[0])  # stable: funding first among equals
        return tuple(reason for _, reason in blocked)


# -- input --------------------------------------------------------------------------------------------------


def applicants_from_arrays(
    ids: Sequence[str],
    requested_fen: Sequence[int],
    pd: Sequence[float],
    lgd: Sequence[float],
    annual_rate: Sequence[float],
    capital_per_unit: Sequence[float] | None = None,
) -> tuple[Applicant, ...]:
    """Applicants from parallel arrays (floats as their shortest decimal), validated like a file's rows."""
    n = len(ids)
    if not all(len(column) == n for column in (requested_fen, pd, lgd, annual_rate, *([capital_per_unit] if capital_per_unit is not None else []))):
        raise InvalidInput.one("applicants", "arrays must have the same length")
    rows = [
        {
            "id": ids[i],
            "requested_fen": int(requested_fen[i]),
            "pd": repr(float(pd[i])),
            "lgd": repr(float(lgd[i])),
            "annual_rate": repr(float(annual_rate[i])),
            **({"capital_per_unit": repr(float(capital_per_unit[i]))} if capital_per_unit is not None else {}),
        }
        for i in range(n)
    ]
    return _validated(rows, "applicants", STANDARDISED_CAPITAL_PER_UNIT, amounts_in_fen=True)


def applicants_from_rows(
    rows: Iterable[Mapping[str, object]], field: str = "applicants", capital_per_unit: Decimal = STANDARDISED_CAPITAL_PER_UNIT
) -> tuple[Applicant, ...]:
    """Applicants from rows of a CSV or JSON file: ``id, requested`` (yuan), ``pd, lgd, annual_rate`` (fractions),
    optional ``capital_per_unit`` (fraction; ``capital_per_unit`` the default for rows without it).

    Every problem is reported at once, each as ``row N column: reason`` (N counts data rows from 1).
    """
    return _validated(list(rows), field, capital_per_unit, amounts_in_fen=False)


def _validated(rows: list[Mapping[str, object]], field: str, default_capital: Decimal, amounts_in_fen: bool) -> tuple[Applicant, ...]:
    found = Collector()
    if len(rows) > MAX_APPLICANTS:
        raise InvalidInput.one(field, f"at most {MAX_APPLICANTS} applicants, got {len(rows)}")
    applicants: list[Applicant] = []
    seen: set[str] = set()
    known = set(COLUMNS) - {"requested"} | {"requested_fen"} if amounts_in_fen else set(COLUMNS)
    for number, row in enumerate(rows, start=1):
        errors = len(found.errors)
        where = f"row {number}"
        if not isinstance(row, Mapping):
            found.add(field, f"{where}: must be an object with {', '.join(COLUMNS)}")
            continue
        for key in row:
            if key not in known:
                found.add(field, f"{where} {key}: unknown column (expected {', '.join(COLUMNS)})")
        ident = str(row.get("id", "") or "").strip()
        if not ident:
            found.add(field, f"{where} id: is missing")
        elif ident in seen:
            found.add(field, f"{where} id: duplicate {ident!r}")
        seen.add(ident)
        values = {}
        for column in ("pd", "lgd", "annual_rate", "capital_per_unit"):
            raw = row.get(column)
            if raw is None or str(raw).strip() == "":
                if column == "capital_per_unit":
                    values[column] = default_capital
                    continue
                found.add(field, f"{where} {column}: is missing")
                continue
            try:
                values[column] = parse_rate(str(raw), column)
            except InvalidInput as exc:
                found.add(field, f"{where} {column}: {exc.first.reason}")
        requested = _requested(row, amounts_in_fen, where, field, found)
        if len(found.errors) == errors:
            applicants.append(Applicant(ident, requested, values["pd"], values["lgd"], values["annual_rate"], values["capital_per_unit"]))
    found.raise_if_any()
    return tuple(applicants)


def _requested(row: Mapping[str, object], amounts_in_fen: bool, where: str, field: str, found: Collector) -> int:
    column = "requested_fen" if amounts_in_fen else "requested"
    raw = row.get(column)
    if raw is None or str(raw).strip() == "":
        found.add(field, f"{where} {column}: is missing")
        return 0
    try:
        fen = int(str(raw)) if amounts_in_fen else parse_yuan(str(raw), column)
    except (InvalidInput, ValueError) as exc:
        found.add(field, f"{where} {column}: {exc.first.reason if isinstance(exc, InvalidInput) else 'not a whole number of fen'}")
        return 0
    if not 0 < fen <= MAX_AMOUNT_FEN:
        found.add(field, f"{where} {column}: must be greater than zero and at most {MAX_AMOUNT_FEN // 100} yuan")
    return fen


def _check_size(n: int, budget: Budget) -> None:
    limit = MAX_APPLICANTS if budget.min_line_fen is None else MAX_MILP_APPLICANTS
    if n > limit:
        raise InvalidInput.one("applicants", f"at most {limit} applicants per allocation, got {n}")


def capital_in_yuan(capital_fen: Decimal) -> Decimal:
    """Capital used, shown in yuan to the fen, rounded up: never understated."""
    return (capital_fen / 100).quantize(Decimal("0.01"), rounding=ROUND_UP)
