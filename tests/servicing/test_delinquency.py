"""Delinquency: buckets and categories at their edges, flags, non-accrual, provisions to the fen,
the vectorised path equal to the scalar one, and the policy file refused with every error named."""

from __future__ import annotations

import copy
from decimal import Decimal
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from smelend.errors import InvalidInput
from smelend.money import MAX_AMOUNT_FEN, Rounding, RoundingMode
from smelend.servicing.delinquency import (
    MAX_DPD,
    POLICY_FILE,
    Category,
    DelinquencyPolicy,
    ProvisionMethod,
    bucket,
    bucket_codes,
    category_codes,
    classify,
    flag_floor,
    flag_floor_codes,
    is_non_accrual,
    load_policy,
    provision_fen,
    provision_rate,
    provisions_fen,
    write_off_candidate,
)

POLICY = load_policy()
RAW: dict[str, Any] = yaml.safe_load(POLICY_FILE.read_text(encoding="utf-8"))
NO_FLAGS: frozenset[str] = frozenset()
PASS, MENTION, SUB, DOUBT, LOSS = Category
YUAN = 100
PROPERTY = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def policy_with(**changes: Any) -> DelinquencyPolicy:
    """The shipped policy with some top-level sections replaced (validated like the file)."""
    document = copy.deepcopy(RAW)
    document.update(changes)
    return DelinquencyPolicy.model_validate(document)


def pd_lgd_policy() -> DelinquencyPolicy:
    return policy_with(provisions={**RAW["provisions"], "method": "pd-lgd"})


# --- the shipped policy ------------------------------------------------------------------------------


def test_shipped_policy_says_what_the_brief_asks():
    assert POLICY.bucket_names == ("current", "1-30", "31-60", "61-90", "90+")
    assert list(POLICY.buckets.values()) == [0, 1, 31, 61, 91]
    assert POLICY.classification.min_dpd == {PASS: 0, MENTION: 1, SUB: 91, DOUBT: 181, LOSS: 361}
    assert POLICY.classification.flag_floors == {
        "restructured": SUB,
        "fraud": LOSS,
        "bankruptcy": DOUBT,
        "deceased": DOUBT,
        "court_judgement": MENTION,
    }
    assert (POLICY.non_accrual_dpd, POLICY.write_off_dpd) == (90, 360)
    assert POLICY.provisions.method is ProvisionMethod.CATEGORY
    rates = POLICY.provisions.category_rates
    assert rates is not None and [rates[c] for c in Category] == [Decimal(x) for x in ("0.01", "0.02", "0.25", "0.5", "1")]
    assert POLICY.provisions.pd_lgd is not None and POLICY.provisions.pd_lgd.lgd == Decimal("0.8")


def test_policy_is_frozen():
    with pytest.raises(Exception):
        POLICY.non_accrual_dpd = 30  # type: ignore[misc]


def test_regulatory_floors_hold_in_the_shipped_grid():
    """The 2023 Measures: overdue > 90 days at least substandard, > 270 doubtful, > 360 loss."""
    assert classify(91, NO_FLAGS, POLICY) >= SUB
    assert classify(271, NO_FLAGS, POLICY) >= DOUBT
    assert classify(361, NO_FLAGS, POLICY) is LOSS
    assert classify(1, NO_FLAGS, POLICY) >= MENTION


# --- category ------------------------------------------------------------------------------------------


def test_category_order_chinese_and_codes():
    assert [c.chinese for c in Category] == ["正常", "关注", "次级", "可疑", "损失"]
    assert [c.code for c in Category] == [0, 1, 2, 3, 4]
    assert [Category.from_code(i) for i in range(5)] == list(Category)
    assert max(LOSS, PASS) is LOSS and max(MENTION, SUB, PASS) is SUB and min(DOUBT, MENTION) is MENTION
    assert sorted([LOSS, PASS, DOUBT, SUB, MENTION]) == list(Category)
    assert PASS < MENTION <= MENTION < SUB and LOSS > DOUBT >= DOUBT
    assert [c.non_performing for c in Category] == [False, False, True, True, True]
    assert Category("special-mention") is MENTION and MENTION == "special-mention"


