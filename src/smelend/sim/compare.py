"""Strategies over seeds: runs, means and confidence intervals, the ablation, the rationing curve, metrics.json.

Why seeds and common random numbers: one simulated market is one draw; a difference between two strategies is
evidence only if it holds across seeds. Every strategy runs on the same populations (one per seed) with the
same random draws per business and month, so differences come from the strategy, not from luck; the
confidence interval of each figure is Student's t over the seeds' values.

Money in the output is integer fen (``"currency_unit": "fen"``): each figure is the mean over seeds rounded
half-even to the fen, and ``profit`` is then exactly income minus the four costs of those rounded means.
"""

from __future__ import annotations

import math
import multiprocessing
import os
import queue
import time
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from dataclasses import dataclass, replace
from datetime import date
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any

import numpy as np

from smelend.sim.market import RunResult, rationing_peak, run_market
from smelend.sim.population import MarketSettings, generate_population, load_market
from smelend.sim.strategy import StrategyFile

MONEY = ("balance_end", "interest_income", "penalty_income", "fee_income", "funding_cost", "credit_losses", "operating_cost", "acquisition_cost", "npl_balance", "average_balance")
COSTS = ("funding_cost", "credit_losses", "operating_cost", "acquisition_cost")
COUNTS = ("applications", "approvals", "lines", "customers_drawn", "draws", "repeat_draws", "reviews", "rationed", "lost_to_competitor", "not_accepted", "attrition",
          "defaults", "prepayments", "late_payments", "write_offs")
COUNTERS = ("decisions", "schedules", "journal_entries", "cob_runs", "line_reviews", "payments")
CI_METRICS = ("applications", "approvals", "approval_rate", "line_rate", "draw_rate", "customers_drawn", "balance_end", "npl_ratio", "interest_income",
              "credit_losses", "acquisition_cost", "profit", "raroc")
T_975 = {1: 12.706, 2: 4.303, 3: 3.182, 4: 2.776, 5: 2.571, 6: 2.447, 7: 2.365, 8: 2.306, 9: 2.262, 10: 2.228}


@dataclass(frozen=True)
class LedgerCheck:
    """What the store's ledger says after a run's entries were written: read back, not recomputed in memory."""

    entries_written: int
    balanced: bool
    principal_receivable_fen: int


LedgerWriter = Callable[[RunResult], LedgerCheck]


def _task(strategy: StrategyFile, smes: int, months: int, seed: int, shock: bool, start: date, progress_queue: Any = None, key: Any = None,
          events: bool = False, ledger_writer: LedgerWriter | None = None) -> RunResult:
    market = load_market()
    population = generate_population(smes, seed, market)
    report = (lambda month: progress_queue.put((key, month))) if progress_queue is not None else None
    result = run_market(population, strategy, market, months=months, start=start, shock=shock, progress=report, marketing_events=events)
    return result if ledger_writer is None else replace(result, ledger_check=ledger_writer(result))


def run_all(
    strategies: Sequence[StrategyFile], *, smes: int, months: int, seeds: int, shock: bool = True, start: date = date(2026, 1, 1),
    workers: int = 1, progress: Callable[[int, int], None] | None = None, marketing_events: Sequence[str] = (),
    ledger_writer: LedgerWriter | None = None,
) -> dict[str, list[RunResult]]:
    """Every strategy on every seed (0 .. seeds-1); ``progress(months done, months in all)``; ``workers`` processes.
    The strategies named in ``marketing_events`` also emit their marketing events (``RunResult.events``).
    ``ledger_writer`` (picklable: a module-level function or a partial of one) writes each run's ledger in the
    process that ran it, as soon as it ends (``RunResult.ledger_check``): the writes run in parallel too."""
    tasks = [(s, seed) for seed in range(seeds) for s in strategies]
    total = len(tasks) * months
    out: dict[str, list[RunResult]] = {s.name: [] for s in strategies}
    done_months: dict[Any, int] = {}

    def report() -> None:
        if progress:
            progress(sum(done_months.values()), total)

    if workers <= 1:
        for k, (s, seed) in enumerate(tasks):
            def one(month: int, k: int = k) -> None:
                done_months[k] = month
                report()
            out[s.name].append(_task(s, smes, months, seed, shock, start, events=s.name in marketing_events, ledger_writer=ledger_writer,
                                     progress_queue=_Direct(one)))
    else:
        ctx = multiprocessing.get_context("spawn")
        with ctx.Manager() as manager, ProcessPoolExecutor(max_workers=workers, mp_context=ctx) as pool:
            q = manager.Queue()
            futures: dict[Future[RunResult], tuple[str, int]] = {
                pool.submit(_task, s, smes, months, seed, shock, start, q, k, s.name in marketing_events, ledger_writer): (s.name, seed)
                for k, (s, seed) in enumerate(tasks)
            }
            pending = set(futures)
            while pending:
                finished, pending = wait(pending, timeout=0.5, return_when=FIRST_COMPLETED)
                while True:
                    try:
                        key, month = q.get_nowait()
                    except queue.Empty:
                        break
                    done_months[key] = month
                for f in finished:
                    f.result()  # raise early
                report()
            by_task = {futures[f]: f.result() for f in futures}
        for s, seed in tasks:
            out[s.name].append(by_task[(s.name, seed)])
    for name in out:
        out[name].sort(key=lambda r: r.seed)
    return out


