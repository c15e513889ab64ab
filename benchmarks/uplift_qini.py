"""Our uplift learners' Qini against causalml's reference meta-learners, on the same data in one run.

Data: causalml's ``make_uplift_classification`` (one treatment, ``--delta`` uplift on two features plus a
mixed one, 10 classification features, 50% positives), ``--rows`` customers split ``--train`` / rest with
one seed. Learners, all with the same base models (scikit-learn HistGradientBoosting, 150 iterations, one
OpenMP thread each, as smelend fits them):

* smelend ``T`` and ``X`` (:mod:`smelend.marketing.uplift`), and the one smelend would choose;
* causalml ``BaseTClassifier``, ``BaseXClassifier`` (its propensity from the training share, as ours),
  ``BaseSClassifier``;
* causalml's own ``treatment_effect`` column (the designed effect: only two values, 0 or ``delta``, so as a
  ranking it ties most rows and is no true oracle on this data) and a random ranking.

Every score set is evaluated by the same function (smelend's Qini coefficient and AUUC, per customer, on
the held-out rows). Fit and predict seconds are reported per learner. causalml is the ``bench`` extra:
installed in the venv, never imported by smelend or its tests.

    .venv/bin/python benchmarks/uplift_qini.py [--rows 20000] [--delta 0.05] [--seed 0] [--json]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import warnings

import numpy as np


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=20_000, help="customers per arm (causalml's n_samples is per treatment group)")
    parser.add_argument("--delta", type=float, default=0.05, help="uplift of the increase features (causalml's delta_uplift_increase)")
    parser.add_argument("--train", type=float, default=0.6)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    warnings.filterwarnings("ignore")

    from causalml.dataset import make_uplift_classification
    from causalml.inference.meta import BaseSClassifier, BaseTClassifier, BaseXClassifier
    from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor
    from threadpoolctl import threadpool_limits

    from smelend.marketing.uplift import UpliftData, choose, evaluate, fit

    df, x_names = make_uplift_classification(
        n_samples=args.rows, treatment_name=["control", "treatment1"], n_uplift_increase_dict={"treatment1": 2},
        n_uplift_decrease_dict={"treatment1": 0}, delta_uplift_increase_dict={"treatment1": args.delta},
        delta_uplift_decrease_dict={"treatment1": 0.0}, n_uplift_increase_mix_informative_dict={"treatment1": 1},
        n_uplift_decrease_mix_informative_dict={"treatment1": 0}, random_seed=args.seed,
    )
    x = df[x_names].to_numpy(dtype=np.float64)
    t = (df["treatment_group_key"] == "treatment1").to_numpy().astype(np.int64)
    y = df["conversion"].to_numpy().astype(np.int64)
    true = df["treatment_effect"].to_numpy(dtype=np.float64)
    rng = np.random.default_rng(args.seed)
    train = rng.random(len(y)) < args.train
    ours_train = UpliftData(x[train], t[train], y[train], true[train])
    test = ~train

    def clf() -> HistGradientBoostingClassifier:
        return HistGradientBoostingClassifier(max_iter=150, learning_rate=0.05, max_leaf_nodes=15, min_samples_leaf=40, random_state=args.seed)

    def reg() -> HistGradientBoostingRegressor:
        return HistGradientBoostingRegressor(max_iter=150, learning_rate=0.05, max_leaf_nodes=15, min_samples_leaf=40, random_state=args.seed)

    scores: dict[str, np.ndarray] = {}
    seconds: dict[str, float] = {}
    for learner in ("t", "x"):
        began = time.perf_counter()
        model = fit(ours_train, learner, args.seed)
        scores[f"smelend {learner.upper()}-learner"] = model.predict(x[test])
        seconds[f"smelend {learner.upper()}-learner"] = time.perf_counter() - began
    # what smelend's campaign planner would pick (it validates on part of the training rows)
    inner_train, inner_valid = ours_train.split(0.7, args.seed)
    began = time.perf_counter()
    chosen, comparison = choose(inner_train, inner_valid, args.seed)
    scores[f"smelend chosen ({chosen.learner.upper()})"] = chosen.predict(x[test])
    seconds[f"smelend chosen ({chosen.learner.upper()})"] = time.perf_counter() - began

    treatment_labels = np.where(t[train] == 1, "treatment1", "control")
    p_train = np.full(train.sum(), t[train].mean())
    p_test = np.full(test.sum(), t[train].mean())
    references = {
        "causalml BaseTClassifier": lambda: BaseTClassifier(learner=clf(), control_name="control"),
        "causalml BaseXClassifier": lambda: BaseXClassifier(outcome_learner=clf(), effect_learner=reg(), control_name="control"),
        "causalml BaseSClassifier": lambda: BaseSClassifier(learner=clf(), control_name="control"),
    }
    for name, make in references.items():
        with threadpool_limits(limits=1):
            began = time.perf_counter()
            model = make()
            if "X" in name:
                model.fit(x[train], treatment_labels, y[train], p=p_train)
                pred = model.predict(x[test], p=p_test)
            else:
                model.fit(x[train], treatment_labels, y[train])
                pred = model.predict(x[test])
            seconds[name] = time.perf_counter() - began
        scores[name] = np.asarray(pred).reshape(len(pred), -1)[:, 0]
    scores["causalml treatment_effect"] = true[test]
    scores["random"] = np.random.default_rng(args.seed + 1).random(test.sum())

    results = {}
    for name, s in scores.items():
        e = evaluate(s, t[test], y[test])
        results[name] = {"qini": e.qini, "auuc": e.auuc, "incremental_at_top_20pct": e.incremental_at_top["0.2"], "seconds": seconds.get(name)}
    report = {"rows": int(len(y)), "train_rows": int(train.sum()), "test_rows": int(test.sum()), "delta": args.delta, "seed": args.seed,
              "treated_share": float(t.mean()), "ate_true": float(true[t == 1].mean() if (t == 1).any() else 0.0), "results": results}
    if args.json:
        print(json.dumps(report, indent=2))
        return 0
    print(f"causalml make_uplift_classification: {report['rows']:,} rows (delta {args.delta}), train {report['train_rows']:,}, held out {report['test_rows']:,}")
    print(f"  {'learner':<32} {'Qini':>9} {'AUUC':>9} {'incr@20%':>9} {'seconds':>8}")
    for name, r in results.items():
        sec = "" if r["seconds"] is None else f"{r['seconds']:.1f}"
        print(f"  {name:<32} {r['qini']:>9.5f} {r['auuc']:>9.5f} {r['incremental_at_top_20pct']:>9.5f} {sec:>8}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
