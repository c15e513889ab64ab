"""Origination records: applications, decisions, offers and contracts (SQLAlchemy Core, one job each).

Public identifiers are opaque and random (``APP-``, ``DEC-``, ``OFR-`` and 16 hex digits), so one caller
cannot guess another's. The decision's ``document`` is the whole :meth:`Decision.to_dict` as JSON
(inputs included, so PII: the column is encrypted); the offer's document holds no PII; a contract's HTML
names the borrower and is encrypted, with its SHA-256 beside it.

Transactions belong to the caller. State changes are guarded updates (``WHERE status = ...``): a change
that finds the row already moved raises :class:`~smelend.errors.InvalidInput` naming the field.

Who owns what: an application belongs to its person (a borrower) and, when it came through a partner,
to that partner; its decision, offer, the line opened from the offer, and the line's loans follow it
(:func:`owner_of_line`). Lines opened by an operator without an application have no owner but staff.
"""

from __future__ import annotations

import json
import re
import secrets
import time
from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import bindparam, func, insert, select, update
from sqlalchemy.engine import Connection

from smelend.errors import InvalidInput
from smelend.store.tables import applications, contracts, credit_lines, decisions, loans, offers

ID_HEX_CHARS = 16
LONG_DIGIT_RUN = re.compile(r"[0-9]{11}")
PAGE_MAX = 100


def new_id(prefix: str) -> str:
    """A fresh public identifier, e.g. ``APP-019A2B3C4D5E3F9A0C1D2E4B5A69``: the creation time in milliseconds
    (11 hex digits: ids sort by creation) and 64 random bits (unguessable). Never a run of 11 digits, so no
    id looks like a mobile number to the PII filters of the audit log and partner callbacks."""
    while True:
        found = f"{prefix}-{time.time_ns() // 1_000_000:011X}{secrets.token_hex(ID_HEX_CHARS // 2).upper()}"
        if not LONG_DIGIT_RUN.search(found):
            return found


@dataclass(frozen=True)
class Owner:
    """Who an object belongs to: the applicant's person, the partner it came through, the app user."""

    person_id: int | None
    partner_id: int | None
    user_id: int | None
    application_id: str | None


NO_OWNER = Owner(None, None, None, None)


# --- applications ---------------------------------------------------------------------------------------


_INSERT_APPLICATION, _INSERT_DECISION, _INSERT_OFFER = insert(applications), insert(decisions), insert(offers)


def insert_application(conn: Connection, *, id: str, person_id: int, enterprise_id: int, product_id: str, requested_fen: int,
                       channel: str, partner_id: int | None, user_id: int | None, status: str, applied_on: date) -> None:
    conn.execute(_INSERT_APPLICATION, dict(
        id=id, person_id=person_id, enterprise_id=enterprise_id, product_id=product_id, requested_fen=requested_fen,
        channel=channel, partner_id=partner_id, user_id=user_id, status=status, applied_on=applied_on,
    ))


def get_application(conn: Connection, application_id: str) -> dict[str, Any] | None:
    row = conn.execute(select(applications).where(applications.c.id == application_id)).mappings().first()
    return None if row is None else dict(row)


def list_applications(conn: Connection, *, person_id: int | None = None, partner_id: int | None = None, everyone: bool = False,
                      after: str | None = None, limit: int = 20) -> list[dict[str, Any]]:
    """Applications newest first (ids sort by creation), filtered to one owner unless ``everyone``; keyset
    paging: ``after`` is the last id of the previous page."""
    query = select(applications)
    if not everyone:
        if person_id is None and partner_id is None:
            return []
        if person_id is not None:
            query = query.where(applications.c.person_id == person_id)
        if partner_id is not None:
            query = query.where(applications.c.partner_id == partner_id)
    if after is not None:
        query = query.where(applications.c.id < after)
    query = query.order_by(applications.c.id.desc()).limit(max(1, min(limit, PAGE_MAX + 1)))
    return [dict(r) for r in conn.execute(query).mappings()]


def set_application_status(conn: Connection, application_id: str, status: str, allowed_from: tuple[str, ...]) -> None:
    done = conn.execute(
        update(applications).where(applications.c.id == application_id, applications.c.status.in_(allowed_from)).values(status=status)
    )
    if done.rowcount != 1:
        raise InvalidInput.one("application", f"cannot become {status} from its current status")


