"""Writing line changes: the change record, the line itself and the borrower's notice, in one transaction.

Idempotent by construction: a line has at most one change a business date (a unique constraint),
lines already changed on the date are skipped, and each line update is guarded on the line being
exactly as the decision saw it (limit, status, end date, and used not above the new limit) — a
line that moved since the snapshot is left alone and counted as ``stale``, never half-changed.

Targets (migration 0010): a decision capped at used leaves its decided limit on the line
(``credit_lines.target_limit_fen`` and the deciding change's id); a later decision replaces it
(a capped one) or clears it (any other, except a freeze, which keeps it). While a target is pending
nothing is available to draw; :func:`step_down` lowers the limit towards it whenever principal is
released, each step a change of its own (``step`` 1, 2, ... of the day; the day's decision is step 0).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import date

import polars as pl
from sqlalchemy import func, insert, select, update
from sqlalchemy.engine import Connection

from smelend.lines.changes import LineChange, check_changes
from smelend.store.db import driver_executemany
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
    query = select(line_changes.c.line_id).where(line_changes.c.effective_date == day, line_changes.c.step == 0, line_changes.c.line_id.in_(line_ids))
    return set(conn.execute(query).scalars())


_CHANGE_COLUMNS = (
    "run_id", "line_id", "effective_date", "action", "reasons", "limit_before_fen", "limit_after_fen", "used_fen", "status_before",
    "status_after", "end_before", "end_after", "temp_limit_fen", "temp_limit_until", "rules_version", "settings_version",
    "strategy_version", "model_version", "target_limit_fen",
)
_UPDATE_LINE = (  # the target: a capped decision's (its change id set once the change row exists), kept by a freeze, else cleared
    "UPDATE credit_lines SET limit_fen = ?, status = ?, end_date = ?, version = version + 1,"
    " target_limit_fen = CASE WHEN ? = 1 THEN target_limit_fen ELSE ? END,"
    " target_change_id = CASE WHEN ? = 1 THEN target_change_id ELSE NULL END"
    " WHERE id = ? AND limit_fen = ? AND status = ? AND end_date = ? AND used_fen <= ?"
)
_SET_TARGET_CHANGE = "UPDATE credit_lines SET target_change_id = ? WHERE id = ?"
_INSERT_CHANGE = f"INSERT INTO line_changes ({', '.join(_CHANGE_COLUMNS)}) VALUES ({', '.join('?' * len(_CHANGE_COLUMNS))})"


def _driver_many(conn: Connection, sql: str, frame: pl.DataFrame) -> int:
    """executemany of ``frame``'s rows straight on the driver (qmark SQL adapted to the driver's style):
    SQLAlchemy's per-row parameter processing costs more than the database here. Dates go as ISO
    text on SQLite (what SQLAlchemy's Date stores there) and as dates elsewhere."""
    if frame.height == 0:
        return 0
    if conn.dialect.name == "sqlite":
        frame = frame.with_columns(pl.col(pl.Date).dt.strftime("%Y-%m-%d"))
    return driver_executemany(conn, sql, frame.rows())


def write_changes(conn: Connection, run_id: str, changes: pl.DataFrame, versions: Versions) -> Counter[str]:
    """Post ``changes`` (one business date's, rows of ``CHANGE_SCHEMA``) in the caller's transaction.

    Returns the count of changes written by action, plus ``stale`` (lines that moved since the
    decision) and ``already`` (lines already changed that day).
    """
    counts: Counter[str] = Counter()
    if changes.height == 0:
        return counts
    if "target_limit_fen" not in changes.columns:  # decided before targets existed: none capped
        changes = changes.with_columns(pl.lit(None, pl.Int64).alias("target_limit_fen"))
    check_changes(changes)
    days = changes.get_column("effective_date").unique().to_list()
    assert len(days) == 1, "one business date at a time"
    day = days[0]
    done = changed_lines(conn, day, changes.get_column("line_id").to_list())
    todo = changes.filter(~pl.col("line_id").is_in(sorted(done))) if done else changes
    counts["already"] = len(done)
    if todo.height == 0:
        return counts
    keep = ((pl.col("action") == "freeze") & pl.col("target_limit_fen").is_null()).cast(pl.Int64).alias("keep")
    updates = todo.select(
        "limit_after_fen", "status_after", "end_after", keep, "target_limit_fen", keep.alias("keep_change"),
        "line_id", "limit_before_fen", "status_before", "end_before", pl.col("limit_after_fen").alias("cap"),
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
        conn.execute(
            select(line_changes.c.line_id, line_changes.c.id).where(line_changes.c.effective_date == day, line_changes.c.step == 0, line_changes.c.line_id.in_(todo.get_column("line_id").to_list()))
        ).all(),
        schema={"line_id": pl.Int64, "line_change_id": pl.Int64},
        orient="row",
    )
    todo = todo.join(ids, on="line_id", how="left")
    _driver_many(conn, _SET_TARGET_CHANGE, todo.filter(pl.col("target_limit_fen").is_not_null()).select("line_change_id", "line_id"))
    add_notifications(conn, todo)
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
    latest = latest.where(line_changes.c.step == 0)  # decisions: a step-down carries one on, it decides nothing
    rows = conn.execute(latest.order_by(line_changes.c.line_id, line_changes.c.effective_date, line_changes.c.id)).all()
    frame = pl.DataFrame(
        [tuple(r) for r in rows],
        schema={"line_id": pl.Int64, "last_change_date": pl.Date, "last_change_action": pl.Utf8, "temp_limit_fen": pl.Int64, "temp_limit_until": pl.Date, "id": pl.Int64},
        orient="row",
    )
    return frame.group_by("line_id", maintain_order=True).last().drop("id")


def pending_target(conn: Connection, line_id: int) -> tuple[int, int] | None:
    """The line's pending target and the change that decided it, or None."""
    row = conn.execute(select(credit_lines.c.target_limit_fen, credit_lines.c.target_change_id).where(credit_lines.c.id == line_id)).first()
    if row is None or row.target_limit_fen is None:
        return None
    return int(row.target_limit_fen), int(row.target_change_id)


def step_down(conn: Connection, line_id: int) -> LineChange | None:
    """After principal was released: lower the line's limit towards its pending target, to
    ``max(target, used)``, recorded as a change (reason: the step-down of the deciding change, under
    that change's versions) with the borrower's notice, in the caller's transaction; the target is
    cleared once reached. None when the line has no target or cannot step down yet."""
    from smelend.lines.changes import step_down_change
    from smelend.store.lending import get_business_day, get_line

    pending = pending_target(conn, line_id)
    if pending is None:
        return None
    target_fen, decided_by = pending
    line = get_line(conn, line_id)
    day = get_business_day(conn).business_date
    assert day is not None, "a target was decided on a business date"
    change = step_down_change(line, target_fen, decided_by, day)
    if change is None:
        return None
    done = conn.execute(
        update(credit_lines)
        .where(credit_lines.c.id == line_id, credit_lines.c.limit_fen == line.limit_fen, credit_lines.c.used_fen == line.used_fen)
        .values(
            limit_fen=change.limit_after_fen, version=credit_lines.c.version + 1,
            target_limit_fen=change.target_limit_fen, target_change_id=decided_by if change.target_limit_fen is not None else None,
        )
    )
    assert done.rowcount == 1, f"line {line_id} moved while stepping down (the caller holds its lock)"
    decided = conn.execute(
        select(line_changes.c.rules_version, line_changes.c.settings_version, line_changes.c.strategy_version, line_changes.c.model_version).where(line_changes.c.id == decided_by)
    ).one()
    step = 1 + int(conn.scalar(select(func.coalesce(func.max(line_changes.c.step), 0)).where(line_changes.c.line_id == line_id, line_changes.c.effective_date == day)))
    row = {name: getattr(change, name) for name in _CHANGE_COLUMNS if name not in ("run_id", "reasons", *_VERSION_COLUMNS)}
    change_id = conn.execute(
        insert(line_changes).values(
            **row, run_id=f"step-down-of-{decided_by}", reasons=",".join(change.reasons), step=step, **dict(zip(_VERSION_COLUMNS, decided, strict=True))
        ).returning(line_changes.c.id)
    ).scalar_one()
    frame = pl.DataFrame([{**row, "reasons": ",".join(change.reasons), "line_change_id": change_id}], schema={**_NOTICE_SCHEMA, "line_change_id": pl.Int64})
    add_notifications(conn, frame)
    return change


_VERSION_COLUMNS = ("rules_version", "settings_version", "strategy_version", "model_version")
_NOTICE_SCHEMA = {
    "line_id": pl.Int64, "effective_date": pl.Date, "action": pl.Utf8, "reasons": pl.Utf8, "limit_before_fen": pl.Int64, "limit_after_fen": pl.Int64,
    "used_fen": pl.Int64, "status_before": pl.Utf8, "status_after": pl.Utf8, "end_before": pl.Date, "end_after": pl.Date,
    "temp_limit_fen": pl.Int64, "temp_limit_until": pl.Date, "target_limit_fen": pl.Int64,
}
