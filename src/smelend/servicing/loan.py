"""A drawn loan as an immutable state: its installments, what has accrued and been paid, and its standing.

Operations are pure functions from one state to the next (``accrual``, ``repayment``, ``reschedule``)
that also return the ledger entries the change posts, so the ledger and the loan book move together.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import date
from decimal import Decimal
from enum import Enum

from smelend.errors import InvalidInput
from smelend.money import MAX_AMOUNT_FEN
from smelend.servicing.conventions import Conventions, DaysInYear, Method
from smelend.servicing.schedule import LoanTerms, build_installments

RATE_SCALE = 10**8  # daily accruals carry exact remainders in units of fen / (days in year x 10^8)
MAX_LOAN_FEN = 10**10  # 100 million yuan: far above an SME line, and keeps batch integer maths in int64
MAX_RATE_DECIMALS = 6


class LoanStatus(str, Enum):
    PENDING = "pending"  # recorded, disbursement not yet confirmed by the bank core
    ACTIVE = "active"
    CLOSED = "closed"  # paid off
    WRITTEN_OFF = "written-off"
    CANCELLED = "cancelled"  # disbursement failed for good


class PrepaymentEffect(str, Enum):
    REDUCE_INSTALLMENT = "reduce-installment"
    REDUCE_TERM = "reduce-term"


@dataclass(frozen=True)
class LoanInstallment:
    """One installment of a live loan: what is scheduled, what has accrued, what has been paid.

    Interest accrues evenly from ``accrual_start`` to ``due_date`` starting from ``accrued_at_start_fen``
    (a prepayment moves the anchor), with integer division so the sum over the period equals the
    scheduled interest exactly. For revolving credit, ``interest_fen`` grows as interest accrues daily.
    """

    number: int
    period_start: date
    due_date: date
    principal_fen: int
    interest_fen: int
    fee_fen: int
    accrued_interest_fen: int = 0
    paid_principal_fen: int = 0
    paid_interest_fen: int = 0
    paid_fee_fen: int = 0
    accrual_start: date | None = None
    accrued_at_start_fen: int = 0

    def __post_init__(self) -> None:
        assert self.period_start < self.due_date, self
        assert 0 <= self.paid_principal_fen <= self.principal_fen, self
        assert 0 <= self.paid_interest_fen <= self.accrued_interest_fen <= self.interest_fen or self.interest_fen == 0 and self.accrued_interest_fen == 0, self
        assert 0 <= self.paid_fee_fen <= self.fee_fen, self

    @property
    def unpaid_principal_fen(self) -> int:
        return self.principal_fen - self.paid_principal_fen

    @property
    def unpaid_interest_fen(self) -> int:
        """Interest accrued and not paid (interest not yet accrued is not owed yet)."""
        return self.accrued_interest_fen - self.paid_interest_fen

    @property
    def unpaid_fee_fen(self) -> int:
        return self.fee_fen - self.paid_fee_fen

    @property
    def settled(self) -> bool:
        return self.unpaid_principal_fen == 0 and self.paid_interest_fen == self.interest_fen and self.unpaid_fee_fen == 0

    @property
    def anchor(self) -> date:
        return self.accrual_start or self.period_start


@dataclass(frozen=True)
class LoanTermsOnFile:
    """What the contract fixes: the schedule's terms plus penalty and prepayment settings."""

    terms: LoanTerms
    penalty_rate: Decimal  # annual, on overdue principal (and overdue interest when compounding)
    compound_overdue_interest: bool = True
    grace_days: int = 0
    prepayment: PrepaymentEffect = PrepaymentEffect.REDUCE_INSTALLMENT

    @property
    def daily_days_in_year(self) -> int:
        """Days in year for daily accruals (revolving interest, penalties): 360, else 365."""
        return 360 if self.terms.conventions.days_in_year is DaysInYear.D360 else 365

    @property
    def daily_denominator(self) -> int:
        return self.daily_days_in_year * RATE_SCALE

    @property
    def rate_scaled(self) -> int:
        return _scaled(self.terms.annual_rate)

    @property
    def penalty_rate_scaled(self) -> int:
        return _scaled(self.penalty_rate)


def _scaled(rate: Decimal) -> int:
    scaled = rate * RATE_SCALE
    assert scaled == scaled.to_integral_value(), f"rate {rate} has more than 8 decimals"
    return int(scaled)


