"""SQLite writers in several processes: the file lock (``<database>.write-lock``) against SQLite's busy handler.

``smelend serve --workers N`` runs N processes writing one SQLite file. SQLite's busy handler makes a
writer that finds the database locked *sleep* and retry, with back-off up to 100 ms a retry, however soon
the lock is released; ``smelend.store.db`` has writers queue on an OS file lock instead, which wakes
the next writer the moment the holder commits. This drives ``--processes`` processes of ``--threads``
threads, each making ``--transactions`` small write transactions (``BEGIN IMMEDIATE``, an insert, a
read, ``COMMIT`` at the configured ``SMELEND_SQLITE_SYNCHRONOUS``) through ``make_engine``, with the file
lock and then without it (the baseline) on a fresh file each, and prints each one's latency per
transaction (p50, p99, max: from asking for the transaction to its commit returning) and throughput.
With ``--rate`` the transactions are paced (open loop, latency from the scheduled time), as a service's
writes arrive; without it they run back to back (saturation).

    .venv/bin/python benchmarks/sqlite_writers.py [--processes 2] [--threads 4] [--transactions 200] [--rate R] [--json]
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np


def writer_process(url: str, write_lock: bool, threads: int, transactions: int, interval_s: float, start: Any, out: Any) -> None:
    """One process: ``threads`` threads of ``transactions`` write transactions each, one every ``interval_s``
    per thread (0: back to back); latencies (s, from the scheduled start when paced) to ``out``."""
    from sqlalchemy import text

    from smelend.store.db import make_engine

    engine = make_engine(url, write_lock=write_lock, pool_size=threads)
    latencies: list[float] = []
    lock = threading.Lock()

    def work(offset_s: float) -> None:
        mine = []
        t0 = time.perf_counter() + offset_s
        for i in range(transactions):
            began = time.perf_counter()
            if interval_s:
                began = t0 + i * interval_s
                time.sleep(max(0.0, began - time.perf_counter()))
            with engine.begin() as conn:
                conn.execute(text("INSERT INTO t (payload) VALUES (:p)"), {"p": "x" * 200})
                conn.execute(text("SELECT count(*) FROM t WHERE id > (SELECT max(id) - 10 FROM t)")).scalar_one()
            mine.append(time.perf_counter() - began)
        with lock:
            latencies.extend(mine)

    start.wait()
    workers = [threading.Thread(target=work, args=(interval_s * k / threads,)) for k in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    engine.dispose()
    out.put(latencies)


def run(write_lock: bool, args: argparse.Namespace, folder: Path) -> dict[str, Any]:
    from sqlalchemy import text

    from smelend.store.db import make_engine

    url = f"sqlite:///{folder / ('locked.db' if write_lock else 'busy-handler.db')}"
    engine = make_engine(url)
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE t (id INTEGER PRIMARY KEY, payload TEXT)"))
    engine.dispose()
    context = multiprocessing.get_context("spawn")
    start, out = context.Barrier(args.processes + 1), context.Queue()
    writers = args.processes * args.threads
    interval_s = writers / args.rate if args.rate else 0.0  # each thread's share of the total rate
    processes = [context.Process(target=writer_process, args=(url, write_lock, args.threads, args.transactions, interval_s, start, out))
                 for _ in range(args.processes)]
    for p in processes:
        p.start()
    start.wait()
    began = time.perf_counter()
    latencies = [x for _ in processes for x in out.get()]
    wall = time.perf_counter() - began
    for p in processes:
        p.join()
    ms = np.asarray(latencies) * 1000
    return {"transactions": len(latencies), "per_second": len(latencies) / wall, "p50_ms": float(np.percentile(ms, 50)),
            "p99_ms": float(np.percentile(ms, 99)), "max_ms": float(ms.max())}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--processes", type=int, default=2)
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--transactions", type=int, default=200, help="per thread")
    parser.add_argument("--rate", type=float, default=0.0, help="transactions a second in all, at a steady pace (0: back to back)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="smelend-writers-") as tmp:
        results = {"file lock": run(True, args, Path(tmp)), "busy handler (baseline)": run(False, args, Path(tmp))}
    if args.json:
        print(json.dumps(results, indent=2))
        return
    pace = f"at {args.rate:.0f} a second" if args.rate else "back to back"
    print(f"{args.processes} processes x {args.threads} threads x {args.transactions} write transactions on one SQLite file, {pace}:")
    for name, r in results.items():
        print(f"  {name:24s} {r['per_second']:7.0f} tx/s  p50 {r['p50_ms']:7.2f} ms  p99 {r['p99_ms']:8.2f} ms  max {r['max_ms']:8.2f} ms")


if __name__ == "__main__":
    main()
