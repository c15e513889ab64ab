"""The annualised rate of all borrowing costs (PBoC announcement [2021] No. 3), by the IRR method.

The IRR comes from pyxirr (a maintained implementation); we only lay out the cash flows and
annualise: nominal APR = periodic IRR x periods per year, effective = (1 + IRR)^periods - 1.
"""

from __future__ import annotations

from collections.abc import Sequence
import decimal
from decimal import Decimal

import pyxirr

from smelend.money import calc_context

APR_SIGNIFICANT_DIGITS = 17  # what a float IRR carries; more digits would be noise


def annualised_rates(principal_fen: int, payments_fen_by_period: Sequence[int], periods_per_year: Decimal) -> tuple[Decimal, Decimal]:
    """(APR, effective annual rate) of a loan of ``principal_fen`` repaid by one payment per period.

    ``payments_fen_by_period[k]`` is what the borrower pays at the end of period k+1 (0 where
    nothing is due, as in a bullet loan). The rates are fractions at full float precision.

    >>> apr, effective = annualised_rates(1_200_000, [107_200] * 12, Decimal(12))
    >>> f"{apr:.4f} {effective:.4f}"
    '0.1303 0.1384'
    """
    assert principal_fen > 0 and payments_fen_by_period
    irr = pyxirr.irr([-principal_fen, *payments_fen_by_period])
    if irr is None:
        raise ValueError("the cash flows have no internal rate of return")
    periodic = Decimal(repr(irr))
    ctx = calc_context()
    nominal = ctx.multiply(periodic, periods_per_year)
    effective = ctx.subtract(ctx.power(ctx.add(1, periodic), periods_per_year), 1)
    shown = decimal.Context(prec=APR_SIGNIFICANT_DIGITS)
    return shown.plus(nominal), shown.plus(effective)
