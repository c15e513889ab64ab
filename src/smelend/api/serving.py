"""How a process readies itself to serve under ``smelend serve``: one blocking call at a time, SQLite's
checkpoints on a thread, the decision engine warmed up, the start-up heap frozen.

Four measured causes of slow requests under load (``benchmarks/api_load.py``), each fixed here:

- **GIL convoys.** A request's database work runs in anyio's threadpool (40 threads by default). With
  several CPU-bound decisions on threads of one process, a thread holding SQLite's write lock drops the
  GIL on every statement and waits up to the switch interval (5 ms) to get it back, so the lock was held
  for tens of milliseconds and every writer in every process queued behind it. The work is CPU-bound
  Python: a second thread in the same process adds no throughput, only contention. So a served process
  runs one blocking call at a time (two on PostgreSQL, :func:`default_threads`; ``smelend serve --threads``) and scales by
  processes (``--workers``), which the kernel schedules without a shared lock.
- **First requests.** The first decision in a process compiles the policy rules, loads LightGBM and fills
  caches (~40 ms instead of ~10): :func:`warm_up` decides one simulated application before the process
  takes traffic (its own simulated provider, whatever provider the service uses: nothing is fetched or
  written).
- **Checkpoints in a commit.** SQLite copied its write-ahead log back into the database inside whichever
  COMMIT crossed 1,000 pages, holding the write lock meanwhile: a stall every second or two at 100
  decisions a second. A thread checkpoints instead (:mod:`smelend.store.wal_checkpoints`).
- **Full collections.** After start-up the heap holds millions of long-lived objects (models, modules);
  a full (generation 2) collection walks them all, 90-175 ms measured, stalling every request in flight.
  ``gc.freeze()`` after the warm-up moves them out of the collector's sight.

Only :func:`prepare_process` under ``smelend serve`` does this: tests build many apps in one process,
where a frozen heap would keep every earlier app alive.
"""

from __future__ import annotations

import gc
import logging
from datetime import UTC, datetime

import anyio.to_thread

from smelend.api.routers.common import Service
from smelend.store.wal_checkpoints import checkpoint_in_background

THREADS_BY_BACKEND = {"sqlite": 1, "postgresql": 2}  # PostgreSQL: a worker waits on each round trip; a second thread fills it
MAX_THREADS = 64
WARM_UP_SEED = 0x5E1E

log = logging.getLogger("uvicorn.error")  # next to uvicorn's own start-up lines in the server log


def default_threads(database_url: str) -> int:
    """Blocking calls at once per worker for this database.

    >>> default_threads("sqlite:////srv/smelend.db"), default_threads("postgresql://bank@db/smelend")
    (1, 2)
    """
    from smelend.store.db import normalise_url

    return THREADS_BY_BACKEND[normalise_url(database_url).get_backend_name()]


def warm_up(svc: Service) -> str:
    """Decide one simulated application with the service's strategy, products and pricer; returns its outcome."""
    from smelend.risk.decision import decide
    from smelend.risk.providers.base import gather
    from smelend.risk.providers.simulated import SimulatedProvider, simulate_applications

    application = simulate_applications(1, seed=WARM_UP_SEED)[0]
    product = svc.catalogue[application.product_id]
    evidence = gather(application, SimulatedProvider(seed=WARM_UP_SEED), clock=lambda: datetime.now(UTC))
    return decide(application, evidence, svc.strategy, product, svc.pricer).outcome


async def prepare_process(svc: Service, threads: int) -> None:
    """Ready this (event loop's) process to serve: at most ``threads`` blocking calls at once, the
    engine warm, the start-up heap frozen. Call once, from the server's start-up, in its event loop."""
    assert 1 <= threads <= MAX_THREADS, threads
    anyio.to_thread.current_default_thread_limiter().total_tokens = threads
    checkpoint_in_background(svc.engine)  # SQLite only; the thread ends with the process
    outcome = warm_up(svc)
    gc.collect()
    gc.freeze()
    log.info("ready to serve: %d blocking call(s) at a time, engine warmed up (%s), %d objects frozen", threads, outcome, gc.get_freeze_count())