# --- buckets and categories at their edges ---------------------------------------------------------------

EDGES = [
    # dpd, bucket, category
    (0, "current", PASS),
    (1, "1-30", MENTION),
    (30, "1-30", MENTION),
    (31, "31-60", MENTION),
    (60, "31-60", MENTION),
    (61, "61-90", MENTION),
    (90, "61-90", MENTION),
    (91, "90+", SUB),
    (180, "90+", SUB),
    (181, "90+", DOUBT),
    (270, "90+", DOUBT),
    (271, "90+", DOUBT),
    (360, "90+", DOUBT),
    (361, "90+", LOSS),
    (365, "90+", LOSS),
    (366, "90+", LOSS),
    (MAX_DPD, "90+", LOSS),
]


@pytest.mark.parametrize(("dpd", "expected_bucket", "expected_category"), EDGES)
def test_bucket_and_category_edges(dpd, expected_bucket, expected_category):
    assert bucket(dpd, POLICY) == expected_bucket
    assert classify(dpd, NO_FLAGS, POLICY) is expected_category


def test_vectorised_edges_equal_the_table():
    dpd = np.array([e[0] for e in EDGES], dtype=np.int32)
    assert [POLICY.bucket_names[c] for c in bucket_codes(dpd, POLICY)] == [e[1] for e in EDGES]
    codes = category_codes(dpd, None, POLICY)
    assert codes.dtype == np.int8 and bucket_codes(dpd, POLICY).dtype == np.int8
    assert [Category.from_code(c) for c in codes] == [e[2] for e in EDGES]


@pytest.mark.parametrize("dpd", [-1, MAX_DPD + 1])
def test_days_past_due_outside_the_limit_is_a_bug(dpd):
    with pytest.raises(AssertionError):
        bucket(dpd, POLICY)
    with pytest.raises(AssertionError):
        classify(dpd, NO_FLAGS, POLICY)
    with pytest.raises(AssertionError):
        is_non_accrual(dpd, POLICY)
    with pytest.raises(AssertionError):
        category_codes(np.array([0, dpd]), None, POLICY)
    with pytest.raises(AssertionError):
        bucket_codes(np.array([dpd]), POLICY)


def test_float_dpd_arrays_are_refused():
    with pytest.raises(AssertionError):
        bucket_codes(np.array([1.5]), POLICY)


def test_empty_book():
    empty = np.array([], dtype=np.int64)
    assert bucket_codes(empty, POLICY).shape == (0,)
    codes = category_codes(empty, np.array([], dtype=np.int8), POLICY)
    assert provisions_fen(empty, codes, empty, POLICY).shape == (0,)


# --- flags ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("flags", "dpd", "expected"),
    [
        ({"restructured"}, 0, SUB),
        ({"restructured"}, 200, DOUBT),  # DPD worse than the floor wins
        ({"fraud"}, 0, LOSS),
        ({"bankruptcy"}, 0, DOUBT),
        ({"deceased"}, 10, DOUBT),
        ({"deceased"}, 400, LOSS),
        ({"court_judgement"}, 0, MENTION),
        ({"court_judgement"}, 100, SUB),
        ({"court_judgement", "restructured"}, 0, SUB),
        ({"court_judgement", "fraud", "bankruptcy"}, 5, LOSS),
    ],
)
def test_flags_raise_the_floor(flags, dpd, expected):
    assert classify(dpd, frozenset(flags), POLICY) is expected
    floor = np.array([flag_floor(frozenset(flags), POLICY).code], dtype=np.int8)
    assert category_codes(np.array([dpd]), floor, POLICY).tolist() == [expected.code]


