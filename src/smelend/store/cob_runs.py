"""Runs of the book-wide close of business and their progress, keyed by run id (``cob-<business date>``).

A run's id is a function of its business date, so running a date again finds the same run: the
chunks whose progress row exists were committed (with their rows, in the same transaction) and are
skipped; the rest are done. That is what makes a killed run finish by running it again, with
nothing applied twice.
"""

from __future__ import annotations

import json
from collections import Counter
from datetime import date

from sqlalchemy import func, insert, select, update
from sqlalchemy.engine import Connection

from smelend.store.tables import cob_pipeline_progress, cob_pipeline_runs

RUNNING = "running"
FINISHED = "finished"


def run_id_for(day: date) -> str:
    return f"cob-{day.isoformat()}"


def start_run(conn: Connection, day: date) -> tuple[str, str]:
    """The run for ``day`` (created if new) and its status."""
    run_id = run_id_for(day)
    status = conn.execute(select(cob_pipeline_runs.c.status).where(cob_pipeline_runs.c.run_id == run_id)).scalar()
    if status is None:
        conn.execute(insert(cob_pipeline_runs).values(run_id=run_id, business_date=day, status=RUNNING))
        status = RUNNING
    return run_id, status


def done_chunks(conn: Connection, run_id: str, stage: str) -> set[int]:
    query = select(cob_pipeline_progress.c.chunk).where(cob_pipeline_progress.c.run_id == run_id, cob_pipeline_progress.c.stage == stage)
    return set(conn.execute(query).scalars())


def record_chunk(conn: Connection, run_id: str, stage: str, chunk: int, rows: int, counts: Counter[str] | dict[str, int]) -> None:
    """Mark a chunk done; call it in the transaction that wrote the chunk's rows."""
    conn.execute(insert(cob_pipeline_progress).values(run_id=run_id, stage=stage, chunk=chunk, rows=rows, counts=json.dumps(dict(sorted(counts.items())))))


def stage_counts(conn: Connection, run_id: str, stage: str) -> Counter[str]:
    """Everything a stage's committed chunks wrote, summed."""
    total: Counter[str] = Counter()
    query = select(cob_pipeline_progress.c.counts).where(cob_pipeline_progress.c.run_id == run_id, cob_pipeline_progress.c.stage == stage)
    for text in conn.execute(query).scalars():
        total.update(json.loads(text))
    return total


def finish_run(conn: Connection, run_id: str, summary: dict) -> None:
    conn.execute(
        update(cob_pipeline_runs)
        .where(cob_pipeline_runs.c.run_id == run_id)
        .values(status=FINISHED, summary=json.dumps(summary, sort_keys=True), finished_at=func.current_timestamp())
    )
