"""The owner's exposure with the bank across every enterprise of the same owner, read from the book.

A decision limits one owner's total unsecured credit (DESIGN.md, capability 6): before deciding on
one enterprise, the adapter adds up the lines of the owner's other enterprises (limits granted,
principal used) and hands them to the risk engine as the ``exposure`` source. Expired lines no
longer count; frozen ones still do (their used amount is still owed).
"""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.engine import Connection

from smelend.ids import uscc as uscc_id
from smelend.risk.schemas import Exposure
from smelend.servicing.credit_line import LineStatus
from smelend.store.repositories import Person
from smelend.store.tables import credit_lines, enterprises

COUNTED = (LineStatus.ACTIVE.value, LineStatus.FROZEN.value)


def owner_exposure(conn: Connection, owner: Person | None, applying_uscc: str) -> Exposure:
    """Limits and used principal of every line the owner's other enterprises hold at the bank; ``owner``
    as the caller found it (:func:`~smelend.store.repositories.find_person_by_resident_id`, which the
    caller needs anyway), None for an owner the bank does not know: nothing."""
    applying = uscc_id.validate(applying_uscc, "enterprise.uscc")
    if owner is None:
        return Exposure(other_enterprises=(), bank_limits_fen=0, bank_outstanding_fen=0)
    rows = conn.execute(
        select(enterprises.c.uscc, func.sum(credit_lines.c.limit_fen), func.sum(credit_lines.c.used_fen))
        .select_from(enterprises.join(credit_lines, credit_lines.c.enterprise_id == enterprises.c.id))
        .where(enterprises.c.owner_person_id == owner.id, enterprises.c.uscc != applying, credit_lines.c.status.in_(COUNTED))
        .group_by(enterprises.c.uscc)
        .order_by(enterprises.c.uscc)
    ).all()
    return Exposure(
        other_enterprises=tuple(r[0] for r in rows),
        bank_limits_fen=int(sum(r[1] for r in rows)),
        bank_outstanding_fen=int(sum(r[2] for r in rows)),
    )
