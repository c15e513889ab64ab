"""What every operation needs: the database, the bank core, the product catalogue, the policy."""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy.engine import Engine

from smelend.products import Catalogue, load_catalogue
from smelend.servicing.delinquency import DelinquencyPolicy, load_policy
from smelend.servicing.payments import PaymentGateway
from smelend.servicing.repayment import DEFAULT_ORDER, Step
from smelend.store.bank_core import SimulatedBankCore

DISBURSEMENT_ATTEMPTS = 3
COLLECTION_ATTEMPTS = 3
COB_CHUNK_LOANS = 500  # loans closed per transaction: a killed run loses at most one chunk's work
COB_BATCH_CHUNK_LOANS = 20_000  # the vectorised path's chunk: large enough for numpy, small enough for memory


@dataclass(frozen=True)
class Book:
    engine: Engine
    gateway: PaymentGateway
    catalogue: Catalogue
    policy: DelinquencyPolicy
    allocation_order: tuple[Step, ...] = field(default=DEFAULT_ORDER)


def open_book(engine: Engine, gateway: PaymentGateway | None = None) -> Book:
    """The default wiring: the simulated bank core in the same database, the shipped data files."""
    return Book(engine, gateway or SimulatedBankCore.from_settings(engine), load_catalogue(), load_policy())
