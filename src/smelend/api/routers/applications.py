"""``POST /v1/applications`` (apply and get decided), ``GET /v1/applications`` and ``GET /v1/applications/{id}``.

Applying: the body is checked (identifiers by :mod:`smelend.ids`, money, product, channel) before
anything else; provider data is gathered (with the applicant's consent: no ``consent.data_use``, a 422
and nothing fetched), the owner's exposure at the bank is read from the book, and the risk engine decides
and prices. Then, in one transaction: the person (PII encrypted) and enterprise are registered when new,
and the application, its decision (the whole document, encrypted), its offer (an approval only; a referral
gets its offer when a reviewer approves it) and the audit record are written.

Who may apply: a borrower (the bank's app), only as themself — an applicant whose resident ID is not the
signed-in borrower's is refused with **403** naming ``applicant.id_number`` — or a partner platform
(signed), for any applicant; staff do not apply (403).

Channels: the body's ``channel`` is a pricing channel id (``pricing.yaml`` ``acquisition.channels``),
or ``app`` (-> ``own-app``) or ``partner`` (-> :data:`DEFAULT_PARTNER_CHANNEL`); by default a partner's
application comes through ``partner`` and a borrower's through ``app``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import timezone
from typing import Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse
from sqlalchemy.engine import Connection

from smelend.api.errors import ApiError, forbidden, not_found
from smelend.api.principal import Principal
from smelend.api.routers import common
from smelend.api.routers.common import PublicId, Service, business_today, check_owner, may_read_all, service
from smelend.api.schemas import ApplicationIn, ApplicationOut, ApplicationPage, ErrorOut
from smelend.api.security import authenticate, require_kind
from smelend.errors import Collector, FieldError, InvalidInput
from smelend.money import format_yuan, parse_yuan
from smelend.risk.decision import Decision, decide
from smelend.risk.providers.base import check_consent, gather, with_source
from smelend.risk.schemas import Application, parse
from smelend.store.db import reading
from smelend.store import repositories
from smelend.store import origination as store
from smelend.store.exposure import owner_exposure

router = APIRouter(tags=["applications"])

GENERIC_CHANNELS = {"app": "own-app"}
DEFAULT_PARTNER_CHANNEL = "partner-ecommerce"
STATUS_OF_OUTCOME = {"approve": "approved", "decline": "declined", "refer": "referred"}
ERRORS: dict[int | str, dict[str, Any]] = {403: {"model": ErrorOut}, 404: {"model": ErrorOut}, 422: {"model": ErrorOut}}


def pricing_channel(svc: Service, given: str | None, principal: Principal) -> str:
    channels = svc.pricer.settings.acquisition.channels
    wanted = given or ("partner" if principal.kind == "partner" else "app")
    if wanted == "partner":
        return DEFAULT_PARTNER_CHANNEL if DEFAULT_PARTNER_CHANNEL in channels else svc.pricer.settings.acquisition.default_channel
    wanted = GENERIC_CHANNELS.get(wanted, wanted)
    if wanted not in channels:
        raise InvalidInput.one("channel", f"unknown channel {given!r} (known: app, partner, {', '.join(channels)})")
    return wanted


def _prefixed(exc: InvalidInput, prefix: str, names: dict[str, str] | None = None) -> InvalidInput:
    names = names or {}
    return InvalidInput([FieldError(names.get(e.field, f"{prefix}.{e.field}"), e.reason) for e in exc.errors])


@dataclass(frozen=True)
class Decided:
    """What :func:`decide_application` hands to :func:`record_application`."""

    application: Application
    decision: Decision
    applicant: repositories.Person | None
    """The applicant as the decision's read found them (None: not registered then). Persons are never
    deleted, so a found one needs no second look-up; an unknown one is inserted first and looked up only
    when a concurrent application registered them meanwhile."""


def decide_application(svc: Service, principal: Principal, body: ApplicationIn) -> Decided:
    """Check the application, gather its evidence and decide it; writes nothing."""
    found = Collector()
    product = svc.catalogue.get(body.product)
    if product is None:
        found.add("product", f"no such product {body.product!r} (known: {', '.join(svc.catalogue)})")
    requested_fen = 0
    try:
        requested_fen = parse_yuan(body.requested_amount, "requested_amount")
        if requested_fen <= 0:
            found.add("requested_amount", "must be greater than zero")
    except InvalidInput as exc:
        found.errors.extend(exc.errors)
    channel = ""
    try:
        channel = pricing_channel(svc, body.channel, principal)
    except InvalidInput as exc:
        found.errors.extend(exc.errors)
    if not body.consent.data_use:
        found.add("consent.data_use", "the applicant has not consented to the use of their data; nothing was fetched")
    found.raise_if_any()
    with reading(svc.engine) as conn:  # everything the store tells, before any provider call
        person: repositories.Person | None = None
        if principal.kind == "borrower":
            assert principal.person_id is not None
            person = repositories.get_person(conn, principal.person_id)
            if person.resident_id != body.applicant.id_number:
                raise forbidden("applicant.id_number", "a borrower may only apply as themself")
        applied_on = business_today(conn, svc)
        now = svc.now()
        application = parse(Application, {
            "id": store.new_id("APP"),
            "applicant": body.applicant.model_dump(mode="json"),
            "enterprise": body.enterprise.model_dump(mode="json"),
            "product_id": body.product,
            "requested_amount_fen": requested_fen,
            "channel": channel,
            "consent": {
                "data_use": body.consent.data_use,
                "bureau_query": body.consent.bureau_query,
                "granted_at": (body.consent.granted_at or now).isoformat(),
                "channel": channel,
                "text_version": body.consent.text_version,
            },
            "applied_on": applied_on.isoformat(),
        })
        check_consent(application)
        if principal.kind != "borrower":
            person = repositories.find_person_by_resident_id(conn, application.applicant.id_number)
        exposure = owner_exposure(conn, person, application.enterprise.uscc)
    clock = lambda: svc.now().astimezone(timezone.utc)  # noqa: E731
    evidence = gather(application, svc.provider, clock=clock, concurrency=svc.provider_concurrency)
    evidence = with_source(evidence, "exposure", exposure, provider="store", clock=clock)
    return Decided(application, decide(application, evidence, svc.strategy, product, svc.pricer), person)


def record_application(conn: Connection, svc: Service, principal: Principal, decided: Decided) -> dict[str, Any]:
    """Write the person, enterprise, application, decision, offer and audit record (caller's transaction);
    returns the application as ``GET /v1/applications/{id}`` will show it, built from what was written
    (reading it all back would cost a third of the request)."""
    application, decision = decided.application, decided.decision
    applicant, enterprise = application.applicant, application.enterprise
    person = decided.applicant
    if person is None:
        try:
            person_id = repositories.add_person_if_new(conn, applicant.name, applicant.id_number, applicant.mobile)
        except InvalidInput as exc:
            raise _prefixed(exc, "applicant", {"resident_id": "applicant.id_number"}) from None
        if person_id is None:  # registered by a concurrent application since the decision's read
            person = repositories.find_person_by_resident_id(conn, applicant.id_number)
            assert person is not None, "the insert met a duplicate resident ID, so the row exists"
        else:  # the application's identifiers are already in their checked form (the risk schema's validators)
            person = repositories.Person(person_id, applicant.name, applicant.id_number, applicant.mobile, None, svc.now())
    try:
        registered, _ = repositories.get_or_create_enterprise(conn, enterprise.uscc, enterprise.name, person.id, owner_exists=True)
    except InvalidInput as exc:
        raise _prefixed(exc, "enterprise") from None
    status = STATUS_OF_OUTCOME[decision.outcome]
    row = {
        "id": application.id, "person_id": person.id, "enterprise_id": registered.id, "product_id": application.product_id,
        "requested_fen": application.requested_amount_fen, "channel": application.channel,
        "partner_id": principal.id if principal.kind == "partner" else None,
        "user_id": principal.id if principal.kind == "borrower" else None, "status": status, "applied_on": application.applied_on,
    }
    store.insert_application(conn, **row)
    document = decision.to_dict()  # the brief and the offer below read only its JSON-native parts (strings, numbers, lists)
    text = json.dumps(document, ensure_ascii=False, default=str)  # encoded once, stored as is
    decision_row = {"id": store.new_id("DEC"), "outcome": decision.outcome, "limit_fen": decision.limit_fen, "document": document}
    store.insert_decision(conn, id=decision_row["id"], application_id=application.id, outcome=decision.outcome, limit_fen=decision.limit_fen,
                          strategy_sha256=decision.versions["strategy"]["sha256"], document=document, document_text=text)
    offer_row = None
    if decision.outcome == "approve" and decision.offer is not None:
        offer_row = {"id": store.new_id("OFR"), "status": "open", "line_id": None, "decision_id": decision_row["id"], "document": document["offer"]}
        store.insert_offer(conn, id=offer_row["id"], decision_id=decision_row["id"], offer=decision.offer, limit_fen=decision.limit_fen)
    offer_id = None if offer_row is None else offer_row["id"]
    common.notify(conn, svc, principal.id if principal.kind == "partner" else None, "application.decided", {
        "application": application.id, "status": status, "decision": decision_row["id"], "outcome": decision.outcome, "offer": offer_id,
    })
    common.audit(conn, principal, "application.create", "application", application.id, None, {
        "status": status, "product": application.product_id, "requested": format_yuan(application.requested_amount_fen),
        "channel": application.channel, "decision": decision_row["id"], "outcome": decision.outcome,
        "limit": format_yuan(decision.limit_fen), "offer": offer_id,
    })
    return application_document(row, person, registered, decision_row, offer_row)


# --- documents ------------------------------------------------------------------------------------------


def decision_brief(row: dict[str, Any]) -> dict[str, Any]:
    document = row["document"]
    offer = document.get("offer")
    brief = {
        "id": row["id"],
        "outcome": row["outcome"],
        "limit": format_yuan(row["limit_fen"]),
        "annual_rate": None if offer is None else str(offer["annual_rate"]),
        "apr": None if offer is None else {m["method"]: str(m["apr"]) for m in offer["methods"]},
        "reasons": [{k: r[k] for k in ("code", "text", "source", "effect")} for r in document["reasons"]],
        "grade": document["acting"]["grade"],
        "pd": document["acting"]["pd"],
        "review": None,
    }
    if row.get("review_outcome"):
        brief["review"] = {"outcome": row["review_outcome"], "comment": row["review_comment"], "reviewer": row["reviewed_by"]}
    return brief


def offer_out(offer: dict[str, Any] | None) -> dict[str, Any] | None:
    if offer is None:
        return None
    return {**offer["document"], "id": offer["id"], "status": offer["status"], "line": offer["line_id"], "decision": offer["decision_id"]}


def application_out(conn: Connection, row: dict[str, Any]) -> dict[str, Any]:
    """An application as stored, with its person (masked), enterprise, decision and offer."""
    decision = store.decision_of_application(conn, row["id"])
    offer = None if decision is None else store.offer_of_decision(conn, decision["id"])
    person = repositories.get_person(conn, row["person_id"])
    return application_document(row, person, repositories.get_enterprise(conn, row["enterprise_id"]), decision, offer)


def application_document(row: dict[str, Any], person: repositories.Person, enterprise: repositories.Enterprise,
                         decision: dict[str, Any] | None, offer: dict[str, Any] | None) -> dict[str, Any]:
    return {
        "id": row["id"],
        "status": row["status"],
        "product": row["product_id"],
        "requested_amount": format_yuan(row["requested_fen"]),
        "channel": row["channel"],
        "applied_on": row["applied_on"].isoformat(),
        "applicant": {"name": common.mask_name(person.name), "id_number": common.ric.mask(person.resident_id), "mobile": common.mask_mobile(person.mobile)},
        "enterprise": {"id": enterprise.id, "name": enterprise.name, "uscc": enterprise.uscc},
        "decision": None if decision is None else decision_brief(decision),
        "offer": offer_out(offer),
    }


# --- routes ---------------------------------------------------------------------------------------------


@router.post("/v1/applications", status_code=201, response_model=ApplicationOut, responses=ERRORS)
async def apply(body: ApplicationIn, request: Request, principal: Principal = Depends(require_kind("borrower", "partner", for_work=True))) -> JSONResponse:
    """Apply for a credit line and get the decision (and, when approved, the offer) at once."""
    svc = service(request)
    decided: list[str] = []  # the outcome, once written (counted in the metrics; a replay is not)

    def prepare() -> Decided:
        return decide_application(svc, principal, body)

    def write(conn: Connection, prepared: Decided) -> tuple[int, dict[str, Any]]:
        document = record_application(conn, svc, principal, prepared)
        decided.append(prepared.decision.outcome)
        return 201, document

    response = await common.post(request, principal, write, prepare)
    if response.status_code == 201 and decided:
        common.count_decision(request, decided[0])
    return response


@router.get("/v1/applications", response_model=ApplicationPage, responses=ERRORS)
def list_applications(
    request: Request,
    cursor: str | None = Query(None, max_length=40, pattern=r"^[A-Z]{3}-[0-9A-F]+$", description="The `next` of the previous page."),
    limit: int = Query(20, ge=1, le=store.PAGE_MAX),
    principal: Principal = Depends(authenticate),
) -> dict[str, Any]:
    """The caller's own applications, newest first (staff with a reading role: everyone's)."""
    svc = service(request)
    if principal.kind == "staff" and not may_read_all(principal):
        raise ApiError(403, "role", "needs a staff role among admin, auditor, operations, risk")
    with reading(svc.engine) as conn:
        rows = store.list_applications(
            conn,
            person_id=principal.person_id if principal.kind == "borrower" else None,
            partner_id=principal.id if principal.kind == "partner" else None,
            everyone=principal.kind == "staff",
            after=cursor,
            limit=limit + 1,
        )
        page = rows[:limit]
        return {"items": [application_out(conn, r) for r in page], "next": page[-1]["id"] if len(rows) > limit else None}


@router.get("/v1/applications/{application_id}", response_model=ApplicationOut, responses=ERRORS)
def get_application(application_id: PublicId, request: Request, principal: Principal = Depends(authenticate)) -> dict[str, Any]:
    svc = service(request)
    with reading(svc.engine) as conn:
        check_owner(principal, store.owner_of_application(conn, application_id), "application")
        row = store.get_application(conn, application_id)
        if row is None:
            raise not_found("application")
        return application_out(conn, row)
