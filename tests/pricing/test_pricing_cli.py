"""`smelend pricing`: exact JSON keys and values, one-line errors naming the option with status 2."""

from __future__ import annotations

import json

import pytest

from smelend.cli import main
from smelend.pricing.breakeven import additive_breakeven_rate, breakeven_rate
from smelend.pricing.capital import irb_capital
from smelend.pricing.optimize import optimal_rate
from smelend.pricing.takeup import TakeupModel
from smelend.products import load_catalogue

BREAKEVEN = ["--pd", "0.03", "--lgd", "0.8", "--funds-rate", "0.02", "--cost-rate", "0.015", "--capital", "0.07875", "--hurdle", "0.12"]
TAKEUP = ["--takeup-a", "3", "--takeup-b", "25"]
ECON = dict(pd=0.03, lgd=0.8, funds_rate=0.02, cost_rate=0.015, capital=0.07875, hurdle=0.12)


def run(capsys, *argv: str) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as exited:
        main(list(argv))
    out, err = capsys.readouterr()
    return exited.value.code, out, err


def json_of(capsys, *argv: str) -> dict:
    code, out, err = run(capsys, *argv, "--json")
    assert code == 0 and err == "", err
    return json.loads(out)


def test_breakeven(capsys):
    doc = json_of(capsys, "pricing", "breakeven", *BREAKEVEN)
    assert doc == {"breakeven_rate": breakeven_rate(**ECON), "additive_rate": additive_breakeven_rate(**ECON)}
    assert round(doc["breakeven_rate"], 4) == 0.0689 and round(doc["additive_rate"], 4) == 0.0669


def test_capital(capsys):
    doc = json_of(capsys, "pricing", "capital", "--pd", "0.03", "--lgd", "0.8")
    assert doc == {"capital": irb_capital(0.03, 0.8)}
    assert round(doc["capital"], 4) == 0.0893
    scaled = json_of(capsys, "pricing", "capital", "--pd", "0.03", "--lgd", "0.8", "--capital-ratio", "0.105")
    assert scaled["capital"] == pytest.approx(doc["capital"] * 0.105 / 0.08)


def test_optimize(capsys):
    doc = json_of(capsys, "pricing", "optimize", *BREAKEVEN, *TAKEUP)
    best = optimal_rate(**ECON, takeup=TakeupModel(3, 25))
    assert doc == {"rate": best.rate, "takeup": best.takeup, "expected_profit": best.expected_profit}
    assert round(doc["rate"], 3) == 0.136 and round(doc["takeup"], 2) == 0.40 and round(doc["expected_profit"], 4) == 0.0261


def test_optimize_with_cap_and_floors(capsys):
    assert json_of(capsys, "pricing", "optimize", *BREAKEVEN, *TAKEUP, "--cap", "0.12")["rate"] == 0.12
    assert json_of(capsys, "pricing", "optimize", *BREAKEVEN, *TAKEUP, "--floor", "0.15")["rate"] == 0.15
    insensitive = ["--takeup-a", "3", "--takeup-b", "1"]
    assert json_of(capsys, "pricing", "optimize", *BREAKEVEN, *insensitive, "--cap", "0.24")["rate"] == 0.24
    # the optimum is above break-even anyway: the break-even floor changes nothing here ...
    floored = json_of(capsys, "pricing", "optimize", *BREAKEVEN, *TAKEUP, "--floor-breakeven")
    assert floored["rate"] == pytest.approx(json_of(capsys, "pricing", "optimize", *BREAKEVEN, *TAKEUP)["rate"], abs=1e-12)
    # ... and without adverse selection the optimum is above break-even however price-sensitive the market
    sensitive = ["--takeup-a", "3", "--takeup-b", "400"]
    rate = json_of(capsys, "pricing", "optimize", *BREAKEVEN, *sensitive)["rate"]
    assert breakeven_rate(**ECON) < rate < breakeven_rate(**ECON) + 0.005
    adverse = json_of(capsys, "pricing", "optimize", *BREAKEVEN, *TAKEUP, "--adverse-slope", "15", "--reference-rate", "0.1")
    assert adverse["rate"] < 0.1359


