"""Strategy-lab speed: business-months per second at 20,000 and 200,000 businesses, and where the time goes.

Each size runs one strategy once (a run is tens of seconds to minutes; a best-of-3 would triple it) on the
real engines, exactly as ``smelend simulate`` does, and reports business-months per second (businesses x
months / wall seconds) with the seconds of each stage of :func:`smelend.sim.market.run_market`:
``applications`` (exposure and channel draws, numpy), ``decisions`` (gather + ``decide`` + pricing per
application), ``draws`` and ``schedules`` (``build_schedules_batch``, ``lifecycle.activate`` into the book's
arrays), ``servicing`` (payments through ``apply_payment``, defaults, write-offs, attrition and line reviews),
``cob`` (the servicing engine's ``close_day_batch`` for every calendar day, with its posting rows), ``ledger``
(the trial balance of the entries and the daily rows); plus ``population`` (generation) and ``store``
(writing every entry, the daily closes' included, through the ledger store's bulk writer into a fresh SQLite
ledger, and reading the trial balance back).

The comparison baseline, measured in the same run on the same loans: the run's draws scheduled one at a
time with the Decimal path (``build_schedule``) instead of the batch, scaled to the run's schedule count;
and the per-decision cost (decisions stage / decisions) that bounds the whole lab.

    .venv/bin/python benchmarks/sim_speed.py [--sizes 20000,200000] [--months 24,12] [--strategy strategies/baseline.yaml] [--json]
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import tempfile
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]


def schedule_baseline(loans: int, seed: int = 0) -> dict[str, float]:
    """Batch against per-loan Decimal schedules on ``loans`` draws shaped like the lab's (12-month equal instalments)."""
    from datetime import date

    from smelend.servicing import LoanTerms, Method, build_schedule
    from smelend.servicing.batch import build_schedules_batch

    rng = np.random.default_rng(seed)
    n = max(loans, 1)
    amounts = (rng.integers(1_000, 300_000, n) * 100).astype(np.int64)
    rates = [Decimal(str(round(float(r), 4))) for r in rng.uniform(0.05, 0.18, n)]
    began = time.perf_counter()
    build_schedules_batch(amounts, rates, 12, Method.EQUAL_INSTALLMENT, date(2026, 1, 15))
    batch = time.perf_counter() - began
    sample = min(n, 2_000)
    began = time.perf_counter()
    for k in range(sample):
        build_schedule(LoanTerms(int(amounts[k]), rates[k], 12, Method.EQUAL_INSTALLMENT, date(2026, 1, 15)))
    per_loan = (time.perf_counter() - began) * n / sample
    return {"loans": n, "batch_seconds": batch, "per_loan_seconds_scaled": per_loan, "ratio": per_loan / batch if batch else float("inf")}


def one_size(businesses: int, months: int, strategy_path: Path) -> dict[str, Any]:
    from smelend.sim.market import run_market
    from smelend.sim.population import generate_population, load_market
    from smelend.sim.strategy import load_strategy_file
    from smelend.store.sim_runs import write_run_ledger

    strategy = load_strategy_file(strategy_path)
    market = load_market()
    began = time.perf_counter()
    population = generate_population(businesses, 0, market)
    population_s = time.perf_counter() - began

    def progress(month: int) -> None:
        print(f"\r  {businesses:,} businesses: month {month}/{months}", end="", file=sys.stderr, flush=True)

    began = time.perf_counter()
    result = run_market(population, strategy, market, months=months, progress=progress)
    run_s = time.perf_counter() - began
    print(file=sys.stderr)
    with tempfile.TemporaryDirectory() as folder:
        began = time.perf_counter()
        check = write_run_ledger(result, Path(folder) / "ledger.sqlite")
        store_s = time.perf_counter() - began
    assert check.balanced and check.principal_receivable_fen == result.totals["balance_end"]
    total_s = population_s + run_s + store_s
    stages = {"population": population_s, **result.stage_seconds, "store": store_s}
    decisions = result.counters.decisions
    return {
        "businesses": businesses, "months": months, "strategy": strategy.name,
        "business_months_per_second": businesses * months / total_s, "seconds": total_s, "stage_seconds": stages,
        "decisions": decisions, "schedules": result.counters.schedules, "journal_entries": result.counters.journal_entries,
        "cob_runs": result.counters.cob_runs, "payments": result.counters.payments, "live_loans_end": result.by_month[-1]["live_loans"],
        "ms_per_decision": 1000 * result.stage_seconds["decisions"] / decisions if decisions else None,
        "decision_share": result.stage_seconds["decisions"] / total_s,
        "schedule_baseline": schedule_baseline(result.counters.schedules),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="20000,200000")
    parser.add_argument("--months", default="24,12", help="months per size (one value for all, or one per size)")
    parser.add_argument("--strategy", type=Path, default=ROOT / "strategies" / "baseline.yaml")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    sizes = [int(x) for x in args.sizes.split(",")]
    months = [int(x) for x in args.months.split(",")]
    months = months * len(sizes) if len(months) == 1 else months
    rows = [one_size(n, m, args.strategy) for n, m in zip(sizes, months)]
    doc = {"machine": platform.machine(), "python": platform.python_version(), "rows": rows}
    if args.json:
        print(json.dumps(doc, indent=1))
        return 0
    for r in rows:
        print(f"{r['strategy']}: {r['businesses']:,} businesses x {r['months']} months: {r['business_months_per_second']:,.0f} business-months/s "
              f"({r['seconds']:.1f} s; {r['decisions']:,} decisions at {r['ms_per_decision']:.1f} ms = {r['decision_share']:.0%} of the time)")
        print("  stages: " + ", ".join(f"{k} {v:.2f} s" for k, v in r["stage_seconds"].items()))
        print(f"  engine calls: {r['cob_runs']:,} daily closes, {r['payments']:,} payments, {r['journal_entries']:,} journal entries, {r['live_loans_end']:,} live loans at the end")
        b = r["schedule_baseline"]
        print(f"  baseline: {b['loans']:,} schedules per loan (Decimal) {b['per_loan_seconds_scaled']:.3f} s vs batch {b['batch_seconds']:.3f} s ({b['ratio']:.0f}x)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
