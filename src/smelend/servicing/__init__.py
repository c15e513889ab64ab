"""Servicing: repayment schedules, day-count conventions and the annualised rate (APR).

Public API: :func:`build_schedule` over :class:`LoanTerms` with :class:`Conventions`, giving a
:class:`Schedule`; :func:`build_schedules_batch` for many loans at once.
"""

from smelend.servicing.conventions import Conventions, DaysInMonth, DaysInYear, Frequency, InterestCalc, Method
from smelend.servicing.schedule import Installment, LoanTerms, Schedule, build_schedule

__all__ = [
    "Conventions",
    "DaysInMonth",
    "DaysInYear",
    "Frequency",
    "Installment",
    "InterestCalc",
    "LoanTerms",
    "Method",
    "Schedule",
    "build_schedule",
]
