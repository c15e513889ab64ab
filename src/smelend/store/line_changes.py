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
from sqlalchemy import and_, bindparam, select, update
from sqlalchemy.engine import Connection

from smelend.lines.changes import LineChange, check_changes
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


_GUARDED_UPDATE = (
    update(credit_lines)
    .where(
        and_(
            credit_lines.c.id == bindparam("b_id"),
            credit_lines.c.limit_fen == bindparam("b_limit_before"),
            credit_lines.c.status == bindparam("b_status_before"),
            credit_lines.c.end_date == bindparam("b_end_before"),
            credit_lines.c.used_fen <= bindparam("b_limit_after"),
        )
    )
    .values(limit_fen=bindparam("b_limit_after"), status=bindparam("b_status_after"), end_date=bindparam("b_end_after"), version=credit_lines.c.version + 1)
)


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
    rows = [LineChange.from_row(r) for r in changes.iter_rows(named=True) if r["line_id"] not in done]
    counts["already"] = len(done)
    if not rows:
        return counts
    params = [
        {"b_id": c.line_id, "b_limit_before": c.limit_before_fen, "b_status_before": c.status_before, "b_end_before": c.end_before,
         "b_limit_after": c.limit_after_fen, "b_status_after": c.status_after, "b_end_after": c.end_after}
        for c in rows
    ]
    moved = conn.execute(_GUARDED_UPDATE, params).rowcount
    if moved != len(rows):  # some line moved since the decision (rare): keep the changes that applied
        applied = _applied(conn, rows)
        counts["stale"] = len(rows) - len(applied)
        rows = applied
        if not rows:
            return counts
    conn.execute(
        line_changes.insert(),
        [
            {
                "run_id": run_id, "line_id": c.line_id, "effective_date": c.effective_date, "action": c.action, "reasons": ",".join(c.reasons),
                "limit_before_fen": c.limit_before_fen, "limit_after_fen": c.limit_after_fen, "used_fen": c.used_fen,
                "status_before": c.status_before, "status_after": c.status_after, "end_before": c.end_before, "end_after": c.end_after,
                "temp_limit_fen": c.temp_limit_fen, "temp_limit_until": c.temp_limit_until, "rules_version": versions.rules,
                "settings_version": versions.settings, "strategy_version": versions.strategy, "model_version": versions.model,
            }
            for c in rows
        ],
    )
    ids = dict(
        conn.execute(
            select(line_changes.c.line_id, line_changes.c.id).where(line_changes.c.effective_date == day, line_changes.c.line_id.in_([c.line_id for c in rows]))
        ).all()
    )
    add_notifications(conn, [(ids[c.line_id], c) for c in rows])
    counts.update(c.action for c in rows)
    return counts


def _applied(conn: Connection, rows: list[LineChange]) -> list[LineChange]:
    """After a guarded bulk update that missed some lines: the changes whose line now reads as decided."""
    current = {
        row.id: row
        for row in conn.execute(
            select(credit_lines.c.id, credit_lines.c.limit_fen, credit_lines.c.status, credit_lines.c.end_date).where(credit_lines.c.id.in_([c.line_id for c in rows]))
        )
    }
    return [c for c in rows if (current[c.line_id].limit_fen, current[c.line_id].status, current[c.line_id].end_date) == (c.limit_after_fen, c.status_after, c.end_after)]


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
