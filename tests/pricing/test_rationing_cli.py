"""`smelend rationing curve` and `smelend rationing allocate`: JSON contracts, tables, one-line errors."""

from __future__ import annotations

import json
import subprocess
import sys
from decimal import Decimal

import pytest

from smelend.cli import main
from smelend.pricing.rationing import example_path

DESIGN = str(example_path("design"))
SAFE_EXIT = 0.22 - 0.03 / 0.98


def run(capsys, *argv: str) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as exited:
        main(list(argv))
    out, err = capsys.readouterr()
    return exited.value.code, out, err


def test_curve_json_contract_reproduces_design_md(capsys):
    code, out, err = run(capsys, "rationing", "curve", "--population", DESIGN, "--json")
    assert code == 0 and err == ""
    doc = json.loads(out)
    assert set(doc) == {"peak_rate", "peak_return", "curve"}
    assert doc["peak_rate"] == pytest.approx(SAFE_EXIT, abs=1e-15) and round(doc["peak_rate"], 4) == 0.1894
    assert round(doc["peak_return"], 3) == 1.101
    curve = doc["curve"]
    assert all(set(p) == {"rate", "return", "applicant_share"} for p in curve)
    rates = [p["rate"] for p in curve]
    assert rates == sorted(rates) and rates[0] == 0.0
    at = rates.index(doc["peak_rate"])
    assert curve[at]["return"] == doc["peak_return"] and curve[at]["applicant_share"] == 1.0
    assert round(curve[at + 1]["return"], 3) == 0.952 and curve[at + 1]["applicant_share"] == pytest.approx(0.3)
    assert 0.2625 == pytest.approx(rates[-1])  # the risky type's exit, an exact point; nobody applies above it
    assert max(p["return"] for p in curve) == doc["peak_return"]
    assert len(repr(doc["peak_return"])) > 10  # full precision, not rounded for display


def test_curve_grid_flags(capsys):
    code, out, _ = run(capsys, "rationing", "curve", "--population", DESIGN, "--max-rate", "0.2", "--points", "21", "--json")
    rates = [p["rate"] for p in json.loads(out)["curve"]]
    assert code == 0 and rates[-1] == 0.2 and len(rates) == 21 + 2 and 0.19 in rates
    assert any(r == pytest.approx(SAFE_EXIT, abs=1e-15) for r in rates)


def test_curve_with_extensions_and_rationing(capsys):
    code, out, _ = run(capsys, "rationing", "curve", "--population", str(example_path("moral-hazard")), "--json", "--funds", "600", "--market-size", "1000")
    doc = json.loads(out)
    assert code == 0 and round(doc["peak_rate"], 3) == 0.148 and round(doc["peak_return"], 3) == 1.102
    assert doc["rationing"]["is_rationed"] and doc["rationing"]["rationed"] == pytest.approx(400)
    code, out, _ = run(capsys, "rationing", "curve", "--population", str(example_path("lognormal")), "--json")
    assert code == 0 and 0.12 < json.loads(out)["peak_rate"] < 0.2


def test_curve_table_shows_key_points_and_the_peak(capsys):
    code, out, _ = run(capsys, "rationing", "curve", "--population", DESIGN, "--funds", "0.5")
    assert code == 0 and "PEAK" in out and "18.9388" in out and "1.1014" in out and "0.9515" in out
    assert "safe applies up to here" in out and "rationed" in out


def _population(tmp_path, document) -> str:
    path = tmp_path / "population.json"
    path.write_text(document if isinstance(document, str) else json.dumps(document))
    return str(path)


GOOD = {"types": [{"share": 0.7, "success_prob": 0.98, "payoff": 1.22}, {"share": 0.3, "success_prob": 0.8, "payoff": 1.3}], "outside_option": 0.03, "collateral": 0}


@pytest.mark.parametrize(
    ("change", "named"),
    [
        (None, "--population"),  # missing file
        ("{not json", "--population"),
        (lambda d: d["types"][0].update(share=0), "types[0].share"),
        (lambda d: d["types"][1].update(share=-0.3), "types[1].share"),
        (lambda d: d["types"][0].update(success_prob=0), "types[0].success_prob"),
        (lambda d: d["types"][0].update(success_prob=1.5), "types[0].success_prob"),
        (lambda d: d["types"][1].update(payoff=0), "types[1].payoff"),
        (lambda d: d["types"][0].update(payof=1.2), "types[0].payof"),
        (lambda d: d.update(outside=0.03), "outside"),
    ],
)
def test_bad_population_is_one_line_naming_the_field(capsys, tmp_path, change, named):
    if change is None:
        path = str(tmp_path / "missing.json")
    elif isinstance(change, str):
        path = _population(tmp_path, change)
    else:
        document = json.loads(json.dumps(GOOD))
        change(document)
        path = _population(tmp_path, document)
    code, out, err = run(capsys, "rationing", "curve", "--population", path, "--json")
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and named in err and "--population" in err


@pytest.mark.parametrize(("flag", "value"), [("--max-rate", "0"), ("--max-rate", "2"), ("--points", "1"), ("--funds", "-1"), ("--market-size", "x")])
def test_bad_curve_flags(capsys, flag, value):
    extra = ["--funds", "1"] if flag == "--market-size" else []
    code, out, err = run(capsys, "rationing", "curve", "--population", DESIGN, flag, value, *extra, "--json")
    assert code == 2 and out == "" and err.count("\n") == 1 and flag in err


