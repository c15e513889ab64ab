"""``smelend serve`` readies each process before it takes traffic (``smelend.api.serving``): one blocking
call at a time by default (``--threads``), the decision engine warmed up without fetching or writing
anything, the start-up heap frozen."""

from __future__ import annotations

import gc
import subprocess
import sys

import anyio
import anyio.to_thread
import pytest

from smelend.api.serving import prepare_process, warm_up
from tests.api.conftest import table_counts

pytestmark = pytest.mark.db


def test_the_warm_up_decides_without_writing(api):
    svc = api.client.app.state.service
    before = table_counts(api.engine)
    assert warm_up(svc) in ("approve", "decline", "refer")
    assert table_counts(api.engine) == before


def test_a_prepared_process_runs_that_many_blocking_calls_at_once_and_freezes_its_heap(api):
    svc = api.client.app.state.service

    async def prepared_tokens() -> float:
        await prepare_process(svc, 3)
        return anyio.to_thread.current_default_thread_limiter().total_tokens

    try:
        assert anyio.run(prepared_tokens) == 3
        assert gc.get_freeze_count() > 0
    finally:
        gc.unfreeze()  # the test process keeps building apps: let the collector see them again


def test_serve_refuses_a_thread_count_out_of_range():
    for bad in ("0", "65"):
        done = subprocess.run([sys.executable, "-m", "smelend", "serve", "--threads", bad], capture_output=True, text=True, timeout=120)
        assert done.returncode == 2, done.stderr
        assert len(done.stderr.strip().splitlines()) == 1 and "threads" in done.stderr
