"""Stiglitz-Weiss: DESIGN.md §6's example, moral hazard, collateral, a lognormal continuum, rationing."""

from __future__ import annotations

import json
import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.integrate import quad
from scipy.stats import lognorm

from smelend.errors import InvalidInput
from smelend.pricing.rationing import (
    JUST_ABOVE,
    MAX_TYPES,
    BorrowerType,
    LognormalRisk,
    Population,
    Project,
    Supply,
    bank_receipt,
    borrower_profit,
    breakpoints,
    chosen_project,
    continuum_at,
    evaluate,
    example_path,
    exit_rate,
    load_population,
    population_from_json,
    ration,
    return_curve,
    switch_rate,
)

SAFE = BorrowerType(0.7, Project(0.98, 1.22), "safe")
RISKY = BorrowerType(0.3, Project(0.80, 1.30), "risky")
DESIGN = Population(types=(SAFE, RISKY), outside_option=0.03)


def point_at(curve, rate):
    return next(p for p in curve.points if p.rate == rate)


def test_design_example_safe_type_applies_up_to_18_94_percent():
    safe_exit = exit_rate(SAFE.safe, 0.03, 0.0)
    assert safe_exit == pytest.approx(0.22 - 0.03 / 0.98, abs=1e-15)  # 0.98·(1.22 − (1 + r)) = 0.03
    assert round(safe_exit, 4) == 0.1894
    assert borrower_profit(SAFE.safe, safe_exit, 0.0) == pytest.approx(0.03, abs=1e-15)
    assert exit_rate(RISKY.safe, 0.03, 0.0) == pytest.approx(0.2625)  # 0.80·(1.30 − (1 + r)) = 0.03
    assert chosen_project(SAFE, safe_exit, 0.03, 0.0) is SAFE.safe  # applies at the exit rate itself
    assert chosen_project(SAFE, safe_exit + 1e-12, 0.03, 0.0) is None


def test_design_example_return_peaks_at_1_101_and_drops_to_0_952_just_above():
    curve = return_curve(DESIGN)
    safe_exit = exit_rate(SAFE.safe, 0.03, 0.0)
    assert curve.peak.rate == safe_exit
    assert round(curve.peak.gross_return, 3) == 1.101
    assert curve.peak.gross_return == pytest.approx((0.7 * 0.98 + 0.3 * 0.80) * (1 + safe_exit))
    assert curve.peak.applicant_share == 1.0
    above = curve.points[curve.points.index(curve.peak) + 1]
    assert above.rate == pytest.approx(safe_exit + JUST_ABOVE)
    assert round(above.gross_return, 3) == 0.952 and above.applicant_share == pytest.approx(0.3)
    assert round(point_at(curve, 0.19).gross_return, 3) == 0.952  # the next grid point too
    assert all(p.gross_return <= curve.peak.gross_return for p in curve.points)


def test_curve_includes_exact_exit_rates_and_stops_where_nobody_applies():
    curve = return_curve(DESIGN)
    exits = [b.rate for b in curve.breakpoints]
    assert exits == [exit_rate(SAFE.safe, 0.03, 0), exit_rate(RISKY.safe, 0.03, 0)]
    rates = [p.rate for p in curve.points]
    assert set(exits) <= set(rates) and rates == sorted(rates)
    assert rates[0] == 0.0 and rates[-1] == exits[-1]  # above 26.25% nobody applies: no points
    assert point_at(curve, exits[-1]).gross_return == pytest.approx(0.8 * 1.2625)
    assert 0.001 in rates and 0.1 in rates  # the default grid: steps of 0.1 percentage point


def test_grid_options():
    curve = return_curve(DESIGN, max_rate=0.2, points=5)
    rates = [p.rate for p in curve.points]
    assert rates == sorted({0.0, 0.05, 0.1, 0.15, 0.2, curve.breakpoints[0].rate, curve.breakpoints[0].rate + JUST_ABOVE})
    assert len(curve.breakpoints) == 1  # the risky exit (26.25%) is out of range
    with pytest.raises(InvalidInput, match="points"):
        return_curve(DESIGN, points=1)
    with pytest.raises(InvalidInput, match="max_rate"):
        return_curve(DESIGN, max_rate=1.5)


