"""The profit-optimal rate: maximise expected profit per unit offered, π(r) = q(r)·m(r).

The margin of an accepted loan of 1 for a year (DESIGN.md section 6) is
m(r) = (1 - PD)(1 + r) + PD(1 - LGD) - (1 + r_F + c + K(h - r_F)), zero at the exact break-even rate;
q(r) = 1 / (1 + exp(-a + b r)) is the take-up. Since q' = -b q (1 - q), π'(r) = q(r)·g(r) with
g(r) = m'(r) - b (1 - q(r)) m(r), and the first-order condition g(r*) = 0 reads, without adverse
selection (m' = 1 - PD), m(r*) = (1 - PD) / (b (1 - q(r*))).

Without adverse selection g > 0 below break-even (m < 0) and g is strictly decreasing above it, so π
rises up to a single r* and falls after it: the optimum within [floor, cap] is r* clipped to the bounds,
found by bracketing g on [floor, cap]. With adverse selection (PD rises with r, see
:class:`~smelend.pricing.takeup.AdverseSelection`) π need not be unimodal: π is first evaluated on a
grid of :data:`GRID_POINTS` rates over [floor, cap], the FOC is solved next to each of the grid's two
best local maxima, and the better result is compared with the bounds. A third peak narrower than a
grid step could be missed.

When no rate in [floor, cap] earns a profit, the optimum is the least loss, often the highest rate
(where hardly anyone accepts): callers should read ``expected_profit <= 0`` as "do not offer".

Two solvers with one answer: :func:`optimal_rate` for one offer (scipy ``brentq`` on g, with
``minimize_scalar`` as the fallback) and :func:`optimal_rates` for a whole table (numpy, no loop over
rows: a safeguarded Newton iteration on g that falls back to bisection whenever a step leaves the
bracket or shrinks it too little). They agree to well below 1e-6 (tests and the benchmark check it).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy.optimize import brentq, minimize_scalar
from scipy.special import expit, logit

from smelend.errors import Collector, InvalidInput
from smelend.pricing.breakeven import FloatOrArray, scalar_or_array, capital_charge
from smelend.pricing.takeup import TakeupModel

RATE_LIMIT = 1.0  # with no cap, rates are searched up to 100% a year and no further
GRID_POINTS = 64  # rates on which π is evaluated first when PD depends on the rate
XTOL = 1e-13  # the solvers stop when the rate is known to this (absolute)
MAX_NEWTON_STEPS = 100  # bisection alone needs about 45 steps for XTOL on [0, 1]
GOLDEN_STEPS = 80
CHUNK_ROWS = 1 << 15  # rows per block of the grid search (GRID_POINTS × CHUNK_ROWS floats at once)

Bound = Literal["floor", "cap", "limit"]
BOUND_NAMES: tuple[Bound | None, ...] = (None, "floor", "cap", "limit")  # codes of OptimalPrices.bound


def unit_cost(funds_rate: ArrayLike, cost_rate: ArrayLike, capital: ArrayLike, hurdle: ArrayLike) -> FloatOrArray:
    """1 + r_F + c + K(h - r_F): what a loan of 1 must return at the year's end to cover funds, costs and capital."""
    return scalar_or_array(1 + np.asarray(funds_rate, float) + np.asarray(cost_rate, float) + np.asarray(capital_charge(capital, hurdle, funds_rate)))


def margin(rate: ArrayLike, pd: ArrayLike, lgd: ArrayLike, funds_rate: ArrayLike, cost_rate: ArrayLike, capital: ArrayLike, hurdle: ArrayLike) -> FloatOrArray:
    """m(r) = (1 - PD)(1 + r) + PD(1 - LGD) - (1 + r_F + c + K(h - r_F)): expected profit per unit lent.

    >>> round(margin(0.136, 0.03, 0.8, 0.02, 0.015, 0.07875, 0.12), 6)
    0.065045
    """
    r, p, lgd_ = np.asarray(rate, float), np.asarray(pd, float), np.asarray(lgd, float)
    return scalar_or_array((1 - p) * (1 + r) + p * (1 - lgd_) - np.asarray(unit_cost(funds_rate, cost_rate, capital, hurdle)))


