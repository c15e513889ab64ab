"""Line changes: what a reassessment decision does to a line, the invariants it keeps, the borrower's notice.

Pure (no database): the writer (:mod:`smelend.store.line_changes`) posts these to the line in the
same transaction as the change record and its notification, guarded on the line being as the
decision saw it.

The invariants every change keeps (asserted here, and by the database's check constraints):
``0 <= used <= limit`` so ``used + available = limit`` with ``available >= 0``; a decrease never
takes the limit below what is used — it caps at used, and nothing is available to draw until the
borrower repays below the new limit; the temporary part of a limit is within the limit.
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

    def __post_init__(self) -> None:
        assert self.limit_after_fen > 0, self
        assert 0 <= self.used_fen <= self.limit_after_fen, f"a change may not make available negative: {self}"
        assert 0 <= self.temp_limit_fen <= self.limit_after_fen, self
        assert self.end_after >= self.end_before, self
        assert self.reasons, "every change has a reason"

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
        }
        return EVENT_PREFIX + self.action, json.dumps(payload, ensure_ascii=False, sort_keys=True)


def apply_change(line: CreditLine, change: LineChange) -> CreditLine:
    """The line after ``change`` (which must have been decided on this very line)."""
    assert change.line_id == line.id, (change, line)
    assert (line.limit_fen, line.status.value, line.end) == (change.limit_before_fen, change.status_before, change.end_before), (line, change)
    limit = max(change.limit_after_fen, line.used_fen)
    after = replace(line, limit_fen=limit, status=LineStatus(change.status_after), end=change.end_after)
    assert after.used_fen + after.available_fen == after.limit_fen and after.available_fen >= 0
    return after


def check_changes(changes: pl.DataFrame) -> None:
    """The invariants over a whole batch of decisions, vectorised (AssertionError names the first bad line)."""
    if changes.height == 0:
        return
    limit_after = changes.get_column("limit_after_fen").to_numpy()
    used = changes.get_column("used_fen").to_numpy()
    temp = changes.get_column("temp_limit_fen").to_numpy()
    bad = (limit_after <= 0) | (used < 0) | (used > limit_after) | (temp < 0) | (temp > limit_after)
    assert not bad.any(), f"line {changes.get_column('line_id')[int(np.argmax(bad))]}: a change breaks used <= limit"
    assert changes.get_column("line_id").is_unique().all(), "one change a line a day"
