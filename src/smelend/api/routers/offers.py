"""Offers: ``GET /v1/offers/{id}`` and ``POST /v1/offers/{id}/accept`` (the owner opens the credit line).

Accepting opens the line on the current business date for the offer's limit, rate and validity, renders
the electronic contract (limit, rate, each method's APR, fees and terms; :mod:`smelend.api.contract`) and
stores it encrypted with its SHA-256, marks the offer and the application accepted and writes the audit
record: all in one transaction (the book is first brought up to the business date, as any dated
servicing operation does).
"""

from __future__ import annotations

from typing import Any

from dateutil.relativedelta import relativedelta
from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from sqlalchemy.engine import Connection

from smelend.api import contract
from smelend.api.errors import not_found
from smelend.api.principal import Principal
from smelend.api.routers import common
from smelend.api.routers.applications import ERRORS, offer_out
from smelend.api.routers.common import PublicId, business_today, check_owner, service
from smelend.api.schemas import AcceptedOut, OfferOut
from smelend.api.security import authenticate, require_kind
from smelend.cli.servicing import line_document
from smelend.errors import InvalidInput
from smelend.money import format_yuan
from smelend.operations.lines import bring_to
from smelend.store.db import reading
from smelend.store import repositories
from smelend.store import origination as store
from smelend.store.lending import get_line, insert_line

router = APIRouter(tags=["offers"])

CONCENTRATION_WINDOW_DAYS = 30
CONCENTRATION_FLOOR_FEN = 100_000_000  # below 1,000,000 yuan of new lending in the window, no share is meaningful


def check_concentration(conn: Connection, partner_id: int, limit_fen: int, day: Any) -> None:
    """A partner may bring at most its ``max_lending_share`` of the lines opened in the last 30 days.

    The share is measured with this line included, once the window's new lending passes the floor (a new
    bank's first lines would otherwise all be refused); a refusal opens nothing.
    """
    from datetime import timedelta

    from smelend.store.access import get_partner

    share = get_partner(conn, partner_id).max_lending_share
    through_partner, total = store.new_lending_fen(conn, day - timedelta(days=CONCENTRATION_WINDOW_DAYS), partner_id)
    through_partner, total = through_partner + limit_fen, total + limit_fen
    if total >= CONCENTRATION_FLOOR_FEN and through_partner > share * total:
        raise InvalidInput.one("offer", f"PARTNER_CONCENTRATION_LIMIT: the partner would bring {through_partner / total:.1%} of the last "
                               f"{CONCENTRATION_WINDOW_DAYS} days' new lending; its limit is {share:.0%}")


@router.get("/v1/offers/{offer_id}", response_model=OfferOut, responses=ERRORS)
def get_offer(offer_id: PublicId, request: Request, principal: Principal = Depends(authenticate)) -> dict[str, Any]:
    with reading(service(request).engine) as conn:
        check_owner(principal, store.owner_of_offer(conn, offer_id), "offer")
        found = offer_out(store.get_offer(conn, offer_id))
    if found is None:
        raise not_found("offer")
    return found


@router.post("/v1/offers/{offer_id}/accept", status_code=201, response_model=AcceptedOut, responses=ERRORS)
async def accept_offer(offer_id: PublicId, request: Request, principal: Principal = Depends(require_kind("borrower", "partner"))) -> Response:
    """Accept an open offer: the credit line opens (201, the line with its ``id``) and the contract is stored."""
    svc = service(request)

    def prepare() -> None:
        with reading(svc.engine) as conn:
            check_owner(principal, store.owner_of_offer(conn, offer_id), "offer")
            offer = store.get_offer(conn, offer_id)
            if offer is None:
                raise not_found("offer")
            if offer["status"] != "open":
                raise InvalidInput.one("offer", f"is {offer['status']}: only an open offer can be accepted")
            day = business_today(conn, svc)
        bring_to(svc.book, day)  # close the days before, as every dated operation does

    def work(conn: Connection, _: Any) -> tuple[int, dict[str, Any]]:
        offer = store.get_offer(conn, offer_id)
        assert offer is not None
        if offer["status"] != "open":
            raise InvalidInput.one("offer", f"is {offer['status']}: only an open offer can be accepted")
        decision = store.get_decision(conn, offer["decision_id"])
        assert decision is not None
        application = store.get_application(conn, decision["application_id"])
        assert application is not None
        product = svc.catalogue[application["product_id"]]
        document = offer["document"]
        start = business_today(conn, svc)
        end = start + relativedelta(months=int(document["line_validity_months"]))
        from decimal import Decimal

        if application["partner_id"] is not None:
            check_concentration(conn, application["partner_id"], offer["limit_fen"], start)
        line_id = insert_line(conn, application["enterprise_id"], application["product_id"], offer["limit_fen"], Decimal(offer["annual_rate"]), start, end)
        store.accept_offer(conn, offer_id, line_id)
        store.set_application_status(conn, application["id"], "accepted", ("approved",))
        person = repositories.get_person(conn, application["person_id"])
        enterprise = repositories.get_enterprise(conn, application["enterprise_id"])
        html = contract.render(
            offer_id=offer_id, offer=document, product=product, enterprise_name=enterprise.name, uscc=enterprise.uscc,
            owner_name=person.name, owner_resident_id=person.resident_id, start=start, end=end, accepted_at=svc.now().isoformat(timespec="seconds"),
        )
        digest = contract.sha256(html)
        store.insert_contract(conn, offer_id=offer_id, line_id=line_id, html=html, sha256=digest)
        line = get_line(conn, line_id)
        common.notify(conn, svc, application["partner_id"], "line.opened", {"application": application["id"], "offer": offer_id, "line": line_id, "status": line.status.value})
        common.audit(conn, principal, "offer.accept", "offer", offer_id, {"status": "open"}, {
            "status": "accepted", "line": line_id, "limit": format_yuan(offer["limit_fen"]), "annual_rate": offer["annual_rate"],
            "start": start.isoformat(), "end": end.isoformat(), "contract_sha256": digest,
        })
        return 201, {**line_document(line), "offer": offer_id, "contract": {"url": f"/v1/lines/{line_id}/contract", "sha256": digest}}

    return await common.post(request, principal, work, prepare)
