"""The book-wide close of business for one day on 1,000,000 lines and loans, stage by stage, with the
local runner on this machine, against a per-account loop on a sample; and the Ray runner on the same
book (its overhead).

The book is synthetic and built in memory, not generated into a database (part A's ``smelend book
generate`` goes through the real servicing engine and is too slow for a million accounts here):
loans as ``BookArrays`` by ``benchmarks/cob_book.py``'s ``make_book`` (its mix: five repayment
methods, 12% overdue, ...), lines as the snapshot by :func:`smelend.cob.synthetic.snapshot_frame`
(every column of ``SNAPSHOT_SCHEMA``; 10% past due, 0.3% external alerts, 3% temporary limits, a
season in force). Each stage is timed once (these are minutes-long runs, not micro-benchmarks):

(1) loans: ``close_day_batch`` (accrual, penalties, DPD, classification, provisions) + the day's
    ledger rows (``posting_rows_from_batch``) + writing them into a fresh SQLite ledger (the rows
    writer of ``cob_book.py``);
(2) snapshot I/O: the 1,000,000-line snapshot written to Parquet (zstd) and read back, as the
    pipeline does (the database query that builds it is not in this figure: see the README);
(3) work, local runner: behaviour score (``smelend.lines.behaviour``) -> reassessment (JDM rules
    cell-wise by zen, amounts vectorised) on ``--workers`` processes, batches of ``--batch-rows``;
    also each part alone in this process;
(4) collections: ``collection_actions`` on one row per loan;
(5) write: the day's line changes, their notices and progress rows into a fresh SQLite database
    holding the 1,000,000 lines, in chunks of 5,000 (one transaction each);
(6) baseline: a per-account loop on ``--sample`` accounts — ``accrual.close_day`` per loan and the
    whole JDM graph by zen per line (``ReassessmentRules.evaluate_row``) — scaled to the book;
(7) Ray: the same work stage on ``RayRunner`` (``map_batches``, an actor pool of ``--workers``
    actors): first run (including ``ray.init``), a second run (warm), against the local runner.

    .venv/bin/python benchmarks/cob_pipeline.py [--accounts N] [--workers N] [--sample N] [--no-ray] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

import numpy as np
import polars as pl

from cob_book import fresh_sqlite, make_book, peak_memory_mb, sample_states, write_rows

from smelend.cob.runners import LocalRunner, RayRunner
from smelend.cob.synthetic import snapshot_frame
from smelend.cob.work import BatchWork, shared_context
from smelend.lines.reassess import reassess, row_context, rule_inputs
from smelend.servicing import accrual, delinquency
from smelend.servicing.cob_batch import close_day_batch, posting_rows_from_batch

DAY = date(2026, 11, 5)  # in the double-eleven season: temporary limits are decided too
TARGET_SECONDS = 120.0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--accounts", type=int, default=1_000_000)
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 2)
    parser.add_argument("--batch-rows", type=int, default=100_000)
    parser.add_argument("--sample", type=int, default=5_000)
    parser.add_argument("--seed", type=int, default=20261105)
    parser.add_argument("--no-ray", action="store_true")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    log = (lambda *a: print(*a, file=sys.stderr, flush=True)) if args.json else (lambda *a: print(*a, flush=True))
    n = args.accounts
    policy = delinquency.load_policy()
    seconds: dict[str, float] = {}
    counts: dict[str, object] = {}

    def timed(name: str, run):  # type: ignore[no-untyped-def]
        began = time.perf_counter()
        value = run()
        seconds[name] = time.perf_counter() - began
        log(f"{name}: {seconds[name]:.2f} s")
        return value

    began = time.perf_counter()
    loans, contracts = make_book(n, args.seed, DAY, policy)
    lines = snapshot_frame(n, DAY, seed=args.seed, graded=False)
    log(f"built {len(loans):,} loans and {lines.height:,} lines in {time.perf_counter() - began:.1f} s (not timed)")

    with tempfile.TemporaryDirectory() as folder_name:
        folder = Path(folder_name)
        # (1) loans
        after, moved = timed("1a loans: close_day_batch", lambda: close_day_batch(loans, DAY, policy))
        rows = timed("1b loans: ledger rows", lambda: posting_rows_from_batch(after, moved, DAY))
        ledger = fresh_sqlite(folder, "ledger.db")

        def write_ledger() -> int:
            with ledger.begin() as conn:
                return write_rows(conn, rows)

        counts["journal_entries"] = timed("1c loans: ledger write (SQLite)", write_ledger)
        ledger.dispose()
        del after, moved, rows

        # (2) snapshot I/O
        from smelend.lines.snapshot import conform
        from smelend.store.snapshot import read_parquet, write_parquet

        table = conform(lines.to_arrow())
        path = folder / "snapshot.parquet"
        timed("2 snapshot: Parquet write + read", lambda: read_parquet(write_parquet(table, path)))
        counts["snapshot_mb"] = round(path.stat().st_size / 1e6, 1)

        # (3) work: each part alone in this process, then the local runner end to end
        work = BatchWork()
        if work.behaviour is not None:
            model, score = work.behaviour
            graded = timed("3a behaviour score (1 process)", lambda: score(pl.from_arrow(table), model))
        else:
            graded = lines.with_columns(pl.lit("C").alias("behaviour_grade"))
            counts["behaviour"] = "model not installed: not timed"
        context = shared_context()
        changes = timed("3b reassessment (1 process)", lambda: reassess(graded, DAY, context))
        counts["changes"] = dict(changes.group_by("action").len().sort("action").iter_rows())
        inputs = rule_inputs(graded, DAY, context)
        counts["distinct_values_per_rule_input"] = {c: inputs.get_column(c).n_unique() for c in inputs.columns}
        runner = LocalRunner(args.workers, args.batch_rows)
        local = timed(f"3 work, local runner ({args.workers} processes, incl. start-up)", lambda: runner.run(table, DAY))
        timed("3' work, local runner again (pool warm)", lambda: runner.run(table, DAY))
        runner.close()
        assert local["changes"].num_rows == changes.height

        # (4) collections: one row per loan (the synthetic lines stand for their loans)
        from smelend.lines.collections import collection_actions

        loan_rows = graded.select(
            pl.col("line_id").alias("loan_id"), "line_id", pl.col("max_dpd").alias("days_past_due"), "next_due_date", "next_due_fen",
            pl.col("overdue_principal_fen").alias("past_due_fen"), "behaviour_grade", pl.lit(False).alias("restructured"),
        )
        actions = timed("4 collections", lambda: collection_actions(loan_rows, DAY))
        counts["collection_actions"] = actions.height

        # (5) write the changes into a database holding the lines
        day_one = pl.from_arrow(local["changes"])
        counts["write"] = _write_changes(folder, lines, day_one, timed)

        # (5') the next day on the book as day one left it: the steady state (minimum intervals hold)
        from datetime import timedelta

        changed = day_one.select(
            "line_id", pl.col("limit_after_fen").alias("_limit"), pl.col("status_after").alias("_status"), pl.col("end_after").alias("_end"),
            pl.col("temp_limit_fen").alias("_temp"), pl.col("temp_limit_until").alias("_until"), pl.col("effective_date").alias("_on"), pl.col("action").alias("_action"),
        )
        moved = lines.join(changed, on="line_id", how="left").with_columns(
            pl.coalesce("_limit", "limit_fen").alias("limit_fen"), pl.coalesce("_status", "status").alias("status"), pl.coalesce("_end", "end_date").alias("end_date"),
            pl.when(pl.col("_on").is_not_null()).then(pl.col("_temp")).otherwise(pl.col("temp_limit_fen")).alias("temp_limit_fen"),
            pl.when(pl.col("_on").is_not_null()).then(pl.col("_until")).otherwise(pl.col("temp_limit_until")).alias("temp_limit_until"),
            pl.coalesce("_on", "last_change_date").alias("last_change_date"), pl.coalesce("_action", "last_change_action").alias("last_change_action"),
        ).select(lines.columns)
        next_day = DAY + timedelta(days=1)
        runner = LocalRunner(args.workers, args.batch_rows)
        day_two = timed("5' next day: work, local runner (incl. start-up)", lambda: runner.run(conform(moved.to_arrow()), next_day))
        runner.close()
        counts["next_day_changes"] = dict(pl.from_arrow(day_two["changes"]).group_by("action").len().sort("action").iter_rows())

        # (6) baseline: the per-account loop on a sample, scaled
        rng = np.random.default_rng(args.seed)
        sample_rows = np.sort(rng.choice(len(loans), size=min(args.sample, len(loans)), replace=False))
        states, problems = sample_states(loans, contracts, sample_rows)
        assert not problems, problems[:3]
        active = [s for s in states if s.status.value == "active"]
        began = time.perf_counter()
        for state in active:
            accrual.close_day(state, DAY, policy)
        loop_loans = (time.perf_counter() - began) / max(1, len(active)) * n
        sample_lines = rule_inputs(graded.slice(0, args.sample), DAY, context)
        began = time.perf_counter()
        for i in range(sample_lines.height):
            context.rules.evaluate_row(row_context(sample_lines, i))
        loop_rules = (time.perf_counter() - began) / sample_lines.height * n
        seconds["6a baseline: close_day per loan, scaled"] = loop_loans
        seconds["6b baseline: zen graph per line, scaled"] = loop_rules
        log(f"6 baseline per account (scaled from {args.sample:,}): close_day {loop_loans:.0f} s, zen per line {loop_rules:.0f} s")

    total = sum(v for k, v in seconds.items() if k[:2] in ("1a", "1b", "1c", "2 ", "4 ", "5 ") or k.startswith("3 work"))
    seconds["total (1 + 2 + 3 + 4 + 5)"] = total
    log(f"total close of business, local runner: {total:.1f} s (target {TARGET_SECONDS:.0f} s); per-account loop: {loop_loans + loop_rules:.0f} s")

    # (7) Ray
    if not args.no_ray:
        ray_runner = RayRunner(args.workers, args.batch_rows)
        ray_out = timed("7a work, Ray runner, first run (incl. ray.init and actors)", lambda: ray_runner.run(table, DAY))
        timed("7b work, Ray runner, second run (Ray up; new actors)", lambda: ray_runner.run(table, DAY))
        counts["ray_equals_local"] = all(ray_out[k].equals(local[k]) for k in local)
        log(f"Ray output equals local: {counts['ray_equals_local']}")

    document = {
        "accounts": n, "workers": args.workers, "batch_rows": args.batch_rows, "cpus": os.cpu_count(), "seconds": {k: round(v, 2) for k, v in seconds.items()},
        "counts": counts, "peak_memory_mb": round(peak_memory_mb()), "target_seconds": TARGET_SECONDS,
    }
    if args.json:
        print(json.dumps(document, indent=2, default=str))
    return 0


def _write_changes(folder: Path, lines: pl.DataFrame, changes: pl.DataFrame, timed) -> dict[str, int]:  # type: ignore[no-untyped-def]
    """Load the lines into a fresh database (not timed), then time the pipeline's writer on the changes."""
    from smelend.store.cob_runs import record_chunk, start_run
    from smelend.store.line_changes import Versions, write_changes
    engine = fresh_sqlite(folder, "lines.db")
    with engine.begin() as conn:
        cursor = conn.connection.driver_connection.cursor()
        ids = lines.get_column("line_id").to_list()
        cursor.executemany("INSERT INTO enterprises (id, uscc, name) VALUES (?, ?, ?)", [(i, f"{i:018d}", f"e{i}") for i in ids])
        rows = lines.select("line_id", "enterprise_id", "product_id", "limit_fen", "used_fen", "start_date", "end_date", "status").iter_rows()
        cursor.executemany(
            "INSERT INTO credit_lines (id, enterprise_id, product_id, limit_fen, used_fen, annual_rate, start_date, end_date, status, version) VALUES (?, ?, ?, ?, ?, '0.08', ?, ?, ?, 1)",
            [(a, b, c, d, e, f.isoformat(), g.isoformat(), h) for a, b, c, d, e, f, g, h in rows],
        )
    versions = Versions("bench", "bench", "bench", "bench")

    def write() -> dict[str, int]:
        total: dict[str, int] = {}
        with engine.begin() as conn:
            run_id, _ = start_run(conn, DAY)
        for chunk, start in enumerate(range(0, changes.height, 5_000)):
            with engine.begin() as conn:
                counts = write_changes(conn, run_id, changes.slice(start, 5_000), versions)
                record_chunk(conn, run_id, "write", chunk, min(5_000, changes.height - start), counts)
            for k, v in counts.items():
                total[k] = total.get(k, 0) + v
        return total

    written = timed(f"5 write: {changes.height:,} changes + notices (SQLite)", write)
    engine.dispose()
    return written


if __name__ == "__main__":
    raise SystemExit(main())