def expected_profit(
    rate: ArrayLike, *, pd: ArrayLike, lgd: ArrayLike, funds_rate: ArrayLike, cost_rate: ArrayLike, capital: ArrayLike, hurdle: ArrayLike, takeup: TakeupModel
) -> FloatOrArray:
    """π(r) = q(r)·m(r, PD(r)): expected profit per unit offered (``pd`` is the PD at the reference rate).

    DESIGN.md: a = 3, b = 25, r_F 2%, c 1.5%, PD 3%, LGD 80%, K 7.875%, h 12%:

    >>> inputs = dict(pd=0.03, lgd=0.8, funds_rate=0.02, cost_rate=0.015, capital=0.07875, hurdle=0.12, takeup=TakeupModel(3, 25))
    >>> [round(expected_profit(r, **inputs), 4) for r in (0.08, 0.136, 0.20)]
    [0.0078, 0.0261, 0.0152]
    """
    r = np.asarray(rate, float)
    p = np.asarray(takeup.pd_at(pd, r))
    return scalar_or_array(np.asarray(takeup.takeup(r)) * np.asarray(margin(r, p, lgd, funds_rate, cost_rate, capital, hurdle)))


@dataclass(frozen=True)
class OptimalPrice:
    """The profit-optimal rate of one offer, what it earns, and which bound (if any) set it."""

    rate: float
    takeup: float
    expected_profit: float
    pd: float  # the PD of accepted loans at this rate (the input PD without adverse selection)
    bound: Bound | None


@dataclass(frozen=True)
class OptimalPrices:
    """The profit-optimal rates of a table of offers; ``bound`` holds codes into :data:`BOUND_NAMES`."""

    rate: NDArray[np.float64]
    takeup: NDArray[np.float64]
    expected_profit: NDArray[np.float64]
    pd: NDArray[np.float64]
    bound: NDArray[np.int8]


def check_inputs(
    pd: ArrayLike, lgd: ArrayLike, funds_rate: ArrayLike, cost_rate: ArrayLike, capital: ArrayLike, hurdle: ArrayLike, floor: ArrayLike | None = None, cap: ArrayLike | None = None
) -> None:
    """Bad input as :class:`InvalidInput` naming every field at fault (PD in (0, 1), LGD in [0, 1], rates in [0, 1])."""
    found = Collector()

    def check(name: str, value: ArrayLike | None, ok, reason: str) -> None:
        if value is None:
            return
        v = np.asarray(value, float)
        if not np.all(np.isfinite(v) & ok(v)):
            found.add(name, reason)

    check("pd", pd, lambda v: (v > 0) & (v < 1), "must be a fraction strictly between 0 and 1")
    check("lgd", lgd, lambda v: (v >= 0) & (v <= 1), "must be a fraction between 0 and 1")
    for name, value in (("funds_rate", funds_rate), ("cost_rate", cost_rate), ("capital", capital), ("hurdle", hurdle), ("floor", floor), ("cap", cap)):
        check(name, value, lambda v: (v >= 0) & (v <= 1), "must be a fraction between 0 and 1 (0.02 for 2%), not negative")
    found.raise_if_any()
    if floor is not None and cap is not None and np.any(np.asarray(floor, float) > np.asarray(cap, float)):
        raise InvalidInput.one("cap", "is below the floor")


def _foc(r, p0, lgd, cost, a, b, slope, r0):
    """g = π'/q and its derivative g', the profit π and the PD at ``r`` (arrays of one shape)."""
    q = expit(a - b * r)
    if slope is None:
        p, dp, d2p = p0, 0.0, 0.0
    else:
        p = expit(logit(p0) + slope * (r - r0))
        dp = slope * p * (1 - p)
        d2p = slope * dp * (1 - 2 * p)
    m = (1 - p) * (1 + r) + p * (1 - lgd) - cost
    dm = (1 - p) - dp * (r + lgd)
    d2m = -2 * dp - d2p * (r + lgd)
    g = dm - b * (1 - q) * m
    dg = d2m - b * (1 - q) * (b * q * m + dm)
    return g, dg, q * m, p


def _profit(r, p0, lgd, cost, a, b, slope, r0):
    return _foc(r, p0, lgd, cost, a, b, slope, r0)[2]


