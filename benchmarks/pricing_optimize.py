"""Profit-optimal rates for a whole table (numpy) against one applicant at a time (scipy), same rates.

Draws ``--rows`` applicants (default 1,000,000) with random economics and take-up parameters:
PD log-uniform on 0.1%..30%; LGD uniform 40%..90%; FTP 1.5%..2.3%; cost 0.8%..3%; capital the IRB
"other retail" K at each PD scaled to a 10.5% capital ratio; hurdle 8%..15%; take-up a uniform 1..5
and b uniform 8..60; a share ``--adverse-share`` (default 25%) with adverse selection (logit slope
uniform 0..25 around a reference rate of 10%); a floor at 3% for all; and a cap at 24% for half of them.

It times :func:`smelend.pricing.optimize.optimal_rates` on the whole table (best of 3 after a
warm-up) and :func:`optimal_rate` (scipy ``brentq``; grid + ``brentq`` with adverse selection) on the
first ``--sample`` rows, one call per row; prints rows/s of each and the ratio; and compares the sample's
rates: they must agree to 1e-6, or the script exits with status 1.

    .venv/bin/python benchmarks/pricing_optimize.py [--rows N] [--sample N] [--adverse-share F] [--seed S] [--json]
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from timing import REPEATS, best_seconds  # noqa: E402

from smelend.pricing.capital import irb_capital  # noqa: E402
from smelend.pricing.optimize import optimal_rate, optimal_rates  # noqa: E402
from smelend.pricing.takeup import AdverseSelection, TakeupModel  # noqa: E402

TOLERANCE = 1e-6


def applicants(rows: int, adverse_share: float, seed: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    pd = np.exp(rng.uniform(np.log(0.001), np.log(0.30), rows))
    lgd = rng.uniform(0.4, 0.9, rows)
    return {
        "pd": pd,
        "lgd": lgd,
        "funds_rate": rng.uniform(0.015, 0.023, rows),
        "cost_rate": rng.uniform(0.008, 0.03, rows),
        "capital": np.asarray(irb_capital(pd, lgd, capital_ratio=0.105)),
        "hurdle": rng.uniform(0.08, 0.15, rows),
        "a": rng.uniform(1.0, 5.0, rows),
        "b": rng.uniform(8.0, 60.0, rows),
        "slope": np.where(rng.random(rows) < adverse_share, rng.uniform(0.0, 25.0, rows), 0.0),
        "reference_rate": np.full(rows, 0.10),
        "floor": np.full(rows, 0.03),
        "cap": np.where(rng.random(rows) < 0.5, 0.24, 1.0),
    }


def scalar(table: dict[str, np.ndarray], i: int) -> float:
    slope = float(table["slope"][i])
    takeup = TakeupModel(float(table["a"][i]), float(table["b"][i]), AdverseSelection(slope, 0.10) if slope else None)
    economics = {k: float(table[k][i]) for k in ("pd", "lgd", "funds_rate", "cost_rate", "capital", "hurdle", "floor", "cap")}
    return optimal_rate(**economics, takeup=takeup).rate


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000, help="applicants priced in one table (default 1,000,000)")
    parser.add_argument("--sample", type=int, default=5_000, help="applicants priced one by one with scipy (default 5,000)")
    parser.add_argument("--adverse-share", type=float, default=0.25, help="share of applicants with adverse selection (default 0.25)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", action="store_true", help="print one JSON document instead of the summary")
    args = parser.parse_args(argv)
    assert args.rows >= 1 and 1 <= args.sample <= args.rows and 0 <= args.adverse_share <= 1

    table = applicants(args.rows, args.adverse_share, args.seed)
    result: dict[str, object] = {}

    def vectorised() -> None:
        result["out"] = optimal_rates(**table)

    vector_seconds = best_seconds(vectorised)
    out = result["out"]
    began = time.perf_counter()
    rates = np.array([scalar(table, i) for i in range(args.sample)])
    scalar_seconds = time.perf_counter() - began

    difference = np.abs(rates - out.rate[: args.sample])  # type: ignore[attr-defined]
    worst = float(difference.max())
    vector_rps = args.rows / vector_seconds
    scalar_rps = args.sample / scalar_seconds
    bound_share = {name: float(np.mean(out.bound == code)) for code, name in enumerate(("interior", "floor", "cap", "limit"))}  # type: ignore[attr-defined]
    document = {
        "rows": args.rows,
        "sample": args.sample,
        "adverse_share": args.adverse_share,
        "vectorised_seconds": vector_seconds,
        "vectorised_rows_per_second": vector_rps,
        "scalar_seconds_on_sample": scalar_seconds,
        "scalar_rows_per_second": scalar_rps,
        "ratio": vector_rps / scalar_rps,
        "max_rate_difference": worst,
        "agree": worst <= TOLERANCE,
        "bound_share": bound_share,
        "mean_rate": float(out.rate.mean()),  # type: ignore[attr-defined]
        "repeats": REPEATS,
        "python": platform.python_version(),
        "numpy": np.__version__,
    }
    if args.json:
        print(json.dumps(document, indent=2))
    else:
        print(f"{args.rows:,} applicants, {args.adverse_share:.0%} with adverse selection; sample {args.sample:,} priced one by one")
        print(f"optimal_rates (numpy, whole table): {vector_seconds:8.3f} s  {vector_rps:12,.0f} rows/s  (best of {REPEATS})")
        print(f"optimal_rate (scipy, per row):      {scalar_seconds:8.3f} s  {scalar_rps:12,.0f} rows/s  on the sample")
        print(f"ratio: {vector_rps / scalar_rps:,.0f}x")
        print("bounds: " + ", ".join(f"{name} {share:.1%}" for name, share in bound_share.items()))
        print(f"sample rates agree to {worst:.2e} (tolerance {TOLERANCE:g}): {'yes' if worst <= TOLERANCE else 'NO'}")
    return 0 if worst <= TOLERANCE else 1


if __name__ == "__main__":
    raise SystemExit(main())