def test_nobody_applying_is_bad_input():
    poor = Population(types=(BorrowerType(1, Project(0.9, 1.0)),), outside_option=0.03)
    with pytest.raises(InvalidInput, match="nobody applies"):
        return_curve(poor)
    assert evaluate(poor, 0.0) is None


def test_moral_hazard_switch_makes_an_interior_peak():
    population = load_population(example_path("moral-hazard"))
    kind = population.types[0]
    switch = switch_rate(kind, 0.0)
    # indifference: 0.96·(1.30 − g) = 0.76·(1.34 − g)  =>  g = (1.248 − 1.0184) / 0.20
    assert switch == pytest.approx((0.96 * 1.30 - 0.76 * 1.34) / 0.20 - 1)
    assert chosen_project(kind, switch, 0.03, 0.0) is kind.safe
    assert chosen_project(kind, switch + 1e-9, 0.03, 0.0) is kind.risky
    curve = return_curve(population)
    assert [b.kind for b in curve.breakpoints] == ["switch", "exit"]
    assert curve.peak.rate == switch and round(curve.peak.gross_return, 3) == 1.102
    after = curve.points[curve.points.index(curve.peak) + 1]
    assert after.applicant_share == curve.peak.applicant_share == 1.0  # nobody left: the same borrower, riskier
    assert round(after.gross_return, 3) == 0.872
    assert curve.peak.rate < curve.points[-1].rate  # interior: the bank could charge more, but earns less
    assert max(p.gross_return for p in curve.points if p.rate > switch) < curve.peak.gross_return


def test_without_a_risky_project_there_is_no_switch():
    assert switch_rate(SAFE, 0.0) is None
    always_risky = BorrowerType(1, Project(0.9, 1.1), risky=Project(0.5, 2.5))
    assert switch_rate(always_risky, 0.0) == -math.inf
    assert chosen_project(always_risky, 0.0, 0.0, 0.0) is always_risky.risky


def test_collateral_is_kept_on_failure_and_makes_the_safe_type_leave_earlier():
    secured = Population(types=(SAFE, RISKY), outside_option=0.03, collateral=0.3)
    assert bank_receipt(SAFE.safe, 0.1, 0.3) == pytest.approx(0.98 * 1.1 + 0.02 * 0.3)
    safe_exit = exit_rate(SAFE.safe, 0.03, 0.3)
    assert borrower_profit(SAFE.safe, safe_exit, 0.3) == pytest.approx(0.03)
    assert safe_exit < exit_rate(SAFE.safe, 0.03, 0.0)
    curve = return_curve(secured)
    assert curve.peak.rate == safe_exit
    assert curve.peak.gross_return == pytest.approx(0.7 * (0.98 * (1 + safe_exit) + 0.02 * 0.3) + 0.3 * (0.8 * (1 + safe_exit) + 0.2 * 0.3))
    assert curve.peak.gross_return > return_curve(DESIGN).peak.gross_return


def test_full_collateral_makes_every_loan_safe():
    secured = Population(types=(SAFE, RISKY), outside_option=0.03, collateral=2.0)
    point = evaluate(secured, 0.1)
    assert point is not None and point.gross_return == pytest.approx(1.1)  # repaid in every state
    assert exit_rate(SAFE.safe, 0.03, 2.0) == pytest.approx(0.98 * 1.22 - 0.03 - 1)


@settings(max_examples=200, deadline=None)
@given(
    p=st.floats(0.05, 1.0),
    payoff=st.floats(0.5, 3.0),
    u=st.floats(0.0, 0.2),
    collateral=st.floats(0.0, 2.0),
)
def test_exit_rate_solves_the_participation_condition(p, payoff, u, collateral):
    project = Project(p, payoff)
    rate = exit_rate(project, u, collateral)
    assert borrower_profit(project, rate, collateral) == pytest.approx(u, abs=1e-9)
    assert borrower_profit(project, rate + 1e-6, collateral) < u


