"""The market runs the real engines and proves it: counters, the ledger, exact profit, determinism."""

from __future__ import annotations

from collections import Counter
from datetime import date, timedelta

from smelend.ledger import Account
from smelend.ledger.entries import trial_balance
from smelend.sim.market import RunResult, run_market
from smelend.sim.population import generate_population, load_market

from tests.sim.conftest import MONTHS, SEEDS, SMES


def _all(results: dict[str, list[RunResult]]) -> list[RunResult]:
    return [r for runs in results.values() for r in runs]


def test_every_application_is_decided_by_the_risk_engine(results) -> None:
    for r in _all(results):
        assert r.counters.decisions == r.totals["applications"] > 0
        assert len(r.applicant_pds) == r.counters.decisions


def test_every_draw_is_scheduled_and_every_day_closed_by_the_servicing_engine(results) -> None:
    days = (date.fromisoformat(results["baseline"][0].by_month[-1]["date"]) - date(2026, 1, 1)).days + 1
    for r in _all(results):
        assert r.counters.schedules == r.totals["draws"] == sum(m["draws"] for m in r.by_month)
        assert r.counters.cob_runs == days  # close_day_batch once per calendar day
        assert {rows.business_date for rows in r.cob_rows} <= {date(2026, 1, 1) + timedelta(days=k) for k in range(days)}
        assert len({rows.business_date for rows in r.cob_rows}) == len(r.cob_rows)
        reviews = {"baseline": MONTHS // 12, "optimized": MONTHS // 3}[r.strategy]
        assert r.counters.line_reviews == sum(m["reviews_of_lines"] for m in r.by_month) > 0
        assert sum(1 for m in r.by_month if m["reviews_of_lines"]) == reviews
        assert r.counters.journal_entries == r.entry_count == len(r.entries) + sum(len(rows) for rows in r.cob_rows)
        kinds = Counter(e.kind for e in r.all_entries())
        assert kinds["disbursement"] == r.totals["draws"]
        assert kinds["close-of-business"] == sum(len(rows) for rows in r.cob_rows) > 0
        assert kinds["repayment"] == r.counters.payments > 0


def test_balance_is_the_ledgers_principal_receivable_and_the_ledger_balances(results) -> None:
    for r in _all(results):
        ledger = trial_balance(r.all_entries())
        assert ledger.balanced
        assert r.totals["balance_end"] == ledger.normal_balance_fen(Account.PRINCIPAL_RECEIVABLE) == r.totals["ledger_principal_receivable"]
        income = ledger.normal_balance_fen(Account.INTEREST_INCOME) + ledger.normal_balance_fen(Account.PENALTY_INCOME)
        assert r.totals["interest_income"] == income == sum(m["interest_income_fen"] for m in r.by_month)
        assert r.totals["penalty_income"] == ledger.normal_balance_fen(Account.PENALTY_INCOME)
        assert r.totals["credit_losses"] == ledger.normal_balance_fen(Account.PROVISION_EXPENSE) - ledger.normal_balance_fen(Account.RECOVERY_INCOME)


def test_profit_is_exactly_income_minus_the_four_costs(results) -> None:
    for r in _all(results):
        t = r.totals
        assert t["profit"] == t["interest_income"] + t["fee_income"] - t["funding_cost"] - t["credit_losses"] - t["operating_cost"] - t["acquisition_cost"]


def test_groups_add_up_to_the_totals(results) -> None:
    for r in _all(results):
        for group in ("channel", "product", "segment"):
            figures = r.by_group[group].values()
            assert sum(f.get("applications", 0) for f in figures) == r.totals["applications"]
            assert sum(f.get("lines", 0) for f in figures) == r.totals["lines"]
            assert sum(f.get("balance_end", 0) for f in figures) == r.totals["balance_end"]
            assert sum(f.get("credit_losses", 0) for f in figures) == r.totals["credit_losses"]
            assert sum(f.get("interest_income", 0) for f in figures) == r.totals["interest_income"]
        assert set(r.by_group["channel"]) <= {"own-app"} or r.strategy != "baseline"


def test_the_funnel_is_consistent(results) -> None:
    for r in _all(results):
        t = r.totals
        assert t["applications"] >= t["approvals"] >= t["lines"] >= t["customers_drawn"]
        assert t["approvals"] == t["lines"] + t["rationed"] + t["lost_to_competitor"] + t["not_accepted"]


def test_baseline_uses_only_its_own_app_and_one_method(results) -> None:
    for r in results["baseline"]:
        assert set(r.by_group["channel"]) == {"own-app"}
        assert r.totals["rationed"] == 0
    for r in results["optimized"]:
        assert len(r.by_group["channel"]) > 1


def test_same_seed_same_run_and_seeds_differ(results, strategies) -> None:
    market = load_market()
    again = run_market(generate_population(SMES, 0, market), strategies[0], market, months=MONTHS)
    first = results["baseline"][0]
    assert again.totals == first.totals and again.by_month == first.by_month
    assert again.entries == first.entries
    assert list(again.all_entries()) == list(first.all_entries())
    assert SEEDS >= 2 and results["baseline"][0].totals != results["baseline"][1].totals


def test_the_shock_raises_defaults() -> None:
    """The macro factor multiplies the hazard in the shock months (same businesses and draws otherwise)."""
    market = load_market()
    assert market.macro.shock is not None
    inside = market.macro_factor(market.macro.shock.start_month, True)
    assert inside[0] > market.macro_factor(market.macro.shock.start_month, False)[0]
    assert market.macro_factor(market.macro.shock.start_month + market.macro.shock.months, True)[0] == market.macro.base


def test_lines_carry_several_draws_and_late_payers_pay_penalties(results) -> None:
    """Revolving use: a line takes another draw while a loan is live; late payers are charged by the engine."""
    runs = _all(results)
    for r in runs:
        assert r.totals["draws"] == r.totals["customers_drawn"] + r.totals["repeat_draws"]
        per_line = Counter(e.line_id for e in r.entries if e.kind == "disbursement")
        assert sum(k - 1 for k in per_line.values()) == r.totals["repeat_draws"]
    assert sum(r.totals["repeat_draws"] for r in runs) > 0
    assert sum(r.totals["late_payments"] for r in runs) > 0
    assert sum(r.totals["penalty_income"] for r in runs) > 0
