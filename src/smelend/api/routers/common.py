"""What every router shares: the loaded service, object-level checks, the business date, masking, audit.

Object-level checks (``check_owner``): a borrower sees only what belongs to their person; a partner only
what came through it; staff with a reading role (risk, operations, auditor, admin) see everything;
other staff (product, marketing) see no borrower's objects. Whatever a caller may not see is answered
exactly like what does not exist: 404.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date, datetime
from collections.abc import Callable
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from fastapi import Path, Request, Response
from sqlalchemy.engine import Connection, Engine

from smelend.api.errors import not_found
from smelend.api.principal import Principal
from smelend.ids import mobile as mobile_ids
from smelend.ids import ric
from smelend.operations.context import Book
from smelend.store.lending import BusinessDay, get_business_day
from smelend.store.origination import Owner

BANK_TIME_ZONE = ZoneInfo("Asia/Shanghai")
STAFF_READERS = ("risk", "operations", "auditor", "admin")
RowId = Annotated[int, Path(ge=1, le=2**31 - 1, description="A numeric id.")]
PublicId = Annotated[str, Path(min_length=5, max_length=40, pattern=r"^[A-Z]{3}-[0-9A-F]+$", description="A public id such as APP-019A2B3C4D5E3F9A0C1D2E4B5A69.")]
PII_KEYS = {"id_number", "legal_representative_id_number", "resident_id", "mobile", "name"}


@dataclass
class Service:
    """Loaded once by the app factory: the store, the servicing book, the risk engine, the pricer."""

    engine: Engine
    book: Book
    strategy: Any
    pricer: Any
    catalogue: Any
    provider: Any
    provider_concurrency: int = 1

    def now(self) -> datetime:
        return datetime.now(BANK_TIME_ZONE)


def service(request: Request) -> Service:
    found = request.app.state.service
    assert isinstance(found, Service)
    return found


def business_today(conn: Connection, svc: Service) -> date:
    """The date an operation without one is made on: the book's business date, or today when that is later
    (a new book has none until its first dated operation)."""
    return day_on(get_business_day(conn), svc)


def day_on(current: BusinessDay, svc: Service) -> date:
    """:func:`business_today` from a business day the caller has read (and hands on to the operation)."""
    today = svc.now().date()
    return today if current.business_date is None or current.business_date < today else current.business_date


def may_read_all(principal: Principal) -> bool:
    return principal.kind == "staff" and principal.role in STAFF_READERS


def owns(principal: Principal, owner: Owner) -> bool:
    if principal.kind == "borrower":
        return owner.person_id is not None and owner.person_id == principal.person_id
    if principal.kind == "partner":
        return owner.partner_id is not None and owner.partner_id == principal.id
    return may_read_all(principal)


def check_owner(principal: Principal, owner: Owner, what: str) -> None:
    """404 unless the caller may see the object (see the module docstring)."""
    if owner.application_id is None and not may_read_all(principal):
        raise not_found(what)
    if not owns(principal, owner):
        raise not_found(what)


def mask_name(name: str) -> str:
    return name[:1] + "*" * max(len(name) - 1, 1)


def mask_mobile(mobile: str) -> str:
    """``138****5678`` (the country code dropped)."""
    digits = mobile.removeprefix("+86")
    return digits[:3] + "****" + digits[-4:] if len(digits) >= 7 else mobile_ids.mask(mobile)


def masked(value: Any) -> Any:
    """A copy of a JSON document with every resident ID, mobile and person's name masked."""
    if isinstance(value, dict):
        out = {}
        for key, item in value.items():
            if key in PII_KEYS and isinstance(item, str) and (key != "name" or "id_number" in value):
                out[key] = ric.mask(item) if "id_number" in key or key == "resident_id" else mask_mobile(item) if key == "mobile" else mask_name(item)
            else:
                out[key] = masked(item)
        return out
    if isinstance(value, list):
        return [masked(v) for v in value]
    return value


def jsonable(value: Any) -> Any:
    """Through JSON and back: what a stored document looks like once read again."""
    return json.loads(json.dumps(value, ensure_ascii=False, default=str))


# --- writes: idempotency and audit (smelend.api.idempotency, smelend.store.audit) ----------------------


async def post(request: Request, principal: Principal, work: Callable[[Connection, Any], tuple[int, Any]],
               prepare: Callable[[], Any] | None = None) -> Response:
    """A state-changing POST: ``prepare()`` (checks and slow reads, e.g. provider calls; no writes) first,
    then ``work(conn, prepared)`` in one transaction together with the stored idempotent response; a
    retry with the same Idempotency-Key is answered from the store before ``prepare`` runs."""
    from smelend.api.idempotency import idempotent

    return await idempotent(request, principal, work, prepare)


async def post_call(request: Request, principal: Principal, work: Callable[[], tuple[int, Any]]) -> Response:
    """A POST whose work commits on its own (servicing operations through the bank core)."""
    from smelend.api.idempotency import idempotent_call

    return await idempotent_call(request, principal, work)


async def post_call_storing_nonce(request: Request, principal: Principal, work: Callable[[Callable[[Connection], None]], tuple[int, Any]]) -> Response:
    """:func:`post_call` for a route authenticated ``for_work``: ``work(store_nonce)`` calls ``store_nonce(conn)``
    in its first write transaction (see :func:`smelend.api.idempotency.idempotent_call`)."""
    from smelend.api.idempotency import idempotent_call

    return await idempotent_call(request, principal, work, stores_nonce=True)


def audit(conn: Connection, principal: Principal | str, action: str, entity: str, entity_id: str | int,
          before: dict[str, Any] | None, after: dict[str, Any] | None) -> None:
    """One audit row in the caller's transaction (PII masked by the audit store)."""
    from smelend.store import audit as audit_store

    audit_store.record(conn, principal.key if isinstance(principal, Principal) else principal, action, entity, str(entity_id), before, after)


def count_decision(request: Request, outcome: str) -> None:
    request.app.state.metrics.decisions.labels(outcome=outcome).inc()


def notify(conn: Connection, svc: Service, partner_id: int | None, event: str, payload: dict[str, Any]) -> None:
    """Queue a callback to the partner an application came through, in the caller's transaction (ids and
    statuses only: the partner fetches the details through the API)."""
    if partner_id is None:
        return
    from smelend.store import callbacks

    callbacks.enqueue(conn, partner_id, event, payload, svc.now())
