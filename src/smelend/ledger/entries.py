"""Journal entries: immutable, balanced by construction, each with an idempotency key."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date

from smelend.ledger.accounts import Account
from smelend.money import MAX_AMOUNT_FEN

MAX_POSTINGS_PER_ENTRY = 32
MAX_KEY_CHARS = 200


@dataclass(frozen=True)
class Posting:
    """One line of an entry: ``amount_fen`` debited (positive) or credited (negative) to ``account``."""

    account: Account
    amount_fen: int  # signed: debit > 0, credit < 0

    def __post_init__(self) -> None:
        assert isinstance(self.account, Account), self.account
        assert self.amount_fen != 0 and abs(self.amount_fen) <= MAX_AMOUNT_FEN, self.amount_fen

    @property
    def debit_fen(self) -> int:
        return max(self.amount_fen, 0)

    @property
    def credit_fen(self) -> int:
        return max(-self.amount_fen, 0)


@dataclass(frozen=True)
class JournalEntry:
    """A balanced set of postings for one event, for one loan (or none), on one business date.

    The idempotency key names the event (``"accrual:42:2026-03-01"``): posting the same key twice
    is a no-op, so a retried or replayed event never counts twice.
    """

    idempotency_key: str
    business_date: date
    kind: str
    postings: tuple[Posting, ...]
    loan_id: int | None = None
    line_id: int | None = None

    def __post_init__(self) -> None:
        assert 0 < len(self.idempotency_key) <= MAX_KEY_CHARS, self.idempotency_key
        assert 2 <= len(self.postings) <= MAX_POSTINGS_PER_ENTRY, self.postings
        assert sum(p.amount_fen for p in self.postings) == 0, f"unbalanced entry {self.idempotency_key}: {self.postings}"
        on_balance = sum(p.amount_fen for p in self.postings if not p.account.off_balance)
        assert on_balance == 0, f"entry {self.idempotency_key} moves value between on- and off-balance accounts"

    @classmethod
    def of(cls, key: str, business_date: date, kind: str, amounts: Mapping[Account, int] | Iterable[tuple[Account, int]], loan_id: int | None = None, line_id: int | None = None) -> "JournalEntry | None":
        """An entry from signed amounts per account, zero amounts dropped; None when nothing moves."""
        items = amounts.items() if isinstance(amounts, Mapping) else amounts
        totals: dict[Account, int] = {}
        for account, amount in items:
            totals[account] = totals.get(account, 0) + amount
        postings = tuple(Posting(a, v) for a, v in totals.items() if v)
        return cls(key, business_date, kind, postings, loan_id, line_id) if postings else None


@dataclass(frozen=True)
class TrialBalance:
    """Debit-positive balances per account; balanced when they sum to zero."""

    balances_fen: Mapping[Account, int] = field(default_factory=dict)

    @property
    def balanced(self) -> bool:
        return sum(self.balances_fen.values()) == 0

    def normal_balance_fen(self, account: Account) -> int:
        """The balance on the account's normal side (an asset's debit, an income's credit)."""
        raw = self.balances_fen.get(account, 0)
        return raw if account.normal_side.value == "debit" else -raw


def trial_balance(entries: Iterable[JournalEntry]) -> TrialBalance:
    totals: dict[Account, int] = {}
    for entry in entries:
        for posting in entry.postings:
            totals[posting.account] = totals.get(posting.account, 0) + posting.amount_fen
    return TrialBalance({a: v for a, v in sorted(totals.items(), key=lambda kv: kv[0].value)})