def test_unknown_flags_name_the_field_flags():
    with pytest.raises(InvalidInput) as caught:
        classify(0, frozenset({"fraud", "frod", "zombie"}), POLICY)
    assert caught.value.first.field == "flags"
    assert "'frod', 'zombie'" in caught.value.first.reason and "known: bankruptcy" in caught.value.first.reason
    with pytest.raises(InvalidInput) as caught:
        flag_floor_codes({"frod": np.array([True])}, 1, POLICY)
    assert caught.value.first.field == "flags"


def test_flag_floor_codes_from_boolean_columns():
    columns = {
        "restructured": np.array([False, True, False, True, False]),
        "court_judgement": np.array([True, True, False, False, False]),
        "fraud": np.array([False, False, False, True, False]),
    }
    floors = flag_floor_codes(columns, 5, POLICY)
    assert floors.dtype == np.int8 and floors.tolist() == [MENTION.code, SUB.code, 0, LOSS.code, 0]
    assert flag_floor_codes({}, 3, POLICY).tolist() == [0, 0, 0]


def test_flag_floors_are_configurable():
    policy = policy_with(classification={**RAW["classification"], "flag_floors": {"restructured": "special-mention", "covid_relief": "pass"}})
    assert classify(0, frozenset({"restructured"}), policy) is MENTION
    assert classify(0, frozenset({"covid_relief"}), policy) is PASS
    with pytest.raises(InvalidInput):
        classify(0, frozenset({"fraud"}), policy)


# --- non-accrual and write-off -------------------------------------------------------------------------------


@pytest.mark.parametrize(("dpd", "expected"), [(0, False), (1, False), (89, False), (90, True), (91, True), (MAX_DPD, True)])
def test_non_accrual_from_90_days(dpd, expected):
    assert is_non_accrual(dpd, POLICY) is expected


@pytest.mark.parametrize(
    ("dpd", "category", "expected"),
    [(359, LOSS, False), (360, LOSS, True), (400, LOSS, True), (400, DOUBT, False), (MAX_DPD, SUB, False), (0, LOSS, False)],
)
def test_write_off_candidates_are_loss_and_late(dpd, category, expected):
    assert write_off_candidate(dpd, category, POLICY) is expected


# --- provisions -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("category", "dpd", "expected_yuan"),
    [(PASS, 0, 10_000), (MENTION, 45, 20_000), (SUB, 100, 250_000), (DOUBT, 200, 500_000), (LOSS, 400, 1_000_000)],
)
def test_category_provisions_on_a_million_yuan(category, dpd, expected_yuan):
    exposure = 1_000_000 * YUAN
    assert provision_fen(exposure, category, dpd, POLICY) == expected_yuan * YUAN
    codes = np.array([category.code], dtype=np.int8)
    assert provisions_fen(np.array([exposure]), codes, np.array([dpd]), POLICY).tolist() == [expected_yuan * YUAN]


@pytest.mark.parametrize(
    ("category", "dpd", "expected_yuan"),
    [
        (PASS, 0, 16_000),  # PD 2% x LGD 80%
        (MENTION, 10, 120_000),  # 15% x 80%
        (MENTION, 45, 280_000),  # 35% x 80%
        (MENTION, 75, 480_000),  # 60% x 80%
        (SUB, 100, 800_000),  # in default: PD 1
        (SUB, 0, 800_000),  # restructured at 0 dpd is in default too
        (LOSS, 400, 800_000),
    ],
)
def test_pd_lgd_provisions_on_a_million_yuan(category, dpd, expected_yuan):
    policy = pd_lgd_policy()
    assert provision_fen(1_000_000 * YUAN, category, dpd, policy) == expected_yuan * YUAN
    codes = np.array([category.code], dtype=np.int8)
    assert provisions_fen(np.array([1_000_000 * YUAN]), codes, np.array([dpd]), policy).tolist() == [expected_yuan * YUAN]


