"""Delinquency: DPD buckets, five-category classification, non-accrual, provisions, write-off.

Why a module of pure functions over a policy file: close of business classifies every loan of the
book every night, regulators and auditors must be able to read the thresholds, and the bank must
be able to change them (a stricter grid, new provision rates) without a code change. So the policy
is data (``delinquency.yaml`` beside this module, validated on load, every error at once), and the
functions take it as an argument: same inputs, same answer, nothing read from the clock or a store.

Two paths give the same answers: scalar functions for one loan (Decimal, explicit rounding through
:meth:`~smelend.money.Rounding.to_fen`), and vectorised ones over numpy arrays for the whole book
(integer arithmetic only; see :func:`provisions_fen` for why they agree to the fen).

>>> policy = load_policy()
>>> days = 120
>>> bucket(days, policy), classify(days, frozenset(), policy).chinese, is_non_accrual(days, policy)
('90+', '次级', True)
>>> provision_fen(100_000_000, classify(days, frozenset(), policy), days, policy)
25000000
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from enum import Enum
from pathlib import Path
from typing import Annotated

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator, model_validator

from smelend.datafiles import load_yaml_model
from smelend.errors import InvalidInput
from smelend.money import MAX_AMOUNT_FEN, Rounding, RoundingMode, calc_context

__all__ = [
    "Category",
    "DelinquencyPolicy",
    "ProvisionMethod",
    "POLICY_FILE",
    "MAX_DPD",
    "load_policy",
    "bucket",
    "classify",
    "flag_floor",
    "is_non_accrual",
    "provision_rate",
    "provision_fen",
    "write_off_candidate",
    "bucket_codes",
    "category_codes",
    "flag_floor_codes",
    "provisions_fen",
]

POLICY_FILE = Path(__file__).with_name("delinquency.yaml")
MAX_DPD = 36_500  # a hundred years: any larger number of days past due is a bug upstream
MAX_BUCKETS = 20
MAX_FLAGS = 50
RATE_DECIMALS = 6
RATE_SCALE = 10**RATE_DECIMALS  # a rate of the file is an integer number of millionths

# provisions_fen keeps every intermediate below these (see the proof there); checked at import.
assert MAX_AMOUNT_FEN <= 10**14  # so a = e // 10^6 <= 10^8 and a x n1, a2 x n2 <= 10^14
assert RATE_SCALE * RATE_SCALE * RATE_SCALE + RATE_SCALE * RATE_SCALE < 2**63


class Category(str, Enum):
    """The five-category asset classification (五级分类), ordered from best to worst.

    Comparison follows risk, not spelling, so ``max()`` gives the worse category.

    >>> max(Category.LOSS, Category.PASS, Category.SUBSTANDARD).value
    'loss'
    >>> Category.DOUBTFUL.chinese, Category.DOUBTFUL.code, Category.PASS < Category.SPECIAL_MENTION
    ('可疑', 3, True)
    """

    PASS = "pass"
    SPECIAL_MENTION = "special-mention"
    SUBSTANDARD = "substandard"
    DOUBTFUL = "doubtful"
    LOSS = "loss"

    @property
    def code(self) -> int:
        """0 (pass) .. 4 (loss): the int8 code of the vectorised functions."""
        return _CODES[self]

    @property
    def chinese(self) -> str:
        return _CHINESE[self]

    @property
    def non_performing(self) -> bool:
        """Substandard, doubtful and loss are non-performing loans (不良贷款)."""
        return self.code >= _CODES[Category.SUBSTANDARD]

    @classmethod
    def from_code(cls, code: int) -> "Category":
        return _ORDER[code]

    # str's comparisons would order by spelling ("loss" < "pass"); these order by risk.
    def __lt__(self, other: object) -> bool:
        return self.code < other.code if isinstance(other, Category) else NotImplemented

    def __le__(self, other: object) -> bool:
        return self.code <= other.code if isinstance(other, Category) else NotImplemented

    def __gt__(self, other: object) -> bool:
        return self.code > other.code if isinstance(other, Category) else NotImplemented

    def __ge__(self, other: object) -> bool:
        return self.code >= other.code if isinstance(other, Category) else NotImplemented



_ORDER: tuple[Category, ...] = tuple(Category)
_CODES: dict[Category, int] = {c: i for i, c in enumerate(_ORDER)}
_CHINESE: dict[Category, str] = {
    Category.PASS: "正常",
    Category.SPECIAL_MENTION: "关注",
    Category.SUBSTANDARD: "次级",
    Category.DOUBTFUL: "可疑",
    Category.LOSS: "损失",
}


class ProvisionMethod(str, Enum):
    CATEGORY = "category"  # exposure x rate of the category
    PD_LGD = "pd-lgd"  # exposure x PD (by bucket) x LGD


# --- the policy file ---------------------------------------------------------------------------------

Dpd = Annotated[int, Field(strict=True, ge=0, le=MAX_DPD)]
PositiveDpd = Annotated[int, Field(strict=True, ge=1, le=MAX_DPD)]
Rate = Annotated[Decimal, Field(ge=0, le=1, decimal_places=RATE_DECIMALS)]
BucketName = Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9+\-]{0,19}$")]
FlagName = Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]{0,39}$")]


class _Strict(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


def _strictly_increasing(thresholds: Mapping[str, int], what: str) -> None:
    pairs = list(thresholds.items())
    for (low_name, low), (high_name, high) in zip(pairs, pairs[1:]):
        if high <= low:
            raise ValueError(f"{what} must be strictly increasing: {high_name} ({high}) is not above {low_name} ({low})")


def _non_decreasing(rates: Mapping[str, Decimal], what: str) -> None:
    pairs = list(rates.items())
    for (low_name, low), (high_name, high) in zip(pairs, pairs[1:]):
        if high < low:
            raise ValueError(f"{what} must not decrease: {high_name} ({high}) is below {low_name} ({low})")


def _all_categories_in_order(keys: list[Category]) -> None:
    if keys != list(_ORDER):
        expected = ", ".join(c.value for c in _ORDER)
        raise ValueError(f"must list every category in order ({expected}), got {', '.join(k.value for k in keys) or 'none'}")


class Classification(_Strict):
    """DPD thresholds of the five categories, and the flags that force a minimum category."""

    min_dpd: dict[Category, Dpd]
    flag_floors: dict[FlagName, Category] = Field(default_factory=dict, max_length=MAX_FLAGS)

    @field_validator("min_dpd")
    @classmethod
    def _ordered(cls, min_dpd: dict[Category, int]) -> dict[Category, int]:
        _all_categories_in_order(list(min_dpd))
        if min_dpd[Category.PASS] != 0:
            raise ValueError("pass must start at 0 days past due")
        _strictly_increasing({c.value: d for c, d in min_dpd.items()}, "thresholds")
        return min_dpd


class PdLgd(_Strict):
    """Expected loss = PD x LGD: a PD per DPD bucket, one LGD, PD 1 once a loan is in default."""

    pd_by_bucket: dict[BucketName, Rate] = Field(min_length=1, max_length=MAX_BUCKETS)
    lgd: Rate
    defaulted_from: Category = Category.SUBSTANDARD  # from this category on, PD is 1 (in default)

    @field_validator("pd_by_bucket")
    @classmethod
    def _pd_non_decreasing(cls, pds: dict[str, Decimal]) -> dict[str, Decimal]:
        _non_decreasing(pds, "PDs")
        return pds


class Provisions(_Strict):
    method: ProvisionMethod
    category_rates: dict[Category, Rate] | None = None
    pd_lgd: PdLgd | None = None

    @field_validator("category_rates")
    @classmethod
    def _rates_ordered(cls, rates: dict[Category, Decimal] | None) -> dict[Category, Decimal] | None:
        if rates is not None:
            _all_categories_in_order(list(rates))
            _non_decreasing({c.value: r for c, r in rates.items()}, "rates")
        return rates

    @model_validator(mode="after")
    def _method_has_its_section(self) -> "Provisions":
        if self.method is ProvisionMethod.CATEGORY and self.category_rates is None:
            raise ValueError("method category needs category_rates")
        if self.method is ProvisionMethod.PD_LGD and self.pd_lgd is None:
            raise ValueError("method pd-lgd needs pd_lgd")
        return self


class DelinquencyPolicy(_Strict):
    """What ``delinquency.yaml`` says, validated: unknown keys and disordered thresholds are errors."""

    buckets: dict[BucketName, Dpd] = Field(min_length=1, max_length=MAX_BUCKETS)
    classification: Classification
    non_accrual_dpd: PositiveDpd
    write_off_dpd: PositiveDpd
    provisions: Provisions

    @field_validator("buckets")
    @classmethod
    def _buckets_ordered(cls, buckets: dict[str, int]) -> dict[str, int]:
        if next(iter(buckets.values())) != 0:
            raise ValueError("the first bucket must start at 0 days past due")
        _strictly_increasing(buckets, "bucket edges")
        return buckets

    @field_validator("provisions")
    @classmethod
    def _pd_for_every_bucket(cls, provisions: Provisions, info: ValidationInfo) -> Provisions:
        buckets = info.data.get("buckets")  # absent when buckets itself failed (reported there)
        if provisions.pd_lgd is not None and buckets is not None and list(provisions.pd_lgd.pd_by_bucket) != list(buckets):
            raise ValueError(
                f"pd_lgd.pd_by_bucket must name every bucket in order ({', '.join(buckets)}), "
                f"got {', '.join(provisions.pd_lgd.pd_by_bucket)}"
            )
        return provisions

    @property
    def bucket_names(self) -> tuple[str, ...]:
        """Names by bucket code (the index :func:`bucket_codes` returns)."""
        return tuple(self.buckets)

    @property
    def known_flags(self) -> frozenset[str]:
        return frozenset(self.classification.flag_floors)


def load_policy(path: Path | None = None) -> DelinquencyPolicy:
    """The policy in ``path`` (default: ``delinquency.yaml`` beside this module).

    Raises :class:`InvalidInput` with every error at once, each named ``file: dotted.field``.

    >>> load_policy().classification.min_dpd[Category.SUBSTANDARD]
    91
    """
    return load_yaml_model(path or POLICY_FILE, DelinquencyPolicy, "delinquency policy")


# --- one loan ----------------------------------------------------------------------------------------


def _check_dpd(days_past_due: int) -> None:
    assert isinstance(days_past_due, (int, np.integer)) and not isinstance(days_past_due, bool), days_past_due
    assert 0 <= days_past_due <= MAX_DPD, f"days past due {days_past_due} outside 0..{MAX_DPD}"


def _last_at_or_below(thresholds: Mapping[object, int], days_past_due: int) -> object:
    """The key of the last threshold reached; thresholds start at 0 and increase (validated)."""
    found = None
    for key, first_day in thresholds.items():
        if days_past_due < first_day:
            break
        found = key
    assert found is not None
    return found


def bucket(days_past_due: int, policy: DelinquencyPolicy) -> str:
    """The collections bucket a loan this late falls in (drives reminders, dunning, roll rates).

    >>> policy = load_policy()
    >>> [bucket(d, policy) for d in (0, 1, 30, 31, 60, 61, 90, 91)]
    ['current', '1-30', '1-30', '31-60', '31-60', '61-90', '61-90', '90+']
    """
    _check_dpd(days_past_due)
    return str(_last_at_or_below(policy.buckets, days_past_due))


def flag_floor(flags: frozenset[str], policy: DelinquencyPolicy) -> Category:
    """The worst category the flags force (pass when none); an unknown flag is an error, not ignored.

    >>> policy = load_policy()
    >>> flag_floor(frozenset({"court_judgement", "bankruptcy"}), policy).value
    'doubtful'
    >>> flag_floor(frozenset({"frod"}), policy)
    Traceback (most recent call last):
    ...
    smelend.errors.InvalidInput: flags: unknown flag 'frod' (known: bankruptcy, court_judgement, deceased, fraud, restructured)
    """
    floors = policy.classification.flag_floors
    unknown = sorted(set(flags) - floors.keys())
    if unknown:
        known = ", ".join(sorted(floors))
        raise InvalidInput.one("flags", f"unknown flag{'s' if len(unknown) > 1 else ''} {', '.join(map(repr, unknown))} (known: {known})")
    return max((floors[f] for f in flags), default=Category.PASS)


def classify(days_past_due: int, flags: frozenset[str], policy: DelinquencyPolicy) -> Category:
    """The loan's category: the worse of what its DPD says and what its flags force.

    >>> policy = load_policy()
    >>> [classify(d, frozenset(), policy).value for d in (0, 1, 90, 91, 180, 181, 360, 361)]
    ['pass', 'special-mention', 'special-mention', 'substandard', 'substandard', 'doubtful', 'doubtful', 'loss']
    >>> classify(0, frozenset({"restructured"}), policy).chinese
    '次级'
    """
    _check_dpd(days_past_due)
    by_dpd = _last_at_or_below(policy.classification.min_dpd, days_past_due)
    assert isinstance(by_dpd, Category)
    return max(by_dpd, flag_floor(flags, policy))


def is_non_accrual(days_past_due: int, policy: DelinquencyPolicy) -> bool:
    """Whether interest has stopped accruing to income (it is tracked off income, collected if paid).

    >>> policy = load_policy()
    >>> is_non_accrual(89, policy), is_non_accrual(90, policy)
    (False, True)
    """
    _check_dpd(days_past_due)
    return days_past_due >= policy.non_accrual_dpd


def provision_rate(category: Category, days_past_due: int, policy: DelinquencyPolicy) -> Decimal:
    """The exact fraction of exposure to provide for (at most 12 decimals: PD x LGD).

    >>> policy = load_policy()
    >>> provision_rate(Category.SUBSTANDARD, 100, policy)
    Decimal('0.25')
    >>> pd_lgd = DelinquencyPolicy.model_validate(policy.model_dump() | {"provisions": policy.provisions.model_dump() | {"method": "pd-lgd"}})
    >>> provision_rate(Category.SPECIAL_MENTION, 45, pd_lgd), provision_rate(Category.SUBSTANDARD, 0, pd_lgd)  # 0.35 x 0.8; in default
    (Decimal('0.280'), Decimal('0.8'))
    """
    _check_dpd(days_past_due)
    provisions = policy.provisions
    if provisions.method is ProvisionMethod.CATEGORY:
        assert provisions.category_rates is not None
        return provisions.category_rates[category]
    assert provisions.pd_lgd is not None
    pd_lgd = provisions.pd_lgd
    pd = Decimal(1) if category >= pd_lgd.defaulted_from else pd_lgd.pd_by_bucket[bucket(days_past_due, policy)]
    return calc_context().multiply(pd, pd_lgd.lgd)


def provision_fen(
    exposure_fen: int, category: Category, days_past_due: int, policy: DelinquencyPolicy, rounding: Rounding = Rounding()
) -> int:
    """The loss provision for one loan, in fen.

    ``exposure_fen`` is what the bank stands to lose on its balance sheet: principal outstanding
    plus on-balance receivables (accrued interest and fees not yet paid; not non-accrual interest).
    Exact: Decimal product, rounded once by ``rounding`` (half-up to the fen by default).

    >>> policy = load_policy()
    >>> provision_fen(100_000_000, Category.SUBSTANDARD, 100, policy)  # 1,000,000.00 yuan
    25000000
    >>> provision_fen(1_050, Category.SPECIAL_MENTION, 10, policy)  # 21.00 fen
    21
    >>> provision_fen(25, Category.SPECIAL_MENTION, 10, policy)  # 0.5 fen rounds half-up
    1
    """
    assert isinstance(exposure_fen, (int, np.integer)) and 0 <= exposure_fen <= MAX_AMOUNT_FEN, exposure_fen
    rate = provision_rate(category, days_past_due, policy)
    return rounding.to_fen(calc_context().multiply(Decimal(int(exposure_fen)), rate))


def write_off_candidate(days_past_due: int, category: Category, policy: DelinquencyPolicy) -> bool:
    """Whether the loan should be put forward for write-off: classified loss and at least write_off_dpd late.

    >>> policy = load_policy()
    >>> write_off_candidate(400, Category.LOSS, policy), write_off_candidate(400, Category.DOUBTFUL, policy)
    (True, False)
    >>> write_off_candidate(359, Category.LOSS, policy), write_off_candidate(360, Category.LOSS, policy)
    (False, True)
    """
    _check_dpd(days_past_due)
    return category is Category.LOSS and days_past_due >= policy.write_off_dpd


# --- the whole book ----------------------------------------------------------------------------------


def _check_dpd_array(dpd: np.ndarray) -> np.ndarray:
    assert isinstance(dpd, np.ndarray) and np.issubdtype(dpd.dtype, np.integer), "dpd must be an integer array"
    if dpd.size:
        assert 0 <= dpd.min() and dpd.max() <= MAX_DPD, f"days past due outside 0..{MAX_DPD}"
    return dpd.astype(np.int64, copy=False)


def _codes(dpd: np.ndarray, first_days: list[int]) -> np.ndarray:
    edges = np.asarray(first_days, dtype=np.int64)  # starts at 0, strictly increasing (validated)
    return (np.searchsorted(edges, dpd, side="right") - 1).astype(np.int8)


def bucket_codes(dpd: np.ndarray, policy: DelinquencyPolicy) -> np.ndarray:
    """:func:`bucket` for every loan, as int8 indexes into ``policy.bucket_names``.

    >>> policy = load_policy()
    >>> codes = bucket_codes(np.array([0, 1, 30, 31, 90, 91, 5000]), policy)
    >>> codes.tolist(), [policy.bucket_names[c] for c in codes][-1]
    ([0, 1, 1, 2, 3, 4, 4], '90+')
    """
    return _codes(_check_dpd_array(dpd), list(policy.buckets.values()))


def flag_floor_codes(flag_columns: Mapping[str, np.ndarray], size: int, policy: DelinquencyPolicy) -> np.ndarray:
    """:func:`flag_floor` for every loan, from one boolean column per flag (the book's layout).

    >>> policy = load_policy()
    >>> flag_floor_codes({"fraud": np.array([False, True, False]), "deceased": np.array([False, True, True])}, 3, policy).tolist()
    [0, 4, 3]
    """
    floors = policy.classification.flag_floors
    flag_floor(frozenset(flag_columns), policy)  # unknown flag names raise, naming `flags`
    result = np.zeros(size, dtype=np.int8)
    for flag, column in flag_columns.items():
        assert isinstance(column, np.ndarray) and column.dtype == np.bool_ and column.shape == (size,), flag
        np.maximum(result, np.where(column, np.int8(floors[flag].code), np.int8(0)), out=result)
    return result


def category_codes(dpd: np.ndarray, flag_floor_codes: np.ndarray | None, policy: DelinquencyPolicy) -> np.ndarray:
    """:func:`classify` for every loan, as int8 category codes (:attr:`Category.code`).

    ``flag_floor_codes`` holds each loan's minimum category code from its flags (see
    :func:`flag_floor_codes`), or None when no loan is flagged.

    >>> policy = load_policy()
    >>> category_codes(np.array([0, 45, 100, 200, 400]), np.array([3, 0, 0, 0, 0], dtype=np.int8), policy).tolist()
    [3, 1, 2, 3, 4]
    """
    dpd = _check_dpd_array(dpd)
    codes = _codes(dpd, list(policy.classification.min_dpd.values()))
    if flag_floor_codes is None:
        return codes
    assert isinstance(flag_floor_codes, np.ndarray) and flag_floor_codes.shape == dpd.shape, "flag_floor_codes must match dpd"
    assert np.issubdtype(flag_floor_codes.dtype, np.integer), "flag_floor_codes must be integer codes"
    if flag_floor_codes.size:
        assert 0 <= flag_floor_codes.min() and flag_floor_codes.max() < len(_ORDER), "flag floor codes outside 0..4"
    return np.maximum(codes, flag_floor_codes.astype(np.int8, copy=False))


def _millionths(rate: Decimal) -> int:
    scaled = rate.scaleb(RATE_DECIMALS)
    assert scaled == scaled.to_integral_value() and 0 <= scaled <= RATE_SCALE, rate  # <= 6 decimals, in 0..1
    return int(scaled)


def _rate_factors(codes: np.ndarray, dpd: np.ndarray, policy: DelinquencyPolicy) -> tuple[np.ndarray, int]:
    """Each loan's rate as ``n1 x n2 / 10^12``: (rate, 10^6) by category, or (PD, LGD) in millionths."""
    provisions = policy.provisions
    if provisions.method is ProvisionMethod.CATEGORY:
        assert provisions.category_rates is not None
        by_category = np.array([_millionths(provisions.category_rates[c]) for c in _ORDER], dtype=np.int64)
        return by_category[codes], RATE_SCALE
    assert provisions.pd_lgd is not None
    pd_lgd = provisions.pd_lgd
    by_bucket = np.array([_millionths(pd) for pd in pd_lgd.pd_by_bucket.values()], dtype=np.int64)
    pd = np.where(codes >= pd_lgd.defaulted_from.code, RATE_SCALE, by_bucket[bucket_codes(dpd, policy)])
    return pd, _millionths(pd_lgd.lgd)


