"""The strategy lab's store: runs and their strategies' figures, and each run's own ledger.

Adapter only. A run's journal entries go through the ledger store's bulk writer
(:func:`smelend.store.ledger.post_entries`) into a ledger database of the run's own (a SQLite file in the
output folder), so simulated money never mixes with the bank's books; the trial balance is then read back
from that database, which is what ``metrics.json`` reports. The runs themselves are recorded in the bank's
database (``sim_runs``, ``sim_run_strategies``), where the dashboard lists them.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.engine import Connection

from smelend.ledger import Account
from smelend.sim.compare import LedgerCheck
from smelend.sim.market import RunResult
from smelend.store import ledger as ledger_store
from smelend.store.db import make_engine
from smelend.store.tables import account_balances, journal_entries, metadata, postings, sim_run_strategies, sim_runs


def write_run_ledger(result: RunResult, path: Path) -> LedgerCheck:
    """Write ``result``'s entries into a fresh ledger database at ``path`` (replaced if present) and read it back."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.exists():
        path.unlink()
    engine = make_engine(f"sqlite:///{path}")
    try:
        metadata.create_all(engine, tables=[journal_entries, postings, account_balances])
        with engine.begin() as conn:
            written = ledger_store.post_entries(conn, list(result.all_entries()))
        with engine.connect() as conn:
            running = ledger_store.trial_balance(conn)
            recomputed = ledger_store.recomputed_trial_balance(conn)
    finally:
        engine.dispose()
    return LedgerCheck(written, running.balanced and running == recomputed, running.normal_balance_fen(Account.PRINCIPAL_RECEIVABLE))


def write_run_ledger_in(folder: Path, result: RunResult) -> LedgerCheck:
    """:func:`write_run_ledger` into ``folder/<strategy>-seed<k>.sqlite`` (picklable with ``functools.partial``,
    so each run's ledger is written by the process that ran it)."""
    return write_run_ledger(result, folder / f"{result.strategy}-seed{result.seed}.sqlite")


def record_run(conn: Connection, kind: str, doc: dict[str, Any], out_dir: Path) -> int:
    """Record a run and each of its strategies (and ablation variants); the run's id."""
    run_id = conn.execute(insert(sim_runs).values(
        kind=kind, smes=doc["smes"], months=doc["months"], seeds=doc["seeds"], shock=doc["shock"], baseline=doc.get("baseline"),
        out_dir=str(out_dir), document=json.dumps(doc, ensure_ascii=False),
    ).returning(sim_runs.c.id)).scalar_one()
    rows = []
    for role, group in (("strategy", doc["strategies"]), ("ablation", doc.get("ablation", {}))):
        for name, s in group.items():
            rows.append({
                "run_id": run_id, "name": name, "role": role, "applications": s["applications"], "lines": s["lines"],
                "balance_end_fen": s["balance_end"], "profit_fen": s["profit"], "npl_ratio": s["npl_ratio"], "raroc": s["raroc"],
                "ledger_balanced": s["ledger_balanced"], "figures": json.dumps(s, ensure_ascii=False),
            })
    conn.execute(insert(sim_run_strategies), rows)
    return int(run_id)


def list_runs(conn: Connection) -> list[dict[str, Any]]:
    """Runs newest first, each with its strategies' headline figures (what a dashboard page lists)."""
    runs = conn.execute(select(sim_runs.c.id, sim_runs.c.kind, sim_runs.c.smes, sim_runs.c.months, sim_runs.c.seeds, sim_runs.c.shock,
                               sim_runs.c.baseline, sim_runs.c.out_dir, sim_runs.c.created_at).order_by(sim_runs.c.id.desc())).mappings().all()
    strategies = conn.execute(select(sim_run_strategies.c.run_id, sim_run_strategies.c.name, sim_run_strategies.c.role, sim_run_strategies.c.applications,
                                     sim_run_strategies.c.lines, sim_run_strategies.c.balance_end_fen, sim_run_strategies.c.profit_fen,
                                     sim_run_strategies.c.npl_ratio, sim_run_strategies.c.raroc, sim_run_strategies.c.ledger_balanced)
                              .order_by(sim_run_strategies.c.run_id, sim_run_strategies.c.name)).mappings().all()
    by_run: dict[int, list[dict[str, Any]]] = {}
    for s in strategies:
        by_run.setdefault(s["run_id"], []).append({k: v for k, v in s.items() if k != "run_id"})
    return [{**dict(r), "strategies": by_run.get(r["id"], [])} for r in runs]


def run_document(conn: Connection, run_id: int) -> dict[str, Any] | None:
    """The run's metrics.json as recorded, or None."""
    text = conn.scalar(select(sim_runs.c.document).where(sim_runs.c.id == run_id))
    return None if text is None else json.loads(text)