@pytest.mark.parametrize(
    ("exposure", "mode", "expected"),
    [
        (25, RoundingMode.HALF_UP, 1),  # 2% of 25 fen = 0.5
        (25, RoundingMode.HALF_EVEN, 0),
        (75, RoundingMode.HALF_UP, 2),  # 1.5
        (75, RoundingMode.HALF_EVEN, 2),
        (74, RoundingMode.HALF_EVEN, 1),  # 1.48
        (76, RoundingMode.HALF_UP, 2),  # 1.52
    ],
)
def test_provision_ties_follow_the_rounding_mode(exposure, mode, expected):
    rounding = Rounding(mode=mode)
    assert provision_fen(exposure, MENTION, 10, POLICY, rounding) == expected
    got = provisions_fen(np.array([exposure]), np.array([MENTION.code]), np.array([10]), POLICY, rounding)
    assert got.tolist() == [expected]


@pytest.mark.parametrize(
    ("exposure", "mode", "expected"),
    [
        (12_345_678, RoundingMode.HALF_UP, 3_086_400),  # 25% = 30,864.195 yuan
        (2_500, RoundingMode.HALF_UP, 100),  # 2% = 0.50 yuan exactly
        (2_500, RoundingMode.HALF_EVEN, 0),
        (7_500, RoundingMode.HALF_EVEN, 200),  # 1.50 yuan
        (2_525, RoundingMode.HALF_EVEN, 100),  # 0.505 yuan: above the half
    ],
)
def test_provision_rounded_to_whole_yuan(exposure, mode, expected):
    rounding = Rounding(mode=mode, decimals=0)
    category = SUB if exposure == 12_345_678 else MENTION
    assert provision_fen(exposure, category, 100, POLICY, rounding) == expected
    got = provisions_fen(np.array([exposure]), np.array([category.code]), np.array([100]), POLICY, rounding)
    assert got.tolist() == [expected]


def test_provision_limits():
    assert provision_fen(MAX_AMOUNT_FEN, LOSS, 400, POLICY) == MAX_AMOUNT_FEN
    assert provisions_fen(np.array([MAX_AMOUNT_FEN]), np.array([LOSS.code]), np.array([400]), POLICY).tolist() == [MAX_AMOUNT_FEN]
    with pytest.raises(AssertionError):
        provision_fen(-1, PASS, 0, POLICY)
    with pytest.raises(AssertionError):
        provisions_fen(np.array([MAX_AMOUNT_FEN + 1]), np.array([0]), np.array([0]), POLICY)
    with pytest.raises(AssertionError):
        provisions_fen(np.array([1]), np.array([5]), np.array([0]), POLICY)


def test_provision_rate_is_exact():
    assert provision_rate(SUB, 100, POLICY) == Decimal("0.25")
    assert provision_rate(MENTION, 45, pd_lgd_policy()) == Decimal("0.28")


# --- the vectorised path equals the scalar one ---------------------------------------------------------------

dpd_values = st.one_of(st.integers(0, 400), st.integers(0, MAX_DPD))
exposures = st.one_of(st.integers(0, 10_000), st.integers(0, MAX_AMOUNT_FEN))
flag_sets = st.frozensets(st.sampled_from(sorted(POLICY.known_flags)), max_size=3)
millionths = st.integers(0, 10**6)


@st.composite
def thresholds(draw: st.DrawFn, count: int) -> list[int]:
    """``count`` strictly increasing day counts starting at 0."""
    rest = draw(st.lists(st.integers(1, MAX_DPD), min_size=count - 1, max_size=count - 1, unique=True))
    return [0, *sorted(rest)]


def as_rate(value: int) -> str:
    return str(Decimal(value).scaleb(-6))


