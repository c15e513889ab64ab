"""Loans: ``GET /v1/loans/{id}``, ``GET /v1/loans/{id}/payoff?date=`` (a quote; changes nothing) and
``POST /v1/loans/{id}/repayments`` (money paid in, applied in the product's allocation order).

A repayment is dated by the body's ``date`` or the current business date; one dated before the business
date, on a loan that is closed (or cancelled), or of a non-positive amount is a 422 naming the field and
writes nothing. The repayment runs through :func:`smelend.operations.repayments.repay` (received through
the bank core, then applied, in its own transactions) and the audit record follows it.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response
from sqlalchemy import select
from sqlalchemy.engine import Connection

from smelend.api.errors import ApiError, not_found
from smelend.api.principal import Principal
from smelend.api.routers import common
from smelend.api.routers.applications import ERRORS
from smelend.api.routers.common import RowId, business_today, check_owner, day_on, service
from smelend.api.schemas import LoanOut, PayoffOut, RepaymentIn, RepaymentOut
from smelend.api.security import authenticate, require_kind
from smelend.cli.servicing import allocation_document, loan_document
from smelend.errors import InvalidInput
from smelend.money import format_yuan, parse_yuan
from smelend.ledger.rules import Receipt
from smelend.operations import repayments as repayment_ops
from smelend.servicing.loan import LoanState
from smelend.store.db import reading
from smelend.store import origination as store
from smelend.store.lending import get_business_day, load_loan
from smelend.store.tables import loans

router = APIRouter(tags=["loans"])

def readable_loan(conn: Connection, principal: Principal, loan_id: int) -> store.Owner:
    """404 unless the loan exists and the caller may see it; its owner."""
    owner = store.owner_of_loan(conn, loan_id)
    if principal.kind == "staff":
        if not common.may_read_all(principal):
            raise ApiError(403, "role", f"needs a staff role among {', '.join(common.STAFF_READERS)}")
    else:
        check_owner(principal, owner, "loan")
    if owner.application_id is None and conn.scalar(select(loans.c.id).where(loans.c.id == loan_id)) is None:  # an owner is found through the loan
        raise not_found("loan")
    return owner


def parse_day(text: str | None, field: str, default: date) -> date:
    if text is None:
        return default
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise InvalidInput.one(field, f"not a date (YYYY-MM-DD): {text!r}") from None


@router.get("/v1/loans/{loan_id}", response_model=LoanOut, responses=ERRORS)
def get_loan(loan_id: RowId, request: Request, principal: Principal = Depends(authenticate)) -> dict[str, Any]:
    with reading(service(request).engine) as conn:
        readable_loan(conn, principal, loan_id)
        return loan_document(load_loan(conn, loan_id).state)


@router.get("/v1/loans/{loan_id}/payoff", response_model=PayoffOut, responses=ERRORS)
def payoff(
    loan_id: RowId,
    request: Request,
    date_: str | None = Query(None, alias="date", pattern=r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$", description="Payoff date, YYYY-MM-DD (default: the current business date)."),
    principal: Principal = Depends(authenticate),
) -> dict[str, Any]:
    """What pays the loan off on a date: principal, interest to date, penalty, fees."""
    svc = service(request)
    with reading(svc.engine) as conn:
        readable_loan(conn, principal, loan_id)
        day = parse_day(date_, "date", business_today(conn, svc))
    quote = repayment_ops.quote(svc.book, loan_id, day)
    return {
        "date": quote.as_of.isoformat(),
        "total": format_yuan(quote.total_fen),
        "principal": format_yuan(quote.principal_fen),
        "interest": format_yuan(quote.interest_fen),
        "penalty": format_yuan(quote.penalty_fen),
        "fee": format_yuan(quote.fee_fen),
    }


@router.post("/v1/loans/{loan_id}/repayments", status_code=201, response_model=RepaymentOut, responses=ERRORS)
async def repay(loan_id: RowId, body: RepaymentIn, request: Request, principal: Principal = Depends(require_kind("borrower", "partner"))) -> Response:
    """Pay money in: 201 with how it was allocated and the loan afterwards."""
    svc = service(request)

    def work() -> tuple[int, dict[str, Any]]:
        with reading(svc.engine) as conn:
            owner = readable_loan(conn, principal, loan_id)  # who owns a loan never changes
            current = get_business_day(conn)
        day = parse_day(body.date, "date", day_on(current, svc))
        amount_fen = parse_yuan(body.amount, "amount")
        if amount_fen <= 0:
            raise InvalidInput.one("amount", "must be greater than zero")

        def record(conn: Connection, state: LoanState, applied: Receipt) -> None:  # with the money, in its transaction
            common.notify(conn, svc, owner.partner_id, "loan.repaid", {"loan": loan_id, "status": state.status.value})
            common.audit(conn, principal, "loan.repay", "loan", loan_id, None, {
                "amount": format_yuan(amount_fen), "date": day.isoformat(), "allocation": allocation_document(applied), "status": state.status.value,
            })

        state, applied = repayment_ops.repay(svc.book, loan_id, amount_fen, day, record, current=current)
        return 201, {"allocation": allocation_document(applied), "loan": loan_document(state)}

    return await common.post_call(request, principal, work)
