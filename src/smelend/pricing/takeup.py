"""Price response: the take-up model q(r), adverse selection PD(r), and their fit from randomised price tests.

Take-up q(r) = 1 / (1 + exp(-a + b r)) is the share of offered applicants who accept an offer at the
annual rate r (b > 0: fewer accept at a higher rate). Adverse selection: the applicants who still accept
a higher rate are riskier, modelled logit-linear, logit PD(r) = logit PD0 + slope·(r - r0), so that PD
stays in (0, 1) and PD0 is the PD at the reference rate r0 (the rate at which the PD was assessed).

Both are estimated per segment by maximum likelihood (statsmodels ``Logit``) from a randomised price
test: applicants offered random rates, whether each accepted, and for accepted loans whether they
defaulted within a year. Randomisation is what makes the slope causal; fitted on ordinary pricing
history the slope would also carry whatever set the price. :func:`simulate_price_test` draws such a test
from known parameters, so tests can check that the fit recovers them.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import polars as pl
from numpy.typing import ArrayLike
from scipy.special import expit, logit

from smelend.errors import InvalidInput
from smelend.pricing.breakeven import FloatOrArray, scalar_or_array

MIN_ROWS_PER_SEGMENT = 30
MAX_ROWS = 20_000_000
MAX_SEGMENTS = 1_000


@dataclass(frozen=True)
class AdverseSelection:
    """PD rising with the offered rate: logit PD(r) = logit PD0 + slope·(r - reference_rate)."""

    slope: float
    reference_rate: float

    def __post_init__(self) -> None:
        assert np.isfinite(self.slope) and abs(self.slope) <= 1_000, self.slope
        assert 0 <= self.reference_rate <= 1, self.reference_rate

    def pd_at(self, pd0: ArrayLike, rate: ArrayLike) -> FloatOrArray:
        """The PD of those who accept at ``rate``, for applicants whose PD at the reference rate is ``pd0``.

        >>> s = AdverseSelection(slope=10.0, reference_rate=0.10)
        >>> round(s.pd_at(0.03, 0.10), 12), round(s.pd_at(0.03, 0.20), 4)
        (0.03, 0.0776)
        """
        return scalar_or_array(expit(logit(np.asarray(pd0, float)) + self.slope * (np.asarray(rate, float) - self.reference_rate)))


@dataclass(frozen=True)
class TakeupModel:
    """q(r) = 1 / (1 + exp(-a + b r)), with an optional adverse-selection term."""

    a: float
    b: float
    adverse: AdverseSelection | None = None

    def __post_init__(self) -> None:
        assert np.isfinite(self.a) and abs(self.a) <= 50, self.a
        assert np.isfinite(self.b) and 0 < self.b <= 1_000, "b must be positive: take-up falls as the rate rises"

    def takeup(self, rate: ArrayLike) -> FloatOrArray:
        """Expected share accepting at ``rate``.

        >>> round(TakeupModel(3, 25).takeup(0.136), 4)
        0.4013
        """
        return scalar_or_array(expit(self.a - self.b * np.asarray(rate, float)))

    def pd_at(self, pd0: ArrayLike, rate: ArrayLike) -> FloatOrArray:
        """The PD of accepted loans at ``rate``: ``pd0`` itself without adverse selection."""
        if self.adverse is None:
            return scalar_or_array(np.broadcast_to(np.asarray(pd0, float), np.broadcast_shapes(np.shape(pd0), np.shape(rate))).copy())
        return self.adverse.pd_at(pd0, rate)


@dataclass(frozen=True)
class TakeupFit:
    """The fitted take-up model of one segment, with standard errors and counts."""

    segment: str
    a: float
    b: float
    se_a: float
    se_b: float
    n: int
    accepted: int

    def model(self, adverse: AdverseSelection | None = None) -> TakeupModel:
        return TakeupModel(self.a, self.b, adverse)

    def to_dict(self) -> dict[str, Any]:
        return {"segment": self.segment, "a": self.a, "b": self.b, "se_a": self.se_a, "se_b": self.se_b, "n": self.n, "accepted": self.accepted}


@dataclass(frozen=True)
class AdverseFit:
    """The fitted adverse-selection term of one segment: PD at the reference rate and the logit slope."""

    segment: str
    pd0: float
    slope: float
    se_logit_pd0: float
    se_slope: float
    reference_rate: float
    n: int
    defaults: int

    @property
    def selection(self) -> AdverseSelection:
        return AdverseSelection(self.slope, self.reference_rate)

    def to_dict(self) -> dict[str, Any]:
        return {
            "segment": self.segment, "pd0": self.pd0, "slope": self.slope, "se_logit_pd0": self.se_logit_pd0,
            "se_slope": self.se_slope, "reference_rate": self.reference_rate, "n": self.n, "defaults": self.defaults,
        }


def _column(table: Any, name: str) -> np.ndarray:
    try:
        column = table[name]
    except (KeyError, pl.exceptions.ColumnNotFoundError):
        raise InvalidInput.one(name, "no such column in the price test") from None
    return np.asarray(column.to_numpy() if isinstance(column, pl.Series) else column)


def _price_test(table: Any, rate: str, accepted: str, segment: str | None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rates = _column(table, rate).astype(float)
    took = _column(table, accepted).astype(float)
    segments = np.full(len(rates), "all", dtype=object) if segment is None else _column(table, segment).astype(str)
    if not len(rates) == len(took) == len(segments):
        raise InvalidInput.one(accepted, "columns differ in length")
    if len(rates) > MAX_ROWS:
        raise InvalidInput.one(rate, f"more than {MAX_ROWS} rows")
    if not np.all(np.isfinite(rates) & (rates >= 0) & (rates <= 1)):
        raise InvalidInput.one(rate, "every offered rate must be a fraction between 0 and 1")
    if not np.all((took == 0) | (took == 1)):
        raise InvalidInput.one(accepted, "must be 0 or 1 on every row")
    return rates, took, segments


def _logit(y: np.ndarray, x: np.ndarray, field: str, segment: str) -> tuple[np.ndarray, np.ndarray]:
    """Intercept and slope of logit P(y = 1) = c0 + c1 x, with their standard errors."""
    import statsmodels.api as sm  # imported here: pricing an offer never needs it

    if len(y) < MIN_ROWS_PER_SEGMENT:
        raise InvalidInput.one(field, f"segment {segment!r} has {len(y)} rows; at least {MIN_ROWS_PER_SEGMENT} are needed")
    if y.min() == y.max():
        raise InvalidInput.one(field, f"segment {segment!r} has only {int(y[0])}s: nothing to fit")
    if np.ptp(x) == 0:
        raise InvalidInput.one(field, f"segment {segment!r} was offered a single rate: the price response cannot be fitted")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            result = sm.Logit(y, sm.add_constant(x, has_constant="add")).fit(disp=0, maxiter=200)
        except np.linalg.LinAlgError as exc:
            raise InvalidInput.one(field, f"segment {segment!r}: the fit failed ({exc})") from None
    params, errors = np.asarray(result.params), np.asarray(result.bse)
    if not (result.mle_retvals.get("converged", False) and np.all(np.isfinite(params)) and np.all(np.isfinite(errors))):
        raise InvalidInput.one(field, f"segment {segment!r}: the fit did not converge (perfect separation?)")
    return params, errors


def fit_takeup(table: Any, *, rate: str = "rate", accepted: str = "accepted", segment: str | None = "segment") -> dict[str, TakeupFit]:
    """Fit q(r) per segment from a price test (a polars DataFrame or a mapping of columns).

    ``logit P(accept) = a - b·rate``, so ``a`` is the intercept and ``b`` minus the rate coefficient.
    """
    rates, took, segments = _price_test(table, rate, accepted, segment)
    names = np.unique(segments)
    if len(names) > MAX_SEGMENTS:
        raise InvalidInput.one(segment or "segment", f"more than {MAX_SEGMENTS} segments")
    fits = {}
    for name in names:
        rows = segments == name
        params, errors = _logit(took[rows], rates[rows], accepted, str(name))
        fits[str(name)] = TakeupFit(str(name), float(params[0]), float(-params[1]), float(errors[0]), float(errors[1]), int(rows.sum()), int(took[rows].sum()))
    return fits


def fit_adverse_selection(
    table: Any, reference_rate: float, *, rate: str = "rate", accepted: str = "accepted", defaulted: str = "defaulted", segment: str | None = "segment"
) -> dict[str, AdverseFit]:
    """Fit logit PD(r) = logit PD0 + slope·(r - reference_rate) per segment on the accepted loans' defaults."""
    if not 0 <= reference_rate <= 1:
        raise InvalidInput.one("reference_rate", "must be a fraction between 0 and 1")
    rates, took, segments = _price_test(table, rate, accepted, segment)
    defaults = _column(table, defaulted).astype(float)
    loans = took == 1
    if not np.all((defaults[loans] == 0) | (defaults[loans] == 1)):
        raise InvalidInput.one(defaulted, "must be 0 or 1 on every accepted row")
    fits = {}
    for name in np.unique(segments[loans]):
        rows = loans & (segments == name)
        params, errors = _logit(defaults[rows], rates[rows] - reference_rate, defaulted, str(name))
        fits[str(name)] = AdverseFit(
            str(name), float(expit(params[0])), float(params[1]), float(errors[0]), float(errors[1]), reference_rate, int(rows.sum()), int(defaults[rows].sum())
        )
    return fits