@st.composite
def populations(draw):
    kinds = []
    for _ in range(draw(st.integers(1, 5))):
        p = draw(st.floats(0.3, 1.0))
        value = draw(st.floats(1.0, 1.4))
        risky = None
        if draw(st.booleans()) and p > 0.35:
            rp = draw(st.floats(0.2, p - 0.1))
            risky = Project(rp, value / p + draw(st.floats(0.05, 1.0)))
        kinds.append(BorrowerType(draw(st.floats(0.1, 5.0)), Project(p, value / p), risky=risky))
    return Population(types=tuple(kinds), outside_option=draw(st.floats(0.0, 0.05)), collateral=draw(st.sampled_from([0.0, 0.2, 0.8])))


@settings(max_examples=60, deadline=None)
@given(populations())
def test_discrete_curve_rises_between_breakpoints_and_peaks_at_one(population):
    try:
        curve = return_curve(population, max_rate=0.5, points=101)
    except InvalidInput:
        return  # nobody applies at any rate in range
    assert all(p.gross_return <= 1 + p.rate + 1e-12 for p in curve.points)
    shares = [p.applicant_share for p in curve.points]
    assert all(a >= b - 1e-12 for a, b in zip(shares, shares[1:]))  # raising the rate never attracts anyone
    cuts = sorted({b.rate for b in breakpoints(population)})
    for left, right in zip(curve.points, curve.points[1:]):
        if not any(left.rate <= c < right.rate for c in cuts):
            assert right.gross_return >= left.gross_return - 1e-12
    assert curve.peak.rate in {b.rate for b in curve.breakpoints} | {curve.points[-1].rate}


def test_lognormal_continuum_matches_numerical_integration():
    risk = LognormalRisk(share=1, project_value=1.15, median_pd=0.05, sigma=0.8)
    dist = lognorm(s=risk.sigma, scale=risk.median_pd)
    for rate, collateral in ((0.05, 0.0), (0.2, 0.0), (0.3, 0.2), (0.15, 0.5)):
        gross, secured = 1 + rate, min(collateral, 1 + rate)
        p_max = (risk.project_value - secured - 0.03) / (gross - secured)
        low = max(1 - p_max, 0.0)
        mass = quad(dist.pdf, low, 1.0, limit=200)[0]
        mean_p = quad(lambda q: (1 - q) * dist.pdf(q), low, 1.0, limit=200)[0] / mass
        share, receipt = continuum_at(risk, rate, 0.03, collateral)
        assert share == pytest.approx(mass / dist.cdf(1.0), rel=1e-7)
        assert receipt == pytest.approx(secured + (gross - secured) * mean_p, rel=1e-7)


def test_lognormal_tail_gives_a_smooth_interior_peak():
    population = load_population(example_path("lognormal"))
    curve = return_curve(population)
    assert [b.kind for b in curve.breakpoints] == ["continuum"] and curve.breakpoints[0].rate == pytest.approx(0.12)
    peak = curve.peak
    assert 0.12 < peak.rate < 0.2 and round(peak.rate, 3) == 0.148
    assert peak.rate not in {b.rate for b in curve.breakpoints}  # not an exit: the return turns over smoothly
    for step in (1e-4, 1e-3, 1e-2):
        assert evaluate(population, peak.rate - step).gross_return < peak.gross_return
        assert evaluate(population, peak.rate + step).gross_return < peak.gross_return
    assert 0 < peak.applicant_share < 1  # the safest have left, the riskiest stay at any rate
    assert curve.points[-1].rate == curve.max_rate


def test_continuum_mixes_with_discrete_types():
    mixed = Population(types=(SAFE, RISKY), outside_option=0.03, continuum=LognormalRisk(1, 1.15, 0.05, 0.8))
    curve = return_curve(mixed)
    assert {b.kind for b in curve.breakpoints} == {"exit", "continuum"}
    lonely = evaluate(mixed, 0.3)
    assert lonely is not None and 0 < lonely.applicant_share < 0.5  # only the continuum's risky tail remains