def optimal_rate(
    *, pd: float, lgd: float, funds_rate: float, cost_rate: float, capital: float, hurdle: float, takeup: TakeupModel, floor: float | None = None, cap: float | None = None
) -> OptimalPrice:
    """The rate in [floor, cap] maximising expected profit per unit offered, for one offer (scipy).

    ``floor`` defaults to 0 and ``cap`` to :data:`RATE_LIMIT`. DESIGN.md example:

    >>> best = optimal_rate(pd=0.03, lgd=0.8, funds_rate=0.02, cost_rate=0.015, capital=0.07875, hurdle=0.12, takeup=TakeupModel(3, 25))
    >>> round(best.rate, 3), round(best.takeup, 2), round(best.expected_profit, 4), best.bound
    (0.136, 0.4, 0.0261, None)
    >>> optimal_rate(pd=0.03, lgd=0.8, funds_rate=0.02, cost_rate=0.015, capital=0.07875, hurdle=0.12, takeup=TakeupModel(3, 25), cap=0.12).bound
    'cap'
    """
    check_inputs(pd, lgd, funds_rate, cost_rate, capital, hurdle, floor, cap)
    lo = 0.0 if floor is None else float(floor)
    hi = RATE_LIMIT if cap is None else float(cap)
    cost = float(unit_cost(funds_rate, cost_rate, capital, hurdle))
    adverse = takeup.adverse
    slope = None if adverse is None or adverse.slope == 0 else adverse.slope
    r0 = 0.0 if adverse is None else adverse.reference_rate
    args = (pd, lgd, cost, takeup.a, takeup.b, slope, r0)
    g = lambda r: float(_foc(r, *args)[0])  # noqa: E731
    profit = lambda r: float(_profit(r, *args))  # noqa: E731

    if slope is None:  # π unimodal: g changes sign at most once on [lo, hi]
        if lo == hi or g(lo) <= 0:
            rate = lo
        elif g(hi) >= 0:
            rate = hi
        else:
            rate = brentq(g, lo, hi, xtol=XTOL, rtol=4 * np.finfo(float).eps, maxiter=200)
    else:  # the two best local maxima of a grid, each refined on the FOC beside it; the better one
        grid = np.linspace(lo, hi, GRID_POINTS)
        candidates = []
        for k in _best_local_maxima(_profit(grid, *args)[None, :])[:, 0]:
            rising = g(grid[k]) > 0
            left, right = (grid[k], grid[min(k + 1, GRID_POINTS - 1)]) if rising else (grid[max(k - 1, 0)], grid[k])
            if left == right:
                candidates.append(left)
            elif g(left) > 0 > g(right):
                candidates.append(brentq(g, left, right, xtol=XTOL, rtol=4 * np.finfo(float).eps, maxiter=200))
            else:  # no clean sign change beside the grid rate: maximise π over its two cells
                span = (grid[max(k - 1, 0)], grid[min(k + 1, GRID_POINTS - 1)])
                candidates.append(minimize_scalar(lambda r: -profit(r), bounds=span, method="bounded", options={"xatol": XTOL}).x)
        rate = max(candidates, key=profit)
    for bound in (lo, hi):
        if profit(bound) > profit(rate):
            rate = bound
    rate = float(rate)
    assert lo <= rate <= hi, (lo, rate, hi)
    _, _, best, p = _foc(rate, *args)
    return OptimalPrice(rate, float(takeup.takeup(rate)), float(best), float(p), _bound_name(rate, lo, hi, cap is None))


def _bound_name(rate: float, lo: float, hi: float, no_cap: bool) -> Bound | None:
    if rate == lo:
        return "floor"
    if rate == hi:
        return "limit" if no_cap else "cap"
    return None