class _Direct:
    """A progress 'queue' for the in-process path: ``put((key, month))`` reports the month at once."""

    def __init__(self, report: Callable[[int], None]) -> None:
        self.report = report

    def put(self, item: tuple[Any, int]) -> None:
        self.report(item[1])


def merged_events(runs: Sequence[RunResult]) -> Any:
    """One strategy's marketing events over its seeds (ids carry the seed, so rows never collide)."""
    import polars as pl

    from smelend.marketing.events import FRAMES, MarketingData

    parts = [r.events for r in runs if r.events is not None]
    assert parts, "no run emitted marketing events"
    return MarketingData(as_of=max(p.as_of for p in parts), **{name: pl.concat([getattr(p, name) for p in parts]) for name in FRAMES})


def _mean_fen(values: Sequence[int]) -> int:
    return int((Decimal(sum(values)) / Decimal(len(values))).quantize(Decimal(1), rounding=ROUND_HALF_EVEN))


def _ci(values: Sequence[float]) -> list[float]:
    x = np.asarray(values, float)
    if x.size < 2:
        return [float(x.mean()), float(x.mean())]
    half = T_975.get(x.size - 1, 1.96) * x.std(ddof=1) / math.sqrt(x.size)
    return [float(x.mean() - half), float(x.mean() + half)]


def _ratios(t: dict[str, Any]) -> dict[str, float]:
    apps = t["applications"]
    return {
        "approval_rate": t["approvals"] / apps if apps else 0.0,
        "line_rate": t["lines"] / apps if apps else 0.0,
        "draw_rate": t["customers_drawn"] / t["lines"] if t["lines"] else 0.0,
        "npl_ratio": t["npl_balance"] / t["balance_end"] if t["balance_end"] else 0.0,
    }


def summarise(runs: Sequence[RunResult], checks: Sequence[LedgerCheck] | None = None) -> dict[str, Any]:
    """One strategy's figures: means over seeds, ``ci`` beside them, counters, breakdowns, the per-seed values."""
    per_seed: list[dict[str, Any]] = []
    for k, r in enumerate(runs):
        t = dict(r.totals)
        t.update(_ratios(t))
        t.update({c: getattr(r.counters, c) for c in COUNTERS})
        if checks is not None:
            t["ledger_principal_receivable"] = checks[k].principal_receivable_fen
            t["ledger_balanced"] = checks[k].balanced and r.totals["ledger_balanced"]
            t["ledger_entries_written"] = checks[k].entries_written
        t["seed"] = r.seed
        per_seed.append(t)
    out: dict[str, Any] = {}
    for key in COUNTS + COUNTERS:
        out[key] = sum(p[key] for p in per_seed) / len(per_seed)
    for key in MONEY:
        out[key] = _mean_fen([p[key] for p in per_seed])
    out["ledger_principal_receivable"] = _mean_fen([p["ledger_principal_receivable"] for p in per_seed])
    out["income"] = out["interest_income"] + out["fee_income"]
    out["profit"] = out["income"] - sum(out[c] for c in COSTS)
    out.update(_ratios(out))
    out["raroc"] = float(np.mean([p["raroc"] for p in per_seed]))
    out["yield"] = (out["income"] * 12 / runs[0].months) / out["average_balance"] if out["average_balance"] else 0.0
    out["ledger_balanced"] = all(p["ledger_balanced"] for p in per_seed)
    for key in ("line_rate_mean", "line_rate_p10", "line_rate_p90", "line_latent_pd_mean"):
        values = [p[key] for p in per_seed if p.get(key) is not None]
        out[key] = float(np.mean(values)) if values else None
    draws = sum(p["draws"] for p in per_seed)
    out["average_loan"] = _mean_fen([sum(m["drawn_fen"] for m in r.by_month) for r in runs]) / (draws / len(per_seed)) if draws else 0.0
    out["acquisition_cost_per_line"] = out["acquisition_cost"] / out["lines"] if out["lines"] else 0.0
    out["ci"] = {key: _ci([p[key] for p in per_seed]) for key in CI_METRICS}
    out["by_month"] = _by_month(runs)
    for g in ("channel", "product", "segment"):
        out[f"by_{g}"] = _by_group(runs, g)
    out["stage_seconds"] = {k: float(sum(r.stage_seconds[k] for r in runs)) for k in runs[0].stage_seconds}
    out["per_seed"] = per_seed
    return out