# --- decisions ------------------------------------------------------------------------------------------


def insert_decision(conn: Connection, *, id: str, application_id: str, outcome: str, limit_fen: int, strategy_sha256: str,
                    document: dict[str, Any], document_text: str | None = None) -> None:
    """Store a decision; ``document_text``, when the caller already has it, is ``document`` as JSON
    (``json.dumps(document, ensure_ascii=False, default=str)``), which is then not encoded twice."""
    conn.execute(_INSERT_DECISION, dict(
        id=id, application_id=application_id, outcome=outcome, limit_fen=limit_fen, strategy_sha256=strategy_sha256,
        document=json.dumps(document, ensure_ascii=False, default=str) if document_text is None else document_text,
    ))


def get_decision(conn: Connection, decision_id: str) -> dict[str, Any] | None:
    """The decision row with ``document`` decoded (the whole Decision as stored)."""
    row = conn.execute(select(decisions).where(decisions.c.id == decision_id)).mappings().first()
    if row is None:
        return None
    found = dict(row)
    found["document"] = json.loads(found["document"])
    return found


def decision_of_application(conn: Connection, application_id: str) -> dict[str, Any] | None:
    row_id = conn.scalar(select(decisions.c.id).where(decisions.c.application_id == application_id).order_by(decisions.c.created_at.desc()).limit(1))
    return None if row_id is None else get_decision(conn, row_id)


def pending_reviews(conn: Connection, limit: int = PAGE_MAX) -> list[dict[str, Any]]:
    """Referred decisions nobody has reviewed yet, oldest first (without their documents)."""
    query = (
        select(decisions.c.id, decisions.c.application_id, decisions.c.outcome, decisions.c.limit_fen, decisions.c.created_at)
        .where(decisions.c.outcome == "refer", decisions.c.review_outcome.is_(None))
        .order_by(decisions.c.created_at, decisions.c.id)
        .limit(limit)
    )
    return [dict(r) for r in conn.execute(query).mappings()]


def record_review(conn: Connection, decision_id: str, outcome: str, reviewer_id: int | None, comment: str) -> None:
    """A referred decision approved or declined by staff, once."""
    done = conn.execute(
        update(decisions)
        .where(decisions.c.id == decision_id, decisions.c.outcome == "refer", decisions.c.review_outcome.is_(None))
        .values(review_outcome=outcome, reviewed_by=reviewer_id, review_comment=comment)
    )
    if done.rowcount != 1:
        raise InvalidInput.one("decision", "is not a referral waiting for review")


# --- offers ---------------------------------------------------------------------------------------------


def insert_offer(conn: Connection, *, id: str, decision_id: str, offer: dict[str, Any], limit_fen: int) -> None:
    conn.execute(_INSERT_OFFER, dict(
        id=id, decision_id=decision_id, limit_fen=limit_fen, annual_rate=str(offer["annual_rate"]),
        document=json.dumps(offer, ensure_ascii=False, sort_keys=True, default=str), status="open",
    ))


def get_offer(conn: Connection, offer_id: str) -> dict[str, Any] | None:
    row = conn.execute(select(offers).where(offers.c.id == offer_id)).mappings().first()
    if row is None:
        return None
    found = dict(row)
    found["document"] = json.loads(found["document"])
    return found


def offer_of_decision(conn: Connection, decision_id: str) -> dict[str, Any] | None:
    offer_id = conn.scalar(select(offers.c.id).where(offers.c.decision_id == decision_id))
    return None if offer_id is None else get_offer(conn, offer_id)


def accept_offer(conn: Connection, offer_id: str, line_id: int) -> None:
    done = conn.execute(
        update(offers).where(offers.c.id == offer_id, offers.c.status == "open").values(status="accepted", line_id=line_id)
    )
    if done.rowcount != 1:
        raise InvalidInput.one("offer", "has already been accepted")


# --- contracts ------------------------------------------------------------------------------------------


