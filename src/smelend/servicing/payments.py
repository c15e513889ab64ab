"""The payment adapter's interface: what servicing asks of the bank core, and how it retries.

Money moves outside our system, at the bank core, so every instruction carries an id the bank core
deduplicates on: sending a settled instruction again returns the existing settlement (the borrower is
never paid or debited twice), and a failed one may be retried under the same id. That makes a retry
after a timeout safe, and :func:`with_retries` relies on it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from typing import Literal, Protocol, get_args, runtime_checkable

from smelend.money import MAX_AMOUNT_FEN

TransferKind = Literal["disbursement", "collection", "paid_in", "refund"]
TransferStatus = Literal["settled", "failed"]

TRANSFER_KINDS: frozenset[str] = frozenset(get_args(TransferKind))
OUTGOING_KINDS = frozenset({"disbursement", "refund"})  # money paid out to the borrower's account
MAX_INSTRUCTION_ID_CHARS = 200
MAX_ACCOUNT_REF_CHARS = 64
MAX_REASON_CHARS = 200
MAX_RETRY_ATTEMPTS = 20  # a retry loop is a few calls, not a polling loop


@dataclass(frozen=True)
class Transfer:
    """One instruction to the bank core. ``account_ref`` names the borrower's account (PII: the bank
    core uses it, our records do not keep it)."""

    instruction_id: str
    kind: TransferKind
    loan_id: int
    amount_fen: int
    business_date: date
    account_ref: str

    def __post_init__(self) -> None:
        assert 0 < len(self.instruction_id) <= MAX_INSTRUCTION_ID_CHARS, self.instruction_id
        assert self.kind in TRANSFER_KINDS, self.kind
        assert self.loan_id > 0, self.loan_id
        assert 0 < self.amount_fen <= MAX_AMOUNT_FEN, self.amount_fen
        assert 0 < len(self.account_ref) <= MAX_ACCOUNT_REF_CHARS, "account_ref must be 1..64 characters"

    def __repr__(self) -> str:  # the account reference is PII: never in a log line
        return (
            f"Transfer(instruction_id={self.instruction_id!r}, kind={self.kind!r}, loan_id={self.loan_id}, "
            f"amount_fen={self.amount_fen}, business_date={self.business_date!r}, account_ref={mask_account(self.account_ref)!r})"
        )


def mask_account(account_ref: str) -> str:
    """``'****1234'``: the last four characters of a long account reference, nothing of a short one.

    >>> mask_account("6222020200112233445")
    '****3445'
    >>> mask_account("12345")
    '****'
    """
    return "****" + (account_ref[-4:] if len(account_ref) >= 8 else "")


@dataclass(frozen=True)
class TransferResult:
    """The bank core's answer for an instruction: its latest attempt (1-based) and how it ended."""

    instruction_id: str
    kind: TransferKind
    loan_id: int
    amount_fen: int
    business_date: date
    status: TransferStatus
    reason: str | None
    attempt: int

    def __post_init__(self) -> None:
        assert self.status in ("settled", "failed"), self.status
        assert (self.reason is None) == (self.status == "settled"), (self.status, self.reason)
        assert self.reason is None or 0 < len(self.reason) <= MAX_REASON_CHARS, self.reason
        assert self.attempt >= 1, self.attempt

    @property
    def settled(self) -> bool:
        return self.status == "settled"

    def is_for(self, transfer: Transfer) -> bool:
        """Whether this result answers ``transfer`` (same id and same content), not a reused id."""
        return (self.instruction_id, self.kind, self.loan_id, self.amount_fen, self.business_date) == (
            transfer.instruction_id,
            transfer.kind,
            transfer.loan_id,
            transfer.amount_fen,
            transfer.business_date,
        )


class PaymentFailed(Exception):
    """The bank core did not settle an instruction. ``retryable`` failures (a timeout) may be sent
    again under the same instruction id; the others (insufficient funds) need something to change
    first. ``result`` is the failed attempt as the bank core recorded it, when it recorded one."""

    def __init__(self, reason: str, retryable: bool, result: TransferResult | None = None):
        super().__init__(reason)
        self.reason = reason
        self.retryable = retryable
        self.result = result


@runtime_checkable
class PaymentGateway(Protocol):
    """The bank core, as servicing sees it. Each call settles or raises :class:`PaymentFailed`;
    each is idempotent by ``instruction_id``."""

    def disburse(self, instruction: Transfer) -> TransferResult:
        """Pay out to the borrower's account (kind ``disbursement`` or ``refund``)."""
        ...

    def collect(self, instruction: Transfer) -> TransferResult:
        """Auto-debit the borrower's account (kind ``collection``)."""
        ...

    def receive(self, instruction: Transfer) -> TransferResult:
        """Record money the borrower paid in (kind ``paid_in``)."""
        ...

    def lookup(self, instruction_id: str) -> TransferResult | None:
        """The latest result for an instruction, settled or failed; None if never received."""
        ...

    def settlements(self, business_date: date) -> list[TransferResult]:
        """Every settled transfer of ``business_date``: the bank core's side of reconciliation."""
        ...


def expected_kinds(method: Literal["disburse", "collect", "receive"]) -> frozenset[str]:
    """Which transfer kinds each gateway method accepts: a collection sent to ``disburse`` is a bug."""
    return {"disburse": OUTGOING_KINDS, "collect": frozenset({"collection"}), "receive": frozenset({"paid_in"})}[method]


def with_retries(
    call: Callable[[], TransferResult],
    attempts: int,
    on_retry: Callable[[int, PaymentFailed], None] | None = None,
) -> TransferResult:
    """Call ``call`` until it settles, at most ``attempts`` times, retrying only retryable failures.

    ``call`` must resend the same instruction id each time (``lambda: gateway.collect(transfer)``), so
    a retry can never settle twice. ``on_retry(failed_attempt, error)`` runs before each retry: the
    place to log or back off. The last failure, or the first non-retryable one, is raised.
    """
    assert 1 <= attempts <= MAX_RETRY_ATTEMPTS, attempts
    for attempt in range(1, attempts + 1):
        try:
            return call()
        except PaymentFailed as error:
            if not error.retryable or attempt == attempts:
                raise
            if on_retry is not None:
                on_retry(attempt, error)
    raise AssertionError("unreachable: the loop returns or raises")