@st.composite
def policies(draw: st.DrawFn) -> DelinquencyPolicy:
    """Random valid policies: thresholds, 6-decimal rates, PDs, LGD, method, default category."""
    edges = draw(thresholds(draw(st.integers(1, 8))))
    names = [f"b{i}" for i in range(len(edges))]
    min_dpd = dict(zip((c.value for c in Category), draw(thresholds(5))))
    rates = sorted(draw(st.lists(millionths, min_size=5, max_size=5)))
    pds = sorted(draw(st.lists(millionths, min_size=len(edges), max_size=len(edges))))
    return policy_with(
        buckets=dict(zip(names, edges)),
        classification={"min_dpd": min_dpd, "flag_floors": RAW["classification"]["flag_floors"]},
        provisions={
            "method": draw(st.sampled_from(["category", "pd-lgd"])),
            "category_rates": {c.value: as_rate(r) for c, r in zip(Category, rates)},
            "pd_lgd": {
                "pd_by_bucket": {n: as_rate(p) for n, p in zip(names, pds)},
                "lgd": as_rate(draw(millionths)),
                "defaulted_from": draw(st.sampled_from([c.value for c in Category])),
            },
        },
    )


roundings = st.builds(
    Rounding,
    mode=st.sampled_from(list(RoundingMode)),
    decimals=st.sampled_from([2, 2, 1, 0]),
    multiple=st.sampled_from([1, 1, 1, 3, 5, 100, 10**9]),
)


@PROPERTY
@given(
    policy=st.one_of(st.just(POLICY), st.builds(pd_lgd_policy), policies()),
    rows=st.lists(st.tuples(dpd_values, flag_sets, exposures), max_size=60),
    rounding=roundings,
)
def test_vectorised_equals_scalar(policy, rows, rounding):
    dpd = np.array([r[0] for r in rows], dtype=np.int64)
    floors = np.array([flag_floor(r[1], policy).code for r in rows], dtype=np.int8)
    exposure = np.array([r[2] for r in rows], dtype=np.int64)
    buckets = bucket_codes(dpd, policy)
    codes = category_codes(dpd, floors, policy)
    got = provisions_fen(exposure, codes, dpd, policy, rounding)
    assert got.dtype == np.int64
    for i, (days, flags, amount) in enumerate(rows):
        category = classify(days, flags, policy)
        assert policy.bucket_names[buckets[i]] == bucket(days, policy)
        assert codes[i] == category.code
        assert got[i] == provision_fen(amount, category, days, policy, rounding), (days, flags, amount)


@PROPERTY
@given(
    method=st.sampled_from(["category", "pd-lgd"]),
    rate=millionths,
    lgd=millionths,
    exposure=st.integers(0, 10**6),
    mode=st.sampled_from(list(RoundingMode)),
    decimals=st.sampled_from([2, 1, 0]),
)
def test_vectorised_equals_scalar_near_ties(method, rate, lgd, exposure, mode, decimals):
    """Small exposures x 6-decimal rates land on exact halves often: both paths must round them alike."""
    text = as_rate(rate)
    policy = policy_with(
        provisions={
            "method": method,
            "category_rates": {c.value: text for c in Category},
            "pd_lgd": {"pd_by_bucket": {n: text for n in POLICY.bucket_names}, "lgd": as_rate(lgd), "defaulted_from": "loss"},
        }
    )
    rounding = Rounding(mode=mode, decimals=decimals)
    got = provisions_fen(np.array([exposure]), np.array([SUB.code]), np.array([100]), policy, rounding)
    assert got.tolist() == [provision_fen(exposure, SUB, 100, policy, rounding)]


@PROPERTY
@given(policy=st.one_of(st.just(POLICY), policies()), days=st.lists(dpd_values, min_size=2, max_size=50), flags=flag_sets)
def test_category_never_decreases_as_dpd_increases(policy, days, flags):
    days = sorted(days)
    categories = [classify(d, flags, policy) for d in days]
    assert all(a <= b for a, b in zip(categories, categories[1:]))
    floors = np.full(len(days), flag_floor(flags, policy).code, dtype=np.int8)
    codes = category_codes(np.array(days), floors, policy)
    assert (np.diff(codes.astype(np.int64)) >= 0).all()
    # with non-decreasing rates and PDs, the provision cannot fall either
    exposure = 1_000_000 * YUAN
    provisions = [provision_fen(exposure, c, d, policy) for c, d in zip(categories, days)]
    assert provisions == sorted(provisions)


# --- the policy file -------------------------------------------------------------------------------------------


