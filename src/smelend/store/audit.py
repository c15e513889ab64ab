"""The audit trail: who changed what, when, with the state before and after, PII masked.

:func:`record` writes in the caller's transaction, so a change that rolls back leaves no audit row and
a committed change always has one. Before/after documents are stored as JSON after :func:`mask_pii`: a
full resident ID, mobile number, bank account or personal name never reaches the audit log (the log is
read by auditors and exported; the encrypted tables hold the real values).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.engine import Connection, RowMapping

from smelend.errors import InvalidInput
from smelend.ids import mobile as mobile_ids
from smelend.ids import ric
from smelend.store.tables import KEY_MAX_CHARS, PUBLIC_ID_MAX_CHARS, ROLE_MAX_CHARS, audit_log

ENTITY_MAX_CHARS = ROLE_MAX_CHARS * 2  # = audit_log.entity
MAX_LIST = 1000  # one page of list_audit
MAX_DOCUMENT_CHARS = 200_000  # a before/after document; larger means the caller is dumping too much
MAX_DEPTH = 32

# Keys (compared lower-case, '-' and ' ' as '_') whose values are masked, by kind.
RESIDENT_ID_KEYS = frozenset({"resident_id", "id_number", "id_no", "id_card", "ric", "owner_resident_id", "person_resident_id"})
MOBILE_KEYS = frozenset({"mobile", "mobile_number", "phone", "phone_number", "owner_mobile", "person_mobile"})
NAME_KEYS = frozenset({"name", "person_name", "owner_name", "full_name", "legal_representative", "applicant_name"})
ACCOUNT_KEYS = frozenset({"bank_account", "account_number", "card_number"})
SECRET_KEYS = frozenset({"token", "secret", "password", "signature", "authorization"})

_RIC_IN_TEXT = re.compile(r"(?<![0-9A-Za-z])[0-9]{17}[0-9Xx](?![0-9A-Za-z])")
_MOBILE_IN_TEXT = re.compile(r"(?<![0-9])(?:\+?86)?1[3-9][0-9]{9}(?![0-9])")


@dataclass(frozen=True)
class AuditEntry:
    id: int
    at: datetime
    actor: str
    action: str
    entity: str
    entity_id: str
    before: Any
    after: Any


# --- masking ------------------------------------------------------------------------------------------


def mask_pii(document: Any, _depth: int = 0) -> Any:
    """A copy of ``document`` with PII masked: values under PII keys (resident ID, mobile, name, bank
    account; secrets and tokens removed), and resident IDs or mobiles found inside any other text."""
    if _depth > MAX_DEPTH:
        raise InvalidInput.one("audit", f"document nested deeper than {MAX_DEPTH} levels")
    if isinstance(document, Mapping):
        return {str(key): _mask_value(str(key), value, _depth) for key, value in document.items()}
    if isinstance(document, (list, tuple)):
        return [mask_pii(item, _depth + 1) for item in document]
    if isinstance(document, str):
        return mask_text(document)
    return document


def mask_text(text: str) -> str:
    """Resident IDs and mobile numbers inside free text, masked."""
    text = _RIC_IN_TEXT.sub(lambda m: ric.mask(m.group(0)), text)
    return _MOBILE_IN_TEXT.sub(lambda m: _mask_mobile(m.group(0)), text)


def _mask_value(key: str, value: Any, depth: int) -> Any:
    if value is None:
        return None
    kind = key.strip().lower().replace("-", "_").replace(" ", "_")
    if kind in SECRET_KEYS:
        return "[removed]"
    if kind in RESIDENT_ID_KEYS:
        return ric.mask(value) if isinstance(value, str) and ric.is_valid(value) else _stars(value)
    if kind in MOBILE_KEYS:
        return _mask_mobile(value) if isinstance(value, str) else _stars(value)
    if kind in NAME_KEYS:
        return value[:1] + "*" * (len(value) - 1) if isinstance(value, str) and len(value) > 1 else _stars(value)
    if kind in ACCOUNT_KEYS:
        return "****" + value[-4:] if isinstance(value, str) and len(value) >= 8 else _stars(value)
    return mask_pii(value, depth + 1)


def _mask_mobile(value: str) -> str:
    try:
        return mobile_ids.mask(mobile_ids.validate(value))  # E.164 first: mask() expects +86...
    except InvalidInput:
        return _stars(value)


def _stars(value: object) -> str:
    return "*" * min(max(len(value), 3), 20) if isinstance(value, str) else "***"


# --- the log ------------------------------------------------------------------------------------------


_INSERT = insert(audit_log).returning(audit_log.c.id)  # built once: every state change writes one


def record(
    conn: Connection,
    actor: str,
    action: str,
    entity: str,
    entity_id: str | int,
    before: Mapping[str, Any] | None,
    after: Mapping[str, Any] | None,
) -> int:
    """Append one audit row in the caller's transaction; returns its id.

    ``actor`` is :attr:`Principal.key` (``staff:3``) or a system name (``cli:admin``, ``cob``);
    ``entity`` a short noun (``application``), ``entity_id`` its public id.
    """
    entity_text = str(entity_id)
    assert 0 < len(actor) <= KEY_MAX_CHARS, "actor: 1-128 characters"
    assert 0 < len(action) <= KEY_MAX_CHARS, "action: 1-128 characters"
    assert 0 < len(entity) <= ENTITY_MAX_CHARS, f"entity: 1-{ENTITY_MAX_CHARS} characters"
    assert 0 < len(entity_text) <= PUBLIC_ID_MAX_CHARS, f"entity_id: 1-{PUBLIC_ID_MAX_CHARS} characters"
    assert before is not None or after is not None, "an audit row records a change"
    new_id = conn.execute(
        _INSERT, {"actor": actor, "action": action, "entity": entity, "entity_id": entity_text, "before": _json(before), "after": _json(after)}
    ).scalar_one()
    return int(new_id)


def list_audit(conn: Connection, limit: int = 100, after_id: int | None = None, entity: str | None = None) -> list[AuditEntry]:
    """Audit rows in order, ``limit`` at a time (at most 1000); page on with ``after_id`` = the last id seen."""
    if not 1 <= limit <= MAX_LIST:
        raise InvalidInput.one("limit", f"must be between 1 and {MAX_LIST}")
    query = select(audit_log).order_by(audit_log.c.id).limit(limit)
    if after_id is not None:
        query = query.where(audit_log.c.id > after_id)
    if entity is not None:
        query = query.where(audit_log.c.entity == entity)
    return [_entry(row) for row in conn.execute(query).mappings()]


def _json(document: Mapping[str, Any] | None) -> str | None:
    if document is None:
        return None
    text = json.dumps(mask_pii(document), ensure_ascii=False, sort_keys=True, default=lambda value: mask_text(str(value)))
    if len(text) > MAX_DOCUMENT_CHARS:
        raise InvalidInput.one("audit", f"document larger than {MAX_DOCUMENT_CHARS} characters")
    return text


def _entry(row: RowMapping) -> AuditEntry:
    return AuditEntry(
        id=row["id"],
        at=row["at"],
        actor=row["actor"],
        action=row["action"],
        entity=row["entity"],
        entity_id=row["entity_id"],
        before=None if row["before"] is None else json.loads(row["before"]),
        after=None if row["after"] is None else json.loads(row["after"]),
    )
