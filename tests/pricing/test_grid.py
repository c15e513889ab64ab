"""Pricing grids: representative PDs, cells equal to quotes, the flat-price comparison, table and HTML chart."""

from __future__ import annotations

import json
from decimal import Decimal
from types import SimpleNamespace

import numpy as np
import pytest
from rich.console import Console

from smelend.errors import InvalidInput
from smelend.pricing.grid import PD_FLOOR, GradePD, build_grid, compare_flat, representative_pds
from smelend.pricing.optimize import expected_profit
from smelend.pricing.quote import price
from smelend.pricing.settings import load_pricing_settings
from smelend.pricing.takeup import TakeupModel
from smelend.risk.strategy import load_strategy

SETTINGS = load_pricing_settings()
TAKEUP = TakeupModel(3.2, 26)
LGD = 0.75


@pytest.fixture(scope="module")
def grades():
    return representative_pds(load_strategy().grades.grades)


@pytest.fixture(scope="module")
def grid(grades):
    return build_grid("tax-data-loan", grades, [3, 6, 12], SETTINGS, TAKEUP, lgd=LGD, channel="partner-tax")


@pytest.fixture(scope="module")
def applicants():
    rng = np.random.default_rng(0)
    return np.exp(rng.normal(np.log(0.015), 0.9, 5_000)).clip(1e-4, 0.99)


def test_representative_pds_are_geometric_midpoints_of_the_bands(grades):
    table = load_strategy().grades.grades
    approvable = [g for g in table if g.action != "decline"]
    assert [g.grade for g in grades] == [g.grade for g in approvable]
    assert grades[0].pd == pytest.approx(np.sqrt(PD_FLOOR * table[0].max_pd))
    for previous, grade in zip(table, table[1:]):
        if grade.action != "decline":
            point = next(g for g in grades if g.grade == grade.grade)
            assert point.pd == pytest.approx(np.sqrt(previous.max_pd * grade.max_pd))
            assert previous.max_pd < point.pd <= point.max_pd == grade.max_pd
    with_declined = representative_pds(table, include_declined=True)
    assert len(with_declined) == len(table)


def test_cells_are_quotes_and_rates_rise_with_risk(grid, grades):
    assert len(grid.cells) == len(grades) * 3
    cell = grid.cell("B2", 6)
    assert (grid.lgd, grid.channel) == (LGD, "partner-tax")
    assert cell.quote == price(cell.pd, LGD, 6, "partner-tax", SETTINGS, takeup=TAKEUP)
    for term in (3, 6, 12):
        rates = [grid.cell(g.grade, term).rate for g in grades]
        assert rates == sorted(rates) and len(set(rates)) == len(rates)
        takeups = [grid.cell(g.grade, term).quote.takeup for g in grades]
        assert takeups == sorted(takeups, reverse=True)
    with pytest.raises(KeyError):
        grid.cell("B2", 24)


def test_grid_document(grid):
    document = json.loads(json.dumps(grid.to_dict()))
    assert set(document) == {"product", "settings_version", "channel", "lgd", "model", "takeup", "cap", "terms", "grades", "cells"}
    first = document["cells"][0]
    assert set(first) == {"grade", "pd", "term_months", "rate", "takeup", "expected_profit", "raroc", "breakeven_rate", "funds_rate", "capital", "bound"}
    assert Decimal(repr(first["rate"])) == grid.cells[0].rate


def test_rates_for_applicants_follow_the_bands(grid):
    pds = np.array([0.001, 0.005, 0.0051, 0.05, 0.1, 0.2])
    rates = grid.rates_for(pds, 12)
    expected = [grid.cell(g, 12).rate for g in ("A1", "A1", "A2", "C1", "C2")]
    assert rates[:5].tolist() == [float(r) for r in expected]
    assert np.isnan(rates[5])  # grade D is declined: no price
    no_bands = build_grid("tax-data-loan", [("low", 0.01), ("high", 0.05)], [12], SETTINGS, TAKEUP, lgd=LGD)
    assert no_bands.rates_for(np.array([0.005, 0.04]), 12).tolist() == [float(no_bands.cell("low", 12).rate), float(no_bands.cell("high", 12).rate)]


