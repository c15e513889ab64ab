"""A simulated bank core: a :class:`~smelend.servicing.payments.PaymentGateway` with its own book.

It stands in for the bank's core system in development, tests and the strategy lab. Its records
(``bank_core_transfers``) are the other side's book, kept apart from our ledger, so reconciliation
has something independent to compare with. Each call commits in its own short transaction, as a call
to another system would; never call it while holding a write transaction on the same SQLite file.

Failures are injected deterministically from ``(seed, instruction_id, attempt)``, so a test or a
simulation run with a seed is repeatable, and a retry (the next attempt) gets a fresh draw.
"""

from __future__ import annotations

import hashlib
import math
import os
import secrets
from collections.abc import Mapping
from datetime import date
from typing import Literal

from sqlalchemy import bindparam, func, select, text, update
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Connection, Engine, RowMapping

from smelend.errors import InvalidInput
from smelend.servicing.payments import PaymentFailed, Transfer, TransferResult, expected_kinds
from smelend.store.tables import bank_core_transfers

FAILURE_RATE_ENV = "SMELEND_BANK_CORE_FAILURE_RATE"
TIMEOUT_REASON = "bank core timeout"
INSUFFICIENT_FUNDS_REASON = "insufficient funds"
REUSED_ID_REASON = "instruction id reused for a different transfer"
_LOCK_NAMESPACE = b"smelend.bank_core\x00"


def failure_rate_setting() -> float:
    """``$SMELEND_BANK_CORE_FAILURE_RATE``: the share of calls that time out (default 0)."""
    raw = os.environ.get(FAILURE_RATE_ENV, "").strip()
    if not raw:
        return 0.0
    try:
        rate = float(raw)
    except ValueError:
        raise InvalidInput.one(FAILURE_RATE_ENV, f"not a number: {raw!r}") from None
    if not (math.isfinite(rate) and 0.0 <= rate <= 1.0):
        raise InvalidInput.one(FAILURE_RATE_ENV, f"must be a fraction between 0 and 1, got {raw}")
    return rate