def test_rationing_at_the_peak_with_fixed_funds():
    curve = return_curve(DESIGN)
    result = ration(curve, market_size=1000, supply=Supply(funds=600))
    assert result.rate == curve.peak.rate and result.is_rationed
    assert (result.demand, result.supply, result.lent, result.rationed) == (1000, 600, 600, 400)
    assert result.rationed_share == pytest.approx(0.4)


def test_supply_rising_with_the_return():
    curve = return_curve(DESIGN)
    supply = Supply(funds=800, elasticity=2.0)
    result = ration(curve, market_size=1000, supply=supply)
    assert result.supply == pytest.approx(800 * curve.peak.gross_return**2) and result.is_rationed


def test_enough_funds_clear_the_market_below_the_peak():
    curve = return_curve(DESIGN)
    result = ration(curve, market_size=1000, supply=Supply(funds=1000, elasticity=1.0))
    assert not result.is_rationed and result.rationed == 0
    assert result.rate < curve.peak.rate and result.supply >= result.demand == 1000
    assert result.rate == pytest.approx(1 / 0.926 - 1, abs=0.001)  # the first grid rate returning 1 to depositors


def test_example_files_all_load_and_peak():
    for name in ("design", "moral-hazard", "lognormal", "collateral"):
        path = example_path(name)
        assert path.is_file() and "description" in json.loads(path.read_text())
        assert return_curve(load_population(path)).peak.gross_return > 1
    assert load_population(example_path("design")) == DESIGN


GOOD = {"types": [{"share": 0.7, "success_prob": 0.98, "payoff": 1.22}], "outside_option": 0.03, "collateral": 0}


@pytest.mark.parametrize(
    ("change", "named"),
    [
        (lambda d: d["types"][0].update(share=0), "types[0].share"),
        (lambda d: d["types"][0].update(share=-1), "types[0].share"),
        (lambda d: d["types"][0].update(success_prob=0), "types[0].success_prob"),
        (lambda d: d["types"][0].update(success_prob=1.01), "types[0].success_prob"),
        (lambda d: d["types"][0].update(payoff=0), "types[0].payoff"),
        (lambda d: d["types"][0].update(payoff="1.2"), "types[0].payoff"),
        (lambda d: d["types"][0].update(colour="red"), "types[0].colour: unknown key"),
        (lambda d: d.update(extra=1), "extra: unknown key"),
        (lambda d: d.pop("outside_option"), "outside_option"),
        (lambda d: d.update(outside_option=-0.1), "outside_option"),
        (lambda d: d.update(types=[]), "types"),
        (lambda d: d["types"][0].update(risky={"success_prob": 0.99, "payoff": 2}), "types[0].risky.success_prob"),
        (lambda d: d["types"][0].update(risky={"success_prob": 0.5, "payoff": 1.0}), "types[0].risky.payoff"),
        (lambda d: d.update(continuum={"share": 1, "project_value": 1.1, "median_pd": 1.5, "sigma": 1}), "continuum.median_pd"),
    ],
)
def test_bad_population_names_the_field(change, named):
    document = json.loads(json.dumps(GOOD))
    change(document)
    with pytest.raises(InvalidInput) as raised:
        population_from_json(json.dumps(document))
    assert raised.value.first.field == "population" and named in str(raised.value)


def test_every_problem_is_reported_at_once():
    document = {"types": [{"share": 0, "success_prob": 2, "payoff": -1}], "outside_option": 0.03}
    with pytest.raises(InvalidInput) as raised:
        population_from_json(json.dumps(document))
    assert len(raised.value.errors) == 3


def test_bad_files():
    with pytest.raises(InvalidInput, match="not valid JSON"):
        population_from_json("{types: 1}")
    with pytest.raises(InvalidInput, match="JSON object"):
        population_from_json("[1, 2]")
    with pytest.raises(InvalidInput, match="no such file"):
        load_population("/nonexistent/population.json")
    too_many = {"types": [GOOD["types"][0]] * (MAX_TYPES + 1), "outside_option": 0.03}
    with pytest.raises(InvalidInput, match="types"):
        population_from_json(json.dumps(too_many))