CSV = """id,requested,pd,lgd,annual_rate,capital_per_unit
A1,50000,0.03,0.8,0.136,
A2,80000,0.01,0.6,0.09,0.05
A3,120000.50,0.05,0.8,0.18,0.10
A4,30000,0.10,0.9,0.08,
"""


def test_allocate_json_contract(capsys, tmp_path):
    path = tmp_path / "applicants.csv"
    path.write_text(CSV)
    code, out, err = run(capsys, "rationing", "allocate", "--applicants", str(path), "--funding-budget", "150000", "--json")
    assert code == 0 and err == ""
    doc = json.loads(out)
    rows = {r["id"]: r for r in doc["applicants"]}
    assert set(rows["A1"]) == {"id", "requested", "granted", "rationed", "reason", "reasons", "unit_margin", "expected_profit", "capital"}
    assert rows["A4"]["granted"] == "0.00" and rows["A4"]["reason"] == "NOT_PROFITABLE"
    assert rows["A3"]["granted"] == "120000.50" and rows["A3"]["reason"] == "GRANTED_IN_FULL"  # the best margin: 8.6%
    assert rows["A1"]["granted"] == "29000.00" and rows["A1"]["reason"] == "RATIONED_FUNDING_BUDGET"  # 29,499.50 rounded down
    assert rows["A2"]["granted"] == "0.00" and rows["A2"]["rationed"] == "80000.00"
    assert Decimal(rows["A1"]["unit_margin"]) == Decimal("0.065045")
    totals = doc["totals"]
    assert totals["granted"] == "149000.50" and totals["requested"] == "280000.50" and totals["declined"] == "30000.00"
    assert totals["rationed"] == "101000.00" and Decimal(totals["funding_use"]) <= 1
    assert totals["expected_profit"] == "12206.35"  # 120,000.50 x 8.6% = 10,320.04 and 29,000 x 6.5045% = 1,886.31
    assert totals["capital_budget"] is None and doc["solver"] == "highs-lp"


def test_allocate_json_file_capital_budget_and_table(capsys, tmp_path):
    rows = [
        {"id": "a", "requested": 100000, "pd": 0.0, "lgd": 0.5, "annual_rate": 0.12, "capital_per_unit": 0.1},
        {"id": "b", "requested": "100000", "pd": "0.0", "lgd": "0.5", "annual_rate": "0.08", "capital_per_unit": "0.01"},
    ]
    path = tmp_path / "applicants.json"
    path.write_text(json.dumps({"applicants": rows}))
    argv = ["rationing", "allocate", "--applicants", str(path), "--funding-budget", "1000000", "--capital-budget", "5000"]
    code, out, _ = run(capsys, *argv, "--json")
    doc = json.loads(out)
    assert code == 0 and Decimal(doc["totals"]["capital_used"]) <= 5000 and doc["totals"]["capital_use"] is not None
    assert {r["reason"] for r in doc["applicants"]} == {"GRANTED_IN_FULL", "RATIONED_CAPITAL_BUDGET"}
    code, out, _ = run(capsys, *argv)
    assert code == 0 and "RATIONED_CAPITAL_BUDGET" in out and "expected profit" in out


@pytest.mark.parametrize(
    ("content", "flags", "named"),
    [
        (None, [], "--applicants"),
        (CSV.replace("0.136", "1.36"), [], "row 1 annual_rate"),
        (CSV.replace("A2,80000", "A2,-5"), [], "row 2 requested"),
        (CSV.replace("capital_per_unit", "colour"), [], "colour"),
        (CSV, ["--funding-budget", "abc"], "--funding-budget"),
        (CSV, ["--funding-budget", "-1"], "--funding-budget"),
        (CSV, ["--hurdle", "12"], "--hurdle"),
        (CSV, ["--min-line", "1500"], "--min-line"),
    ],
)
def test_bad_allocate_input_is_one_line(capsys, tmp_path, content, flags, named):
    path = tmp_path / "applicants.csv"
    if content is not None:
        path.write_text(content)
    argv = ["rationing", "allocate", "--applicants", str(path), "--funding-budget", "100000", *flags, "--json"]
    code, out, err = run(capsys, *argv)
    assert code == 2 and out == "" and err.count("\n") == 1 and named in err


def test_allocate_needs_a_budget(capsys, tmp_path):
    path = tmp_path / "applicants.csv"
    path.write_text(CSV)
    code, _, err = run(capsys, "rationing", "allocate", "--applicants", str(path), "--json")
    assert code == 2 and "--funding-budget" in err


def test_real_process_keeps_stdout_pure_json():
    done = subprocess.run([sys.executable, "-m", "smelend", "rationing", "curve", "--population", DESIGN, "--json"], capture_output=True, text=True, check=False)
    assert done.returncode == 0 and json.loads(done.stdout)["peak_return"] > 1.1
    bad = subprocess.run([sys.executable, "-m", "smelend", "rationing", "curve", "--population", "/no/such.json"], capture_output=True, text=True, check=False)
    assert bad.returncode == 2 and bad.stdout == "" and len(bad.stderr.splitlines()) == 1
