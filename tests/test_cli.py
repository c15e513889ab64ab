"""The CLI contract: exact flags and JSON keys, one-line errors with status 2, stdout holding only JSON."""

from __future__ import annotations

import json
import subprocess
import sys
from decimal import Decimal

import pytest

from smelend.cli import main

REFERENCE = ["schedule", "--principal", "100000", "--annual-rate", "0.072", "--periods", "12", "--method", "equal-installment", "--start", "2026-01-15"]


def run(capsys, *argv: str) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as exited:
        main(list(argv))
    out, err = capsys.readouterr()
    return exited.value.code, out, err


def test_schedule_json_contract(capsys):
    code, out, err = run(capsys, *REFERENCE, "--json")
    assert code == 0 and err == ""
    doc = json.loads(out)
    assert {"installments", "total_interest", "total_payment", "apr", "effective_annual_rate"} <= doc.keys()
    first = doc["installments"][0]
    assert set(first) == {"number", "due_date", "principal", "interest", "fee", "payment", "balance"}
    assert first == {"number": 1, "due_date": "2026-02-15", "principal": "8061.90", "interest": "600.00", "fee": "0.00", "payment": "8661.90", "balance": "91938.10"}
    assert doc["installments"][-1]["balance"] == "0.00"
    assert doc["total_interest"] == "3942.75"
    assert doc["total_payment"] == "103942.75"
    assert Decimal(doc["apr"]) == pytest.approx(Decimal("0.072"), abs=Decimal("1e-6"))


def test_equal_principal_and_fee_apr_through_the_cli(capsys):
    code, out, _ = run(capsys, *REFERENCE[:7], "--method", "equal-principal", "--start", "2026-01-15", "--json")
    assert code == 0 and json.loads(out)["total_interest"] == "3900.00"
    code, out, _ = run(capsys, "schedule", "--principal", "12000", "--annual-rate", "0", "--periods", "12", "--method", "flat", "--monthly-fee-rate", "0.006", "--start", "2026-01-15", "--json")
    doc = json.loads(out)
    assert doc["apr"].startswith("0.130342") and doc["effective_annual_rate"].startswith("0.13841")


def test_conventions_flags(capsys):
    code, out, _ = run(capsys, *REFERENCE, "--decimals", "0", "--amount-multiple", "100", "--rounding", "half-even", "--json")
    doc = json.loads(out)
    assert code == 0 and doc["installments"][0]["interest"] == "600" and doc["installments"][0]["payment"] == "8700"
    assert doc["installments"][0]["principal"] == "8100"  # every amount a multiple of 100 yuan
    code, out, _ = run(capsys, *REFERENCE, "--installment-multiple", "1", "--grace-principal", "2", "--interest-calc", "daily", "--days-in-year", "360", "--json")
    doc = json.loads(out)
    assert doc["installments"][0]["principal"] == "0.00" and doc["installments"][0]["interest"] == "620.00"
    assert doc["installments"][2]["payment"].endswith(".00")


def test_product_supplies_conventions(capsys):
    code, out, _ = run(capsys, *REFERENCE, "--product", "tax-data-loan", "--json")
    assert code == 0 and json.loads(out)["installments"][0]["interest"] == "620.00"  # 31 days at 7.2%/360


def test_schedule_table_output(capsys):
    code, out, _ = run(capsys, *REFERENCE)
    assert code == 0 and "8661.90" in out and "APR" in out


@pytest.mark.parametrize(
    ("args", "option"),
    [
        (["--principal", "0"], "--principal"),
        (["--principal", "-5"], "--principal"),
        (["--principal", "1.234"], "--principal"),
        (["--periods", "0"], "--periods"),
        (["--annual-rate", "7.2"], "--annual-rate"),
        (["--method", "balloon"], "--method"),
        (["--start", "2026-02-30"], "--start"),
        (["--frequency", "yearly"], "--frequency"),
        (["--decimals", "3"], "--decimals"),
        (["--method", "bullet", "--grace-principal", "1"], "--grace-principal"),
        (["--method", "revolving", "--interest-calc", "period"], "--interest-calc"),
        (["--days-in-month", "30", "--days-in-year", "actual"], "--days-in-month"),
        (["--product", "no-such"], "--product"),
    ],
)
def test_bad_input_is_one_line_naming_the_option_with_status_2(capsys, args, option):
    argv = list(REFERENCE)
    for flag, value in zip(args[::2], args[1::2]):
        if flag in argv:
            argv[argv.index(flag) + 1] = value
        else:
            argv += [flag, value]
    code, out, err = run(capsys, *argv, "--json")
    assert code == 2
    assert out == ""
    assert err.count("\n") == 1 and option in err


def test_products_list_and_show(capsys):
    code, out, _ = run(capsys, "products", "list", "--json")
    listed = json.loads(out)
    assert code == 0 and isinstance(listed, list) and all("id" in p for p in listed)
    code, out, _ = run(capsys, "products", "show", "invoice-loan", "--json")
    assert code == 0 and json.loads(out)["repayment_methods"]["bullet"] == {"min_term": 1, "max_term": 6}
    code, out, err = run(capsys, "products", "show", "nope")
    assert code == 2 and err.count("\n") == 1 and "nope" in err


def test_real_process_keeps_stdout_pure_json():
    done = subprocess.run([sys.executable, "-m", "smelend", *REFERENCE, "--json"], capture_output=True, text=True, check=False)
    assert done.returncode == 0
    json.loads(done.stdout)
    bad = subprocess.run([sys.executable, "-m", "smelend", "schedule", "--periods", "3"], capture_output=True, text=True, check=False)
    assert bad.returncode == 2 and bad.stdout == "" and len(bad.stderr.splitlines()) == 1


def test_help_explains_each_sub_command():
    done = subprocess.run([sys.executable, "-m", "smelend", "--help"], capture_output=True, text=True, check=False)
    assert done.returncode == 0
    for command in ("schedule", "products"):
        assert command in done.stdout