def _by_month(runs: Sequence[RunResult]) -> list[dict[str, Any]]:
    rows = []
    for m in range(runs[0].months):
        keys = runs[0].by_month[m].keys()
        row: dict[str, Any] = {}
        for key in keys:
            values = [r.by_month[m][key] for r in runs]
            row[key] = values[0] if key in ("month", "date") else float(np.mean(values))
        row["npl_ratio"] = row["npl_fen"] / row["balance_fen"] if row["balance_fen"] else 0.0
        rows.append(row)
    return rows


def _by_group(runs: Sequence[RunResult], group: str) -> dict[str, dict[str, float]]:
    keys = sorted({k for r in runs for k in r.by_group[group]})
    out: dict[str, dict[str, float]] = {}
    for key in keys:
        figures: dict[str, float] = {}
        for name in ("applications", "lines", "customers_drawn", "balance_end", "interest_income", "credit_losses"):
            figures[name] = float(np.mean([r.by_group[group].get(key, {}).get(name, 0) for r in runs]))
        out[key] = figures
    return out


def rationing_curve(runs: Sequence[RunResult], market: MarketSettings) -> dict[str, Any] | None:
    """The Stiglitz-Weiss return curve of the simulated applicants (their PDs as the engine saw them)."""
    pds = [p for r in runs for p in r.applicant_pds]
    found = rationing_peak(pds, market)
    if found is None:
        return None
    peak, curve = found
    return {
        "peak_rate": peak, "peak_gross_return": curve.peak.gross_return, "applicants": len(pds),
        "points": [{"rate": p.rate, "gross_return": p.gross_return, "applicant_share": p.applicant_share} for p in curve.points],
    }


CALIBRATION = {"npl_ratio": (0.01, 0.03), "line_rate": (0.15, 0.30), "draw_rate": (0.50, 0.70)}


def calibration(summary: dict[str, Any]) -> dict[str, Any]:
    """The default market's figures against the calibration band (docs/sim-calibration.md)."""
    return {key: {"value": summary[key], "band": list(band), "inside": band[0] <= summary[key] <= band[1]} for key, band in CALIBRATION.items()}


def metrics_document(
    results: dict[str, list[RunResult]], *, smes: int, months: int, seeds: int, shock: bool, baseline: str | None,
    checks: dict[str, list[LedgerCheck]] | None = None, ablation: Sequence[str] = (), elapsed_s: float | None = None,
) -> dict[str, Any]:
    """The ``metrics.json`` document (the issue's contract)."""
    market = load_market()
    main = {name: runs for name, runs in results.items() if name not in ablation}
    summaries = {name: summarise(runs, checks[name] if checks else None) for name, runs in results.items()}
    doc: dict[str, Any] = {
        "currency_unit": "fen", "smes": smes, "months": months, "seeds": seeds, "shock": shock, "baseline": baseline,
        "market_version": market.version, "elapsed_seconds": elapsed_s,
        "strategies": {name: summaries[name] for name in main},
    }
    if ablation:
        doc["ablation"] = {name: summaries[name] for name in ablation}
    if baseline is not None and baseline in main:
        base = summaries[baseline]
        doc["comparison"] = {
            name: {key: s[key] - base[key] for key in ("applications", "lines", "customers_drawn", "balance_end", "income", "credit_losses", "acquisition_cost", "profit", "raroc", "npl_ratio")}
            for name, s in summaries.items() if name != baseline
        }
        doc["calibration"] = calibration(base)
    first = next(iter(main.values()))
    doc["rationing_curve"] = rationing_curve(first, market)
    return doc


def default_workers() -> int:
    return max(1, min(2, os.cpu_count() or 1))


def timed(fn: Callable[[], Any]) -> tuple[Any, float]:
    began = time.perf_counter()
    value = fn()
    return value, time.perf_counter() - began
