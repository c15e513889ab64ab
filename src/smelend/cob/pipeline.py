"""The book-wide close of business for a business date, stage by stage, resumable, idempotent.

For each day from the open business date through the date asked (catching up day by day):

1. ``loans``: auto-debits due, then every active loan closed for the day — accrual, penalties, days
   past due, classification, provisions — by the servicing engine's vectorised path
   (:func:`smelend.operations.cob.close_loans`; loans already closed are skipped);
2. ``snapshot``: the book as of the day (:func:`smelend.store.snapshot.snapshot_book`), with each
   line's latest change from the change table, written to Parquet under the data folder
   (``cob/<database key>/<run id>/snapshot.parquet``) and read back on a rerun, so a resumed run decides on exactly
   the rows the first attempt saw;
3. ``work``: the pure per-batch function (behaviour score -> reassessment -> collections actions) on
   the runner (local process pool or Ray);
4. ``write``: the changes, their notices and the collections actions, in chunks of
   :data:`WRITE_CHUNK_ROWS` changes; each chunk's rows and its progress row commit together, so a
   chunk is written once whatever is killed when;
5. ``finish``: lines whose validity ended expire, the day's totals are recorded, the run is marked
   finished and the business date moves on.

The run id is ``cob-<date>``: running a date again finds its run and resumes it (a finished day is
not reopened: the business date has moved past it). Counts in the summary are what the runs of the
days closed by this call wrote (a resumed run counts its earlier chunks too); times are per stage.
"""

from __future__ import annotations

import hashlib
import os
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import polars as pl
import pyarrow as pa

from smelend.cob.runners import Runner
from smelend.cob.work import BatchWork
from smelend.lines.settings import CHANGE_KINDS
from smelend.operations.calendar import days_to_close, start_calendar_if_new
from smelend.operations.cob import CobTotals, close_loans, finish_day
from smelend.operations.context import Book
from smelend.store.closer_lock import one_closer
from smelend.store.cob_runs import FINISHED, done_chunks, finish_run, record_chunk, stage_counts, start_run
from smelend.store.lending import get_business_day
from smelend.store.line_changes import Versions, latest_changes, write_changes
from smelend.store.snapshot import independent_parts

WRITE_CHUNK_ROWS = 5_000
STAGES = ("loans", "snapshot", "work", "write", "finish")
Progress = Callable[[str, date, int, int], None]  # (stage, day, done, total)


@dataclass
class PipelineResult:
    days: list[date] = field(default_factory=list)
    run_ids: list[str] = field(default_factory=list)
    totals: CobTotals = field(default_factory=CobTotals)
    changes: Counter[str] = field(default_factory=Counter)
    collections: Counter[str] = field(default_factory=Counter)
    lines: int = 0  # lines in the last day's snapshot
    seconds: dict[str, float] = field(default_factory=lambda: dict.fromkeys(STAGES, 0.0))


def snapshot_path(data_dir: Path, run_id: str, database: str) -> Path:
    """Where a run's snapshot is kept: under the database's own folder, since run ids (``cob-<date>``)
    repeat across databases that share a data folder (a test's, a copy of the book).

    >>> snapshot_path(Path("/data"), "cob-2026-06-30", "sqlite:////srv/a.db").parts[:3]
    ('/', 'data', 'cob')
    >>> snapshot_path(Path("/d"), "r", "sqlite:////a.db") != snapshot_path(Path("/d"), "r", "sqlite:////b.db")
    True
    """
    key = hashlib.sha256(database.encode()).hexdigest()[:16]
    return data_dir / "cob" / key / run_id / "snapshot.parquet"


def run_close_of_business(
    book: Book, through: date, runner: Runner, data_dir: Path, progress: Progress | None = None, batch: bool = True, write_chunk_rows: int = WRITE_CHUNK_ROWS
) -> PipelineResult:
    """Close every open business day through ``through`` (see the module docstring), one closer at a
    time on the database (:func:`smelend.store.closer_lock.one_closer`): one that waited finds the
    days closed and closes none."""
    result = PipelineResult()
    try:
        with one_closer(book.engine):
            with book.engine.begin() as conn:
                start_calendar_if_new(conn, through)
                current = get_business_day(conn)
            for day in days_to_close(current, through):
                close_day(book, day, runner, data_dir, result, progress, batch, write_chunk_rows)
    finally:
        runner.close()
    return result