def test_flat_price_maximises_total_profit_and_the_grid_beats_it(grid, applicants):
    comparison = compare_flat(grid, applicants, 12, SETTINGS)
    priced = applicants[~np.isnan(grid.rates_for(applicants, 12))]
    assert comparison.declined == applicants.size - priced.size
    assert comparison.grid.applicants == comparison.flat.applicants == priced.size
    economics = dict(
        pd=priced, lgd=grid.lgd, funds_rate=SETTINGS.funds_rate(12), cost_rate=SETTINGS.cost_rate(grid.channel),
        capital=SETTINGS.capital_rate(priced, grid.lgd), hurdle=SETTINGS.hurdle_rate, takeup=TAKEUP,
    )
    total = lambda r: float(np.sum(expected_profit(r, **economics)))  # noqa: E731
    flat = float(comparison.flat_rate)
    assert comparison.flat.expected_profit == pytest.approx(total(flat))
    assert total(flat) >= max(total(flat - 0.002), total(flat + 0.002))
    assert comparison.grid.expected_profit > comparison.flat.expected_profit
    assert comparison.profit_uplift > 0
    assert comparison.flat.mean_rate == pytest.approx(flat)
    assert 0 < comparison.grid.takeup < 1 and comparison.grid.volume == pytest.approx(comparison.grid.expected_borrowers)
    json.dumps(comparison.to_dict())


def test_amounts_weight_the_comparison(grid, applicants):
    amounts = np.where(applicants < 0.01, 300_000.0, 50_000.0)
    comparison = compare_flat(grid, applicants, 12, SETTINGS, amounts=amounts)
    assert comparison.grid.volume > comparison.grid.expected_borrowers * 50_000
    with pytest.raises(InvalidInput) as caught:
        compare_flat(grid, applicants, 12, SETTINGS, amounts=-amounts)
    assert caught.value.first.field == "amount"
    with pytest.raises(InvalidInput) as caught:
        compare_flat(grid, applicants, 24, SETTINGS)
    assert caught.value.first.field == "term_months"
    with pytest.raises(InvalidInput):
        compare_flat(grid, np.array([0.5, 0.9]), 12, SETTINGS)  # every applicant declined


def test_table_and_offline_html(grid, tmp_path):
    console = Console(width=160, record=True)
    console.print(grid.table())
    text = console.export_text()
    assert "B2" in text and "RAROC" in text
    path = tmp_path / "grid.html"
    grid.write_html(path, SETTINGS)
    html = path.read_text(encoding="utf-8")
    assert "plotly" in html.lower() and len(html) > 1_000_000  # plotly.js embedded
    assert 'src="http' not in html and "cdn.plot.ly/plotly" not in html.split("<body>")[0]
    assert "expected profit per unit offered against take-up" in html


def test_grid_with_a_cap_and_breakeven_plus_margin(grades):
    capped = build_grid("tax-data-loan", grades, [12], SETTINGS, TAKEUP, lgd=LGD, cap=Decimal("0.13"), model="breakeven-plus-margin", margin=Decimal("0.02"))
    assert capped.cap == 0.13 and capped.model == "breakeven-plus-margin"
    for cell in capped.cells:
        q = cell.quote
        assert cell.rate <= Decimal("0.13") and (q.bound == "cap" or q.unrounded_rate == pytest.approx(q.breakeven_rate + 0.02))


def test_bad_grid_inputs():
    with pytest.raises(InvalidInput) as caught:
        build_grid("tax-data-loan", [], [12], SETTINGS, TAKEUP, lgd=LGD)
    assert caught.value.first.field == "grades"
    with pytest.raises(InvalidInput) as caught:
        build_grid("tax-data-loan", [("A", 0.01)], [12, 12], SETTINGS, TAKEUP, lgd=LGD)
    assert caught.value.first.field == "terms"
    with pytest.raises(InvalidInput) as caught:
        build_grid("tax-data-loan", [("A", 0.01)], [12], SETTINGS, TAKEUP, lgd=LGD, channel="carrier-pigeon")
    assert caught.value.first.field == "channel"
    assert GradePD("A", 0.01).max_pd is None
    assert representative_pds([SimpleNamespace(grade="X", max_pd=1.0, action="approve")])[0].pd == pytest.approx(np.sqrt(PD_FLOOR))
