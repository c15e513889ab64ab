"""Segmentation and pre-approved screening of 1,000,000 customers on this machine, time per stage.

Stages, each timed once (a million-row stage is seconds; a best-of-3 would triple the run):

1. ``simulate`` — the synthetic customer book (:func:`smelend.marketing.customers.simulate_customers`), context only;
2. ``score`` — the real scorecards in batch over every customer (features -> group -> compiled scorecard -> PD -> grade);
3. ``segments`` — rule segments, life cycle, value x risk grid (polars expressions) and their profiles;
4. ``clusters`` — MiniBatchKMeans (k = 5) on eight standardised features, with readable profiles;
5. ``whitelist base + score`` — who may be approached, and the scorecards over them;
6. ``whitelist decide`` — the real ``decide`` with pricing for the ``--decide`` best, on ``--workers`` processes.

The comparison baseline, measured in the same run: the per-application path (``compute_features`` +
``score_row`` per customer, which is what screening one customer at a time through ``decide``'s
scoring step costs, before rules, limit and price) timed on ``--sample`` customers and scaled to the
book; and the full ``decide`` rate of stage 6 scaled to the whole base (what screening everyone through
``decide`` would take).

    .venv/bin/python benchmarks/marketing_scale.py [--customers 1000000] [--decide 2000] [--workers 2] [--sample 20000] [--json]
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from typing import Any, Callable

import numpy as np


def timed(seconds: dict[str, float], name: str, run: Callable[[], Any]) -> Any:
    began = time.perf_counter()
    out = run()
    seconds[name] = time.perf_counter() - began
    print(f"  {name:<28} {seconds[name]:8.2f} s", file=sys.stderr)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--customers", type=int, default=1_000_000)
    parser.add_argument("--decide", type=int, default=2_000, help="customers put through the real decide + pricing")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--sample", type=int, default=20_000, help="customers scored one at a time for the baseline")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)

    import polars as pl

    from smelend.marketing.clustering import cluster
    from smelend.marketing.customers import simulate_customers
    from smelend.marketing.scoring import score_table
    from smelend.marketing.segments import profiles, segment_table, value_risk_grid
    from smelend.marketing.whitelist import base_mask, screen
    from smelend.risk.features import compute_features
    from smelend.risk.strategy import load_strategy

    strategy = load_strategy()
    seconds: dict[str, float] = {}
    print(f"{args.customers:,} customers:", file=sys.stderr)
    book = timed(seconds, "simulate", lambda: simulate_customers(args.customers, args.seed))
    scores = timed(seconds, "score", lambda: score_table(book, strategy))
    segs = timed(seconds, "segments", lambda: (lambda s: (s, profiles(s), value_risk_grid(s)))(segment_table(book, scores.pd)))
    clusters = timed(seconds, "clusters", lambda: cluster(book, scores.pd, 5, args.seed))
    result = screen(book, args.decide, seed=args.seed, workers=args.workers)
    seconds["whitelist base + score"] = result.seconds["base"] + result.seconds["score"]
    seconds["whitelist decide"] = result.seconds["decide"]
    print(f"  whitelist base + score       {seconds['whitelist base + score']:8.2f} s\n  whitelist decide             {seconds['whitelist decide']:8.2f} s", file=sys.stderr)

    sample = book.head(args.sample).to_dicts()
    began = time.perf_counter()
    for i, row in enumerate(sample):
        strategy.models[scores.group[i]].scorecard.score_row(compute_features(row))  # type: ignore[attr-defined]
    per_row = (time.perf_counter() - began) / len(sample)
    decide_each = result.seconds["decide"] * args.workers / max(result.decided, 1)  # one process's seconds per customer

    report = {
        "customers": args.customers,
        "seconds": seconds,
        "batch_total_seconds": seconds["score"] + seconds["segments"] + seconds["clusters"] + seconds["whitelist base + score"],
        "baseline": {
            "per_customer_scoring_microseconds": per_row * 1e6,
            "per_customer_scoring_book_seconds": per_row * args.customers,
            "decide_per_customer_ms": decide_each * 1000,
            "decide_whole_base_hours_one_process": decide_each * result.base / 3600,
        },
        "ratio_batch_score_over_per_customer": per_row * args.customers / seconds["score"],
        "whitelist": {"base": result.base, "score_approved": result.score_approved, "decided": result.decided, "approved": result.approved,
                      "referred": result.referred, "declined": result.declined, "workers": args.workers},
        "segments": {"stages": {r["stage"]: r["n"] for r in segs[0].group_by("stage").agg(pl.len().alias("n")).iter_rows(named=True)}, "cells": len(segs[2])},
        "clusters": [{"customers": p.customers, "description": p.description} for p in clusters.profiles],
        "python": platform.python_version(), "cores": __import__("os").cpu_count(),
    }
    assert base_mask(book).sum() == result.base
    if args.json:
        print(json.dumps(report, indent=2))
        return 0
    b = report["baseline"]
    print(f"{args.customers:,} customers on {report['cores']} cores (one run per stage):")
    for name, s in seconds.items():
        print(f"  {name:<28} {s:8.2f} s")
    print(f"  batch stages (score, segments, clusters, whitelist base + score): {report['batch_total_seconds']:.1f} s")
    print(f"baseline, same run: per-customer scoring {b['per_customer_scoring_microseconds']:.0f} µs -> {b['per_customer_scoring_book_seconds']:.0f} s for the book "
          f"({report['ratio_batch_score_over_per_customer']:.0f}x the batch score stage)")
    print(f"real decide + pricing: {b['decide_per_customer_ms']:.1f} ms a customer per process; the whole base ({result.base:,}) through decide would take "
          f"{b['decide_whole_base_hours_one_process']:.1f} h on one process, so only the {result.decided:,} best go through it "
          f"({result.approved:,} approved, {result.referred:,} referred, {result.declined:,} declined)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
