"""The customer book read from the database (``smelend.store.customer_book``) on a generated book, time per stage.

A book of ``--accounts`` lines is generated once (``smelend.store.book_generator.generate_book``, as
``smelend book generate`` does) into a fresh SQLite file (or ``--url``, an empty database), then timed,
each best of 3 after a warm-up (``benchmarks/timing.py``):

1. ``customer_book`` — every column of the marketing customer book on the business date;
2. ``labelled_book`` — the book of 90 days before with what its line holders did since (what the
   retention models learn from on the stored book): a second point-in-time read plus the outcomes;
3. ``retention document`` — the whole ``smelend marketing retention --source db`` computation on both.

The comparison baseline, measured in the same run on the same database: ``snapshot_book``, the close
of business's own set-based read of every line (``smelend.store.snapshot``), which reads the same
tables for a different shape.

    .venv/bin/python benchmarks/marketing_db_book.py [--accounts 20000] [--seed 0] [--url URL] [--json]
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from timing import best_seconds  # noqa: E402

AS_OF = date(2026, 6, 30)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--accounts", type=int, default=20_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--url", default=None, help="an empty database (default: a fresh SQLite file in a temporary folder)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)

    import os

    from smelend.marketing.documents import retention_document
    from smelend.products.loader import load_catalogue
    from smelend.servicing.delinquency import load_policy
    from smelend.store import open_store
    from smelend.store.book_generator import generate_book
    from smelend.store.customer_book import customer_book, labelled_book
    from smelend.store.snapshot import snapshot_book

    folder = tempfile.TemporaryDirectory()
    os.environ.setdefault("SMELEND_DATA_DIR", folder.name)
    url = args.url or f"sqlite:///{folder.name}/book.db"
    engine = open_store(url)
    began = time.perf_counter()
    generate_book(engine, args.accounts, args.seed, AS_OF, load_catalogue(), load_policy())
    generated = time.perf_counter() - began
    print(f"  generated {args.accounts:,} accounts in {generated:.1f} s", file=sys.stderr)

    seconds: dict[str, float] = {}
    with engine.connect() as conn:
        seconds["customer_book"] = best_seconds(lambda: customer_book(conn, AS_OF))
        seconds["labelled_book"] = best_seconds(lambda: labelled_book(conn, AS_OF, 90))
        seconds["snapshot_book (baseline)"] = best_seconds(lambda: snapshot_book(conn, AS_OF))
        book, history = customer_book(conn, AS_OF), labelled_book(conn, AS_OF, 90)
    seconds["retention document"] = best_seconds(lambda: retention_document(book, 0, AS_OF, history))
    engine.dispose()
    for name, value in seconds.items():
        print(f"  {name:<28} {value:8.3f} s", file=sys.stderr)
    document = {
        "accounts": args.accounts, "backend": url.split(":", 1)[0], "generation_seconds": generated, "seconds": seconds,
        "customer_book_per_snapshot": seconds["customer_book"] / seconds["snapshot_book (baseline)"],
        "machine": {"python": platform.python_version(), "cpus": os.cpu_count()},
    }
    if args.json:
        print(json.dumps(document, indent=2))
    else:
        print(f"customer book of {args.accounts:,} accounts ({document['backend']}): {seconds['customer_book']:.3f} s "
              f"(snapshot_book {seconds['snapshot_book (baseline)']:.3f} s: {document['customer_book_per_snapshot']:.2f}x); "
              f"labelled book {seconds['labelled_book']:.3f} s; retention document {seconds['retention document']:.3f} s")
    folder.cleanup()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
