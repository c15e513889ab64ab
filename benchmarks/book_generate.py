"""Generating a synthetic book (`smelend book generate`) and snapshotting it: bulk writes against row-at-a-time.

Times, on a fresh migrated SQLite file (or ``--url``):

(a) ``generate_book`` for ``--accounts`` accounts (default 100,000): simulation, bulk writes of
    enterprises, lines, loans, installments, repayments, bank-core transfers, enterprise events and
    the ledger (``post_entries``), chunk by chunk; accounts per second, and the time scaled to 1,000,000;
(b) ``snapshot_book`` of the whole book as of its business date (+ Parquet write), scaled to 1,000,000;
(c) the bulk writer on ``--sample`` accounts (default 2,000) on a fresh database, and
(d) the baseline: the same writer fed the same sample with every bulk insert replaced by one Core
    ``INSERT`` per row and ``post_entries`` by ``post_entry`` per entry (the row-at-a-time path the
    repositories use), on another fresh database; the like-for-like ratio is (d) / (c).

After (a) it checks the ledger: trial balance balanced and equal to the postings.

    .venv/bin/python benchmarks/book_generate.py [--accounts N] [--sample N] [--seed S] [--as-of YYYY-MM-DD] [--url URL] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

from sqlalchemy import Date, insert

from smelend.products.loader import load_catalogue
from smelend.servicing import delinquency
from smelend.store import book_generator
from smelend.store import ledger as store_ledger
from smelend.store.db import make_engine, upgrade
from smelend.store.snapshot import snapshot_book, write_parquet

TARGET_ACCOUNTS = 1_000_000


def fresh(url: str):  # type: ignore[no-untyped-def]
    engine = make_engine(url)
    upgrade(engine)
    return engine


def row_at_a_time(conn, table, columns, rows) -> None:  # type: ignore[no-untyped-def]
    statement = insert(table)
    dates = {name for name in columns if isinstance(table.c[name].type, Date)}
    for row in rows:  # the bulk rows carry ISO text for dates; Core wants date objects
        conn.execute(statement, {k: date.fromisoformat(v) if k in dates and isinstance(v, str) else v for k, v in zip(columns, row)})


def entry_at_a_time(conn, entries, chunk_entries: int = 0) -> int:  # type: ignore[no-untyped-def]
    return sum(store_ledger.post_entry(conn, e) for e in entries)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--accounts", type=int, default=100_000)
    parser.add_argument("--sample", type=int, default=2_000, help="accounts written row at a time for the baseline")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--as-of", type=date.fromisoformat, default=date(2026, 6, 30))
    parser.add_argument("--url", help="database URL for (a) and (b) (default: a fresh SQLite file in a temporary folder)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    log = (lambda *a: print(*a, file=sys.stderr, flush=True)) if args.json else (lambda *a: print(*a, flush=True))
    catalogue, policy = load_catalogue(), delinquency.load_policy()

    with tempfile.TemporaryDirectory() as folder:
        engine = fresh(args.url or f"sqlite:///{Path(folder) / 'book.db'}")
        began = time.perf_counter()
        result = book_generator.generate_book(engine, args.accounts, args.seed, args.as_of, catalogue, policy,
                                              progress=lambda done: log(f"  {done:,} accounts, {time.perf_counter() - began:.1f} s"))
        generate_seconds = time.perf_counter() - began
        with engine.connect() as conn:
            kept = store_ledger.trial_balance(conn)
            balanced = kept.balanced and kept == store_ledger.recomputed_trial_balance(conn)
        log(f"(a) generate_book: {args.accounts:,} accounts, {result.loans:,} loans, {result.installments:,} installments, "
            f"{result.journal_entries:,} entries in {generate_seconds:.1f} s (ledger balanced: {balanced})")
        began = time.perf_counter()
        table = snapshot_book(engine, args.as_of)
        snapshot_seconds = time.perf_counter() - began
        began = time.perf_counter()
        write_parquet(table, Path(folder) / "snapshot.parquet")
        parquet_seconds = time.perf_counter() - began
        log(f"(b) snapshot_book: {table.num_rows:,} lines in {snapshot_seconds:.2f} s; Parquet {parquet_seconds:.2f} s")
        engine.dispose()

        same = fresh(f"sqlite:///{Path(folder) / 'same.db'}")
        began = time.perf_counter()
        book_generator.generate_book(same, args.sample, args.seed + 1, args.as_of, catalogue, policy)
        bulk_sample_seconds = time.perf_counter() - began
        same.dispose()
        log(f"(c) bulk on the sample: {args.sample:,} accounts in {bulk_sample_seconds:.2f} s")

        baseline = fresh(f"sqlite:///{Path(folder) / 'rows.db'}")
        saved = (book_generator._bulk_insert, book_generator.post_entries)
        book_generator._bulk_insert, book_generator.post_entries = row_at_a_time, entry_at_a_time  # type: ignore[assignment]
        try:
            began = time.perf_counter()
            book_generator.generate_book(baseline, args.sample, args.seed + 1, args.as_of, catalogue, policy)
            baseline_seconds = time.perf_counter() - began
        finally:
            book_generator._bulk_insert, book_generator.post_entries = saved
        baseline.dispose()
        log(f"(d) row at a time: {args.sample:,} accounts in {baseline_seconds:.1f} s")

    rate = args.accounts / generate_seconds
    baseline_rate = args.sample / baseline_seconds
    report = {
        "accounts": args.accounts,
        "loans": result.loans,
        "installments": result.installments,
        "repayments": result.repayments,
        "journal_entries": result.journal_entries,
        "enterprise_events": result.events,
        "backend": (args.url or "sqlite").split(":")[0],
        "ledger_balanced": balanced,
        "seconds": {
            "generate": generate_seconds,
            "generate_scaled_to_1m": generate_seconds * TARGET_ACCOUNTS / args.accounts,
            "snapshot": snapshot_seconds,
            "snapshot_scaled_to_1m": snapshot_seconds * TARGET_ACCOUNTS / args.accounts,
            "parquet": parquet_seconds,
            "bulk_sample": bulk_sample_seconds,
            "row_at_a_time_sample": baseline_seconds,
            "row_at_a_time_scaled_to_1m": baseline_seconds * TARGET_ACCOUNTS / args.sample,
        },
        "accounts_per_second": rate,
        "row_at_a_time_accounts_per_second": baseline_rate,
        "speedup_same_sample": baseline_seconds / bulk_sample_seconds,
        "speedup_full_run_over_sample_baseline": rate / baseline_rate,
        "baseline_sample": args.sample,
        "peak_memory_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
    }
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        s = report["seconds"]
        print()
        print(f"(a) generate  {args.accounts:>9,} accounts  {generate_seconds:8.1f} s  {rate:10,.0f} accounts/s  -> {s['generate_scaled_to_1m']:.0f} s for 1,000,000")
        print(f"(b) snapshot  {table.num_rows:>9,} lines     {snapshot_seconds:8.2f} s                    -> {s['snapshot_scaled_to_1m']:.0f} s for 1,000,000")
        print(f"(c) bulk, sample  {args.sample:>6,} accounts {bulk_sample_seconds:8.2f} s")
        print(f"(d) row at a time {args.sample:>6,} accounts {baseline_seconds:8.2f} s  {baseline_rate:10,.0f} accounts/s  -> {s['row_at_a_time_scaled_to_1m']:.0f} s for 1,000,000")
        print(f"on the same sample bulk is {report['speedup_same_sample']:.1f}x faster; ledger balanced: {balanced}; peak memory {report['peak_memory_mb']:,.0f} MB")
    return 0 if balanced else 1


if __name__ == "__main__":
    sys.exit(main())
