"""SQLite writers queue on ``<database>.write-lock`` (an OS file lock), not on SQLite's sleeping busy handler.

What the service relies on (``smelend.store.db``): a write transaction holds the file lock from BEGIN to
COMMIT/ROLLBACK, a read never takes it, and a writer in another process waits for it and then commits.
"""

from __future__ import annotations

import fcntl
import os
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.engine import Engine

from smelend.store.db import WRITE_LOCK_SUFFIX, make_engine, reading, write_lock_path


@pytest.fixture
def sqlite_file(tmp_path: Path) -> Iterator[tuple[Path, Engine]]:
    path = tmp_path / "lock.db"
    engine = make_engine(f"sqlite:///{path}")
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE t (n INTEGER)"))
    yield path, engine
    engine.dispose()


def lock_is_free(path: Path) -> bool:
    """Whether another open file could take the write lock now (it is released again at once)."""
    fd = os.open(str(path) + WRITE_LOCK_SUFFIX, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    finally:
        os.close(fd)  # closing drops a lock taken above
    return True


def test_a_write_transaction_holds_the_lock_until_commit_or_rollback(sqlite_file: tuple[Path, Engine]) -> None:
    path, engine = sqlite_file
    assert write_lock_path(f"sqlite:///{path}") == path.with_name(path.name + WRITE_LOCK_SUFFIX)
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO t VALUES (1)"))
        assert not lock_is_free(path)
    assert lock_is_free(path)
    with pytest.raises(RuntimeError):
        with engine.begin() as conn:
            conn.execute(text("INSERT INTO t VALUES (2)"))
            assert not lock_is_free(path)
            raise RuntimeError("roll back")
    assert lock_is_free(path)
    with engine.connect() as conn:
        assert conn.execute(text("SELECT n FROM t")).scalars().all() == [1]


def test_reads_never_take_the_lock(sqlite_file: tuple[Path, Engine]) -> None:
    path, engine = sqlite_file
    with engine.begin() as writer:
        writer.execute(text("INSERT INTO t VALUES (1)"))
        with reading(engine) as reader:  # a reader runs while a writer holds the lock
            assert reader.execute(text("SELECT count(*) FROM t")).scalar_one() == 0
    with reading(engine) as reader:
        reader.execute(text("SELECT count(*) FROM t")).scalar_one()
        assert lock_is_free(path)


def test_a_writer_in_another_process_waits_for_the_lock_then_commits(sqlite_file: tuple[Path, Engine]) -> None:
    path, engine = sqlite_file
    script = textwrap.dedent(f"""
        import sys
        from sqlalchemy import text
        from smelend.store.db import make_engine
        engine = make_engine({f"sqlite:///{path}"!r})
        print("ready", flush=True)
        with engine.begin() as conn:
            conn.execute(text("INSERT INTO t VALUES (2)"))
        print("done", flush=True)
    """)
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO t VALUES (1)"))
        other = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
        assert other.stdout is not None
        assert other.stdout.readline().strip() == "ready"
        with pytest.raises(subprocess.TimeoutExpired):
            other.wait(timeout=0.5)  # it queues behind this transaction
    out, _ = other.communicate(timeout=60)
    assert other.returncode == 0 and out.strip() == "done"
    with reading(engine) as conn:
        assert conn.execute(text("SELECT n FROM t ORDER BY n")).scalars().all() == [1, 2]
    assert lock_is_free(path)


def test_no_lock_file_for_memory_or_postgresql() -> None:
    assert write_lock_path("sqlite://") is None
    assert write_lock_path("sqlite:///:memory:") is None
    assert write_lock_path("postgresql://u@localhost/db") is None
