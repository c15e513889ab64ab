"""Throughput of the vectorised schedule path against what a user would otherwise reach for.

Compares, on one random book of 12-period monthly equal-installment loans:

* ``build_schedules_batch`` on the whole book (default 100,000 loans), exact to the fen;
* a per-loan loop over numpy-financial's pmt/ipmt/ppmt (float, unrounded), timed on a sample;
  this is the comparison the target ratio is about (what a user writes schedule by schedule);
* for context, the same numpy-financial calls broadcast over the whole book at once (float,
  unrounded, no balances or last-period adjustment);
* the Decimal reference path, ``build_schedule`` per loan (which also computes the APR), on a sample.

Each figure is the best of 3 runs after a warm-up, in schedules per second (time.perf_counter).
It then checks a sample of the batch against the Decimal path, installment by installment, and
exits non-zero if any differs.

    .venv/bin/python benchmarks/schedule_batch.py [--loans N] [--sample N] [--check N] [--seed S] [--json]
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from datetime import date
from decimal import Decimal

import numpy as np
from timing import REPEATS, best_seconds
import numpy_financial as npf

from smelend.servicing import Conventions, LoanTerms, Method, build_schedule
from smelend.servicing.batch import build_schedules_batch

PERIODS = 12
TARGET_RATIO = 20.0  # batch must be at least this many times numpy-financial's per-loan loop
MIN_PRINCIPAL_FEN = 1_000_000  # 10,000 yuan
MAX_PRINCIPAL_FEN = 500_000_000  # 5,000,000 yuan
MIN_RATE_BP, MAX_RATE_BP = 300, 2_400  # 3% .. 24% a year, in basis points (4-decimal rates)


def make_book(loans: int, seed: int) -> tuple[np.ndarray, list[Decimal], np.ndarray]:
    """Random principals (fen), 4-decimal annual rates and start dates through 2026."""
    rng = np.random.default_rng(seed)
    principal_fen = rng.integers(MIN_PRINCIPAL_FEN, MAX_PRINCIPAL_FEN, loans, dtype=np.int64)
    annual_rate = [Decimal(bp).scaleb(-4) for bp in rng.integers(MIN_RATE_BP, MAX_RATE_BP + 1, loans).tolist()]
    start = np.datetime64("2026-01-01") + rng.integers(0, 365, loans)
    return principal_fen, annual_rate, start


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--loans", type=int, default=100_000, help="loans in the batch (default 100,000)")
    parser.add_argument("--sample", type=int, default=2_000, help="loans timed per-loan for numpy-financial and Decimal (default 2,000)")
    parser.add_argument("--check", type=int, default=2_000, help="loans of the batch compared with the Decimal path (default 2,000)")
    parser.add_argument("--seed", type=int, default=20260115)
    parser.add_argument("--json", action="store_true", help="print one JSON document instead of the summary")
    args = parser.parse_args(argv)
    assert args.loans >= 1 and args.sample >= 1 and args.check >= 0

    principal_fen, annual_rate, start = make_book(args.loans, args.seed)
    conventions = Conventions()  # interest per period, 2 decimals, half-up: the default product
    method = Method.EQUAL_INSTALLMENT
    sample = min(args.sample, args.loans)

    batch_seconds = best_seconds(lambda: build_schedules_batch(principal_fen, annual_rate, PERIODS, method, start, conventions))

    sample_fen = principal_fen[:sample].tolist()
    sample_periodic = [float(rate) / 12 for rate in annual_rate[:sample]]
    numbers = np.arange(1, PERIODS + 1)

    def numpy_financial_loop() -> None:
        for amount, periodic in zip(sample_fen, sample_periodic):
            npf.pmt(periodic, PERIODS, -amount)
            npf.ipmt(periodic, numbers, PERIODS, -amount)
            npf.ppmt(periodic, numbers, PERIODS, -amount)

    sample_starts = start[:sample].tolist()

    def decimal_loop() -> None:
        for amount, rate, begin in zip(sample_fen, annual_rate, sample_starts):
            build_schedule(LoanTerms(amount, rate, PERIODS, method, begin, conventions))

    book_fen = principal_fen.astype(np.float64)[:, None]
    book_periodic = np.array([float(rate) / 12 for rate in annual_rate])[:, None]

    def numpy_financial_broadcast() -> None:
        npf.pmt(book_periodic, PERIODS, -book_fen)
        npf.ipmt(book_periodic, numbers[None, :], PERIODS, -book_fen)
        npf.ppmt(book_periodic, numbers[None, :], PERIODS, -book_fen)

    numpy_financial_seconds = best_seconds(numpy_financial_loop)
    broadcast_seconds = best_seconds(numpy_financial_broadcast)
    decimal_seconds = best_seconds(decimal_loop)

    batch = build_schedules_batch(principal_fen, annual_rate, PERIODS, method, start, conventions)
    rng = np.random.default_rng(args.seed + 1)
    checked = rng.choice(args.loans, size=min(args.check, args.loans), replace=False).tolist()
    mismatches = [i for i in checked if batch.schedule(i) != build_schedule(batch.terms(i)).installments]

    rates = {
        "batch": args.loans / batch_seconds,
        "numpy_financial": sample / numpy_financial_seconds,
        "numpy_financial_broadcast": args.loans / broadcast_seconds,
        "decimal": sample / decimal_seconds,
    }
    ratio = rates["batch"] / rates["numpy_financial"]
    report = {
        "loans": args.loans,
        "periods": PERIODS,
        "method": method.value,
        "sample": sample,
        "repeats": REPEATS,
        "seconds": {
            "batch": batch_seconds,
            "numpy_financial": numpy_financial_seconds,
            "numpy_financial_broadcast": broadcast_seconds,
            "decimal": decimal_seconds,
        },
        "schedules_per_second": rates,
        "ratio_batch_over_numpy_financial": ratio,
        "ratio_batch_over_decimal": rates["batch"] / rates["decimal"],
        "target_ratio": TARGET_RATIO,
        "meets_target": ratio >= TARGET_RATIO,
        "fallback_count": batch.fallback_count,
        "payment_recomputed_count": batch.payment_recomputed_count,
        "checked_against_decimal": len(checked),
        "mismatches": mismatches,
        "python": platform.python_version(),
        "numpy": np.__version__,
        "machine": platform.machine(),
    }
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        print(f"{args.loans:,} loans, {PERIODS}-period monthly {method.value}, best of {REPEATS} after a warm-up")
        print(f"  build_schedules_batch      {rates['batch']:>12,.0f} schedules/s  ({batch_seconds:.3f} s for {args.loans:,})")
        print(f"  numpy-financial per loan   {rates['numpy_financial']:>12,.0f} schedules/s  ({numpy_financial_seconds:.3f} s for {sample:,}; float, unrounded)")
        print(f"  numpy-financial broadcast  {rates['numpy_financial_broadcast']:>12,.0f} schedules/s  ({broadcast_seconds:.3f} s for {args.loans:,}; float, unrounded, context only)")
        print(f"  Decimal path per loan      {rates['decimal']:>12,.0f} schedules/s  ({decimal_seconds:.3f} s for {sample:,}; includes APR)")
        print(f"  batch / numpy-financial    {ratio:>12.1f}x  (target {TARGET_RATIO:.0f}x: {'met' if ratio >= TARGET_RATIO else 'NOT met'})")
        print(f"  batch / Decimal path       {rates['batch'] / rates['decimal']:>12.1f}x")
        print(f"  fell back to Decimal: {batch.fallback_count} loans; payments recomputed near a rounding boundary: {batch.payment_recomputed_count}")
        if mismatches:
            print(f"checked {len(checked)} loans against the Decimal path: {len(mismatches)} DIFFER, first {mismatches[:10]}")
        else:
            print(f"checked {len(checked)} loans against the Decimal path: equal")
    return 1 if mismatches else 0


if __name__ == "__main__":
    sys.exit(main())
