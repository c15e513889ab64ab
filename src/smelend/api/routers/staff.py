"""``GET /v1/audit``: the audit trail, for auditors (and admins), oldest first, paged by id."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Query, Request

from smelend.api.principal import Principal
from smelend.api.routers.applications import ERRORS
from smelend.api.routers.common import service
from smelend.api.schemas import AuditPage
from smelend.api.security import require_roles
from smelend.store.db import reading
from smelend.store import audit as audit_store

router = APIRouter(tags=["staff"])


@router.get("/v1/audit", response_model=AuditPage, responses=ERRORS)
def audit_trail(
    request: Request,
    after: int | None = Query(None, ge=0, le=2**62, description="The `next` of the previous page."),
    limit: int = Query(100, ge=1, le=audit_store.MAX_LIST),
    entity: str | None = Query(None, min_length=1, max_length=audit_store.ENTITY_MAX_CHARS, pattern=r"^[a-z_.-]+$"),
    principal: Principal = Depends(require_roles("auditor")),
) -> dict[str, Any]:
    """Who changed what and when, with the state before and after (PII masked)."""
    with reading(service(request).engine) as conn:
        rows = audit_store.list_audit(conn, limit=limit + 1 if limit < audit_store.MAX_LIST else limit, after_id=after, entity=entity)
    page = rows[:limit]
    more = len(rows) > limit
    return {"items": [vars(r) for r in page], "next": str(page[-1].id) if more and page else None}