@dataclass(frozen=True)
class SegmentTruth:
    """The true parameters of one segment in a simulated price test."""

    a: float
    b: float
    pd0: float = 0.03
    slope: float = 0.0
    reference_rate: float = 0.10


def simulate_price_test(
    truths: Mapping[str, SegmentTruth], n_per_segment: int, *, rate_low: float = 0.04, rate_high: float = 0.24, seed: int = 0
) -> pl.DataFrame:
    """A randomised price test drawn from known parameters: rates uniform on [rate_low, rate_high].

    Columns: ``segment``, ``rate``, ``accepted`` (0/1), ``defaulted`` (0/1 for accepted offers, null
    otherwise: an offer not taken cannot default).

    >>> test = simulate_price_test({"s": SegmentTruth(a=3, b=25)}, 1000, seed=1)
    >>> test.columns, test.height
    (['segment', 'rate', 'accepted', 'defaulted'], 1000)
    """
    assert 0 < n_per_segment <= MAX_ROWS and 0 <= rate_low < rate_high <= 1, (n_per_segment, rate_low, rate_high)
    rng = np.random.default_rng(seed)
    frames = []
    for name, truth in truths.items():
        model = TakeupModel(truth.a, truth.b, AdverseSelection(truth.slope, truth.reference_rate))
        rates = rng.uniform(rate_low, rate_high, n_per_segment)
        accepted = rng.random(n_per_segment) < model.takeup(rates)
        defaulted = rng.random(n_per_segment) < model.pd_at(truth.pd0, rates)
        frames.append(
            pl.DataFrame(
                {
                    "segment": [name] * n_per_segment,
                    "rate": rates,
                    "accepted": accepted.astype(np.int8),
                    "defaulted": pl.Series(np.where(accepted, defaulted.astype(float), np.nan)).fill_nan(None).cast(pl.Int8),
                }
            )
        )
    return pl.concat(frames)
