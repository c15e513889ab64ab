"""Train the shipped SME models (one scorecard + LightGBM challenger per customer group) on the
simulated provider's data, and write them into the shipped strategy.

    .venv/bin/python scripts/train_sme_models.py [--rows 60000] [--seed 20261128] [--out DIR]

Prints each group's holdout AUC for the scorecard (sum of points), the challenger and the oracle
(the latent PD the simulation drew defaults from: the best any model can do). Retraining changes the
strategy's hash; bump ``version`` in strategy.yaml with it.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from smelend.risk.strategy import SHIPPED_DIR, DEFAULT_STRATEGY
from smelend.risk.training import train_sme_models


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=60_000)
    parser.add_argument("--seed", type=int, default=20261128)
    parser.add_argument("--out", type=Path, default=SHIPPED_DIR / DEFAULT_STRATEGY / "models")
    args = parser.parse_args()
    print(f"simulating {args.rows} applications (seed {args.seed}) and training ...", file=sys.stderr)
    reports = train_sme_models(args.out, args.rows, args.seed)
    summary = {g: {m: round(v["auc"], 4) for m, v in r["holdout"].items()} for g, r in reports.items()}
    print(json.dumps({"out": str(args.out), "holdout_auc": summary}, indent=2))


if __name__ == "__main__":
    main()