def optimal_rates(
    *,
    pd: ArrayLike,
    lgd: ArrayLike,
    funds_rate: ArrayLike,
    cost_rate: ArrayLike,
    capital: ArrayLike,
    hurdle: ArrayLike,
    a: ArrayLike,
    b: ArrayLike,
    slope: ArrayLike = 0.0,
    reference_rate: ArrayLike = 0.0,
    floor: ArrayLike | None = None,
    cap: ArrayLike | None = None,
) -> OptimalPrices:
    """The profit-optimal rate of every row of a table (arguments broadcast together), in numpy.

    ``slope`` and ``reference_rate`` give each row's adverse selection (slope 0: none).

    >>> out = optimal_rates(pd=[0.01, 0.03], lgd=0.8, funds_rate=0.02, cost_rate=0.015, capital=0.07875, hurdle=0.12, a=3, b=25)
    >>> out.rate.round(4).tolist(), out.takeup.round(2).tolist()
    ([0.1259, 0.1359], [0.46, 0.4])
    """
    check_inputs(pd, lgd, funds_rate, cost_rate, capital, hurdle, floor, cap)
    b_arr = np.asarray(b, float)
    if not np.all(np.isfinite(b_arr) & (b_arr > 0)):
        raise InvalidInput.one("b", "must be positive: take-up falls as the rate rises")
    if not np.all(np.isfinite(np.asarray(a, float))):
        raise InvalidInput.one("a", "must be a finite number")
    if not np.all(np.isfinite(np.asarray(slope, float))):
        raise InvalidInput.one("slope", "must be a finite number")
    if not np.all((np.asarray(reference_rate, float) >= 0) & (np.asarray(reference_rate, float) <= 1)):
        raise InvalidInput.one("reference_rate", "must be a fraction between 0 and 1")
    lo_in = 0.0 if floor is None else floor
    hi_in = RATE_LIMIT if cap is None else cap
    cost_in = unit_cost(funds_rate, cost_rate, capital, hurdle)
    arrays = np.broadcast_arrays(*(np.asarray(x, float) for x in (pd, lgd, cost_in, a, b_arr, slope, reference_rate, lo_in, hi_in)))
    shape = arrays[0].shape
    p0, lgd_, cost, a_, b_, slope_, r0, lo, hi = (x.ravel() for x in arrays)
    n = p0.size
    rate = np.empty(n)

    plain = np.flatnonzero(slope_ == 0)
    if plain.size:
        rows = (p0[plain], lgd_[plain], cost[plain], a_[plain], b_[plain], None, None)
        rate[plain] = _solve_bracketed(lo[plain], hi[plain], rows)
    adverse = np.flatnonzero(slope_ != 0)
    for start in range(0, adverse.size, CHUNK_ROWS):
        idx = adverse[start : start + CHUNK_ROWS]
        rows = (p0[idx], lgd_[idx], cost[idx], a_[idx], b_[idx], slope_[idx], r0[idx])
        rate[idx] = _solve_on_grid(lo[idx], hi[idx], rows)

    all_rows = (p0, lgd_, cost, a_, b_, slope_, r0)
    best = _profit_rows(rate, all_rows, slope_)
    for bound in (lo, hi):  # never worse than a bound (matters only when π is not unimodal)
        at_bound = _profit_rows(bound, all_rows, slope_)
        better = at_bound > best
        rate, best = np.where(better, bound, rate), np.where(better, at_bound, best)
    assert np.all((lo <= rate) & (rate <= hi))
    q = expit(a_ - b_ * rate)
    p = np.where(slope_ == 0, p0, expit(logit(p0) + slope_ * (rate - r0)))
    code = np.zeros(n, np.int8)
    code[rate == hi] = 2 if cap is not None else 3
    code[rate == lo] = 1
    return OptimalPrices(rate.reshape(shape), q.reshape(shape), best.reshape(shape), p.reshape(shape), code.reshape(shape))


def _profit_rows(r, rows, slope):
    p0, lgd, cost, a, b, s, r0 = rows
    p = np.where(slope == 0, p0, expit(logit(p0) + s * (r - r0)))
    return expit(a - b * r) * ((1 - p) * (1 + r) + p * (1 - lgd) - cost)


def _take(rows, mask):
    return tuple(None if x is None else x[mask] for x in rows)


def _solve_bracketed(left: np.ndarray, right: np.ndarray, rows) -> np.ndarray:
    """Maximise π on [left, right] per row, where π'/q = g changes sign at most once, from + to -."""
    rate = left.copy()
    g_left = _foc(left, *rows)[0]
    g_right = _foc(right, *rows)[0]
    rate[g_right >= 0] = right[g_right >= 0]  # π still rising at the right end
    inside = np.flatnonzero((g_left > 0) & (g_right < 0) & (left < right))
    if inside.size:
        rate[inside] = _newton_bisect(left[inside], right[inside], _take(rows, inside))
    return rate


def _newton_bisect(left: np.ndarray, right: np.ndarray, rows) -> np.ndarray:
    """The root of g in (left, right), where g(left) > 0 > g(right): Newton steps kept inside the bracket.

    A Newton step is taken only when it lands strictly inside the current bracket and is less than half
    the previous step (so the iteration converges at least as fast as bisection); otherwise the step is
    a bisection. The bracket shrinks on every step, so the loop ends.
    """
    left, right = left.copy(), right.copy()
    x = 0.5 * (left + right)
    out = x.copy()
    last_step = right - left
    active = np.arange(x.size)
    for _ in range(MAX_NEWTON_STEPS):
        sub = _take(rows, active)
        g, dg, _, _ = _foc(x, *sub)
        rising = g > 0
        left = np.where(rising, x, left)
        right = np.where(rising, right, x)
        with np.errstate(divide="ignore", invalid="ignore"):
            newton = x - g / dg
        ok = np.isfinite(newton) & (newton > left) & (newton < right) & (np.abs(newton - x) < 0.5 * np.abs(last_step))
        x_new = np.where(ok, newton, 0.5 * (left + right))
        last_step = x_new - x
        done = (np.abs(last_step) <= XTOL) | (right - left <= XTOL) | (g == 0)
        x_new = np.where(g == 0, x, x_new)
        out[active[done]] = x_new[done]
        keep = ~done
        if not keep.any():
            return out
        active, x, left, right, last_step = active[keep], x_new[keep], left[keep], right[keep], last_step[keep]
    raise AssertionError(f"the Newton-bisection did not converge for {active.size} rows")