def test_human_output(capsys):
    code, out, _ = run(capsys, "pricing", "optimize", *BREAKEVEN, *TAKEUP, "--cap", "0.12")
    assert code == 0 and "optimal rate 0.12 (bound: cap)" in out
    code, out, _ = run(capsys, "pricing", "breakeven", *BREAKEVEN)
    assert code == 0 and "break-even rate 0.0689" in out


def _without(args: list[str], option: str) -> list[str]:
    at = args.index(option)
    return args[:at] + args[at + 2 :]


def _with(args: list[str], option: str, value: str) -> list[str]:
    at = args.index(option)
    return args[: at + 1] + [value] + args[at + 2 :]


@pytest.mark.parametrize(
    ("argv", "option"),
    [
        (["breakeven", *_with(BREAKEVEN, "--pd", "0")], "--pd"),
        (["breakeven", *_with(BREAKEVEN, "--pd", "1.3")], "--pd"),
        (["breakeven", *_with(BREAKEVEN, "--lgd", "1.01")], "--lgd"),
        (["breakeven", *_with(BREAKEVEN, "--lgd", "-0.1")], "--lgd"),
        (["breakeven", *_with(BREAKEVEN, "--funds-rate", "-0.02")], "--funds-rate"),
        (["breakeven", *_with(BREAKEVEN, "--cost-rate", "-0.001")], "--cost-rate"),
        (["breakeven", *_with(BREAKEVEN, "--capital", "-0.07")], "--capital"),
        (["breakeven", *_with(BREAKEVEN, "--hurdle", "nan")], "--hurdle"),
        (["breakeven", *_with(BREAKEVEN, "--pd", "abc")], "--pd"),
        (["breakeven", *_without(BREAKEVEN, "--hurdle")], "--hurdle"),
        (["capital", "--pd", "1", "--lgd", "0.8"], "--pd"),
        (["capital", "--pd", "0.03"], "--lgd"),
        (["capital", "--pd", "0.03", "--lgd", "0.8", "--capital-ratio", "0.05"], "--capital-ratio"),
        (["optimize", *BREAKEVEN, "--takeup-a", "3"], "--takeup-b"),
        (["optimize", *BREAKEVEN, *TAKEUP[:2], "--takeup-b", "-25"], "--takeup-b"),
        (["optimize", *BREAKEVEN, *TAKEUP, "--cap", "-0.1"], "--cap"),
        (["optimize", *BREAKEVEN, *TAKEUP, "--cap", "0.05", "--floor-breakeven"], "--cap"),
        (["optimize", *BREAKEVEN, *TAKEUP, "--floor", "0.2", "--cap", "0.1"], "--cap"),
        (["optimize", *BREAKEVEN, *TAKEUP, "--adverse-slope", "10"], "--reference-rate"),
        (["grid", "--product", "no-such-loan"], "--product"),
        (["grid"], "--product"),
        (["grid", "--product", "tax-data-loan", "--terms", "3,24"], "--terms"),
        (["grid", "--product", "tax-data-loan", "--terms", "three"], "--terms"),
        (["grid", "--product", "tax-data-loan", "--channel", "pigeon"], "--channel"),
        (["grid", "--product", "tax-data-loan", "--lgd", "2"], "--lgd"),
        (["grid", "--product", "tax-data-loan", "--takeup-a", "3"], "--takeup-b"),
        (["grid", "--product", "tax-data-loan", "--model", "cheapest"], "--model"),
        (["grid", "--product", "tax-data-loan", "--compare-term", "9"], "--compare-term"),
    ],
)
def test_bad_input_is_one_line_naming_the_option(capsys, argv, option):
    code, out, err = run(capsys, "pricing", *argv, "--json")
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and err.startswith("smelend: error: ")
    assert option in err


