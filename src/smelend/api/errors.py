"""Errors as HTTP answers, each naming the field at fault.

* bad input (:class:`~smelend.errors.InvalidInput` from the core, or a request pydantic rejects:
  unknown fields, wrong types, invalid identifiers) -> **422**
  ``{"detail": [{"field": "applicant.id_number", "reason": "..."}]}``; the field is the dotted path in
  the request (body fields without a ``body.`` prefix; query parameters by their name);
* :class:`ApiError` -> its status with the same body shape (403 naming a field, 404, 409);
* :class:`~smelend.store.lending.ConcurrentChange` -> 409 (someone changed the object first: retry);
* anything else -> 500 ``{"detail": "internal error"}`` with no exception text (which could hold PII).

Nothing here logs the request or the input values: error reasons name fields, never echo personal data.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from smelend.errors import FieldError, InvalidInput
from smelend.risk.schemas import field_path

log = logging.getLogger("smelend.api")

LOCATION_PREFIXES = ("body", "query", "path", "header", "cookie")


class ApiError(Exception):
    """An answer other than 422: 403 (not allowed), 404 (no such object for this caller), 409 (conflict)."""

    def __init__(self, status: int, field: str, reason: str):
        super().__init__(f"{field}: {reason}")
        self.status, self.errors = status, (FieldError(field, reason),)


def not_found(what: str) -> ApiError:
    """One answer for "does not exist" and "is not yours": callers cannot probe other callers' ids."""
    return ApiError(404, what, "not found")


def forbidden(field: str, reason: str) -> ApiError:
    return ApiError(403, field, reason)


def body(errors: tuple[FieldError, ...] | list[FieldError]) -> dict[str, Any]:
    return {"detail": [{"field": e.field, "reason": e.reason} for e in errors]}


def _validation_errors(exc: RequestValidationError) -> list[FieldError]:
    found = []
    for err in exc.errors():
        loc = tuple(err.get("loc", ()))
        if loc and loc[0] in LOCATION_PREFIXES:
            loc = loc[1:]
        reason = str(err.get("msg", "is invalid"))
        if reason.startswith("Value error, "):
            reason = reason[len("Value error, ") :]
        kind = err.get("type")
        if kind == "missing":
            reason = "is required"
        elif kind == "extra_forbidden":
            reason = "is not a known field"
        elif kind in ("json_invalid", "model_attributes_type") and not loc:
            reason = "the body must be a JSON object"
        found.append(FieldError(field_path(loc, "") if loc else "body", reason))
    return found or [FieldError("body", "is invalid")]


def install(app: FastAPI) -> None:
    @app.exception_handler(InvalidInput)
    async def _invalid(request: Request, exc: InvalidInput) -> JSONResponse:
        return JSONResponse(body(exc.errors), status_code=422)

    @app.exception_handler(RequestValidationError)
    async def _request_invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        return JSONResponse(body(_validation_errors(exc)), status_code=422)

    @app.exception_handler(ApiError)
    async def _api_error(request: Request, exc: ApiError) -> JSONResponse:
        return JSONResponse(body(exc.errors), status_code=exc.status)

    from smelend.store.lending import ConcurrentChange

    @app.exception_handler(ConcurrentChange)
    async def _conflict(request: Request, exc: ConcurrentChange) -> JSONResponse:
        return JSONResponse(body([FieldError("request", "the object changed concurrently; retry")]), status_code=409)

    @app.exception_handler(Exception)
    async def _internal(request: Request, exc: Exception) -> JSONResponse:
        log.error("internal error on %s %s: %s", request.method, request.url.path, type(exc).__name__)
        return JSONResponse({"detail": "internal error"}, status_code=500)
