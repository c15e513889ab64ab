"""One close of business at a time on a database, whoever starts it.

Why: a dated draw or repayment catches the book up (``operations.lines.bring_to``) and ``smelend cob``
closes days too; two closers on one database would both read the same open day. The pipeline is
idempotent (a run id per day, chunks recorded), but two at once would race on its stages. So every
close of business holds this lock: a thread lock within the process, and across processes a
PostgreSQL session advisory lock or, for a SQLite file, ``flock`` on ``<database>.close-lock`` (the
kernel wakes the next closer at release; the lock dies with its process). A closer that waited then
finds the days closed and does nothing. Re-entrant within a thread.
"""

from __future__ import annotations

import fcntl
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import text
from sqlalchemy.engine import Engine

from smelend.store.db import WRITE_LOCK_SUFFIX, write_lock_path

CLOSE_LOCK_ID = 0x5E1E_0007  # the PostgreSQL advisory lock's key
CLOSE_LOCK_SUFFIX = ".close-lock"  # next to the SQLite file

_CLOSING = threading.RLock()
_held = threading.local()


@contextmanager
def one_closer(engine: Engine) -> Iterator[None]:
    with _CLOSING:
        depth = getattr(_held, "depth", 0)
        _held.depth = depth + 1
        try:
            if depth:  # this thread already holds it
                yield
            elif engine.dialect.name == "postgresql":
                with _advisory(engine):
                    yield
            else:
                with _file_lock(engine):
                    yield
        finally:
            _held.depth = depth


@contextmanager
def _advisory(engine: Engine) -> Iterator[None]:
    with engine.connect() as conn:
        conn.execute(text("SELECT pg_advisory_lock(:id)"), {"id": CLOSE_LOCK_ID})
        conn.commit()
        try:
            yield
        finally:
            conn.execute(text("SELECT pg_advisory_unlock(:id)"), {"id": CLOSE_LOCK_ID})
            conn.commit()


@contextmanager
def _file_lock(engine: Engine) -> Iterator[None]:
    write_lock = write_lock_path(engine.url)
    if write_lock is None:  # an in-memory database lives in one process: the thread lock is enough
        yield
        return
    path = write_lock.with_name(write_lock.name.removesuffix(WRITE_LOCK_SUFFIX) + CLOSE_LOCK_SUFFIX)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)
