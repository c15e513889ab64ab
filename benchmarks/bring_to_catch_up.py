"""A dated operation catching up days: the full close of business (issue 7) against the loans-only path it replaced.

``smelend.operations.lines.bring_to`` closes the days before an operation dated after the business
date. It now runs the close-of-business pipeline (loans, snapshot, behaviour score, reassessment,
collections actions) in process; before, it ran ``operations.cob.close_business`` (loans only, the
per-loan path). Times, on copies of one generated SQLite book of ``--accounts`` accounts:

(a) ``bring_to(book, as_of + days)``: the pipeline over ``--days`` days (what an operation now pays);
(b) the baseline, in the same run: ``close_business(book, as_of + days - 1)`` on a fresh copy (what it paid).

Each is the best of ``--repeats`` runs, each on a fresh copy of the generated book (a closed day cannot
be closed twice).

    .venv/bin/python benchmarks/bring_to_catch_up.py [--accounts N] [--days D] [--repeats R] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import date, timedelta
from pathlib import Path

from smelend.products.loader import load_catalogue
from smelend.servicing import delinquency
from smelend.store.book_generator import generate_book
from smelend.store.db import make_engine, upgrade

AS_OF = date(2026, 6, 30)


def _timed_on_copy(source: Path, folder: Path, run: Callable[[object], object], repeats: int) -> float:
    from smelend.operations.context import open_book

    best = float("inf")
    for k in range(repeats):
        copy = folder / f"copy-{run.__name__}-{k}.db"
        shutil.copyfile(source, copy)
        os.environ["SMELEND_DATA_DIR"] = str(folder / f"data-{run.__name__}-{k}")  # the pipeline's snapshots
        engine = make_engine(f"sqlite:///{copy}")
        try:
            book = open_book(engine)
            began = time.perf_counter()
            run(book)
            best = min(best, time.perf_counter() - began)
        finally:
            engine.dispose()
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--accounts", type=int, default=5_000)
    parser.add_argument("--days", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()

    from smelend.operations.cob import close_business
    from smelend.operations.lines import bring_to

    with tempfile.TemporaryDirectory(prefix="smelend-bring-to-") as tmp:
        folder = Path(tmp)
        source = folder / "book.db"
        engine = make_engine(f"sqlite:///{source}")
        upgrade(engine)
        began = time.perf_counter()
        generate_book(engine, args.accounts, 7, AS_OF, load_catalogue(), delinquency.load_policy())
        generated = time.perf_counter() - began
        engine.dispose()
        day = AS_OF + timedelta(days=args.days)

        def pipeline(book) -> None:  # type: ignore[no-untyped-def]
            assert bring_to(book, day)

        def loans_only(book) -> None:  # type: ignore[no-untyped-def]
            close_business(book, day - timedelta(days=1))

        new = _timed_on_copy(source, folder, pipeline, args.repeats)
        old = _timed_on_copy(source, folder, loans_only, args.repeats)

    figures = {
        "accounts": args.accounts,
        "days": args.days,
        "generate_seconds": round(generated, 2),
        "bring_to_pipeline_seconds": round(new, 3),
        "baseline_close_business_loans_only_seconds": round(old, 3),
        "pipeline_per_day_seconds": round(new / args.days, 3),
        "ratio_pipeline_over_baseline": round(new / old, 2),
        "machine": {"python": sys.version.split()[0], "platform": platform.platform(), "cpus": os.cpu_count()},
    }
    if args.json:
        print(json.dumps(figures))
        return
    for key, value in figures.items():
        print(f"{key}: {value}")


if __name__ == "__main__":
    main()