def test_grid_json(capsys, tmp_path):
    html = tmp_path / "grid.html"
    code, out, err = run(capsys, "pricing", "grid", "--product", "tax-data-loan", "--terms", "3,12", "--sample", "2000", "--html", str(html), "--json")
    assert code == 0 and err == f"smelend: wrote {html}\n"
    doc = json.loads(out)
    assert set(doc) == {"product", "settings_version", "channel", "lgd", "model", "floor", "takeup", "cap", "terms", "grades", "cells", "comparison", "applicants"}
    assert doc["product"] == "tax-data-loan" and doc["terms"] == [3, 12] and doc["cap"] is None  # no cap unless asked
    own = load_catalogue()["tax-data-loan"].pricing
    assert (doc["lgd"], doc["takeup"], doc["model"], doc["floor"]) == (float(own.lgd), {"a": own.takeup.a, "b": own.takeup.b}, own.model.value, own.floor)
    assert [g["grade"] for g in doc["grades"]] == ["A1", "A2", "B1", "B2", "C1", "C2"]
    assert len(doc["cells"]) == 12
    for cell in doc["cells"]:
        assert isinstance(cell["rate"], float) and 0 < cell["takeup"] < 1 and cell["raroc"] > 0.12 - 1e-9
    assert doc["comparison"]["term_months"] == 12 and doc["comparison"]["grid"]["expected_profit"] > 0
    assert doc["applicants"]["n"] == 2000
    assert html.stat().st_size > 1_000_000 and 'src="http' not in html.read_text(encoding="utf-8")


def test_grid_with_applicants_file_cap_and_no_comparison(capsys, tmp_path):
    path = tmp_path / "applicants.csv"
    path.write_text("pd,amount\n0.004,100000\n0.02,50000\n0.08,30000\n0.3,10000\n", encoding="utf-8")
    doc = json_of(capsys, "pricing", "grid", "--product", "invoice-loan", "--terms", "6", "--cap", "0.13", "--applicants", str(path))
    assert all(cell["rate"] <= 0.13 for cell in doc["cells"]) and any(cell["bound"] == "cap" for cell in doc["cells"])
    assert doc["comparison"]["declined"] == 1 and doc["comparison"]["grid"]["applicants"] == 3
    assert doc["applicants"] == {"source": str(path), "n": 4}
    doc = json_of(capsys, "pricing", "grid", "--product", "invoice-loan", "--terms", "6", "--sample", "0", "--model", "breakeven-plus-margin")
    assert doc["comparison"] is None and doc["model"] == "breakeven-plus-margin"


def test_grid_with_the_products_cap_and_overrides(capsys):
    own = load_catalogue()["tax-data-loan"].pricing
    doc = json_of(capsys, "pricing", "grid", "--product", "tax-data-loan", "--terms", "12", "--product-cap", "--sample", "0")
    assert doc["cap"] == float(own.cap) and max(cell["rate"] for cell in doc["cells"]) <= float(own.cap)
    doc = json_of(capsys, "pricing", "grid", "--product", "tax-data-loan", "--terms", "12", "--sample", "0", "--lgd", "0.5", "--takeup-a", "2", "--takeup-b", "20", "--channel", "own-app")
    assert (doc["lgd"], doc["takeup"], doc["channel"]) == (0.5, {"a": 2.0, "b": 20.0}, "own-app")
    code, out, err = run(capsys, "pricing", "grid", "--product", "tax-data-loan", "--cap", "0.2", "--product-cap", "--json")
    assert code == 2 and out == "" and "--product-cap" in err


def test_grid_table(capsys):
    code, out, _ = run(capsys, "pricing", "grid", "--product", "owner-credit-loan", "--sample", "500")
    assert code == 0 and "pricing grid" in out and "flat" in out and "C2" in out