class SimulatedBankCore:
    """The simulated bank core.

    ``failure_rate`` is the chance that an attempt times out (retryable). ``seed`` makes the draws
    repeatable; ``None`` picks a random seed, as :class:`random.Random` does. ``balances`` maps an
    account reference to its available fen: a collection above it fails, not retryably, with
    "insufficient funds" (accounts not in it are never short). The mapping is read at each call and
    never changed, so a test may top an account up between attempts.
    """

    def __init__(
        self, engine: Engine, failure_rate: float = 0.0, seed: int | None = None, balances: Mapping[str, int] | None = None
    ):
        assert 0.0 <= failure_rate <= 1.0, failure_rate
        self._engine = engine
        self.failure_rate = failure_rate
        self.seed = secrets.randbits(63) if seed is None else seed
        self._balances = balances

    @classmethod
    def from_settings(cls, engine: Engine, seed: int | None = None, balances: Mapping[str, int] | None = None) -> "SimulatedBankCore":
        """A bank core whose failure rate comes from :data:`FAILURE_RATE_ENV`."""
        return cls(engine, failure_rate_setting(), seed, balances)

    # --- PaymentGateway -------------------------------------------------------------------------------

    def disburse(self, instruction: Transfer) -> TransferResult:
        return self._execute(instruction, "disburse")

    def collect(self, instruction: Transfer) -> TransferResult:
        return self._execute(instruction, "collect")

    def receive(self, instruction: Transfer) -> TransferResult:
        return self._execute(instruction, "receive")

    def lookup(self, instruction_id: str) -> TransferResult | None:
        with self._engine.connect() as conn:
            row = _row(conn, instruction_id)
        return None if row is None else _result(row)

    def settlements(self, business_date: date) -> list[TransferResult]:
        query = (
            select(bank_core_transfers)
            .where(bank_core_transfers.c.business_date == business_date, bank_core_transfers.c.status == "settled")
            .order_by(bank_core_transfers.c.instruction_id)
        )
        with self._engine.connect() as conn:
            return [_result(row) for row in conn.execute(query).mappings()]

    # --- simulation -----------------------------------------------------------------------------------

    def times_out(self, instruction_id: str, attempt: int) -> bool:
        """Whether attempt ``attempt`` of ``instruction_id`` is drawn to time out under this seed."""
        digest = hashlib.sha256(f"{self.seed}\x00{instruction_id}\x00{attempt}".encode()).digest()
        return int.from_bytes(digest[:8], "big") / 2.0**64 < self.failure_rate

    def _execute(self, transfer: Transfer, method: Literal["disburse", "collect", "receive"]) -> TransferResult:
        assert transfer.kind in expected_kinds(method), f"{method} cannot carry a {transfer.kind}"
        with self._engine.begin() as conn:
            # A new instruction id (the usual case) is one statement: its first attempt inserted unless the id
            # exists. A known one (a retry, or a first attempt a concurrent caller committed while this insert
            # waited on the id) is read under the id's lock and decided from what is stored.
            attempt = 1
            reason, retryable = self._outcome(transfer, attempt)
            first = {
                "instruction_id": transfer.instruction_id, "kind": transfer.kind, "loan_id": transfer.loan_id,
                "amount_fen": transfer.amount_fen, "business_date": transfer.business_date,
                "status": "settled" if reason is None else "failed", "reason": reason, "attempts": attempt,
            }
            inserted = conn.execute(_INSERT_FIRST[conn.dialect.name, reason is None], first).first()
            if inserted is None:
                _lock(conn, transfer.instruction_id)
                row = _row(conn, transfer.instruction_id)
                assert row is not None, "the insert met the instruction id, so the row exists"
                previous = _result(row)
                if not previous.is_for(transfer):
                    raise PaymentFailed(REUSED_ID_REASON, retryable=False)  # nothing written
                if previous.settled:
                    return previous  # idempotent: never settles twice
                attempt = previous.attempt + 1
                reason, retryable = self._outcome(transfer, attempt)
                conn.execute(update(bank_core_transfers).where(bank_core_transfers.c.instruction_id == transfer.instruction_id).values(
                    status="settled" if reason is None else "failed", reason=reason, attempts=attempt,
                    settled_at=func.current_timestamp() if reason is None else None,
                ))
        result = TransferResult(
            transfer.instruction_id, transfer.kind, transfer.loan_id, transfer.amount_fen, transfer.business_date,
            "settled" if reason is None else "failed", reason, attempt,
        )
        if reason is not None:  # raised after the commit: the failed attempt stays on the record
            raise PaymentFailed(reason, retryable, result)
        return result

    def _outcome(self, transfer: Transfer, attempt: int) -> tuple[str | None, bool]:
        """(failure reason or None, retryable) for this attempt."""
        if self.times_out(transfer.instruction_id, attempt):
            return TIMEOUT_REASON, True
        if transfer.kind == "collection" and self._balances is not None:
            available = self._balances.get(transfer.account_ref)
            if available is not None and available < transfer.amount_fen:
                return INSUFFICIENT_FUNDS_REASON, False
        return None, False


def _lock(conn: Connection, instruction_id: str) -> None:
    """Serialise attempts on one instruction id. SQLite's BEGIN IMMEDIATE already serialises writers;
    on PostgreSQL a transaction-scoped advisory lock on the id's hash does it, also for a new id."""
    if conn.dialect.name != "postgresql":
        return
    key = int.from_bytes(hashlib.sha256(_LOCK_NAMESPACE + instruction_id.encode()).digest()[:8], "big", signed=True)
    conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": key})


# Built once: every disbursement and receipt runs them.
_BY_INSTRUCTION = select(bank_core_transfers).where(bank_core_transfers.c.instruction_id == bindparam("instruction_id"))
_INSERT_FIRST = {  # (dialect, settled): a first attempt, or nothing when the id exists; settled_at is the database's clock
    (dialect, settled): (statement.values(settled_at=func.current_timestamp()) if settled else statement)
    .on_conflict_do_nothing(index_elements=[bank_core_transfers.c.instruction_id]).returning(bank_core_transfers.c.instruction_id)
    for dialect, statement in (("sqlite", sqlite_insert(bank_core_transfers)), ("postgresql", postgresql_insert(bank_core_transfers)))
    for settled in (False, True)
}


def _row(conn: Connection, instruction_id: str) -> RowMapping | None:
    return conn.execute(_BY_INSTRUCTION, {"instruction_id": instruction_id}).mappings().first()


def _result(row: RowMapping) -> TransferResult:
    return TransferResult(
        row["instruction_id"], row["kind"], row["loan_id"], int(row["amount_fen"]), row["business_date"],
        row["status"], row["reason"], row["attempts"],
    )