def new_lending_fen(conn: Connection, since: date, partner_id: int) -> tuple[int, int]:
    """Limits of the lines opened from offers since ``since``: (through this partner, in all)."""
    opened = (
        select(offers.c.limit_fen, applications.c.partner_id)
        .select_from(offers.join(decisions, decisions.c.id == offers.c.decision_id).join(applications, applications.c.id == decisions.c.application_id))
        .join(credit_lines, credit_lines.c.id == offers.c.line_id)
        .where(offers.c.status == "accepted", credit_lines.c.start_date >= since)
    ).subquery()
    row = conn.execute(
        select(
            func.coalesce(func.sum(opened.c.limit_fen).filter(opened.c.partner_id == partner_id), 0),
            func.coalesce(func.sum(opened.c.limit_fen), 0),
        )
    ).one()
    return int(row[0]), int(row[1])


def insert_contract(conn: Connection, *, offer_id: str, line_id: int, html: str, sha256: str) -> int:
    result = conn.execute(insert(contracts).values(offer_id=offer_id, line_id=line_id, html=html, sha256=sha256))
    return int(result.inserted_primary_key[0])


def contract_of_line(conn: Connection, line_id: int) -> dict[str, Any] | None:
    row = conn.execute(select(contracts).where(contracts.c.line_id == line_id)).mappings().first()
    return None if row is None else dict(row)


# --- ownership ------------------------------------------------------------------------------------------


# One joined look-up per kind of object, built once: object-level checks run on every request.
_OWNER_COLUMNS = (applications.c.person_id, applications.c.partner_id, applications.c.user_id, applications.c.id)
_APPLICATION_OF_DECISION = decisions.join(applications, applications.c.id == decisions.c.application_id)
_APPLICATION_OF_OFFER = offers.join(_APPLICATION_OF_DECISION, decisions.c.id == offers.c.decision_id)
_OWNER_OF = {
    "application": select(*_OWNER_COLUMNS).where(applications.c.id == bindparam("key")),
    "decision": select(*_OWNER_COLUMNS).select_from(_APPLICATION_OF_DECISION).where(decisions.c.id == bindparam("key")),
    "offer": select(*_OWNER_COLUMNS).select_from(_APPLICATION_OF_OFFER).where(offers.c.id == bindparam("key")),
    "line": select(*_OWNER_COLUMNS).select_from(_APPLICATION_OF_OFFER).where(offers.c.line_id == bindparam("key")),
    "loan": select(*_OWNER_COLUMNS).select_from(loans.join(_APPLICATION_OF_OFFER, offers.c.line_id == loans.c.line_id)).where(loans.c.id == bindparam("key")),
}


def _owner(conn: Connection, kind: str, key: str | int) -> Owner:
    row = conn.execute(_OWNER_OF[kind], {"key": key}).first()
    return NO_OWNER if row is None else Owner(row[0], row[1], row[2], row[3])


def owner_of_application(conn: Connection, application_id: str) -> Owner:
    return _owner(conn, "application", application_id)


def owner_of_decision(conn: Connection, decision_id: str) -> Owner:
    return _owner(conn, "decision", decision_id)


def owner_of_offer(conn: Connection, offer_id: str) -> Owner:
    return _owner(conn, "offer", offer_id)


def owner_of_line(conn: Connection, line_id: int) -> Owner:
    return _owner(conn, "line", line_id)


def owner_of_loan(conn: Connection, loan_id: int) -> Owner:
    return _owner(conn, "loan", loan_id)


def lines_of_owner(conn: Connection, *, person_id: int | None = None, partner_id: int | None = None) -> list[int]:
    """Ids of the lines opened from the owner's accepted offers."""
    query = (
        select(offers.c.line_id)
        .select_from(offers.join(decisions, offers.c.decision_id == decisions.c.id).join(applications, decisions.c.application_id == applications.c.id))
        .where(offers.c.line_id.is_not(None))
    )
    if person_id is not None:
        query = query.where(applications.c.person_id == person_id)
    if partner_id is not None:
        query = query.where(applications.c.partner_id == partner_id)
    return [int(v) for v in conn.execute(query.order_by(offers.c.line_id)).scalars()]


def count_rows(conn: Connection, table: Any) -> int:
    return int(conn.scalar(select(func.count()).select_from(table)) or 0)
