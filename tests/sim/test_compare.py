"""Means over seeds, intervals, the exact profit of the means, the metrics.json contract, the report."""

from __future__ import annotations

import re

from plotly.offline import get_plotlyjs

from smelend.sim.compare import COSTS, LedgerCheck, metrics_document, summarise
from smelend.sim.report import render

from tests.sim.conftest import MONTHS, SEEDS, SMES

CONTRACT = ("applications", "approvals", "approval_rate", "customers_drawn", "balance_end", "npl_ratio", "interest_income", "fee_income",
            "funding_cost", "credit_losses", "operating_cost", "acquisition_cost", "profit", "raroc", "ledger_balanced",
            "decisions", "schedules", "journal_entries", "cob_runs", "ci")


def _checks(results):
    return {name: [LedgerCheck(r.entry_count, True, r.totals["ledger_principal_receivable"]) for r in runs] for name, runs in results.items()}


def test_the_document_holds_the_contract(results) -> None:
    doc = metrics_document(results, smes=SMES, months=MONTHS, seeds=SEEDS, shock=True, baseline="baseline", checks=_checks(results))
    assert set(doc["strategies"]) == {"baseline", "optimized"}
    for name, s in doc["strategies"].items():
        for key in CONTRACT:
            assert key in s, (name, key)
        for key in CONTRACT[:-1]:
            assert isinstance(s[key], (int, float, bool)), (name, key)
        assert 0 <= s["approval_rate"] <= 1 and 0 <= s["npl_ratio"] <= 1
        assert s["decisions"] == s["applications"]
        assert s["balance_end"] == s["ledger_principal_receivable"]
        assert s["profit"] == s["interest_income"] + s["fee_income"] - sum(s[c] for c in COSTS)
        assert s["ledger_balanced"] is True
        for key, (low, high) in s["ci"].items():
            assert low <= high, key
        assert len(s["by_month"]) == MONTHS and {"own-app"} <= set(s["by_channel"])
    assert doc["comparison"]["optimized"]["profit"] == doc["strategies"]["optimized"]["profit"] - doc["strategies"]["baseline"]["profit"]
    assert doc["rationing_curve"]["points"] and 0 < doc["rationing_curve"]["peak_rate"] < 0.36
    assert set(doc["calibration"]) == {"npl_ratio", "line_rate", "draw_rate"}


def test_means_are_over_seeds_and_rounded_to_the_fen(results) -> None:
    runs = results["optimized"]
    s = summarise(runs)
    values = [r.totals["interest_income"] for r in runs]
    assert abs(s["interest_income"] - sum(values) / len(values)) <= 0.5
    assert isinstance(s["interest_income"], int)
    assert s["applications"] == sum(r.totals["applications"] for r in runs) / len(runs)
    low, high = s["ci"]["applications"]
    assert low <= s["applications"] <= high


def test_a_failed_ledger_read_back_marks_the_strategy_unbalanced(results) -> None:
    checks = _checks(results)
    checks["baseline"][0] = LedgerCheck(0, False, 0)
    doc = metrics_document(results, smes=SMES, months=MONTHS, seeds=SEEDS, shock=True, baseline="baseline", checks=checks)
    assert doc["strategies"]["baseline"]["ledger_balanced"] is False
    assert doc["strategies"]["optimized"]["ledger_balanced"] is True


def test_the_report_is_offline_and_escaped(results) -> None:
    doc = metrics_document(results, smes=SMES, months=MONTHS, seeds=SEEDS, shock=True, baseline="baseline")
    doc["strategies"]["<script>x</script>"] = doc["strategies"].pop("optimized")
    page = render(doc)
    assert "<script>x</script>" not in page and "&lt;script&gt;x&lt;/script&gt;" in page
    library = get_plotlyjs()
    assert page.startswith("<!DOCTYPE html>") and page.count(library) == 1
    ours = page.replace(library, "")
    assert "http://" not in ours and "https://" not in ours and "//cdn" not in ours
    assert not re.search(r"<(script|link|img|iframe)\b[^>]*\b(src|href)\s*=", page, flags=re.IGNORECASE)
    assert ours.count('class="chart"') >= 8
