"""Money: integer fen in storage, ``Decimal`` in calculation, rounding said out loud.

Every amount a record holds is an ``int`` of fen (分). Calculations produce ``Decimal`` fen and
come back to ``int`` through :meth:`Rounding.to_fen`, the one place where money is rounded.
"""

from __future__ import annotations

import decimal
from dataclasses import dataclass
from decimal import Decimal
from enum import Enum

from smelend.errors import InvalidInput

FEN_PER_YUAN = 100
MAX_AMOUNT_FEN = 10**14  # 1 trillion yuan: far above any loan, far below int64 overflow in batch paths
CALC_PRECISION = 34  # significant digits for Decimal calculations (IEEE decimal128)


class RoundingMode(str, Enum):
    HALF_UP = "half-up"
    HALF_EVEN = "half-even"

    @property
    def decimal_mode(self) -> str:
        return decimal.ROUND_HALF_UP if self is RoundingMode.HALF_UP else decimal.ROUND_HALF_EVEN


@dataclass(frozen=True)
class Rounding:
    """How amounts are rounded: mode, currency decimals, and an optional multiple.

    ``decimals`` is 0 (yuan), 1 (jiao) or 2 (fen); ``multiple`` rounds to multiples of that
    many units, e.g. ``Rounding(decimals=0, multiple=100)`` rounds to hundreds of yuan.

    >>> Rounding().to_fen(Decimal("86.5"))
    87
    >>> Rounding(mode=RoundingMode.HALF_EVEN).to_fen(Decimal("86.5"))
    86
    >>> Rounding(decimals=0, multiple=100).to_fen(Decimal("1234567"))
    1230000
    """

    mode: RoundingMode = RoundingMode.HALF_UP
    decimals: int = 2
    multiple: int = 1

    def __post_init__(self) -> None:
        assert self.decimals in (0, 1, 2), self.decimals
        assert 1 <= self.multiple <= 10**9, self.multiple

    @property
    def unit_fen(self) -> int:
        """The smallest step a rounded amount takes, in fen."""
        return self.multiple * 10 ** (2 - self.decimals)

    def to_fen(self, amount_fen: Decimal, unit_fen: int | None = None) -> int:
        """Round a calculated amount of fen to a whole multiple of ``unit_fen`` (default :attr:`unit_fen`)."""
        unit = unit_fen or self.unit_fen
        assert unit > 0, unit
        units = calc_context().divide(amount_fen, unit).quantize(Decimal(1), rounding=self.mode.decimal_mode)
        return int(units) * unit


def calc_context() -> decimal.Context:
    """A Decimal context for money calculations: enough digits that only explicit rounding counts."""
    return decimal.Context(prec=CALC_PRECISION, rounding=decimal.ROUND_HALF_EVEN, traps=[decimal.InvalidOperation, decimal.DivisionByZero, decimal.Overflow])


def parse_yuan(text: str | int | Decimal, field: str) -> int:
    """Parse an amount of yuan given by a person or a partner into fen; reject what is not money.

    >>> parse_yuan("100000", "principal")
    10000000
    >>> parse_yuan("12.345", "principal")
    Traceback (most recent call last):
    ...
    smelend.errors.InvalidInput: principal: has more than 2 decimals
    """
    try:
        value = Decimal(str(text).strip())
    except decimal.InvalidOperation:
        raise InvalidInput.one(field, f"not a number: {text!r}") from None
    if not value.is_finite():
        raise InvalidInput.one(field, "must be a finite number")
    fen = value * FEN_PER_YUAN
    if fen != fen.to_integral_value():
        raise InvalidInput.one(field, "has more than 2 decimals")
    if abs(fen) > MAX_AMOUNT_FEN:
        raise InvalidInput.one(field, f"exceeds the maximum of {MAX_AMOUNT_FEN // FEN_PER_YUAN} yuan")
    return int(fen)


def parse_rate(text: str | Decimal, field: str) -> Decimal:
    """Parse an annual rate given as a fraction (0.072 for 7.2%); it must lie within 0..1.

    >>> parse_rate("0.072", "annual_rate")
    Decimal('0.072')
    >>> parse_rate("7.2", "annual_rate")
    Traceback (most recent call last):
    ...
    smelend.errors.InvalidInput: annual_rate: must be a fraction between 0 and 1 (0.072 for 7.2%), got 7.2
    """
    try:
        value = Decimal(str(text).strip())
    except decimal.InvalidOperation:
        raise InvalidInput.one(field, f"not a number: {text!r}") from None
    if not value.is_finite() or not (0 <= value <= 1):
        raise InvalidInput.one(field, f"must be a fraction between 0 and 1 (0.072 for 7.2%), got {text}")
    return value


def yuan(amount_fen: int) -> Decimal:
    """Fen as an exact Decimal of yuan."""
    return Decimal(amount_fen).scaleb(-2)


def format_yuan(amount_fen: int, decimals: int = 2) -> str:
    """Fen as a decimal string of yuan with ``decimals`` places, widened rather than rounded.

    >>> format_yuan(866190)
    '8661.90'
    >>> format_yuan(866200, decimals=0)
    '8662'
    >>> format_yuan(866190, decimals=0)
    '8661.90'
    """
    exact = yuan(amount_fen)
    shown = exact.quantize(Decimal(1).scaleb(-decimals))
    if shown != exact:
        shown = exact.quantize(Decimal("0.01"))
    return str(shown)
