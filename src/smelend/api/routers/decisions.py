"""Decisions: ``GET /v1/decisions/{id}`` (inputs, versions, trace, reasons), ``POST .../replay`` (risk, auditor),
``POST .../review`` (risk: a referral approved — it gets its offer — or declined), ``GET /v1/reviews``.

Who sees a decision: its owner (the borrower, or the partner it came through) and staff with the risk,
auditor or admin role; personal data in the stored inputs is masked in every answer.

Replay re-runs the stored inputs with the service's loaded strategy and pricing files; when the decision
was made with other ones (their SHA-256s differ), the answer is **409** naming ``strategy`` or
``pricing`` and the hash recorded. ``matches`` says whether the replayed decision equals the stored one
in every field.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from sqlalchemy.engine import Connection

from smelend.api.errors import ApiError, not_found
from smelend.api.principal import Principal
from smelend.api.routers import common
from smelend.api.routers.applications import ERRORS, STATUS_OF_OUTCOME, decision_brief, offer_out
from smelend.api.routers.common import PublicId, check_owner, service
from smelend.api.schemas import ReplayOut, ReviewIn
from smelend.api.security import authenticate, require_roles
from smelend.errors import InvalidInput
from smelend.money import format_yuan
from smelend.risk.decision import replay
from smelend.store.db import reading
from smelend.store import origination as store

router = APIRouter(tags=["decisions"])

DECISION_READERS = ("risk", "auditor", "admin")


def decision_out(row: dict[str, Any]) -> dict[str, Any]:
    document = row["document"]
    shadow = document.get("shadow")
    return {
        **decision_brief(row),
        "application_id": row["application_id"],
        "requested": format_yuan(document["requested_fen"]),
        "score": document["acting"]["score"],
        "group": document["group"],
        "assignment": document["assignment"],
        "shadow": None if shadow is None else {"model": shadow["model"], "pd": shadow["pd"], "grade": shadow["grade"]},
        "price": document.get("price"),
        "offer": document.get("offer"),
        "versions": document["versions"],
        "policy_trace": document["policy_trace"],
        "limit_trace": document["limit_trace"],
        "features": document["features"],
        "inputs": common.masked(document["inputs"]),
    }


def _readable(conn: Connection, principal: Principal, decision_id: str) -> dict[str, Any]:
    owner = store.owner_of_decision(conn, decision_id)
    if principal.kind == "staff":
        if principal.role not in DECISION_READERS:
            raise ApiError(403, "role", f"needs a staff role among {', '.join(DECISION_READERS)}")
        if owner.application_id is None:
            raise not_found("decision")
    else:
        check_owner(principal, owner, "decision")
    row = store.get_decision(conn, decision_id)
    if row is None:
        raise not_found("decision")
    return row


@router.get("/v1/decisions/{decision_id}", responses=ERRORS)
def get_decision(decision_id: PublicId, request: Request, principal: Principal = Depends(authenticate)) -> dict[str, Any]:
    """A decision with its inputs (PII masked), versions, policy and limit trace, features and reasons."""
    with reading(service(request).engine) as conn:
        return decision_out(_readable(conn, principal, decision_id))


@router.post("/v1/decisions/{decision_id}/replay", response_model=ReplayOut, responses={**ERRORS, 409: ERRORS[422]})
async def replay_decision(decision_id: PublicId, request: Request, principal: Principal = Depends(require_roles("risk", "auditor"))) -> Response:
    """Re-run a stored decision with the loaded strategy and pricing; ``matches`` says whether it is the same."""
    svc = service(request)

    def prepare() -> dict[str, Any]:
        with reading(svc.engine) as conn:
            row = _readable(conn, principal, decision_id)
        try:
            replayed = replay(row["document"], svc.strategy, svc.pricer)
        except InvalidInput as exc:
            raise ApiError(409, exc.first.field, f"cannot replay with the loaded files: {exc.first.reason}") from None
        document = common.jsonable(replayed.to_dict())
        differences = sorted(k for k in set(document) | set(row["document"]) if document.get(k) != row["document"].get(k))
        shown = decision_out({**row, "outcome": replayed.outcome, "limit_fen": replayed.limit_fen, "document": document, "review_outcome": None})
        return {"decision": shown, "matches": not differences, "differences": differences}

    def work(conn: Connection, result: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        common.audit(conn, principal, "decision.replay", "decision", decision_id, None, {"matches": result["matches"], "differences": result["differences"]})
        return 200, result

    return await common.post(request, principal, work, prepare)


@router.get("/v1/reviews", responses=ERRORS)
def pending_reviews(request: Request, principal: Principal = Depends(require_roles("risk", "auditor"))) -> dict[str, Any]:
    """Referred decisions waiting for a reviewer, oldest first."""
    with reading(service(request).engine) as conn:
        rows = store.pending_reviews(conn)
    return {"items": [{"decision": r["id"], "application": r["application_id"], "limit": format_yuan(r["limit_fen"]), "created_at": r["created_at"]} for r in rows]}


@router.post("/v1/decisions/{decision_id}/review", responses=ERRORS)
async def review_decision(decision_id: PublicId, body: ReviewIn, request: Request, principal: Principal = Depends(require_roles("risk"))) -> Response:
    """Approve (the referral's offer is made) or decline a referred decision, with a comment."""

    def work(conn: Connection, _: Any) -> tuple[int, dict[str, Any]]:
        row = store.get_decision(conn, decision_id)
        if row is None or store.owner_of_decision(conn, decision_id).application_id is None:
            raise not_found("decision")
        if row["outcome"] != "refer" or row["review_outcome"] is not None:
            raise InvalidInput.one("decision", "is not a referral waiting for review")
        offer = row["document"].get("offer")
        if body.outcome == "approve" and (offer is None or row["limit_fen"] <= 0):
            raise InvalidInput.one("outcome", "the referral has no priced line to offer; decline it or ask for a new application")
        store.record_review(conn, decision_id, body.outcome, principal.id, body.comment)
        status = STATUS_OF_OUTCOME[body.outcome]
        store.set_application_status(conn, row["application_id"], status, ("referred",))
        offer_id = None
        if body.outcome == "approve":
            offer_id = store.new_id("OFR")
            store.insert_offer(conn, id=offer_id, decision_id=decision_id, offer=offer, limit_fen=row["limit_fen"])
        application = store.get_application(conn, row["application_id"])
        assert application is not None
        common.notify(conn, service(request), application["partner_id"], "application.reviewed", {
            "application": row["application_id"], "status": status, "decision": decision_id, "offer": offer_id,
        })
        common.audit(conn, principal, f"decision.review.{body.outcome}", "decision", decision_id,
                     {"outcome": "refer", "application_status": "referred"},
                     {"review": body.outcome, "comment": body.comment, "application_status": status, "offer": offer_id})
        updated = store.get_decision(conn, decision_id)
        assert updated is not None
        return 200, {**decision_brief(updated), "application_id": row["application_id"], "offer": offer_out(store.offer_of_decision(conn, decision_id))}

    return await common.post(request, principal, work)
