"""Credit lines: ``GET /v1/lines/{id}``, ``GET /v1/lines/{id}/contract`` (the accepted HTML, its SHA-256 in
the ``X-Contract-SHA256`` header), ``POST /v1/lines/{id}/draws`` (the owner draws: a loan disbursed through
the bank core) and ``POST /v1/lines/{id}/freeze`` / ``unfreeze`` (operations staff).

A draw is dated the current business date. It is checked first (line active and within validity, amount
within the available, method and term offered by the product), so a refused draw writes nothing; then
:func:`smelend.operations.lines.draw` reserves the line, records the loan, disburses with retries and
activates it, in its own transactions (the bank-core call cannot be inside one), and the audit record is
written right after; the idempotent response is stored with it. A disbursement the bank core still refuses
is **503** and cancels the loan (the line is given back).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy.engine import Connection

from smelend.api.errors import ApiError, not_found
from smelend.api.principal import Principal
from smelend.api.routers import common
from smelend.api.routers.applications import ERRORS
from smelend.api.routers.common import RowId, check_owner, day_on, service
from smelend.api.schemas import DrawIn, LineOut, LoanOut
from smelend.api.security import authenticate, require_kind, require_roles
from smelend.cli.servicing import line_document, loan_document
from smelend.money import format_yuan, parse_yuan
from smelend.operations import lines as line_ops
from smelend.servicing.credit_line import LineStatus
from smelend.servicing.loan import LoanState
from smelend.store.db import reading
from smelend.store import origination as store
from smelend.store.lending import get_business_day, get_line, set_line_status
from smelend.store.tables import credit_lines

router = APIRouter(tags=["lines"])


def _line_exists(conn: Connection, line_id: int) -> bool:
    from sqlalchemy import select

    return conn.scalar(select(credit_lines.c.id).where(credit_lines.c.id == line_id)) is not None


def readable_line(conn: Connection, principal: Principal, line_id: int) -> store.Owner:
    """404 unless the line exists and the caller may see it (operator-opened lines: staff only); its owner."""
    owner = store.owner_of_line(conn, line_id)
    if principal.kind == "staff":
        if not common.may_read_all(principal):
            raise ApiError(403, "role", f"needs a staff role among {', '.join(common.STAFF_READERS)}")
    else:
        check_owner(principal, owner, "line")
    if owner.application_id is None and not _line_exists(conn, line_id):  # an owner is found through the line's offer
        raise not_found("line")
    return owner


@router.get("/v1/lines/{line_id}", response_model=LineOut, responses=ERRORS)
def get_line_route(line_id: RowId, request: Request, principal: Principal = Depends(authenticate)) -> dict[str, Any]:
    with reading(service(request).engine) as conn:
        readable_line(conn, principal, line_id)
        return line_document(get_line(conn, line_id))


@router.get("/v1/lines/{line_id}/contract", response_class=HTMLResponse, responses=ERRORS)
def get_contract(line_id: RowId, request: Request, principal: Principal = Depends(authenticate)) -> HTMLResponse:
    """The contract the borrower accepted for this line, as stored (its SHA-256 in ``X-Contract-SHA256``)."""
    with reading(service(request).engine) as conn:
        readable_line(conn, principal, line_id)
        found = store.contract_of_line(conn, line_id)
    if found is None:
        raise not_found("contract")
    return HTMLResponse(found["html"], headers={"X-Contract-SHA256": found["sha256"]})


@router.post("/v1/lines/{line_id}/draws", status_code=201, response_model=LoanOut, responses={**ERRORS, 503: ERRORS[422]})
async def draw(line_id: RowId, body: DrawIn, request: Request, principal: Principal = Depends(require_kind("borrower", "partner", for_work=True))) -> Response:
    """Draw on the line: 201 with the loan (top-level ``id``) and its schedule."""
    svc = service(request)

    def work(store_nonce: Callable[[Connection], None]) -> tuple[int, dict[str, Any]]:  # a partner's nonce: with the reservation
        amount_fen = parse_yuan(body.amount, "amount")
        with reading(svc.engine) as conn:
            owner = readable_line(conn, principal, line_id)  # who owns a line never changes
            current = get_business_day(conn)
        day = day_on(current, svc)

        def record(conn: Connection, state: LoanState) -> None:  # with the loan's activation, in its transaction
            common.notify(conn, svc, owner.partner_id, "loan.disbursed", {"line": line_id, "loan": state.id, "status": state.status.value})
            common.audit(conn, principal, "line.draw", "loan", state.id, None, {
                "line": line_id, "amount": format_yuan(amount_fen), "method": body.method.value, "term": body.term, "date": day.isoformat(),
            })

        try:
            state = line_ops.draw(svc.book, line_ops.DrawRequest(line_id, amount_fen, body.method, body.term, day), record, on_reserve=store_nonce, current=current)
        except line_ops.DisbursementFailed:
            raise ApiError(503, "disbursement", "the bank core refused the disbursement; the draw was cancelled, try again later") from None
        return 201, loan_document(state)

    return await common.post_call_storing_nonce(request, principal, work)


def _set_status(request: Request, principal: Principal, line_id: int, frozen: bool) -> Any:
    def work(conn: Connection, _: Any) -> tuple[int, dict[str, Any]]:
        if not _line_exists(conn, line_id):
            raise not_found("line")
        before = get_line(conn, line_id, for_update=True)
        if frozen:
            line = set_line_status(conn, line_id, LineStatus.FROZEN, [LineStatus.ACTIVE])
        else:
            line = set_line_status(conn, line_id, LineStatus.ACTIVE, [LineStatus.FROZEN])
        common.audit(conn, principal, "line.freeze" if frozen else "line.unfreeze", "line", line_id, {"status": before.status.value}, {"status": line.status.value})
        return 200, line_document(line)

    return common.post(request, principal, work)


@router.post("/v1/lines/{line_id}/freeze", response_model=LineOut, responses=ERRORS)
async def freeze(line_id: RowId, request: Request, principal: Principal = Depends(require_roles("operations"))) -> Response:
    """Freeze an active line: no new draws until it is unfrozen (loans run on)."""
    return await _set_status(request, principal, line_id, True)


@router.post("/v1/lines/{line_id}/unfreeze", response_model=LineOut, responses=ERRORS)
async def unfreeze(line_id: RowId, request: Request, principal: Principal = Depends(require_roles("operations"))) -> Response:
    """Unfreeze a frozen line."""
    return await _set_status(request, principal, line_id, False)
