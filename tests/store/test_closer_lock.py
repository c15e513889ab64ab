"""One close of business at a time (``smelend.store.closer_lock``): across threads, across processes
on a SQLite file (``<database>.close-lock``), re-entrant within a thread."""

from __future__ import annotations

import fcntl
import os
import threading
from pathlib import Path

from smelend.store.closer_lock import CLOSE_LOCK_SUFFIX, one_closer
from smelend.store.db import make_engine


def taken_elsewhere(path: Path) -> bool:
    """Whether another open file (as another process would) is refused the close lock now."""
    fd = os.open(str(path) + CLOSE_LOCK_SUFFIX, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)
    return False


def test_the_sqlite_file_lock_is_held_while_closing_and_released_after(tmp_path: Path) -> None:
    path = tmp_path / "book.db"
    engine = make_engine(f"sqlite:///{path}")
    assert not taken_elsewhere(path)
    with one_closer(engine):
        assert taken_elsewhere(path)
        with one_closer(engine):  # re-entrant: the pipeline may be entered again by the same thread
            assert taken_elsewhere(path)
        assert taken_elsewhere(path)
    assert not taken_elsewhere(path)
    engine.dispose()


def test_a_second_thread_waits_for_the_first(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'book.db'}")
    order: list[str] = []
    inside = threading.Event()
    release = threading.Event()

    def first() -> None:
        with one_closer(engine):
            order.append("first in")
            inside.set()
            release.wait(10)
            order.append("first out")

    def second() -> None:
        inside.wait(10)
        with one_closer(engine):
            order.append("second in")

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    for t in threads:
        t.start()
    inside.wait(10)
    release.set()
    for t in threads:
        t.join(10)
    assert order == ["first in", "first out", "second in"]
    engine.dispose()
