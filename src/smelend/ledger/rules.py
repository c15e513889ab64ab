"""Posting rules: which accounts each servicing event moves. Pure code; the store persists the result.

One event, one balanced entry, one idempotency key naming the event. Amounts are integer fen, and
zero amounts are dropped, so an event that moves nothing posts nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from smelend.ledger.accounts import Account as A
from smelend.ledger.entries import JournalEntry


def disbursement(loan_id: int, line_id: int, amount_fen: int, on: date) -> JournalEntry:
    entry = JournalEntry.of(f"disbursement:{loan_id}", on, "disbursement", {A.PRINCIPAL_RECEIVABLE: amount_fen, A.SETTLEMENT: -amount_fen}, loan_id, line_id)
    assert entry is not None
    return entry


@dataclass(frozen=True)
class DayClose:
    """What close of business moved for one loan on one day."""

    interest_fen: int = 0  # accrued to income
    suspended_interest_fen: int = 0  # accrued off balance (non-accrual)
    penalty_fen: int = 0
    suspended_penalty_fen: int = 0
    provision_change_fen: int = 0  # + builds the allowance, - releases it


def day_close(loan_id: int, on: date, moved: DayClose) -> JournalEntry | None:
    suspended = moved.suspended_interest_fen + moved.suspended_penalty_fen
    return JournalEntry.of(
        f"cob:{loan_id}:{on.isoformat()}",
        on,
        "close-of-business",
        [
            (A.INTEREST_RECEIVABLE, moved.interest_fen),
            (A.INTEREST_INCOME, -moved.interest_fen),
            (A.PENALTY_RECEIVABLE, moved.penalty_fen),
            (A.PENALTY_INCOME, -moved.penalty_fen),
            (A.SUSPENDED_INTEREST, suspended),
            (A.SUSPENDED_INTEREST_CONTRA, -suspended),
            (A.PROVISION_EXPENSE, moved.provision_change_fen),
            (A.LOAN_LOSS_ALLOWANCE, -moved.provision_change_fen),
        ],
        loan_id,
    )


@dataclass(frozen=True)
class Receipt:
    """How one amount received was applied: the parts sum exactly to the amount."""

    penalty_fen: int = 0  # from the on-balance penalty receivable
    suspended_penalty_fen: int = 0  # penalty that was off balance: income on cash basis
    interest_fen: int = 0
    suspended_interest_fen: int = 0
    fee_fen: int = 0
    principal_fen: int = 0
    credit_balance_fen: int = 0  # above the full payoff: held for the borrower
    recovery_fen: int = 0  # after write-off
    provision_release_fen: int = 0  # the loan closed: its allowance is released (not cash, not in the total)

    @property
    def total_fen(self) -> int:
        return (
            self.penalty_fen + self.suspended_penalty_fen + self.interest_fen + self.suspended_interest_fen
            + self.fee_fen + self.principal_fen + self.credit_balance_fen + self.recovery_fen
        )


def receipt(key: str, loan_id: int, on: date, applied: Receipt) -> JournalEntry:
    suspended = applied.suspended_interest_fen + applied.suspended_penalty_fen
    entry = JournalEntry.of(
        key,
        on,
        "repayment",
        [
            (A.SETTLEMENT, applied.total_fen),
            (A.PENALTY_RECEIVABLE, -applied.penalty_fen),
            (A.PENALTY_INCOME, -applied.suspended_penalty_fen),
            (A.INTEREST_RECEIVABLE, -applied.interest_fen),
            (A.INTEREST_INCOME, -applied.suspended_interest_fen),
            (A.FEE_INCOME, -applied.fee_fen),
            (A.PRINCIPAL_RECEIVABLE, -applied.principal_fen),
            (A.CUSTOMER_CREDIT, -applied.credit_balance_fen),
            (A.RECOVERY_INCOME, -applied.recovery_fen),
            (A.SUSPENDED_INTEREST_CONTRA, suspended),
            (A.SUSPENDED_INTEREST, -suspended),
            (A.WRITTEN_OFF_CONTRA, applied.recovery_fen),
            (A.WRITTEN_OFF, -applied.recovery_fen),
            (A.LOAN_LOSS_ALLOWANCE, applied.provision_release_fen),
            (A.PROVISION_EXPENSE, -applied.provision_release_fen),
        ],
        loan_id,
    )
    assert entry is not None, "a receipt of zero is refused before it gets here"
    return entry


def refund(key: str, loan_id: int, on: date, amount_fen: int) -> JournalEntry:
    """A credit balance paid back to the borrower."""
    entry = JournalEntry.of(key, on, "refund", {A.CUSTOMER_CREDIT: amount_fen, A.SETTLEMENT: -amount_fen}, loan_id)
    assert entry is not None
    return entry


@dataclass(frozen=True)
class WriteOff:
    principal_fen: int
    interest_fen: int  # on-balance receivable
    penalty_fen: int
    allowance_used_fen: int  # all provisions held for the loan: used, the difference expensed or released
    suspended_fen: int  # off-balance interest and penalty, moved to the written-off memo

    @property
    def on_balance_fen(self) -> int:
        return self.principal_fen + self.interest_fen + self.penalty_fen


def write_off(loan_id: int, on: date, w: WriteOff) -> JournalEntry:
    """Remove the exposure against its allowance (a shortfall is expensed, an excess released) and keep a memo."""
    shortfall = w.on_balance_fen - w.allowance_used_fen
    pursued = w.on_balance_fen + w.suspended_fen
    entry = JournalEntry.of(
        f"write-off:{loan_id}",
        on,
        "write-off",
        [
            (A.LOAN_LOSS_ALLOWANCE, w.allowance_used_fen),
            (A.PROVISION_EXPENSE, shortfall),
            (A.PRINCIPAL_RECEIVABLE, -w.principal_fen),
            (A.INTEREST_RECEIVABLE, -w.interest_fen),
            (A.PENALTY_RECEIVABLE, -w.penalty_fen),
            (A.SUSPENDED_INTEREST_CONTRA, w.suspended_fen),
            (A.SUSPENDED_INTEREST, -w.suspended_fen),
            (A.WRITTEN_OFF, pursued),
            (A.WRITTEN_OFF_CONTRA, -pursued),
        ],
        loan_id,
    )
    assert entry is not None
    return entry


# --- marketing (issue 8) -------------------------------------------------------------------------------
def coupon_cost(grant_id: str, on: date, amount_fen: int, loan_id: int | None = None) -> JournalEntry | None:
    """An interest-discount coupon redeemed on a draw: its cost is a marketing expense, owed to the borrower.

    Interest income stays gross (the loan's own interest is untouched, so the loan book still reconciles);
    the discount is a liability until it is rebated. One entry per coupon grant; nothing for zero.
    """
    return JournalEntry.of(f"coupon:{grant_id}", on, "coupon", {A.MARKETING_EXPENSE: amount_fen, A.COUPON_PAYABLE: -amount_fen}, loan_id)
# --- end marketing
