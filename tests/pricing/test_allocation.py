"""Portfolio rationing: limits under funding and capital budgets, by LP (HiGHS), rounded, with reasons."""

from __future__ import annotations

from decimal import Decimal

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from smelend.errors import InvalidInput
from smelend.pricing.allocation import (
    STANDARDISED_CAPITAL_PER_UNIT,
    Applicant,
    Budget,
    Costs,
    Reason,
    allocate,
    applicants_from_arrays,
    applicants_from_rows,
    greedy_amounts,
    solve_relaxed,
    unit_margin,
)

YUAN = 100
THOUSAND = 1_000 * YUAN
PURE = Costs(Decimal(0), Decimal(0), Decimal(0))  # the margin is the rate: easy numbers


def pure(ids, requested_yuan, rates, capital):
    """Applicants without risk whose margin under PURE costs is their rate."""
    n = len(ids)
    return applicants_from_arrays(ids, [r * YUAN for r in requested_yuan], [0.0] * n, [0.0] * n, rates, capital)


def by_id(result):
    return {g.id: g for g in result.grants}


def test_margin_is_design_md_m_of_r():
    a = Applicant("x", 100, Decimal("0.03"), Decimal("0.8"), Decimal("0.136"))
    design = (1 - a.pd) * (1 + a.annual_rate) + a.pd * (1 - a.lgd) - (1 + Decimal("0.02") + Decimal("0.015") + Decimal("0.07875") * (Decimal("0.12") - Decimal("0.02")))
    assert unit_margin(a, Costs()) == design == Decimal("0.065045")
    assert a.capital_per_unit == STANDARDISED_CAPITAL_PER_UNIT


