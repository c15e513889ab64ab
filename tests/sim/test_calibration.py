"""The default market lands in the calibration band (docs/sim-calibration.md): NPL 1-3%, 15-30% of applicants
get a line, 50-70% of those draw. The baseline at full size (20,000 businesses, 24 months, the shock on), means
over seeds 0-2: one seed has only ~100 borrowers and a handful of defaults, too few for an NPL ratio alone."""

from __future__ import annotations

from smelend.sim.compare import calibration, default_workers, run_all, summarise


def test_the_default_market_is_calibrated(strategies) -> None:
    runs = run_all([strategies[0]], smes=20_000, months=24, seeds=3, workers=default_workers())["baseline"]
    s = summarise(runs)
    figures = calibration(s)
    assert all(f["inside"] for f in figures.values()), figures
    assert s["decisions"] == s["applications"] and s["balance_end"] == s["ledger_principal_receivable"]
    assert 0.05 <= s["line_rate_mean"] <= 0.18  # online SME pricing spans about 5-18% (DESIGN.md section 6)
    assert s["credit_losses"] / s["average_balance"] / 2 < 0.03  # credit cost under 3% of the book a year
