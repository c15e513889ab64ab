"""Line changes: what a reassessment decision does to a line, the invariants it keeps, the borrower's notice.

Pure (no database): the writer (:mod:`smelend.store.line_changes`) posts these to the line in the
same transaction as the change record and its notification, guarded on the line being as the
decision saw it.

The invariants every change keeps (asserted here, and by the database's check constraints):
``0 <= used <= limit`` so ``used + available = limit`` with ``available >= 0``; a decrease never
takes the limit below what is used — it caps at used, and nothing is available to draw until the
borrower repays below the new limit; the temporary part of a limit is within the limit.

A decision capped at used keeps its decided limit as the line's target (``target_limit_fen``): as
principal is repaid the limit steps down to ``max(target, used)`` — each step recorded as a change of
its own (:func:`step_down_change`, reason :func:`step_down_reason`) — until it reaches the target.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from datetime import date

import numpy as np
import polars as pl

from smelend.money import format_yuan
from smelend.servicing.credit_line import CreditLine, LineStatus

EVENT_PREFIX = "line."


@dataclass(frozen=True)
class LineChange:
    """One row of :data:`smelend.lines.reassess.CHANGE_SCHEMA`, as a record."""

    line_id: int
    action: str
    reasons: tuple[str, ...]
    limit_before_fen: int
    limit_after_fen: int
    used_fen: int
    status_before: str
    status_after: str
    end_before: date
    end_after: date
    temp_limit_fen: int
    temp_limit_until: date | None
    effective_date: date
    target_limit_fen: int | None = None  # the decided limit when it was capped at used

    def __post_init__(self) -> None:
        assert self.limit_after_fen > 0, self
        assert 0 <= self.used_fen <= self.limit_after_fen, f"a change may not make available negative: {self}"
        assert 0 <= self.temp_limit_fen <= self.limit_after_fen, self
        assert self.end_after >= self.end_before, self
        assert self.reasons, "every change has a reason"
        assert self.target_limit_fen is None or 0 < self.target_limit_fen < self.limit_after_fen, self

    @classmethod
    def from_row(cls, row: dict) -> "LineChange":
        return cls(**{**row, "reasons": tuple(row["reasons"].split(","))})

    @property
    def available_after_fen(self) -> int:
        return self.limit_after_fen - self.used_fen

    def notification(self) -> tuple[str, str]:
        """The outbox event and its JSON payload (no PII: the line id; the address is looked up on delivery)."""
        payload = {
            "line_id": self.line_id,
            "action": self.action,
            "effective_date": self.effective_date.isoformat(),
            "reasons": list(self.reasons),
            "limit_before": format_yuan(self.limit_before_fen),
            "limit_after": format_yuan(self.limit_after_fen),
            "available_after": format_yuan(self.available_after_fen),
            "status": self.status_after,
            "end_date": self.end_after.isoformat(),
            "temporary_limit": format_yuan(self.temp_limit_fen) if self.temp_limit_fen else None,
            "temporary_until": self.temp_limit_until.isoformat() if self.temp_limit_until else None,
            "target_limit": format_yuan(self.target_limit_fen) if self.target_limit_fen is not None else None,
        }
        return EVENT_PREFIX + self.action, json.dumps(payload, ensure_ascii=False, sort_keys=True, separators=(",", ":"))


def apply_change(line: CreditLine, change: LineChange) -> CreditLine:
    """The line after ``change`` (which must have been decided on this very line)."""
    assert change.line_id == line.id, (change, line)
    assert (line.limit_fen, line.status.value, line.end) == (change.limit_before_fen, change.status_before, change.end_before), (line, change)
    limit = max(change.limit_after_fen, line.used_fen)
    after = replace(line, limit_fen=limit, status=LineStatus(change.status_after), end=change.end_after)
    assert after.used_fen + after.available_fen == after.limit_fen and after.available_fen >= 0
    return after


def _yuan(column: str) -> pl.Expr:
    """Fen as a yuan string with two decimals (amounts here are never negative), as format_yuan gives."""
    fen = pl.col(column)
    return (fen // 100).cast(pl.Utf8) + "." + (fen % 100).cast(pl.Utf8).str.zfill(2)


def notifications(changes: pl.DataFrame) -> pl.DataFrame:
    """The outbox event and JSON payload of every change, vectorised: the same text as
    :meth:`LineChange.notification` gives one by one (a test compares them)."""
    if "target_limit_fen" not in changes.columns:
        changes = changes.with_columns(pl.lit(None, pl.Int64).alias("target_limit_fen"))
    temp = pl.col("temp_limit_fen")
    return changes.with_columns((pl.col("limit_after_fen") - pl.col("used_fen")).alias("_available")).with_columns(
        (pl.lit(EVENT_PREFIX) + pl.col("action")).alias("event"),
        pl.struct(  # keys in sorted order, as the one-by-one payload
            pl.col("action"),
            _yuan("_available").alias("available_after"),
            pl.col("effective_date").dt.strftime("%Y-%m-%d").alias("effective_date"),
            pl.col("end_after").dt.strftime("%Y-%m-%d").alias("end_date"),
            _yuan("limit_after_fen").alias("limit_after"),
            _yuan("limit_before_fen").alias("limit_before"),
            pl.col("line_id"),
            pl.col("reasons").str.split(",").alias("reasons"),
            pl.col("status_after").alias("status"),
            pl.when(pl.col("target_limit_fen").is_not_null()).then(_yuan("target_limit_fen")).otherwise(None).alias("target_limit"),
            pl.when(temp > 0).then(_yuan("temp_limit_fen")).otherwise(None).alias("temporary_limit"),
            pl.when(temp > 0).then(pl.col("temp_limit_until").dt.strftime("%Y-%m-%d")).otherwise(None).alias("temporary_until"),
        ).struct.json_encode().alias("payload"),
    ).drop("_available")


def check_changes(changes: pl.DataFrame) -> None:
    """The invariants over a whole batch of decisions, vectorised (AssertionError names the first bad line)."""
    if changes.height == 0:
        return
    limit_after = changes.get_column("limit_after_fen").to_numpy()
    used = changes.get_column("used_fen").to_numpy()
    temp = changes.get_column("temp_limit_fen").to_numpy()
    bad = (limit_after <= 0) | (used < 0) | (used > limit_after) | (temp < 0) | (temp > limit_after)
    assert not bad.any(), f"line {changes.get_column('line_id')[int(np.argmax(bad))]}: a change breaks used <= limit"
    if "target_limit_fen" in changes.columns:
        target = changes.get_column("target_limit_fen").fill_null(1).to_numpy()
        bad = (target <= 0) | ((target >= limit_after) & changes.get_column("target_limit_fen").is_not_null().to_numpy())
        assert not bad.any(), f"line {changes.get_column('line_id')[int(np.argmax(bad))]}: a target must be below the limit posted"
    assert changes.get_column("line_id").is_unique().all(), "one change a line a day"


STEP_DOWN_REASON_PREFIX = "STEP_DOWN_OF_CHANGE_"


def step_down_reason(change_id: int) -> str:
    """The reason code of a step-down: which decided change (its line_changes id) it carries on."""
    return f"{STEP_DOWN_REASON_PREFIX}{change_id}"


def step_down_change(line: CreditLine, target_fen: int, change_id: int, day: date) -> LineChange | None:
    """The next step of a line towards its target after principal was repaid: the limit goes down to
    ``max(target, used)`` (never below used, so available stays >= 0 and is 0 until the target is
    reached); None when it cannot go lower yet. The recorded target is None once it is reached."""
    limit_after = max(target_fen, line.used_fen)
    if limit_after >= line.limit_fen:
        return None
    return LineChange(
        line_id=line.id, action="decrease", reasons=(step_down_reason(change_id),), limit_before_fen=line.limit_fen,
        limit_after_fen=limit_after, used_fen=line.used_fen, status_before=line.status.value, status_after=line.status.value,
        end_before=line.end, end_after=line.end, temp_limit_fen=0, temp_limit_until=None, effective_date=day,
        target_limit_fen=target_fen if target_fen < limit_after else None,
    )
