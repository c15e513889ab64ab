"""A small real book for the close-of-business tests: lines and draws through the real operations.

Lines of every product; some drawn and never repaid (they fall overdue, so reassessment decreases
and freezes them), some undrawn with a validity ending within weeks (so they are renewed), some paid
on time. Deterministic for a seed.
"""

from __future__ import annotations

import random
from datetime import date, timedelta
from decimal import Decimal

from sqlalchemy.engine import Engine
from stdnum.cn import uscc as stdnum_uscc

from smelend.operations.context import open_book
from smelend.operations.lines import DrawRequest, draw, open_line
from smelend.servicing.conventions import Method

START = date(2026, 1, 5)
PRODUCTS = ("tax-data-loan", "invoice-loan", "settlement-flow-loan")


def valid_uscc(sequence: int) -> str:
    body = f"91310000{sequence:09d}"
    return body + stdnum_uscc.calc_check_digit(body + "0")


def make_book(engine: Engine, lines: int = 16, seed: int = 5) -> None:
    rng = random.Random(seed)
    book = open_book(engine)
    for k in range(lines):
        product = PRODUCTS[k % len(PRODUCTS)]
        limit_fen = rng.choice([50_000, 120_000, 400_000]) * 100
        end = START + timedelta(days=rng.choice([20, 35, 50, 365]))
        line = open_line(book, valid_uscc(k + 1), product, limit_fen, Decimal("0.08"), START, end)
        if k % 3 != 2:
            draw(book, DrawRequest(line.id, limit_fen // rng.choice([2, 3, 5]), Method.EQUAL_INSTALLMENT, 3, START))
