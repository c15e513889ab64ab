"""The double-entry ledger, pure: the chart of accounts, journal entries, and posting rules.

Every servicing event becomes exactly one balanced :class:`JournalEntry` with an idempotency key.
Persistence (append-only postings, guarded balance updates) lives in :mod:`smelend.store.ledger`.
"""

from smelend.ledger.accounts import Account, NormalSide
from smelend.ledger.entries import JournalEntry, Posting, TrialBalance, trial_balance

__all__ = ["Account", "JournalEntry", "NormalSide", "Posting", "TrialBalance", "trial_balance"]
