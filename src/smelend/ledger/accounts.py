"""The chart of accounts for Internet business loans.

General-ledger accounts only: each posting also carries the loan it belongs to, so the loan book is
the sub-ledger and reconciliation compares the two.
"""

from __future__ import annotations

from enum import Enum


class NormalSide(str, Enum):
    DEBIT = "debit"
    CREDIT = "credit"


class Account(str, Enum):
    # assets
    SETTLEMENT = "settlement"  # cash at the bank core: disbursements out, repayments in
    PRINCIPAL_RECEIVABLE = "principal_receivable"
    INTEREST_RECEIVABLE = "interest_receivable"  # accrued daily, due or not yet due
    PENALTY_RECEIVABLE = "penalty_receivable"  # penalty and compound interest
    FEE_RECEIVABLE = "fee_receivable"
    LOAN_LOSS_ALLOWANCE = "loan_loss_allowance"  # contra-asset: provisions held
    # liabilities
    CUSTOMER_CREDIT = "customer_credit"  # overpayments held for the borrower, to be returned
    SUSPENSE = "suspense"  # money received that cannot yet be applied
    # income and expense
    INTEREST_INCOME = "interest_income"
    PENALTY_INCOME = "penalty_income"
    FEE_INCOME = "fee_income"
    RECOVERY_INCOME = "recovery_income"  # cash recovered after write-off
    PROVISION_EXPENSE = "provision_expense"
    # --- marketing (issue 8): interest-discount coupons are a marketing cost, owed to the borrower until rebated
    MARKETING_EXPENSE = "marketing_expense"
    COUPON_PAYABLE = "coupon_payable"  # liability: coupon discounts granted on draws, not yet rebated
    # --- end marketing
    # off balance sheet (memo pair): interest and penalty on non-accrual loans, tracked, not income
    SUSPENDED_INTEREST = "suspended_interest"
    SUSPENDED_INTEREST_CONTRA = "suspended_interest_contra"
    # written-off principal and interest, still pursued (memo pair)
    WRITTEN_OFF = "written_off"
    WRITTEN_OFF_CONTRA = "written_off_contra"

    @property
    def normal_side(self) -> NormalSide:
        return NormalSide.CREDIT if self in _CREDIT_NORMAL else NormalSide.DEBIT

    @property
    def off_balance(self) -> bool:
        return self in _OFF_BALANCE


_CREDIT_NORMAL = frozenset(
    {
        Account.LOAN_LOSS_ALLOWANCE,
        Account.CUSTOMER_CREDIT,
        Account.SUSPENSE,
        Account.INTEREST_INCOME,
        Account.PENALTY_INCOME,
        Account.FEE_INCOME,
        Account.RECOVERY_INCOME,
        Account.SUSPENDED_INTEREST_CONTRA,
        Account.WRITTEN_OFF_CONTRA,
        Account.COUPON_PAYABLE,  # marketing (issue 8)
    }
)
_OFF_BALANCE = frozenset({Account.SUSPENDED_INTEREST, Account.SUSPENDED_INTEREST_CONTRA, Account.WRITTEN_OFF, Account.WRITTEN_OFF_CONTRA})
