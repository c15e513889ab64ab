"""A serving process checkpoints SQLite's write-ahead log on a thread, not inside request commits."""

from __future__ import annotations

import time

import pytest
from sqlalchemy import text

from smelend.store.db import open_store
from smelend.store.wal_checkpoints import CHECKPOINT_EVERY_S, SAFETY_NET_PAGES, checkpoint_in_background

ROWS = 300


def test_the_thread_checkpoints_what_request_connections_no_longer_do(tmp_path, smelend_env):
    database = tmp_path / "served.db"
    engine = open_store(f"sqlite:///{database}")
    stop = checkpoint_in_background(engine)
    assert stop is not None
    try:
        with engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA wal_autocheckpoint").scalar_one() == SAFETY_NET_PAGES
        with engine.begin() as conn:
            conn.execute(text("CREATE TABLE filler (id INTEGER PRIMARY KEY, blob TEXT)"))
        for i in range(ROWS):  # a commit each, as requests do
            with engine.begin() as conn:
                conn.execute(text("INSERT INTO filler (blob) VALUES (:b)"), {"b": f"{i:04d}" * 1000})
        deadline = time.monotonic() + 20 * CHECKPOINT_EVERY_S
        while database.stat().st_size < ROWS * 4000:  # rows reach the database file only by a checkpoint
            assert time.monotonic() < deadline, f"not checkpointed: {database.stat().st_size} bytes"
            time.sleep(CHECKPOINT_EVERY_S / 5)
    finally:
        stop()
        engine.dispose()


def test_nothing_to_do_for_postgresql_or_memory(smelend_env):
    from sqlalchemy import create_engine

    assert checkpoint_in_background(create_engine("sqlite://")) is None
    assert checkpoint_in_background(create_engine("postgresql+psycopg://u@localhost/db")) is None
