"""Who is calling: a staff user (with a role), a borrower (through the bank's app), or a partner platform.

Every endpoint receives a :class:`Principal` from the authentication dependency
(``smelend.api.security.authenticate``); object-level checks compare it with the owner of what is asked
for, and the audit log and idempotency keys name it by :attr:`Principal.key`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

STAFF_ROLES = ("product", "risk", "marketing", "operations", "auditor", "admin")
BORROWER = "borrower"


@dataclass(frozen=True)
class Principal:
    kind: Literal["staff", "borrower", "partner"]
    id: int  # api_users.id for staff and borrowers, partners.id for partners
    name: str
    role: str | None = None  # a staff role; "borrower" for borrowers; None for partners
    person_id: int | None = None  # a borrower's person

    def __post_init__(self) -> None:
        assert self.kind != "staff" or self.role in STAFF_ROLES, f"unknown staff role {self.role!r}"
        assert self.kind != "borrower" or (self.role == BORROWER and self.person_id is not None), "a borrower is a person"
        assert self.kind != "partner" or self.role is None

    @property
    def key(self) -> str:
        """A stable text name: ``staff:3``, ``borrower:7``, ``partner:2``."""
        return f"{self.kind}:{self.id}"