def write(tmp_path: Path, document: Any, name: str = "delinquency.yaml") -> Path:
    path = tmp_path / name
    path.write_text(document if isinstance(document, str) else yaml.safe_dump(document, sort_keys=False, allow_unicode=True), encoding="utf-8")
    return path


def errors_of(path: Path) -> dict[str, str]:
    with pytest.raises(InvalidInput) as caught:
        load_policy(path)
    return {e.field: e.reason for e in caught.value.errors}


def test_shipped_file_round_trips(tmp_path):
    assert load_policy(write(tmp_path, RAW)) == POLICY


def test_bad_file_reports_every_error_at_once_naming_file_and_field(tmp_path):
    bad = copy.deepcopy(RAW)
    bad["buckets"] = {"current": 0, "1-30": 1, "31-60": 31, "61-90": 31, "90+": 91}
    bad["classification"]["min_dpd"]["doubtful"] = 90
    bad["classification"]["flag_floors"]["fraud"] = "catastrophic"
    bad["non_accrual_dpd"] = -5
    bad["write_off_dpd"] = "soon"
    bad["provisions"]["category_rates"]["loss"] = 1.5
    bad["provisions"]["pd_lgd"]["lgd"] = 0.1234567
    bad["colour"] = "red"
    errors = errors_of(write(tmp_path, bad))
    assert set(errors) == {
        "delinquency.yaml: buckets",
        "delinquency.yaml: classification.min_dpd",
        "delinquency.yaml: classification.flag_floors.fraud",
        "delinquency.yaml: non_accrual_dpd",
        "delinquency.yaml: write_off_dpd",
        "delinquency.yaml: provisions.category_rates.loss",
        "delinquency.yaml: provisions.pd_lgd.lgd",
        "delinquency.yaml: colour",
    }
    assert "61-90 (31) is not above 31-60 (31)" in errors["delinquency.yaml: buckets"]
    assert "doubtful (90) is not above substandard (91)" in errors["delinquency.yaml: classification.min_dpd"]
    assert "6 decimal" in errors["delinquency.yaml: provisions.pd_lgd.lgd"]
    assert "Extra inputs are not permitted" in errors["delinquency.yaml: colour"]


