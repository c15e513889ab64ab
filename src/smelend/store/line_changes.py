"""Writing line changes: the change record, the line itself and the borrower's notice, in one transaction.

Idempotent by construction: a line has at most one change a business date (a unique constraint),
lines already changed on the date are skipped, and each line update is guarded on the line being
exactly as the decision saw it (limit, status, end date, and used not above the new limit) — a
line that moved since the snapshot is left alone and counted as ``stale``, never half-changed.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import date

import polars as pl
from sqlalchemy import select
from sqlalchemy.engine import Connection

from smelend.lines.changes import check_changes
from smelend.store.outbox import add_notifications
from smelend.store.tables import credit_lines, line_changes


@dataclass(frozen=True)
class Versions:
    """What a change was decided under (recorded with every change)."""

    rules: str
    settings: str
    strategy: str
    model: str


def changed_lines(conn: Connection, day: date, line_ids: list[int]) -> set[int]:
    """Which of ``line_ids`` already have their change for ``day``."""
    if not line_ids:
        return set()
    query = select(line_changes.c.line_id).where(line_changes.c.effective_date == day, line_changes.c.line_id.in_(line_ids))
    return set(conn.execute(query).scalars())


_CHANGE_COLUMNS = (
    "run_id", "line_id", "effective_date", "action", "reasons", "limit_before_fen", "limit_after_fen", "used_fen", "status_before",
    "status_after", "end_before", "end_after", "temp_limit_fen", "temp_limit_until", "rules_version", "settings_version",
    "strategy_version", "model_version",
)
_UPDATE_LINE = (
    "UPDATE credit_lines SET limit_fen = ?, status = ?, end_date = ?, version = version + 1"
    " WHERE id = ? AND limit_fen = ? AND status = ? AND end_date = ? AND used_fen <= ?"
)
_INSERT_CHANGE = f"INSERT INTO line_changes ({', '.join(_CHANGE_COLUMNS)}) VALUES ({', '.join('?' * len(_CHANGE_COLUMNS))})"


def _driver_many(conn: Connection, sql: str, frame: pl.DataFrame) -> int:
    """executemany of ``frame``'s rows straight on the driver (qmark SQL adapted to the driver's style):
    SQLAlchemy's per-row parameter processing costs more than the database here. Dates go as ISO
    text on SQLite (what SQLAlchemy's Date stores there) and as dates elsewhere."""
    if frame.height == 0:
        return 0
    if conn.dialect.paramstyle != "qmark":
        sql = sql.replace("?", "%s")
    if conn.dialect.name == "sqlite":
        frame = frame.with_columns(pl.col(pl.Date).dt.strftime("%Y-%m-%d"))
    rows = frame.rows()
    cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
    try:
        cursor.executemany(sql, rows)
        return int(cursor.rowcount)
    finally:
        cursor.close()


def write_changes(conn: Connection, run_id: str, changes: pl.DataFrame, versions: Versions) -> Counter[str]:
    """Post ``changes`` (one business date's, rows of ``CHANGE_SCHEMA``) in the caller's transaction.

    Returns the count of changes written by action, plus ``stale`` (lines that moved since the
    decision) and ``already`` (lines already changed that day).
    """
    counts: Counter[str] = Counter()
    if changes.height == 0:
        return counts
    check_changes(changes)
    days = changes.get_column("effective_date").unique().to_list()
    assert len(days) == 1, "one business date at a time"
    day = days[0]
    done = changed_lines(conn, day, changes.get_column("line_id").to_list())
    todo = changes.filter(~pl.col("line_id").is_in(sorted(done))) if done else changes
    counts["already"] = len(done)
    if todo.height == 0:
        return counts
    updates = todo.select(
        "limit_after_fen", "status_after", "end_after", "line_id", "limit_before_fen", "status_before", "end_before", pl.col("limit_after_fen").alias("cap")
    )
    moved = _driver_many(conn, _UPDATE_LINE, updates)
    if moved != todo.height:  # some line moved since the decision (rare): keep the changes that applied
        applied = _applied(conn, todo)
        counts["stale"] = todo.height - applied.height
        todo = applied
        if todo.height == 0:
            return counts
    records = todo.with_columns(
        pl.lit(run_id).alias("run_id"), pl.lit(versions.rules).alias("rules_version"), pl.lit(versions.settings).alias("settings_version"),
        pl.lit(versions.strategy).alias("strategy_version"), pl.lit(versions.model).alias("model_version"),
    ).select(_CHANGE_COLUMNS)
    _driver_many(conn, _INSERT_CHANGE, records)
    ids = pl.DataFrame(
        conn.execute(select(line_changes.c.line_id, line_changes.c.id).where(line_changes.c.effective_date == day, line_changes.c.line_id.in_(todo.get_column("line_id").to_list()))).all(),
        schema={"line_id": pl.Int64, "line_change_id": pl.Int64},
        orient="row",
    )
    add_notifications(conn, todo.join(ids, on="line_id", how="left"))
    counts.update(dict(todo.group_by("action").len().iter_rows()))
    return counts


def _applied(conn: Connection, changes: pl.DataFrame) -> pl.DataFrame:
    """After a guarded bulk update that missed some lines: the changes whose line now reads as decided."""
    current = {
        row.id: (row.limit_fen, row.status, row.end_date)
        for row in conn.execute(
            select(credit_lines.c.id, credit_lines.c.limit_fen, credit_lines.c.status, credit_lines.c.end_date).where(credit_lines.c.id.in_(changes.get_column("line_id").to_list()))
        )
    }
    keep = [current[r["line_id"]] == (r["limit_after_fen"], r["status_after"], r["end_after"]) for r in changes.iter_rows(named=True)]
    return changes.filter(pl.Series(keep, dtype=pl.Boolean))


def latest_changes(conn: Connection, line_ids: list[int] | None = None, before: date | None = None) -> pl.DataFrame:
    """Each line's latest change (before ``before``): date, action and the temporary part of its limit."""
    latest = select(line_changes.c.line_id, line_changes.c.effective_date, line_changes.c.action, line_changes.c.temp_limit_fen, line_changes.c.temp_limit_until, line_changes.c.id)
    if line_ids is not None:
        latest = latest.where(line_changes.c.line_id.in_(line_ids))
    if before is not None:
        latest = latest.where(line_changes.c.effective_date < before)
    rows = conn.execute(latest.order_by(line_changes.c.line_id, line_changes.c.effective_date)).all()
    frame = pl.DataFrame(
        [tuple(r) for r in rows],
        schema={"line_id": pl.Int64, "last_change_date": pl.Date, "last_change_action": pl.Utf8, "temp_limit_fen": pl.Int64, "temp_limit_until": pl.Date, "id": pl.Int64},
        orient="row",
    )
    return frame.group_by("line_id", maintain_order=True).last().drop("id")
