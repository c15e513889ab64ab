"""Schedules as JSON-ready documents: money as decimal strings, rates as full-precision fractions.

One shape for every adapter (CLI ``--json``, the API) so other tools can rely on it.
"""

from __future__ import annotations

from typing import Any

from smelend.money import format_yuan
from smelend.servicing.schedule import Installment, Schedule


def installment_document(installment: Installment, decimals: int = 2) -> dict[str, Any]:
    return {
        "number": installment.number,
        "due_date": installment.due_date.isoformat(),
        "principal": format_yuan(installment.principal_fen, decimals),
        "interest": format_yuan(installment.interest_fen, decimals),
        "fee": format_yuan(installment.fee_fen, decimals),
        "payment": format_yuan(installment.payment_fen, decimals),
        "balance": format_yuan(installment.balance_fen, decimals),
    }


def schedule_document(schedule: Schedule) -> dict[str, Any]:
    terms = schedule.terms
    decimals = terms.conventions.rounding.decimals
    return {
        "method": terms.method.value,
        "principal": format_yuan(terms.principal_fen, decimals),
        "annual_rate": str(terms.annual_rate),
        "periods": terms.periods,
        "start": terms.start.isoformat(),
        "installments": [installment_document(i, decimals) for i in schedule.installments],
        "total_principal": format_yuan(schedule.total_principal_fen, decimals),
        "total_interest": format_yuan(schedule.total_interest_fen, decimals),
        "total_fee": format_yuan(schedule.total_fee_fen, decimals),
        "total_payment": format_yuan(schedule.total_payment_fen, decimals),
        "apr": str(schedule.apr),
        "effective_annual_rate": str(schedule.effective_annual_rate),
    }
