"""Decision latency, in process: p50 and p99 of ``decide`` for single applications.

``decide`` runs the whole online path for one application whose evidence is already gathered:
flatten -> features -> policy rules (zen-engine) -> the group's compiled scorecard -> PD -> grade ->
limit, plus the LightGBM challenger in shadow mode (the shipped strategy records it for every
application). A third row adds the price step (the product's optimal rate and the offer with each
repayment method's APR, a schedule and an IRR per method). Provider calls are not in the figure (they are network time, and the simulated
provider answers in microseconds). The target: p99 under 5 ms (MYbank's "310" promises an approval
in one second end to end).

For comparison, measured in the same run on the same applications: the same path with the challenger
switched off, and scoring one row with optbinning's own ``Scorecard.score`` on a one-row pandas
DataFrame (what a pipeline that keeps the optbinning object would do per request), trained on the
same simulated data and features.

    .venv/bin/python benchmarks/decision_latency.py [--applications N] [--seed S] [--json]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import replace
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))


def percentiles(samples_ns: list[int]) -> dict[str, float]:
    ms = np.asarray(samples_ns, dtype=np.float64) / 1e6
    return {"p50_ms": float(np.percentile(ms, 50)), "p99_ms": float(np.percentile(ms, 99)), "max_ms": float(ms.max()), "mean_ms": float(ms.mean())}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--applications", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=3)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()

    from smelend.products.loader import load_catalogue
    from smelend.risk.decision import decide
    from smelend.risk.features import compute_features, flatten
    from smelend.risk.providers.base import gather
    from smelend.risk.providers.simulated import SimulatedProvider, simulate_applications, simulate_table
    from smelend.risk.strategy import load_strategy
    from smelend.risk.training import model_columns

    clock = lambda: datetime(2026, 11, 28, tzinfo=timezone.utc)  # noqa: E731
    strategy = load_strategy()
    catalogue = {p.id: p for p in load_catalogue().values()}
    provider = SimulatedProvider(seed=args.seed)
    cases = [(a, gather(a, provider, clock=clock), catalogue[a.product_id]) for a in simulate_applications(args.applications, args.seed)]
    print(f"{len(cases)} applications gathered; timing decide ...", file=sys.stderr)

    def timed(strategy_used, pricer=None) -> list[int]:
        for app, evidence, terms in cases[:50]:  # warm-up: zen compiles, caches fill
            decide(app, evidence, strategy_used, terms, pricer)
        samples = []
        for app, evidence, terms in cases:
            began = time.perf_counter_ns()
            decide(app, evidence, strategy_used, terms, pricer)
            samples.append(time.perf_counter_ns() - began)
        return samples

    from smelend.pricing.pricer import Pricer

    priced = timed(strategy, Pricer.load())
    with_shadow = timed(strategy)
    champion_only = timed(replace(strategy, challenger=strategy.challenger.model_copy(update={"share": 0.0})))

    # Baseline: optbinning's own scorer, one row per call, on the data-rich group's features.
    from smelend.risk.features import feature_frame
    from smelend.risk.scorecard import fit_scorecard
    import pandas as pd

    names = strategy.models["data-rich"].scorecard.feature_names
    table = simulate_table(10_000, args.seed)
    optbinning_card, _ = fit_scorecard(model_columns(feature_frame(table).select(names)).to_pandas(), table["defaulted"].to_numpy())
    rows = []
    for app, evidence, _ in cases[:500]:
        features = compute_features(flatten(app, evidence))
        rows.append(pd.DataFrame([{n: (float(features[n]) if isinstance(features[n], bool) else features[n]) for n in names}]))
    for row in rows[:20]:
        optbinning_card.score(row)
    baseline = []
    for row in rows:
        began = time.perf_counter_ns()
        optbinning_card.score(row)
        baseline.append(time.perf_counter_ns() - began)

    result = {
        "applications": len(cases),
        "decide_with_shadow_challenger": percentiles(with_shadow),
        "decide_champion_only": percentiles(champion_only),
        "decide_priced_with_offer": percentiles(priced),
        "optbinning_score_one_row": percentiles(baseline),
        "target_p99_ms": 5.0,
    }
    result["p99_under_target"] = result["decide_with_shadow_challenger"]["p99_ms"] < 5.0
    if args.json:
        print(json.dumps(result, indent=2))
        return
    print(f"decide, {len(cases)} applications (features -> rules -> score -> limit):")
    for label, key in (("with shadow challenger", "decide_with_shadow_challenger"), ("champion only", "decide_champion_only"),
                       ("priced, with the offer and every method's APR", "decide_priced_with_offer"), ("optbinning Scorecard.score, one row (scoring alone)", "optbinning_score_one_row")):
        p = result[key]
        print(f"  {label:52s} p50 {p['p50_ms']:.3f} ms   p99 {p['p99_ms']:.3f} ms   max {p['max_ms']:.2f} ms")
    ratio = result["optbinning_score_one_row"]["p50_ms"] / result["decide_champion_only"]["p50_ms"]
    print(f"  a whole decision (champion) is {ratio:.1f}x faster at p50 than optbinning scoring one row alone")
    print(f"  target p99 < 5 ms: {'met' if result['p99_under_target'] else 'NOT met'}")


if __name__ == "__main__":
    main()
