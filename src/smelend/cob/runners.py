"""Runners: the same per-batch work over a snapshot, on this machine or on a Ray cluster.

Both take the snapshot (an Arrow table), cut it into batches of ``batch_rows`` rows, apply
:class:`~smelend.cob.work.BatchWork` to each — built once per worker process or Ray actor — and give
back every output concatenated and sorted by line, so their results are equal row for row.

- :class:`LocalRunner` (default): a process pool of ``workers`` processes (one process: in this
  process, no pool);
- :class:`RayRunner`: Ray Data ``map_batches`` with an actor pool of ``workers`` actors, on a local
  Ray instance (started with ``workers`` CPUs if none is running) or the cluster at ``address``.
"""

from __future__ import annotations

import multiprocessing
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from datetime import date
from typing import Protocol

import pyarrow as pa

from smelend.cob.work import BatchWork, combine, pack, unpack

Progress = Callable[[int], None]  # rows done so far

DEFAULT_BATCH_ROWS = 50_000


class Runner(Protocol):
    name: str
    workers: int

    def run(self, snapshot: pa.Table, as_of: date, progress: Progress | None = None) -> dict[str, pa.Table]: ...

    def close(self) -> None: ...


def batches(table: pa.Table, rows: int) -> list[pa.Table]:
    return [table.slice(start, rows) for start in range(0, table.num_rows, rows)]


def to_ipc(table: pa.Table) -> bytes:
    """A batch as Arrow IPC bytes: only its own rows. (Pickling a slice ships the whole table's buffers:
    measured, a 20,000-row slice of a 200,000-row snapshot pickles to the full 45 MB; as IPC, 4.5 MB.)"""
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    return sink.getvalue().to_pybytes()


def from_ipc(blob: bytes) -> pa.Table:
    return pa.ipc.open_stream(blob).read_all()


_WORK: BatchWork | None = None


def _init_process() -> None:
    global _WORK
    _WORK = BatchWork()


def _run_in_process(batch: bytes, as_of: date) -> dict[str, pa.Table]:
    assert _WORK is not None
    return _WORK(from_ipc(batch), as_of)


@dataclass
class LocalRunner:
    """Batches on a pool of ``workers`` processes, started at the first book that needs more than one
    batch and kept for every later day of the run (:meth:`close` ends it)."""

    workers: int = 2
    batch_rows: int = DEFAULT_BATCH_ROWS
    name: str = "local"
    _pool: ProcessPoolExecutor | None = None

    def run(self, snapshot: pa.Table, as_of: date, progress: Progress | None = None) -> dict[str, pa.Table]:
        parts: list[dict[str, pa.Table]] = []
        done = 0
        pieces = batches(snapshot, self.batch_rows) or [snapshot]
        if self.workers <= 1 or len(pieces) == 1:
            work = BatchWork()
            for piece in pieces:
                parts.append(work(piece, as_of))
                done += piece.num_rows
                if progress:
                    progress(done)
            return combine(parts)
        if self._pool is None:
            # spawn, not fork: polars and Arrow hold thread pools that a forked child would inherit locked
            spawn = multiprocessing.get_context("spawn")
            self._pool = ProcessPoolExecutor(max_workers=self.workers, mp_context=spawn, initializer=_init_process)
        for piece, result in zip(pieces, self._pool.map(_run_in_process, map(to_ipc, pieces), [as_of] * len(pieces))):
            parts.append(result)
            done += piece.num_rows
            if progress:
                progress(done)
        return combine(parts)

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown()
            self._pool = None


class _RayActor:
    """One Ray actor: the work built once, applied to every batch the actor gets."""

    def __init__(self, as_of: date) -> None:
        self.work = BatchWork()
        self.as_of = as_of

    def __call__(self, batch: pa.Table) -> pa.Table:
        return pack(self.work(batch, self.as_of))


@dataclass
class RayRunner:
    workers: int = 2
    batch_rows: int = DEFAULT_BATCH_ROWS
    address: str | None = None
    name: str = "ray"

    def run(self, snapshot: pa.Table, as_of: date, progress: Progress | None = None) -> dict[str, pa.Table]:
        import ray

        ensure_ray(self.workers, self.address)
        blocks = [from_ipc(to_ipc(piece)) for piece in batches(snapshot, self.batch_rows)] or [snapshot]  # compact copies, not slices
        dataset = ray.data.from_arrow(blocks).map_batches(
            _RayActor,
            fn_constructor_kwargs={"as_of": as_of},
            batch_format="pyarrow",
            batch_size=self.batch_rows,
            compute=ray.data.ActorPoolStrategy(size=self.workers),
            num_cpus=1,
        )
        parts = [part for table in _tables(dataset) for part in unpack(table)]
        if progress:
            progress(snapshot.num_rows)
        return combine(parts)

    def close(self) -> None:
        """The Ray instance stays up for the process (starting one is the slow part); ray.shutdown() ends it."""


def _tables(dataset) -> list[pa.Table]:  # type: ignore[no-untyped-def]
    import ray

    return [ray.get(ref) for ref in dataset.to_arrow_refs()]


def ensure_ray(workers: int, address: str | None) -> None:
    """Connect to the cluster at ``address``, or start a local instance with ``workers`` CPUs (once a process)."""
    import logging

    import ray

    if ray.is_initialized():
        return
    if address:
        ray.init(address=address, logging_level=logging.WARNING, log_to_driver=False)
    else:
        ray.init(num_cpus=max(1, workers), include_dashboard=False, logging_level=logging.WARNING, log_to_driver=False)
    ray.data.DataContext.get_current().enable_progress_bars = False


def make_runner(name: str, workers: int, address: str | None = None, batch_rows: int = DEFAULT_BATCH_ROWS) -> Runner:
    if name == "ray":
        return RayRunner(workers, batch_rows, address)
    return LocalRunner(workers, batch_rows)