def test_funding_budget_rations_the_least_profitable():
    people = pure(["a", "b", "c"], [50_000, 80_000, 40_000], [0.10, 0.05, 0.08], [0.0] * 3)
    result = allocate(people, Budget(funding_fen=100_000 * YUAN), PURE)
    grants = by_id(result)
    assert [grants[k].granted_fen // YUAN for k in "abc"] == [50_000, 10_000, 40_000]
    assert grants["b"].reasons == (Reason.RATIONED_FUNDING_BUDGET,) and grants["a"].reason is Reason.GRANTED_IN_FULL
    assert result.granted_fen == 100_000 * YUAN and result.rationed_fen == 70_000 * YUAN
    assert result.expected_profit_fen == (5_000 + 500 + 3_200) * YUAN


def test_unprofitable_applicants_get_nothing_even_with_money_to_spare():
    people = applicants_from_arrays(["good", "bad"], [10_000 * YUAN] * 2, [0.02, 0.2], [0.8, 0.9], [0.12, 0.12])
    result = allocate(people, Budget(funding_fen=10**9))
    grants = by_id(result)
    assert grants["bad"].granted_fen == 0 and grants["bad"].reasons == (Reason.NOT_PROFITABLE,) and grants["bad"].unit_margin < 0
    assert grants["good"].granted_fen == 10_000 * YUAN
    assert result.declined_fen == 10_000 * YUAN and result.rationed_fen == 0


def test_limits_round_down_to_the_unit_and_full_requests_stay_whole():
    people = pure(["a", "b"], [80_500, 80_000], [0.10, 0.05], [0.0, 0.0])
    result = allocate(people, Budget(funding_fen=100_900 * YUAN), PURE)
    grants = by_id(result)
    assert grants["a"].granted_fen == 80_500 * YUAN  # the whole request, not a multiple of 1,000
    assert grants["b"].granted_fen == 20_000 * YUAN  # 20,400 rounded down; 400 left is less than a unit
    assert grants["b"].reason is Reason.RATIONED_FUNDING_BUDGET
    custom = allocate(people, Budget(funding_fen=100_900 * YUAN, unit_fen=100 * YUAN), PURE)
    assert by_id(custom)["b"].granted_fen == 20_400 * YUAN


def test_capital_budget_and_the_lp_beating_greedy():
    # a earns more per yuan, b far more per yuan of capital; both budgets bind at the optimum
    people = pure(["a", "b"], [100_000, 100_000], [0.05, 0.03], [0.10, 0.01])
    budget = Budget(funding_fen=100_000 * YUAN, capital_fen=5_000 * YUAN)
    relaxed = solve_relaxed(people, budget, PURE)
    greedy = greedy_amounts(people, budget, PURE)
    assert relaxed.amounts_fen / YUAN == pytest.approx([400_000 / 9, 500_000 / 9])
    assert greedy / YUAN == pytest.approx([0, 100_000])  # capital is the scarcer: b first, then no funding left
    margins = np.array([0.05, 0.03])
    assert relaxed.profit_fen == pytest.approx(margins @ relaxed.amounts_fen)
    assert relaxed.profit_fen > 1.29 * (margins @ greedy)  # 3,889 against 3,000 yuan
    assert relaxed.funding_price == pytest.approx(0.25 / 9) and relaxed.capital_price == pytest.approx(2 / 9)
    result = allocate(people, budget, PURE)
    grants = by_id(result)
    assert grants["a"].granted_fen == 44_000 * YUAN and grants["b"].granted_fen == 56_000 * YUAN  # b took the freed unit
    assert grants["a"].reasons == (Reason.RATIONED_FUNDING_BUDGET, Reason.RATIONED_CAPITAL_BUDGET)  # ranked by shadow price
    assert grants["b"].reasons == (Reason.RATIONED_FUNDING_BUDGET,)
    assert result.capital_used <= 5_000 * YUAN and result.granted_fen == 100_000 * YUAN


def test_capital_budget_alone():
    people = pure(["a", "b", "free"], [100_000, 100_000, 100_000], [0.05, 0.03, 0.01], [0.10, 0.01, 0.0])
    result = allocate(people, Budget(capital_fen=2_000 * YUAN), PURE)
    grants = by_id(result)
    assert grants["free"].granted_fen == 100_000 * YUAN  # needs no capital: nothing to ration
    assert grants["b"].granted_fen == 100_000 * YUAN  # 1,000 of capital, the best return on it
    assert grants["a"].granted_fen == 10_000 * YUAN and grants["a"].reasons == (Reason.RATIONED_CAPITAL_BUDGET,)


def test_minimum_line_is_a_mixed_integer_programme():
    people = pure(["a", "b", "small"], [80_000, 60_000, 30_000], [0.10, 0.09, 0.20], [0.0] * 3)
    budget = Budget(funding_fen=100_000 * YUAN, min_line_fen=50_000 * YUAN)
    result = allocate(people, budget, PURE)
    grants = by_id(result)
    assert result.solver == "highs-milp" and result.optimal
    assert grants["a"].granted_fen == grants["b"].granted_fen == 50_000 * YUAN  # not 80,000 + 20,000
    assert grants["small"].reasons == (Reason.BELOW_MINIMUM_LINE,)
    assert all(g.granted_fen == 0 or g.granted_fen >= 50_000 * YUAN for g in result.grants)
    with pytest.raises(InvalidInput, match="min_line"):
        Budget(funding_fen=1, min_line_fen=1_500 * YUAN)


def test_no_applicants_and_no_budget():
    assert allocate((), Budget(funding_fen=1)).grants == ()
    with pytest.raises(InvalidInput, match="funding_budget"):
        Budget()
    with pytest.raises(InvalidInput, match="duplicate"):
        pure(["a", "a"], [1, 1], [0.1, 0.1], [0, 0])
    twin = Applicant("a", 100, Decimal(0), Decimal(0), Decimal("0.1"))
    with pytest.raises(InvalidInput, match="unique"):
        allocate((twin, twin), Budget(funding_fen=1))


def test_rows_from_a_file_are_validated_all_at_once():
    rows = [
        {"id": "ok", "requested": "10000.50", "pd": "0.03", "lgd": "0.8", "annual_rate": "0.12", "capital_per_unit": ""},
        {"id": "bad", "requested": "0", "pd": "1.5", "lgd": "", "annual_rate": "0.12", "colour": "red"},
        {"id": "ok", "requested": "abc", "pd": "0.03", "lgd": "0.8", "annual_rate": "0.12"},
    ]
    with pytest.raises(InvalidInput) as raised:
        applicants_from_rows(rows)
    text = str(raised.value)
    for expected in ("row 2 requested", "row 2 pd", "row 2 lgd", "row 2 colour: unknown column", "row 3 id: duplicate", "row 3 requested"):
        assert expected in text
    assert len(raised.value.errors) == 6 and all(e.field == "applicants" for e in raised.value.errors)
    (one,) = applicants_from_rows(rows[:1], capital_per_unit=Decimal("0.05"))
    assert one == Applicant("ok", 1_000_050, Decimal("0.03"), Decimal("0.8"), Decimal("0.12"), Decimal("0.05"))


# -- properties -----------------------------------------------------------------------------------------


@st.composite
def problems(draw):
    n = draw(st.integers(1, 12))
    requested = draw(st.lists(st.integers(1, 500_000), min_size=n, max_size=n))
    people = applicants_from_arrays(
        [f"a{i}" for i in range(n)],
        [r * YUAN + draw(st.sampled_from([0, 0, 50])) for r in requested],
        draw(st.lists(st.floats(0.0, 0.2), min_size=n, max_size=n)),
        draw(st.lists(st.floats(0.2, 1.0), min_size=n, max_size=n)),
        draw(st.lists(st.floats(0.03, 0.24), min_size=n, max_size=n)),
        draw(st.lists(st.sampled_from([0.0, 0.05, 0.07875, 0.1, 0.2]), min_size=n, max_size=n)),
    )
    total = sum(a.requested_fen for a in people)
    kind = draw(st.sampled_from(["funding", "capital", "both"]))
    funding = draw(st.integers(0, total * 3 // 2)) if kind != "capital" else None
    capital = draw(st.integers(0, total // 8)) if kind != "funding" else None
    unit = draw(st.sampled_from([1, YUAN, THOUSAND, 10 * THOUSAND]))
    return people, Budget(funding_fen=funding, capital_fen=capital, unit_fen=unit)


def _profit(people, amounts, costs=Costs()):
    return sum(float(unit_margin(a, costs)) * float(x) for a, x in zip(people, amounts))


@settings(max_examples=150, deadline=None)
@given(problems())
def test_allocation_respects_budgets_requests_and_units(problem):
    people, budget = problem
    result = allocate(people, budget)
    assert budget.funding_fen is None or result.granted_fen <= budget.funding_fen
    assert budget.capital_fen is None or sum(a.capital_per_unit * g.granted_fen for a, g in zip(people, result.grants)) <= budget.capital_fen
    for a, g in zip(people, result.grants):
        assert 0 <= g.granted_fen <= a.requested_fen
        assert g.granted_fen in (0, a.requested_fen) or g.granted_fen % budget.unit_fen == 0
        if unit_margin(a, Costs()) <= 0:
            assert g.granted_fen == 0 and g.reasons == (Reason.NOT_PROFITABLE,)
        elif g.granted_fen < a.requested_fen:
            assert set(g.reasons) <= {Reason.RATIONED_FUNDING_BUDGET, Reason.RATIONED_CAPITAL_BUDGET} and g.reasons
    granted = [g.granted_fen for g in result.grants]
    slack = (2 + 1) * budget.unit_fen * max(0.0, *(float(unit_margin(a, Costs())) for a in people))  # <= 2 fractional LP limits
    assert _profit(people, granted) >= result.relaxed_profit - slack - 1e-6 * max(result.relaxed_profit, 1)
    assert _profit(people, granted) <= result.relaxed_profit * (1 + 1e-9) + 1


@settings(max_examples=150, deadline=None)
@given(problems())
def test_lp_is_never_worse_than_greedy(problem):
    people, budget = problem
    relaxed = solve_relaxed(people, budget)
    greedy = greedy_amounts(people, budget)
    assert budget.funding_fen is None or greedy.sum() <= budget.funding_fen * (1 + 1e-12) + 1e-6
    assert relaxed.profit_fen >= _profit(people, greedy) - 1e-6 * max(abs(relaxed.profit_fen), 1) - 1e-3


@settings(max_examples=100, deadline=None)
@given(problems())
def test_a_budget_above_total_demand_grants_every_profitable_request(problem):
    people, _ = problem
    total = sum(a.requested_fen for a in people)
    capital = sum(a.capital_per_unit * a.requested_fen for a in people)
    result = allocate(people, Budget(funding_fen=total, capital_fen=int(capital) + 1))
    for a, g in zip(people, result.grants):
        profitable = unit_margin(a, Costs()) > 0
        assert g.granted_fen == (a.requested_fen if profitable else 0)
        assert g.reason is (Reason.GRANTED_IN_FULL if profitable else Reason.NOT_PROFITABLE)
    assert result.rationed_fen == 0


def test_solver_overshoot_is_taken_back_from_the_lowest_priority():
    from smelend.pricing.allocation import _Budgets

    people = pure(["a", "b", "free"], [100_000, 100_000, 100_000], [0.05, 0.03, 0.01], [0.10, 0.01, 0.0])
    ledger = _Budgets(Budget(funding_fen=100_000 * YUAN), people)
    granted = [ledger.round_down(0, 50_000 * YUAN - 0.01), ledger.round_down(1, 60_000 * YUAN), 0]  # noise; 110,000: over
    assert granted == [50_000 * YUAN, 60_000 * YUAN, 0] and ledger.over_funding()
    ledger.repair(granted, order=[0, 1])
    assert granted == [50_000 * YUAN, 50_000 * YUAN, 0] and not ledger.over()

    ledger = _Budgets(Budget(capital_fen=5_000 * YUAN), people)
    granted = [ledger.round_down(i, x * YUAN) for i, x in enumerate([45_000, 60_000, 100_000])]  # capital 5,100
    ledger.repair(granted, order=[0, 1, 2])  # "free" is last but uses no capital: "b" gives back 10,000
    assert granted == [45_000 * YUAN, 50_000 * YUAN, 100_000 * YUAN] and ledger.capital_used == 5_000 * YUAN


@settings(max_examples=40, deadline=None)
@given(problems(), st.integers(1, 20))
def test_minimum_lines_hold_with_the_budgets(problem, units):
    people, budget = problem
    budget = Budget(budget.funding_fen, budget.capital_fen, budget.unit_fen, min_line_fen=units * budget.unit_fen)
    result = allocate(people, budget)
    assert budget.funding_fen is None or result.granted_fen <= budget.funding_fen
    assert budget.capital_fen is None or result.capital_used <= budget.capital_fen
    for a, g in zip(people, result.grants):
        assert g.granted_fen == 0 or g.granted_fen >= budget.min_line_fen
        if a.requested_fen < budget.min_line_fen:
            assert g.granted_fen == 0 and g.reason in (Reason.BELOW_MINIMUM_LINE, Reason.NOT_PROFITABLE)
