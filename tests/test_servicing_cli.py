"""The servicing CLI contract on every backend: lines, draws, repayments, payoff, close of business, ledger."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import create_engine, func, select

from smelend.cli import main
from smelend.store.db import normalise_url
from smelend.store.tables import credit_lines, journal_entries, loans, postings

USCC = "91310000MA1FL8T5X3"


def run(capsys, *argv: str) -> tuple[int, dict | list | None, str]:
    with pytest.raises(SystemExit) as exited:
        main(list(argv))
    out, err = capsys.readouterr()
    return exited.value.code, (json.loads(out) if out.strip() else None), err


def ok(capsys, *argv: str):
    code, doc, err = run(capsys, *argv, "--json")
    assert code == 0, err
    return doc


def refused(capsys, option: str, *argv: str) -> None:
    code, doc, err = run(capsys, *argv, "--json")
    assert code == 2 and doc is None, err
    assert err.count("\n") == 1 and option in err, err


def counts(url: str) -> tuple[int, int, int, int]:
    engine = create_engine(normalise_url(url))
    with engine.connect() as conn:
        result = (
            conn.scalar(select(func.count()).select_from(loans)),
            conn.scalar(select(func.count()).select_from(journal_entries)),
            conn.scalar(select(func.count()).select_from(postings)),
            conn.scalar(select(func.coalesce(func.sum(credit_lines.c.used_fen), 0))),
        )
    engine.dispose()
    return result


def open_line(capsys, start="2026-01-15", limit="500000"):
    return ok(capsys, "lines", "open", "--uscc", USCC, "--product", "tax-data-loan", "--limit", limit, "--annual-rate", "0.072", "--start", start)


def test_line_draw_repay_payoff_cob_contract(db_url, capsys):
    line = open_line(capsys)
    assert {k: line[k] for k in ("limit", "used", "available", "status")} == {"limit": "500000.00", "used": "0.00", "available": "500000.00", "status": "active"}
    drawn = ok(capsys, "draw", "--line", str(line["id"]), "--amount", "100000", "--method", "equal-installment", "--term", "12", "--date", "2026-01-15")
    assert set(drawn["schedule"][0]) == {"number", "due_date", "principal", "interest", "fee", "payment", "balance"}
    assert drawn["schedule"][0]["payment"] == "8661.90" and drawn["schedule"][-1]["balance"] == "0.00"
    assert ok(capsys, "lines", "show", str(line["id"]))["available"] == "400000.00"

    closed = ok(capsys, "cob", "--date", "2026-02-14")
    assert {"date", "accounts", "accrued_interest", "buckets", "ledger_balanced"} <= closed.keys()
    assert closed["accrued_interest"] == "620.00" and closed["ledger_balanced"] is True and closed["accounts"] == 1
    again = ok(capsys, "cob", "--date", "2026-02-14")
    assert again["accrued_interest"] == "0.00" and again["days_closed"] == 0

    paid = ok(capsys, "repay", "--loan", str(drawn["id"]), "--amount", "8661.90", "--date", "2026-02-15")
    assert paid["allocation"] | {} == {"penalty": "0.00", "interest": "620.00", "fee": "0.00", "principal": "8041.90", "credit_balance": "0.00", "recovery": "0.00"}
    assert paid["loan"] == {"principal_outstanding": "91958.10", "days_past_due": 0, "classification": "pass", "status": "active"}
    assert ok(capsys, "lines", "show", str(line["id"]))["available"] == "408041.90"

    quote = ok(capsys, "payoff", "--loan", str(drawn["id"]), "--date", "2026-03-01")
    assert {"total", "principal", "interest", "penalty"} <= quote.keys()
    assert quote["principal"] == "91958.10"
    before = counts(db_url)
    assert ok(capsys, "payoff", "--loan", str(drawn["id"]), "--date", "2026-03-01")["total"] == quote["total"]
    assert counts(db_url) == before  # a quote changes nothing

    settled = ok(capsys, "repay", "--loan", str(drawn["id"]), "--amount", str(float(quote["total"]) + 10), "--date", "2026-03-01")
    assert settled["loan"]["status"] == "closed" and settled["allocation"]["credit_balance"] == "10.00"
    assert ok(capsys, "lines", "show", str(line["id"]))["used"] == "0.00"
    balance = ok(capsys, "ledger", "trial-balance")
    assert balance["balanced"] is True and balance["accounts"]["principal_receivable"] == "0.00"
    assert ok(capsys, "ledger", "reconcile") == {"differences": []}


def test_refused_draws_write_nothing(db_url, capsys):
    line = open_line(capsys, limit="50000")
    lid = str(line["id"])
    before = counts(db_url)
    refused(capsys, "--amount", "draw", "--line", lid, "--amount", "60000", "--method", "equal-installment", "--term", "12", "--date", "2026-01-15")
    refused(capsys, "--method", "draw", "--line", lid, "--amount", "1000", "--method", "flat", "--term", "3", "--date", "2026-01-15")
    refused(capsys, "--term", "draw", "--line", lid, "--amount", "1000", "--method", "equal-installment", "--term", "24", "--date", "2026-01-15")
    refused(capsys, "--amount", "draw", "--line", lid, "--amount", "0", "--method", "equal-installment", "--term", "12", "--date", "2026-01-15")
    refused(capsys, "--line", "draw", "--line", "999", "--amount", "10", "--method", "equal-installment", "--term", "12", "--date", "2026-01-15")
    ok(capsys, "lines", "freeze", lid)
    refused(capsys, "--line", "draw", "--line", lid, "--amount", "1000", "--method", "equal-installment", "--term", "12", "--date", "2026-01-15")
    assert counts(db_url) == before
    assert ok(capsys, "lines", "unfreeze", lid)["status"] == "active"
    ok(capsys, "draw", "--line", lid, "--amount", "50000", "--method", "revolving", "--term", "6", "--date", "2026-01-15")
    assert ok(capsys, "lines", "show", lid)["available"] == "0.00"


def test_business_date_only_moves_forward(db_url, capsys):
    line = open_line(capsys, start="2026-03-01")
    drawn = ok(capsys, "draw", "--line", str(line["id"]), "--amount", "10000", "--method", "interest-first", "--term", "3", "--date", "2026-03-10")
    before = counts(db_url)
    refused(capsys, "--date", "repay", "--loan", str(drawn["id"]), "--amount", "10", "--date", "2026-03-09")
    refused(capsys, "--date", "draw", "--line", str(line["id"]), "--amount", "10", "--method", "interest-first", "--term", "3", "--date", "2026-03-02")
    refused(capsys, "--start", "lines", "open", "--uscc", USCC, "--product", "tax-data-loan", "--limit", "10", "--annual-rate", "0.07", "--start", "2026-02-01")
    assert counts(db_url) == before
    # a repayment dated later first closes the days in between
    paid = ok(capsys, "repay", "--loan", str(drawn["id"]), "--amount", "10", "--date", "2026-03-20")
    assert paid["allocation"]["interest"] == "10.00"
    assert ok(capsys, "cob", "--date", "2026-03-19")["days_closed"] == 0


def test_overdue_loan_gets_penalty_buckets_and_classification(db_url, capsys):
    line = open_line(capsys)
    drawn = ok(capsys, "draw", "--line", str(line["id"]), "--amount", "100000", "--method", "equal-installment", "--term", "6", "--date", "2026-01-15")
    closed = ok(capsys, "cob", "--date", "2026-05-31")
    assert closed["buckets"]["90+"] == {"loans": 1, "principal": "100000.00"}
    shown = ok(capsys, "loans", "show", str(drawn["id"]))
    assert shown["days_past_due"] == 106  # the first installment fell due on 15 Feb
    assert shown["classification"] == "substandard" and shown["non_accrual"] is True
    assert float(shown["penalty_receivable"]) > 0
    assert ok(capsys, "ledger", "reconcile") == {"differences": []}
    written = ok(capsys, "loans", "write-off", str(drawn["id"]), "--date", "2026-06-01")
    assert written["status"] == "written-off"
    assert ok(capsys, "lines", "show", str(line["id"]))["status"] == "frozen"
    recovered = ok(capsys, "repay", "--loan", str(drawn["id"]), "--amount", "1000", "--date", "2026-06-02")
    assert recovered["allocation"]["recovery"] == "1000.00"
    assert ok(capsys, "ledger", "trial-balance")["balanced"] is True
    assert ok(capsys, "ledger", "reconcile") == {"differences": []}


def test_overpayment_is_held_then_refunded_and_flags_set_a_classification_floor(db_url, capsys):
    line = open_line(capsys)
    drawn = ok(capsys, "draw", "--line", str(line["id"]), "--amount", "10000", "--method", "interest-first", "--term", "3", "--date", "2026-01-15")
    loan = str(drawn["id"])
    quote = ok(capsys, "payoff", "--loan", loan, "--date", "2026-01-20")
    paid = ok(capsys, "repay", "--loan", loan, "--amount", f"{float(quote['total']) + 99.5:.2f}", "--date", "2026-01-20")
    assert paid["allocation"]["credit_balance"] == "99.50" and paid["loan"]["status"] == "closed"
    refunded = ok(capsys, "loans", "refund", loan, "--date", "2026-01-21")
    assert refunded["refunded"] == "99.50" and refunded["loan"]["credit_balance"] == "0.00"
    refused(capsys, "--loan", "loans", "refund", loan, "--date", "2026-01-22")
    assert ok(capsys, "ledger", "reconcile") == {"differences": []}
    second = ok(capsys, "draw", "--line", str(line["id"]), "--amount", "10000", "--method", "equal-installment", "--term", "3", "--date", "2026-01-22")
    refused(capsys, "--flag", "loans", "flag", str(second["id"]), "rich-uncle")
    assert ok(capsys, "loans", "flag", str(second["id"]), "restructured")["flags"] == ["restructured"]
    ok(capsys, "cob", "--date", "2026-01-22")
    assert ok(capsys, "loans", "show", str(second["id"]))["classification"] == "substandard"
    assert ok(capsys, "ledger", "reconcile") == {"differences": []}