@pytest.mark.parametrize(
    ("path", "value", "field", "reason"),
    [
        (("classification", "min_dpd"), {"pass": 0, "special-mention": 1, "substandard": 91, "doubtful": 91, "loss": 361}, "classification.min_dpd", "strictly increasing"),
        (("classification", "min_dpd"), {"pass": 0, "special-mention": 1, "substandard": 181, "doubtful": 91, "loss": 361}, "classification.min_dpd", "strictly increasing"),
        (("classification", "min_dpd"), {"pass": 0, "substandard": 91, "special-mention": 1, "doubtful": 181, "loss": 361}, "classification.min_dpd", "every category in order"),
        (("classification", "min_dpd"), {"pass": 0, "special-mention": 1, "substandard": 91, "doubtful": 181}, "classification.min_dpd", "every category in order"),
        (("classification", "min_dpd"), {"pass": 1, "special-mention": 2, "substandard": 91, "doubtful": 181, "loss": 361}, "classification.min_dpd", "pass must start at 0"),
        (("classification", "min_dpd"), {"pass": 0, "special-mention": 1, "substandard": 91, "doubtful": 181, "loss": 40000}, "classification.min_dpd.loss", "less than or equal to 36500"),
        (("classification", "min_dpd"), {"pass": 0, "special-mention": 1, "substandard": 91, "doubtful": 181, "loss": 361.5}, "classification.min_dpd.loss", "valid integer"),
        (("buckets",), {"current": 0, "1-30": 1, "61-90": 61, "31-60": 31}, "buckets", "strictly increasing"),
        (("buckets",), {"1-30": 1, "31-60": 31}, "buckets", "start at 0"),
        (("buckets",), {}, "buckets", "at least 1 item"),
        (("buckets",), {"current": 0, "bad name!": 1}, "buckets.bad name!.[key]", "match pattern"),
        (("provisions", "category_rates"), {"pass": 0.01, "special-mention": 0.02, "substandard": 0.5, "doubtful": 0.25, "loss": 1}, "provisions.category_rates", "must not decrease"),
        (("provisions", "category_rates"), {"pass": 0.01, "special-mention": 0.02, "doubtful": 0.5, "loss": 1}, "provisions.category_rates", "every category in order"),
        (("provisions", "category_rates"), {"pass": -0.01, "special-mention": 0.02, "substandard": 0.25, "doubtful": 0.5, "loss": 1}, "provisions.category_rates.pass", "greater than or equal to 0"),
        (("provisions", "pd_lgd", "pd_by_bucket"), {"current": 0.5, "1-30": 0.1, "31-60": 0.35, "61-90": 0.6, "90+": 1}, "provisions.pd_lgd.pd_by_bucket", "must not decrease"),
        (("provisions", "pd_lgd", "pd_by_bucket"), {"current": 0.02, "1-30": 0.15, "31-60": 0.35, "90+": 1}, "provisions", "must name every bucket"),
        (("provisions", "pd_lgd", "defaulted_from"), "npl", "provisions.pd_lgd.defaulted_from", "Input should be"),
        (("provisions", "method"), "ifrs9", "provisions.method", "Input should be 'category' or 'pd-lgd'"),
        (("classification", "flag_floors"), {"Fraud!": "loss"}, "classification.flag_floors.Fraud!.[key]", "match pattern"),
        (("non_accrual_dpd",), 0, "non_accrual_dpd", "greater than or equal to 1"),
        (("non_accrual_dpd",), True, "non_accrual_dpd", "valid integer"),
    ],
)
def test_invalid_settings_are_refused_naming_the_field(tmp_path, path, value, field, reason):
    document = copy.deepcopy(RAW)
    target = document
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    errors = errors_of(write(tmp_path, document))
    assert f"delinquency.yaml: {field}" in errors, errors
    assert reason in errors[f"delinquency.yaml: {field}"]


@pytest.mark.parametrize(
    ("path", "field"),
    [
        ((), "colour"),
        (("classification",), "classification.colour"),
        (("provisions",), "provisions.colour"),
        (("provisions", "pd_lgd"), "provisions.pd_lgd.colour"),
    ],
)
def test_unknown_keys_are_refused(tmp_path, path, field):
    document = copy.deepcopy(RAW)
    target = document
    for key in path:
        target = target[key]
    target["colour"] = "red"
    assert errors_of(write(tmp_path, document)) == {f"delinquency.yaml: {field}": "Extra inputs are not permitted"}


def test_the_chosen_method_needs_its_section(tmp_path):
    document = copy.deepcopy(RAW)
    document["provisions"] = {"method": "pd-lgd", "category_rates": RAW["provisions"]["category_rates"]}
    assert "method pd-lgd needs pd_lgd" in errors_of(write(tmp_path, document))["delinquency.yaml: provisions"]
    document["provisions"] = {"method": "category", "pd_lgd": RAW["provisions"]["pd_lgd"]}
    assert "method category needs category_rates" in errors_of(write(tmp_path, document))["delinquency.yaml: provisions"]


def test_missing_sections_are_named(tmp_path):
    document = copy.deepcopy(RAW)
    del document["classification"], document["write_off_dpd"]
    assert set(errors_of(write(tmp_path, document))) == {"delinquency.yaml: classification", "delinquency.yaml: write_off_dpd"}


def test_not_yaml_not_a_mapping_and_missing_file(tmp_path):
    assert "not valid YAML" in errors_of(write(tmp_path, "buckets: [unclosed", "a.yaml"))["a.yaml"]
    assert "must hold a mapping" in errors_of(write(tmp_path, "- a\n- b\n", "b.yaml"))["b.yaml"]
    assert "no such delinquency policy file" in errors_of(tmp_path / "c.yaml")["c.yaml"]
