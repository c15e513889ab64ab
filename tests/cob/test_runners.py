"""The local and Ray runners give identical outputs: the same batch work row for row on a synthetic book,
and the same summary (outside "timings") and the same written rows when each closes a copy of one real
book. Ray starts once for the module, with 2 CPUs (start-up is the slow part on small machines)."""

from __future__ import annotations

import shutil
from datetime import date, timedelta
from pathlib import Path

import pytest
from smelend.cli.cob import summary
from smelend.cob.pipeline import run_close_of_business
from smelend.cob.runners import LocalRunner, RayRunner, ensure_ray
from smelend.cob.synthetic import snapshot_frame
from smelend.operations.context import open_book
from smelend.store import open_store

from .book import START, make_book
from .test_resume import outcome

BASE = START + timedelta(days=30)
THROUGH = START + timedelta(days=33)  # the days compared: the first due dates pass in them (changes, dunning)


@pytest.fixture(scope="module")
def ray_instance():
    import ray

    ensure_ray(2, None)
    yield
    ray.shutdown()


def test_batch_outputs_are_identical_on_every_runner(ray_instance):
    as_of = date(2026, 11, 5)
    book = snapshot_frame(6_000, as_of, seed=2).to_arrow()
    local = LocalRunner(1, 1_000).run(book, as_of)
    pool = LocalRunner(2, 1_000).run(book, as_of)
    ray_out = RayRunner(2, 1_000).run(book, as_of)
    assert local["changes"].num_rows > 500
    for name in local:
        assert local[name].equals(pool[name]) and local[name].equals(ray_out[name]), name


def _copy_sqlite(source: Path, target: Path) -> None:
    for suffix in ("", "-wal", "-shm"):
        if Path(f"{source}{suffix}").exists():
            shutil.copyfile(f"{source}{suffix}", f"{target}{suffix}")


def test_local_and_ray_close_the_same_book_identically(ray_instance, smelend_env, tmp_path):
    base = tmp_path / "base.db"
    engine = open_store(f"sqlite:///{base}")
    make_book(engine)
    run_close_of_business(open_book(engine), BASE, LocalRunner(1), tmp_path / "base")
    engine.dispose()
    documents, outcomes = {}, {}
    for name, runner in (("local", LocalRunner(2, 4)), ("ray", RayRunner(2, 4))):
        path = tmp_path / f"{name}.db"
        _copy_sqlite(base, path)
        engine = open_store(f"sqlite:///{path}")
        book = open_book(engine)
        result = run_close_of_business(book, THROUGH, runner, tmp_path / name)
        document = summary(book, THROUGH, result, name, 2)
        assert document.pop("timings")["runner"] == name
        documents[name], outcomes[name] = document, outcome(engine)
        engine.dispose()
    assert documents["local"] == documents["ray"]
    assert documents["local"]["days_closed"] == 3 and sum(documents["local"]["changes"].values()) > 0
    assert outcomes["local"] == outcomes["ray"]
