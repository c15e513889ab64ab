"""`smelend cob --date D --json` on a generated database book of 1,000,000 accounts, stage by stage, with the
local runner on this machine, against a per-account loop on a sample in the same run; and the Ray runner
on the same book (its overhead).

The book is a SQLite file made once by ``smelend book generate --accounts 1000000`` (``--book PATH``;
generated into PATH first if it does not exist: about 6 minutes on an idle machine, not timed here).
Each measured run closes a fresh copy of it (a close mutates the book), through the command's own code
(:func:`smelend.cli.cob.run`: the pipeline :func:`smelend.cob.pipeline.run_close_of_business`, then the
summary's trial balance and buckets), in this process:

(1) local runner, ``--workers`` processes: wall time of the whole command, and the pipeline's own time
    per stage — ``loans`` (auto-debits, then accrual, penalties, days past due, classification and
    provisions for every active loan with their journal entries: the columnar path of
    :mod:`smelend.store.cob_loans`), ``snapshot`` (the book as of the date, to Parquet), ``work``
    (behaviour score and reassessment on the runner), ``write`` (line changes, notices, collections
    actions), ``finish`` (expiries, totals, next business date); ``summary`` is the rest of the command
    (trial balance recomputed from the postings, buckets);
(2) the baseline, on ``--sample`` active loans and lines of another fresh copy: the per-account loop —
    each loan loaded, closed by ``accrual.close_day``, saved and its entry posted one by one (the
    per-loan path ``smelend cob --per-loan`` takes), and the whole JDM graph evaluated by zen for each
    line (``ReassessmentRules.evaluate_row``) — scaled to the book's loans and lines;
(3) the Ray runner (``--runner ray``, an actor pool of ``--workers`` actors, a local Ray instance
    started in this process) on a third fresh copy: the same stages; its overhead is its work stage
    against the local runner's; its summary must equal the local one outside ``timings``.

    .venv/bin/python benchmarks/cob_pipeline.py --book /tmp/cobbench/book1m.db [--date YYYY-MM-DD] [--workers N] [--sample N] [--no-ray] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path
from typing import Any

TARGET_SECONDS = 120.0
GENERATED_ACCOUNTS = 1_000_000


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--book", type=Path, required=True, help="a SQLite book made by `smelend book generate` (generated here if missing)")
    parser.add_argument("--accounts", type=int, default=GENERATED_ACCOUNTS, help="accounts to generate when --book does not exist")
    parser.add_argument("--as-of", default="2026-06-30", help="business date of a book generated here")
    parser.add_argument("--date", type=date.fromisoformat, help="the date closed (default: the book's business date)")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 2)
    parser.add_argument("--sample", type=int, default=2_000, help="accounts of the per-account loop baseline")
    parser.add_argument("--no-ray", action="store_true")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    log = (lambda *a: print(*a, file=sys.stderr, flush=True)) if args.json else (lambda *a: print(*a, flush=True))
    book_path: Path = args.book.absolute()
    if not book_path.exists():
        log(f"generating {args.accounts:,} accounts into {book_path} (not timed)")
        book_path.parent.mkdir(parents=True, exist_ok=True)
        subprocess.run([sys.executable, "-m", "smelend", "book", "generate", "--accounts", str(args.accounts), "--as-of", args.as_of, "--seed", "1"],
                       check=True, env=_env(book_path, book_path.parent / "generate-data"), stdout=subprocess.DEVNULL)
    document: dict[str, Any] = {"book": str(book_path), "workers": args.workers, "cpus": os.cpu_count(), "target_seconds": TARGET_SECONDS}

    with tempfile.TemporaryDirectory(dir=book_path.parent) as folder_name:
        folder = Path(folder_name)
        local = _close(book_path, folder / "local", "local", args.workers, args.date, log)
        document["local"] = local
        day = date.fromisoformat(local["summary"]["date"])
        snapshot = folder / "local" / "data" / "cob" / local["summary"]["timings"]["run_ids"][-1] / "snapshot.parquet"
        document["baseline"] = _baseline(book_path, folder / "loop", day, args.sample, local["summary"]["loan_days"], snapshot, log)
        if not args.no_ray:
            ray = _close(book_path, folder / "ray", "ray", args.workers, day, log)
            document["ray"] = ray
            document["ray_equals_local"] = _outside_timings(ray["summary"]) == _outside_timings(local["summary"])
            document["ray_overhead_seconds"] = {"work": round(ray["stages"]["work"] - local["stages"]["work"], 2), "wall": round(ray["wall"] - local["wall"], 2)}
    document["load_average"] = os.getloadavg()
    loop = document["baseline"]["scaled_seconds"]["total"]
    document["speedup_over_loop"] = round(loop / local["wall"], 1)
    document["target_met"] = local["wall"] < TARGET_SECONDS
    if args.json:
        print(json.dumps(document, indent=2, default=str))
    else:
        print()
        print(f"{local['summary']['accounts']:,} accounts, {local['summary']['loan_days']:,} loans closed on {day}, {args.workers} workers, load average {document['load_average'][0]:.1f}")
        for runner in ("local", "ray"):
            if runner in document:
                stages = "  ".join(f"{k} {v:.1f}" for k, v in document[runner]["stages"].items())
                print(f"{runner:>5}: wall {document[runner]['wall']:.1f} s  [{stages}]")
        print(f"per-account loop, scaled from {args.sample:,}: {loop:.0f} s ({document['speedup_over_loop']}x the local runner); target {TARGET_SECONDS:.0f} s met: {document['target_met']}")
        if "ray" in document:
            print(f"Ray overhead: work stage {document['ray_overhead_seconds']['work']:+.1f} s, wall {document['ray_overhead_seconds']['wall']:+.1f} s; summaries equal: {document['ray_equals_local']}")
    return 0


def _env(book: Path, data: Path) -> dict[str, str]:
    data.mkdir(parents=True, exist_ok=True)
    return {**os.environ, "SMELEND_DATABASE_URL": f"sqlite:///{book}", "SMELEND_DATA_DIR": str(data)}


def _fresh_copy(book: Path, folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    copy = folder / "book.db"
    shutil.copyfile(book, copy)
    keyring = book.parent / "data" / "pii-keyring.json"
    (folder / "data").mkdir(exist_ok=True)
    if keyring.exists():
        shutil.copyfile(keyring, folder / "data" / "pii-keyring.json")
    return copy


def _close(book: Path, folder: Path, runner: str, workers: int, day: date | None, log) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    """``smelend cob --date D --runner R --workers N --json`` on a fresh copy, in this process, timed."""
    copy = _fresh_copy(book, folder)
    os.environ.update(_env(copy, folder / "data"))
    from sqlalchemy import select

    from smelend.cli import cob as cob_cli
    from smelend.store import open_store
    from smelend.store.tables import business_day

    engine = open_store()  # migrations first (not timed: a production book is at head already)
    with engine.connect() as conn:
        current = conn.scalar(select(business_day.c.business_date))
    engine.dispose()
    through = day or current
    log(f"{runner}: closing {through} on a copy of the book ({workers} workers)")
    began = time.perf_counter()
    summary = cob_cli.run(through, runner, workers, None)
    wall = time.perf_counter() - began
    stages = dict(summary["timings"]["seconds"])
    stages["summary"] = round(wall - sum(stages.values()), 3)
    log(f"{runner}: wall {wall:.1f} s; " + ", ".join(f"{k} {v:.1f} s" for k, v in stages.items()))
    copy.unlink()
    return {"wall": round(wall, 2), "stages": stages, "summary": summary}


def _baseline(book: Path, folder: Path, day: date, sample: int, loans_in_book: int, snapshot: Path, log) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    """The per-account loop on ``sample`` active loans of a fresh copy and ``sample`` lines of the local
    run's snapshot, scaled to the book's loans closed and lines."""
    import polars as pl

    from smelend.cob.work import BatchWork, shared_context
    from smelend.lines.reassess import row_context, rule_inputs
    from smelend.operations.cob import _close_chunk
    from smelend.operations.context import open_book
    from smelend.store import open_store
    from smelend.store.lending import active_loan_ids, load_loans
    from smelend.store.snapshot import read_parquet

    copy = _fresh_copy(book, folder)
    engine = open_store(f"sqlite:///{copy}")
    the_book = open_book(engine)
    with engine.connect() as conn:
        ids = active_loan_ids(conn, day, 10**9)
    step = max(1, len(ids) // sample)
    chosen = ids[::step][:sample]
    began = time.perf_counter()
    with engine.begin() as conn:
        for loan_id in chosen:
            stored = load_loans(conn, [loan_id])
            _close_chunk(the_book, conn, stored, day)
    loans_seconds = (time.perf_counter() - began) / len(chosen) * loans_in_book
    lines = pl.from_arrow(read_parquet(snapshot))
    assert isinstance(lines, pl.DataFrame)
    lines_in_book = lines.height
    lines = lines.gather_every(max(1, lines.height // sample)).head(sample)
    work = BatchWork()
    graded = work(lines.to_arrow(), day)["grades"]
    frame = lines.join(pl.from_arrow(graded), on="line_id", how="left")  # type: ignore[arg-type]
    context = shared_context()
    inputs = rule_inputs(frame, day, context)
    began = time.perf_counter()
    for i in range(inputs.height):
        context.rules.evaluate_row(row_context(inputs, i))
    rules_seconds = (time.perf_counter() - began) / inputs.height * lines_in_book
    engine.dispose()
    copy.unlink()
    log(f"per-account loop, scaled: loans {loans_seconds:.0f} s, rules {rules_seconds:.0f} s")
    return {
        "sample_loans": len(chosen), "sample_lines": inputs.height,
        "scaled_seconds": {"loans": round(loans_seconds, 1), "rules": round(rules_seconds, 1), "total": round(loans_seconds + rules_seconds, 1)},
    }


def _outside_timings(summary: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in summary.items() if k != "timings"}


if __name__ == "__main__":
    raise SystemExit(main())
