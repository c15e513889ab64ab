"""SQLite WAL checkpoints off the request path, for a serving process.

By default SQLite checkpoints inside the COMMIT that takes the write-ahead log past 1,000 pages: that one
transaction copies the pages back into the database file and syncs it, holding the write lock (ours, see
:mod:`smelend.store.db`, and SQLite's) meanwhile, so every writer in every worker waits. A served decision
writes about ten pages, so at 100 a second this stalled the service every second or two (a run of requests
tens of milliseconds late, repeating). :func:`checkpoint_in_background` moves the work to a thread: request
connections checkpoint only as a safety net (:data:`SAFETY_NET_PAGES`), and the thread runs a PASSIVE
checkpoint every :data:`CHECKPOINT_EVERY_S`, which copies what it can without waiting for, or blocking,
readers and writers. Command-line jobs keep SQLite's default.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Engine

from smelend.store.db import write_lock_path

CHECKPOINT_EVERY_S = 0.5
SAFETY_NET_PAGES = 100_000  # ~400 MB of log: a commit checkpoints only if the thread has fallen that far behind
BUSY_TIMEOUT_MS = 1_000


def checkpoint_in_background(engine: Engine) -> Callable[[], None] | None:
    """For an engine on a SQLite file: start the checkpointing thread (one per process) and return the
    function that stops it; None for PostgreSQL or an in-memory database. Call before serving: the pool
    is emptied so every connection from now on carries the setting."""
    lock_path = write_lock_path(engine.url)
    if lock_path is None:
        return None
    database = engine.url.database
    assert database is not None
    event.listen(engine, "connect", _checkpoint_only_as_a_safety_net)
    engine.dispose()
    stop = threading.Event()
    threading.Thread(target=_checkpoints, args=(database, stop), name="wal-checkpoints", daemon=True).start()
    return stop.set


def checkpoint_once(conn: sqlite3.Connection) -> tuple[int, int, int]:
    """One PASSIVE checkpoint: (1 if it could not run at all, frames in the log, frames now in the database)."""
    busy, log, done = conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
    return int(busy), int(log), int(done)


def _checkpoint_only_as_a_safety_net(dbapi_connection: Any, _record: Any) -> None:
    dbapi_connection.execute(f"PRAGMA wal_autocheckpoint = {SAFETY_NET_PAGES}")


def _checkpoints(database: str, stop: threading.Event) -> None:
    conn = sqlite3.connect(database, isolation_level=None, check_same_thread=False)
    try:
        conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        while not stop.wait(CHECKPOINT_EVERY_S):
            try:
                checkpoint_once(conn)
            except sqlite3.OperationalError:
                continue  # locked by a schema change or another checkpointer: the next round catches up
    finally:
        conn.close()
