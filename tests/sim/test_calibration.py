"""The default market lands in the calibration band (docs/sim-calibration.md): NPL 1-3%, 15-30% of applicants
get a line, 50-70% of those draw. One full-size run of the baseline (20,000 businesses, 24 months, the shock on)."""

from __future__ import annotations

from smelend.sim.compare import calibration, summarise
from smelend.sim.market import run_market
from smelend.sim.population import generate_population, load_market


def test_the_default_market_is_calibrated(strategies) -> None:
    market = load_market()
    run = run_market(generate_population(20_000, 0, market), strategies[0], market, months=24)
    figures = calibration(summarise([run]))
    assert all(f["inside"] for f in figures.values()), figures
    s = summarise([run])
    assert s["decisions"] == s["applications"] and s["balance_end"] == s["ledger_principal_receivable"]
    assert 0.05 <= s["line_rate_mean"] <= 0.18  # online SME pricing spans about 5-18% (DESIGN.md section 6)
