"""The dashboard's portfolio page on a large book: figures grouped in the database against reading every loan.

Writes a synthetic book of ``--loans`` loans (default 1,000,000; random status, days past due, category,
principal and day drawn over 20 months) straight into a fresh SQLite database (or a fresh schema of
``--postgres-url``), then times:

(a) ``smelend.web.portfolio.portfolio``: every figure of the page (lines, book totals, trial balance,
    buckets, classification, vintages), counted and summed in the database;
(b) the whole page, ``GET /dashboard/portfolio`` through the app (session check, figures, three plotly
    figures, template), signed in as operations;
(c) the baseline, ``smelend.operations.cob.book_buckets``: the bucket and classification counts only,
    computed loan by loan in Python after reading every active loan (what the page used first).

Best of 3 runs after a warm-up (``benchmarks/timing.py``). The run checks that (a) and (c) give the
same buckets and classification counts, and exits 1 if not.

    .venv/bin/python benchmarks/dashboard_portfolio.py [--loans N] [--seed S] [--postgres-url URL] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import secrets
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

import numpy as np
from timing import REPEATS, best_seconds

CHUNK = 50_000
STATUSES = np.array(["active", "active", "active", "active", "closed", "written-off"])
CATEGORIES = np.array(["pass", "special-mention", "substandard", "doubtful", "loss"])


def write_book(engine, loans_count: int, seed: int) -> None:  # type: ignore[no-untyped-def]
    from sqlalchemy import insert

    from smelend.store.tables import credit_lines, enterprises, loans

    rng = np.random.default_rng(seed)
    with engine.begin() as conn:
        conn.execute(insert(enterprises).values(id=1, uscc="91350100M000100Y43", name="benchmark book"))
        conn.execute(insert(credit_lines).values(id=1, enterprise_id=1, product_id="tax-data-loan", limit_fen=10**17, annual_rate="0.072",
                                                 start_date=date(2025, 1, 1), end_date=date(2030, 1, 1), status="active"))
    first = np.datetime64("2025-01-01")
    for start in range(0, loans_count, CHUNK):
        n = min(CHUNK, loans_count - start)
        principal = rng.integers(1_000_00, 500_000_00, n)
        status = STATUSES[rng.integers(0, len(STATUSES), n)]
        active = status == "active"
        late = rng.random(n) < 0.08
        dpd = np.where(active & late, rng.integers(1, 400, n), 0)
        outstanding = np.where(active, (principal * rng.random(n)).astype(np.int64), 0)
        written = np.where(status == "written-off", principal // 2, 0)
        drawn = (first + rng.integers(0, 600, n)).astype(object)
        category = CATEGORIES[np.minimum(np.searchsorted([1, 91, 181, 361], dpd, side="right"), 4)]
        rows = [
            {"line_id": 1, "status": str(status[i]), "method": "equal-installment", "term": 12, "principal_fen": int(principal[i]),
             "annual_rate": "0.072", "penalty_rate": "0.108", "compound_overdue_interest": False, "grace_days": 3,
             "prepayment": "reduce-term", "conventions": "{}", "flags": "", "start_date": drawn[i],
             "principal_outstanding_fen": int(outstanding[i]), "days_past_due": int(dpd[i]), "category": str(category[i]),
             "written_off_fen": int(written[i])}
            for i in range(n)
        ]
        with engine.begin() as conn:
            conn.execute(insert(loans), rows)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--loans", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--postgres-url", default=None, help="run on a fresh schema of this PostgreSQL database instead of SQLite")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    if args.loans < 1:
        print("dashboard_portfolio.py: error: --loans: must be at least 1", file=sys.stderr)
        return 2

    folder = Path(tempfile.mkdtemp(prefix="smelend-bench-dashboard-"))
    os.environ.setdefault("SMELEND_DATA_DIR", str(folder))
    os.environ.setdefault("SMELEND_PII_KEY_FILE", str(folder / "pii-keyring.json"))
    from fastapi.testclient import TestClient
    from sqlalchemy import create_engine, make_url, text

    from smelend.api.app import create_app
    from smelend.operations.cob import book_buckets
    from smelend.store import open_store, web_sessions
    from smelend.store.access import create_user
    from smelend.web import passwords
    from smelend.web.portfolio import portfolio

    schema = None
    if args.postgres_url:
        schema = f"bench_{secrets.token_hex(4)}"
        admin = create_engine(args.postgres_url, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text(f'CREATE SCHEMA "{schema}"'))
        url = make_url(args.postgres_url).update_query_dict({"options": f"-csearch_path={schema}"}).render_as_string(hide_password=False)
        backend = "postgresql"
    else:
        url, backend = f"sqlite:///{folder / 'book.db'}", "sqlite"
    try:
        engine = open_store(url)
        began = time.perf_counter()
        write_book(engine, args.loans, args.seed)
        write_seconds = time.perf_counter() - began
        app = create_app(engine)
        book = app.state.service.book
        with engine.begin() as conn:
            user_id, _ = create_user(conn, "bench operations", "operations")
            web_sessions.set_password(conn, user_id, "bench operations", passwords.hash_password("benchmark passphrase"))
        client = TestClient(app, follow_redirects=False)
        page = client.get("/dashboard/login")
        token = page.text.split('name="csrf_token" value="')[1].split('"')[0]
        assert client.post("/dashboard/login", data={"name": "bench operations", "password": "benchmark passphrase", "csrf_token": token}).status_code == 303

        def get_page() -> None:
            answer = client.get("/dashboard/portfolio")
            assert answer.status_code == 200

        figures = portfolio(book)
        baseline = book_buckets(book)
        same = ({r.name: (r.loans, r.principal_fen) for r in figures.buckets} == {k: (v["loans"], v["principal_fen"]) for k, v in baseline["buckets"].items()}
                and {r.name: r.loans for r in figures.classification if r.loans} == baseline["classification"])
        grouped = best_seconds(lambda: portfolio(book))
        whole_page = best_seconds(get_page)
        per_loan = best_seconds(lambda: book_buckets(book))
        engine.dispose()
    finally:
        if schema is not None:
            with admin.connect() as conn:
                conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
            admin.dispose()
    result = {
        "backend": backend, "loans": args.loans, "active_loans": figures.loans_active, "write_seconds": round(write_seconds, 1),
        "portfolio_seconds": round(grouped, 4), "page_seconds": round(whole_page, 4), "book_buckets_seconds": round(per_loan, 4),
        "speedup_vs_book_buckets": round(per_loan / grouped, 1), "same_figures": same, "repeats": REPEATS,
        "python": platform.python_version(), "cpus": os.cpu_count(),
    }
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        print(f"{backend}, {args.loans:,} loans ({figures.loans_active:,} active), written in {write_seconds:.1f} s")
        print(f"  portfolio() grouped in the database : {grouped:8.3f} s  (every figure of the page)")
        print(f"  GET /dashboard/portfolio             : {whole_page:8.3f} s  (figures, charts, template)")
        print(f"  book_buckets() loan by loan (baseline): {per_loan:8.3f} s  (buckets and classification counts only)")
        print(f"  baseline / grouped: {per_loan / grouped:.1f}x; same buckets and classification: {same}")
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
