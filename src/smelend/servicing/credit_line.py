"""A credit line: a limit the enterprise draws against; repaid principal restores it (a revolving line)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from enum import Enum

from smelend.errors import InvalidInput
from smelend.money import format_yuan


class LineStatus(str, Enum):
    ACTIVE = "active"
    FROZEN = "frozen"
    EXPIRED = "expired"


@dataclass(frozen=True)
class CreditLine:
    id: int
    enterprise_id: int
    product_id: str
    limit_fen: int
    used_fen: int
    annual_rate: Decimal
    start: date
    end: date  # last day a draw may be made
    status: LineStatus

    def __post_init__(self) -> None:
        assert 0 <= self.used_fen <= self.limit_fen, self
        assert self.start < self.end, self

    @property
    def available_fen(self) -> int:
        return self.limit_fen - self.used_fen

    def refuse_draw(self, amount_fen: int, day: date) -> None:
        """Raise, with the reason, when a draw of ``amount_fen`` on ``day`` is not allowed."""
        if self.status is not LineStatus.ACTIVE:
            raise InvalidInput.one("line", f"is {self.status.value}: no draws allowed")
        if not self.start <= day <= self.end:
            raise InvalidInput.one("date", f"is outside the line's validity {self.start}..{self.end}")
        if amount_fen <= 0:
            raise InvalidInput.one("amount", "must be greater than zero")
        if amount_fen > self.available_fen:
            raise InvalidInput.one("amount", f"exceeds the available {format_yuan(self.available_fen)} of the line")
