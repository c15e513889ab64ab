"""A close of business killed with SIGKILL part way is completed by running it again, with nothing
applied twice: the book ends exactly as an uninterrupted run leaves it (on SQLite and PostgreSQL)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from datetime import date, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select

from smelend.cob.pipeline import run_close_of_business
from smelend.cob.runners import LocalRunner
from smelend.operations.context import open_book
from smelend.operations.reconcile import trial_balance
from smelend.store import open_store
from smelend.store.lending import get_business_day
from smelend.store.tables import collection_actions, credit_lines, journal_entries, line_changes, line_notifications, postings

from .book import START, make_book

WORKER = Path(__file__).with_name("resume_worker.py")
THROUGH = START + timedelta(days=64)
CHUNK_ROWS = 1  # a chunk per change: many commit points to land a kill between


def outcome(engine) -> dict[str, object]:
    """Everything the close of business writes, without ids and timestamps."""
    with engine.connect() as conn:
        changes = conn.execute(
            select(line_changes.c.line_id, line_changes.c.effective_date, line_changes.c.action, line_changes.c.reasons, line_changes.c.limit_before_fen,
                   line_changes.c.limit_after_fen, line_changes.c.status_after, line_changes.c.end_after, line_changes.c.temp_limit_fen)
            .order_by(line_changes.c.line_id, line_changes.c.effective_date)
        ).all()
        notices = conn.execute(select(line_notifications.c.event, line_notifications.c.payload).order_by(line_notifications.c.line_id, line_notifications.c.payload)).all()
        lines = conn.execute(select(credit_lines.c.id, credit_lines.c.limit_fen, credit_lines.c.used_fen, credit_lines.c.status, credit_lines.c.end_date).order_by(credit_lines.c.id)).all()
        actions = conn.execute(select(collection_actions.c.run_id, collection_actions.c.loan_id, collection_actions.c.step).order_by(collection_actions.c.run_id, collection_actions.c.loan_id, collection_actions.c.step)).all()
        entries = conn.scalar(select(func.count()).select_from(journal_entries)), conn.scalar(select(func.count()).select_from(postings))
        day = get_business_day(conn)
    kept, recomputed = trial_balance(open_book(engine))
    assert kept.balanced and kept == recomputed
    return {"changes": changes, "notices": notices, "lines": lines, "collections": actions, "entries": entries, "day": day, "balances": kept}


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> dict[str, object]:
    """The uninterrupted run, on a SQLite book of its own."""
    folder = tmp_path_factory.mktemp("reference")
    saved = os.environ.get("SMELEND_PII_KEY_FILE")
    os.environ["SMELEND_PII_KEY_FILE"] = str(folder / "pii-keyring.json")
    try:
        engine = open_store(f"sqlite:///{folder / 'reference.db'}")
        make_book(engine)
        run_close_of_business(open_book(engine), THROUGH, LocalRunner(1), folder)
        result = outcome(engine)
        engine.dispose()
    finally:
        if saved is None:
            os.environ.pop("SMELEND_PII_KEY_FILE", None)
        else:
            os.environ["SMELEND_PII_KEY_FILE"] = saved
        from smelend.store import pii

        pii.configure(None)
    assert len(result["changes"]) >= 5 and "freeze" in {c.action for c in result["changes"]}, "the reference run froze lines"
    return result


def test_a_killed_run_finishes_when_run_again_and_applies_nothing_twice(db_url, smelend_env, tmp_path, reference):
    engine = open_store(db_url)
    make_book(engine)
    data_dir = tmp_path / "cob"
    worker = subprocess.Popen(
        [sys.executable, str(WORKER), db_url, str(data_dir), THROUGH.isoformat(), str(CHUNK_ROWS)],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=os.environ.copy(),
    )
    seen: list[str] = []
    assert worker.stdout is not None
    for line in worker.stdout:
        seen.append(line.strip())
        parts = line.split()
        # kill once the writer has committed a chunk of a day with several changes to write
        if parts[:2] == ["STAGE", "write"] and int(parts[4]) >= 2 and int(parts[3]) >= 1:
            worker.send_signal(signal.SIGKILL)
            break
    worker.wait(timeout=120)
    assert worker.returncode == -signal.SIGKILL, f"the worker was not killed mid-run: {seen[-5:]}"
    with engine.connect() as conn:
        killed_at = get_business_day(conn).last_closed
        half_day = conn.scalar(select(func.count()).select_from(line_changes).where(line_changes.c.effective_date == date.fromisoformat(seen[-1].split()[2])))
    assert (killed_at is None or killed_at < THROUGH) and half_day >= 1, seen[-3:]

    run_close_of_business(open_book(engine), THROUGH, LocalRunner(1), data_dir, write_chunk_rows=CHUNK_ROWS)
    assert outcome(engine) == reference
    again = run_close_of_business(open_book(engine), THROUGH, LocalRunner(1), data_dir)
    assert again.days == [] and sum(again.changes.values()) == 0
    assert outcome(engine) == reference
    engine.dispose()