def _best_local_maxima(profit: np.ndarray) -> np.ndarray:
    """Per row of a (rows, points) grid of π: the indices of its two best local maxima, shape (2, rows).

    A row with a single local maximum gets it twice. Refining two peaks, not one, keeps a narrow peak
    between grid rates from losing to a broad one that only looks higher on the grid.
    """
    padded = np.pad(profit, ((0, 0), (1, 1)), constant_values=-np.inf)
    peaks = np.where((profit >= padded[:, :-2]) & (profit >= padded[:, 2:]), profit, -np.inf)
    rows = np.arange(profit.shape[0])
    first = np.argmax(peaks, axis=1)
    peaks[rows, first] = -np.inf
    second = np.argmax(peaks, axis=1)
    second = np.where(np.isfinite(peaks[rows, second]), second, first)
    return np.stack([first, second])


def _solve_on_grid(lo: np.ndarray, hi: np.ndarray, rows) -> np.ndarray:
    """Maximise π on [lo, hi] per row when PD depends on the rate: grid, then the FOC beside its best peaks."""
    steps = np.linspace(0.0, 1.0, GRID_POINTS)
    grid = lo[:, None] + (hi - lo)[:, None] * steps[None, :]
    grid[:, -1] = hi  # exactly: lo + (hi - lo) need not round to hi
    p0, lgd, cost, a, b, slope, r0 = (x[:, None] for x in rows)
    p = expit(logit(p0) + slope * (grid - r0))
    peaks = _best_local_maxima(expit(a - b * grid) * ((1 - p) * (1 + grid) + p * (1 - lgd) - cost))
    best = _refine_peak(grid, peaks[0], rows)
    other = np.flatnonzero(peaks[1] != peaks[0])
    if other.size:
        sub = _take(rows, other)
        candidate = _refine_peak(grid[other], peaks[1][other], sub)
        better = _profit(candidate, *sub) > _profit(best[other], *sub)
        best[other[better]] = candidate[better]
    return best


def _refine_peak(grid: np.ndarray, k: np.ndarray, rows) -> np.ndarray:
    """The local maximum of π next to grid index ``k`` of each row: FOC in the cell on the rising side."""
    n = grid.shape[0]
    at = np.arange(n)
    g_k = _foc(grid[at, k], *rows)[0]
    k_left = np.where(g_k > 0, k, np.maximum(k - 1, 0))
    k_right = np.where(g_k > 0, np.minimum(k + 1, GRID_POINTS - 1), k)
    left, right = grid[at, k_left], grid[at, k_right]
    rate = left.copy()  # where the bracket collapsed at an end of [lo, hi]: that end
    g_left, g_right = _foc(left, *rows)[0], _foc(right, *rows)[0]
    good = (left < right) & (g_left > 0) & (g_right < 0)
    idx = np.flatnonzero(good)
    if idx.size:
        rate[idx] = _newton_bisect(left[idx], right[idx], _take(rows, idx))
    odd = np.flatnonzero((left < right) & ~good)
    if odd.size:  # no clean sign change beside the grid rate: maximise π over its two cells
        span_left = grid[odd, np.maximum(k[odd] - 1, 0)]
        span_right = grid[odd, np.minimum(k[odd] + 1, GRID_POINTS - 1)]
        rate[odd] = _golden_section(span_left, span_right, _take(rows, odd))
    return rate


def _golden_section(left: np.ndarray, right: np.ndarray, rows) -> np.ndarray:
    """Maximise π on [left, right] per row by golden-section search (a fixed number of steps)."""
    ratio = (np.sqrt(5) - 1) / 2
    c, d = right - ratio * (right - left), left + ratio * (right - left)
    fc, fd = _profit(c, *rows), _profit(d, *rows)
    for _ in range(GOLDEN_STEPS):
        keep_left = fc > fd
        right = np.where(keep_left, d, right)
        left = np.where(keep_left, left, c)
        c, d = right - ratio * (right - left), left + ratio * (right - left)
        fc, fd = _profit(c, *rows), _profit(d, *rows)
    return 0.5 * (left + right)