@dataclass(frozen=True)
class LoanState:
    id: int
    line_id: int
    contract: LoanTermsOnFile
    installments: tuple[LoanInstallment, ...]
    status: LoanStatus = LoanStatus.PENDING
    closed_through: date | None = None  # the last day close of business has processed for this loan
    interest_receivable_fen: int = 0  # accrued, unpaid, on balance sheet
    suspended_interest_fen: int = 0  # accrued, unpaid, off balance (non-accrual)
    penalty_receivable_fen: int = 0
    suspended_penalty_fen: int = 0
    interest_carry: int = 0  # exact remainders of daily accruals, in fen / daily_denominator
    penalty_carry: int = 0
    days_past_due: int = 0
    category: str = "pass"
    flags: frozenset[str] = field(default_factory=frozenset)
    provision_fen: int = 0
    credit_balance_fen: int = 0
    written_off_fen: int = 0  # memo: written off and still pursued

    @property
    def terms(self) -> LoanTerms:
        return self.contract.terms

    @property
    def method(self) -> Method:
        return self.contract.terms.method

    @property
    def principal_outstanding_fen(self) -> int:
        return sum(i.unpaid_principal_fen for i in self.installments)

    @property
    def non_accrual(self) -> bool:
        return self.suspended_interest_fen > 0 or self.suspended_penalty_fen > 0

    def overdue_principal_fen(self, as_of: date) -> int:
        """Principal due on or before ``as_of`` and not paid (as of the end of that day)."""
        return sum(i.unpaid_principal_fen for i in self.installments if i.due_date <= as_of)

    def overdue_interest_fen(self, as_of: date) -> int:
        return sum(i.unpaid_interest_fen for i in self.installments if i.due_date <= as_of)

    def oldest_unpaid_due_date(self) -> date | None:
        for installment in self.installments:
            if not installment.settled:
                return installment.due_date
        return None

    def exposure_fen(self) -> int:
        """What provisions cover: principal and the on-balance receivables."""
        if self.status is LoanStatus.WRITTEN_OFF:
            return 0
        return self.principal_outstanding_fen + self.interest_receivable_fen + self.penalty_receivable_fen

    def check(self) -> None:
        """Invariants that hold after every operation (asserted, TigerBeetle style)."""
        owed_interest = sum(i.unpaid_interest_fen for i in self.installments)
        assert self.status is LoanStatus.WRITTEN_OFF or owed_interest == self.interest_receivable_fen + self.suspended_interest_fen, (owed_interest, self)
        assert min(self.interest_receivable_fen, self.suspended_interest_fen, self.penalty_receivable_fen, self.suspended_penalty_fen) >= 0, self
        assert 0 <= self.interest_carry < self.contract.daily_denominator and 0 <= self.penalty_carry < self.contract.daily_denominator, self
        assert self.credit_balance_fen >= 0 and self.provision_fen >= 0, self
        assert sum(i.principal_fen for i in self.installments) == self.terms.principal_fen or self.status is LoanStatus.CLOSED, self


def new_loan(loan_id: int, line_id: int, contract: LoanTermsOnFile) -> LoanState:
    """A pending loan with its contractual schedule; nothing is posted until disbursement is confirmed."""
    terms = contract.terms
    if terms.principal_fen > MAX_LOAN_FEN:
        raise InvalidInput.one("amount", f"exceeds the maximum of {MAX_LOAN_FEN // 100} yuan for one draw")
    if terms.annual_rate.as_tuple().exponent < -MAX_RATE_DECIMALS:  # type: ignore[operator]
        raise InvalidInput.one("annual_rate", f"may have at most {MAX_RATE_DECIMALS} decimals")
    if terms.method is Method.FLAT:
        raise InvalidInput.one("method", "flat is for APR comparisons only and cannot be drawn")
    _scaled(contract.penalty_rate)
    scheduled = build_installments(terms)
    installments = []
    previous = terms.start
    for row in scheduled:
        interest = 0 if terms.method is Method.REVOLVING else row.interest_fen
        installments.append(LoanInstallment(row.number, previous, row.due_date, row.principal_fen, interest, row.fee_fen))
        previous = row.due_date
    return LoanState(loan_id, line_id, contract, tuple(installments))


def with_installment(state: LoanState, index: int, **changes: object) -> LoanState:
    rows = list(state.installments)
    rows[index] = replace(rows[index], **changes)
    return replace(state, installments=tuple(rows))


def conventions_of(state: LoanState) -> Conventions:
    return state.contract.terms.conventions