def close_day(
    book: Book, day: date, runner: Runner, data_dir: Path, result: PipelineResult, progress: Progress | None = None, batch: bool = True, write_chunk_rows: int = WRITE_CHUNK_ROWS
) -> None:
    clock = time.perf_counter
    say = progress or (lambda stage, on, done, total: None)
    with book.engine.begin() as conn:
        run_id, status = start_run(conn, day)
    if status == FINISHED:  # killed between recording the run and opening the next day: just open it
        with book.engine.connect() as conn:
            result.changes.update(stage_counts(conn, run_id, "write"))
        finish_day(book, day, result.totals)
        result.days.append(day)
        result.run_ids.append(run_id)
        return

    started = clock()
    say("loans", day, 0, 0)
    path = snapshot_path(data_dir, run_id, book.engine.url.render_as_string(hide_password=True))
    with ThreadPoolExecutor(max_workers=1) as early:
        # the snapshot's parts closing the loans does not change, read meanwhile on a second connection
        # (started once the day's auto-debits are in: they add repayments)
        pending: list[Future[dict[str, pl.DataFrame]]] = []
        start_early = None if path.is_file() else (lambda: pending.append(early.submit(independent_parts, book.engine, day)))
        standing = close_loans(book, day, result.totals, batch, start_early)
        result.seconds["loans"] += clock() - started

        started = clock()
        say("snapshot", day, 0, 0)
        snapshot = _snapshot(book, day, path, standing, pending[0].result() if pending else None)
    result.seconds["snapshot"] += clock() - started
    result.lines = snapshot.num_rows

    started = clock()
    say("work", day, 0, snapshot.num_rows)
    outputs = runner.run(snapshot, day, lambda done: say("work", day, done, snapshot.num_rows))
    result.seconds["work"] += clock() - started

    started = clock()
    versions = _versions(runner, day)
    changes = pl.from_arrow(outputs["changes"])
    assert isinstance(changes, pl.DataFrame)
    grades = pl.from_arrow(outputs["grades"])
    assert isinstance(grades, pl.DataFrame)
    _write(book, run_id, day, changes, grades, versions, say, write_chunk_rows, standing)
    with book.engine.connect() as conn:
        result.changes.update(stage_counts(conn, run_id, "write"))
    result.seconds["write"] += clock() - started

    started = clock()
    say("finish", day, 0, 0)
    with book.engine.begin() as conn:
        finish_run(conn, run_id, {"changes": {k: result.changes[k] for k in CHANGE_KINDS}, "lines": snapshot.num_rows})
    finish_day(book, day, result.totals)  # idempotent: expire lines, the day's totals, the next business date
    result.seconds["finish"] += clock() - started
    result.days.append(day)
    result.run_ids.append(run_id)


def _versions(runner: Runner, day: date) -> Versions:
    """What the changes were decided under (the same on every worker: the same files)."""
    work = BatchWork()
    v = work.context.versions()
    return Versions(v["rules"], v["settings"], v["strategy"], work.model_version)


def _snapshot(book: Book, day: date, path: Path, standing: pl.DataFrame | None = None, parts: dict[str, pl.DataFrame] | None = None) -> pa.Table:
    """The day's snapshot from Parquet if an earlier attempt wrote it, else taken and written (atomically).
    ``standing`` (the loans stage's positions, when it closed every active loan) stands in for the
    snapshot's overdue and next-due queries: the same figures, already in memory; ``parts`` for the
    behaviour and enterprise queries (read while the loans stage ran: closing loans does not change them)."""
    from smelend.store.snapshot import read_parquet, snapshot_book, write_parquet

    if path.is_file():
        return read_parquet(path)
    with book.engine.connect() as conn:
        table = snapshot_book(conn, day, positions=standing, parts=parts)
        latest = latest_changes(conn, before=day)
    table = _with_latest_changes(table, latest)
    partial = path.with_suffix(".partial")
    write_parquet(table, partial)
    os.replace(partial, path)
    return read_parquet(path)


def _with_latest_changes(table: pa.Table, latest: pl.DataFrame) -> pa.Table:
    """Each line's latest change (date, action, and the temporary part of its limit even if its season
    is over, so reassessment can take it back) from the change table."""
    columns = ["last_change_date", "last_change_action", "temp_limit_fen", "temp_limit_until"]
    frame = pl.from_arrow(table)
    assert isinstance(frame, pl.DataFrame)
    order = frame.columns
    joined = frame.drop(columns).join(latest, on="line_id", how="left").select(order)
    return joined.to_arrow().cast(table.schema)


def _write(
    book: Book, run_id: str, day: date, changes: pl.DataFrame, grades: pl.DataFrame, versions: Versions, say: Progress, chunk_rows: int,
    standing: pl.DataFrame | None = None,
) -> None:
    with book.engine.connect() as conn:
        done = done_chunks(conn, run_id, "write")
    total = changes.height
    chunks = max(1, -(-total // chunk_rows))
    for chunk in range(chunks):
        if chunk in done:
            continue
        piece = changes.slice(chunk * chunk_rows, chunk_rows)
        with book.engine.begin() as conn:
            counts = write_changes(conn, run_id, piece, versions)
            if chunk == 0:
                counts.update(_collections(conn, run_id, day, grades, standing))
            record_chunk(conn, run_id, "write", chunk, piece.height, {k: v for k, v in counts.items() if v})
        say("write", day, min(total, (chunk + 1) * chunk_rows), total)


def _collections(conn, run_id: str, day: date, grades: pl.DataFrame, standing: pl.DataFrame | None = None) -> Counter[str]:  # type: ignore[no-untyped-def]
    """The day's collections actions (reminders, dunning, offers of extension or restructuring) over the
    open loans, with today's behaviour grades, written keyed by run id (:mod:`smelend.store.collections`).
    A vectorised pass in this process: one row per open loan, read in a few grouped queries, or taken
    from the loans stage's positions when it closed every active loan (the same rows)."""
    from smelend.lines.collections import collection_actions
    from smelend.store.cob_loans import collections_input
    from smelend.store.collections import collections_frame, write_collection_actions

    loans_today = collections_frame(conn, day) if standing is None else collections_input(conn, day, standing)
    if loans_today.height == 0:
        return Counter()
    today = grades.select("line_id", pl.col("behaviour_grade").alias("_grade"))
    loans_today = loans_today.join(today, on="line_id", how="left").with_columns(pl.coalesce("_grade", "behaviour_grade").alias("behaviour_grade")).drop("_grade")
    actions = collection_actions(loans_today, day)
    write_collection_actions(conn, run_id, actions)
    return Counter({f"collections.{kind}": n for kind, n in actions.group_by("kind").len().iter_rows()})


def summary_counts(result: PipelineResult) -> dict[str, int]:
    return {kind: int(result.changes.get(kind, 0)) for kind in CHANGE_KINDS}
