"""Servicing: repayment schedules, day-count conventions and the annualised rate (APR).

Public API: :func:`build_schedule` over :class:`LoanTerms` with :class:`Conventions`, giving a
:class:`Schedule`; :func:`build_schedules_batch` for many loans at once.
"""

from smelend.servicing.conventions import Conventions, DaysInMonth, DaysInYear, Frequency, InterestCalc, Method
from smelend.servicing.schedule import Installment, LoanTerms, Schedule, build_installments, build_schedule
from smelend.servicing.batch import ScheduleBatch, build_schedules_batch

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
    "ScheduleBatch",
    "build_installments",
    "build_schedule",
    "build_schedules_batch",
]