def provisions_fen(
    exposure_fen: np.ndarray, category_codes: np.ndarray, dpd: np.ndarray, policy: DelinquencyPolicy, rounding: Rounding = Rounding()
) -> np.ndarray:
    """:func:`provision_fen` for every loan, int64 fen, equal to it to the fen (both rounding modes).

    Integer arithmetic only. A provision is ``e x n1 x n2 / S^2`` with ``S = 10^6``, ``e`` the
    exposure (0..10^14 fen) and ``n1, n2`` in ``0..S`` (a rate and 10^6, or PD and LGD, in
    millionths). Splitting ``e = a S + b`` and then ``F1 = a2 S + b2``::

        e n1 / S        = F1 + f1 / S          F1 = a n1 + (b n1) // S,  f1 = (b n1) % S
        (F1 + f1/S) n2 / S = a2 n2 + (b2 n2 S + f1 n2) / S^2

    where ``b n1 < 10^12``, ``a2 n2 <= 10^14`` and ``b2 n2 S + f1 n2 < 10^18 + 10^12 < 2^63``: no
    intermediate overflows int64. The exact amount is ``F + f / S^2`` fen; it is rounded to the
    rounding unit by comparing the remainder with half a unit exactly, ties half-up or half-even
    as :meth:`~smelend.money.Rounding.to_fen` does.

    >>> policy = load_policy()
    >>> dpd = np.array([0, 100, 10])
    >>> provisions_fen(np.array([100_000_000, 100_000_000, 25]), category_codes(dpd, None, policy), dpd, policy).tolist()
    [1000000, 25000000, 1]
    """
    dpd = _check_dpd_array(dpd)
    assert isinstance(exposure_fen, np.ndarray) and np.issubdtype(exposure_fen.dtype, np.integer), "exposure must be integer fen"
    assert exposure_fen.shape == dpd.shape == category_codes.shape, "exposure, categories and dpd must have one shape"
    if exposure_fen.size:
        assert 0 <= exposure_fen.min() and exposure_fen.max() <= MAX_AMOUNT_FEN, f"exposure outside 0..{MAX_AMOUNT_FEN} fen"
        assert 0 <= category_codes.min() and category_codes.max() < len(_ORDER), "category codes outside 0..4"
    e = exposure_fen.astype(np.int64, copy=False)
    n1, n2 = _rate_factors(category_codes.astype(np.int64), dpd, policy)
    s = RATE_SCALE
    a, b = np.divmod(e, s)
    f1_whole, f1 = np.divmod(b * n1, s)
    big_f1 = a * n1 + f1_whole
    a2, b2 = np.divmod(big_f1, s)
    carry, frac = np.divmod(b2 * n2 * s + f1 * n2, s * s)
    whole = a2 * n2 + carry  # exact amount = whole + frac / S^2 fen, 0 <= frac < S^2
    return _round_to_unit(whole, frac, s * s, rounding)


def _round_to_unit(whole: np.ndarray, frac: np.ndarray, scale: int, rounding: Rounding) -> np.ndarray:
    """Round ``whole + frac/scale`` fen (non-negative) to a multiple of the rounding unit, exactly."""
    unit = rounding.unit_fen
    units, left = np.divmod(whole, unit)  # amount / unit = units + (left + frac/scale) / unit
    # Compare 2 (left + frac/scale) with unit: d = unit - 2 left, and 0 <= 2 frac/scale < 2.
    d = unit - 2 * left
    tie = ((d == 0) & (frac == 0)) | ((d == 1) & (2 * frac == scale))
    below = (d >= 2) | ((d == 1) & (2 * frac < scale))
    above = ~below & ~tie
    if rounding.mode is RoundingMode.HALF_EVEN:
        up = above | (tie & (units % 2 == 1))
    else:
        up = above | tie
    return (units + up) * unit
