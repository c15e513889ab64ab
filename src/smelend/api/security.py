"""Authentication and authorisation dependencies: who is calling, and may they call this endpoint.

Two ways in, never both on one request:

- ``Authorization: Bearer <token>``: an API user (:func:`smelend.store.access.create_user`): a staff
  member with a role, or a borrower acting through the bank's app;
- the partner signature headers (:mod:`smelend.api.signing`): a partner platform, then counted against
  its per-minute limit (:mod:`smelend.api.ratelimit`; 429 with Retry-After when over).

Anything else is 401. Endpoints declare what they need::

    @router.post("/v1/applications")
    async def apply(principal: Principal = Depends(require_kind("borrower", "partner"))): ...

    @router.get("/v1/portfolio")
    def portfolio(principal: Principal = Depends(require_roles("risk", "product"))): ...

FastAPI runs a dependency once per request even when several others depend on it, which matters here:
a signed request's nonce is spent on the first check. The engine comes from ``request.app.state.engine``;
the limiter from ``request.app.state.rate_limiter`` (one is created there when the app did not set it).
Refusals have the service's error shape, ``{"detail": [{"field", "reason"}]}`` (:mod:`smelend.api.errors`),
the field naming the header whose check failed (``Authorization``, ``X-Smelend-Signature``, ...) or
``role`` / ``kind`` for a 403; they never echo a token or a secret.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from fastapi import Depends, HTTPException, Request
from sqlalchemy.engine import Engine
from starlette.concurrency import run_in_threadpool

from smelend.api import signing
from smelend.api.principal import BORROWER, STAFF_ROLES, Principal
from smelend.api.ratelimit import RateLimiter, worker_share
from smelend.store.db import reading
from smelend.store import access

ADMIN = "admin"
KINDS = ("staff", "borrower", "partner")
BEARER = "bearer"
AUTHORIZATION = "Authorization"


def api_error(status: int, field: str, reason: str, headers: dict[str, str] | None = None) -> HTTPException:
    """A refusal in the service's error shape, ``{"detail": [{"field", "reason"}]}``, as an HTTPException
    (so it needs no exception handler: these modules work in any FastAPI app)."""
    return HTTPException(status_code=status, detail=[{"field": field, "reason": reason}], headers=headers)


def _unauthorized(field: str, reason: str) -> HTTPException:
    return api_error(401, field, reason, headers={"WWW-Authenticate": 'Bearer realm="smelend"'})


def refused_signature(exc: signing.SignatureError) -> HTTPException:
    """The response to a refused signed request (401 naming the header; 413 for an oversized body)."""
    if exc.status == 401:
        return _unauthorized(exc.field, exc.message)
    return api_error(exc.status, exc.field, exc.message)


def engine_of(request: Request) -> Engine:
    engine = getattr(request.app.state, "engine", None)
    assert isinstance(engine, Engine), "the app factory must set app.state.engine"
    return engine


def rate_limiter_of(request: Request) -> RateLimiter:
    limiter = getattr(request.app.state, "rate_limiter", None)
    if limiter is None:
        limiter = request.app.state.rate_limiter = RateLimiter()
    assert isinstance(limiter, RateLimiter)
    return limiter


async def authenticate(request: Request) -> Principal:
    """The :class:`Principal` making this request; 401 (JSON) when there is none, 429 for a partner over its limit."""
    return await _authenticate(request, defer_nonce=False)


async def authenticate_for_work(request: Request) -> Principal:
    """:func:`authenticate` for a route whose state change goes through :func:`smelend.api.idempotency.idempotent`
    or ``idempotent_call(..., stores_nonce=True)``, which store a partner's nonce in the work's own (first write)
    transaction (``signing.verify_request(defer_nonce=True)``)."""
    return await _authenticate(request, defer_nonce=True)


async def _authenticate(request: Request, defer_nonce: bool) -> Principal:
    engine = engine_of(request)
    authorization = request.headers.get("authorization")
    signed = any(request.headers.get(name) for name in signing.SIGNATURE_HEADERS)
    if authorization is not None and signed:
        raise _unauthorized(AUTHORIZATION, "send a bearer token or a partner signature, not both")
    if authorization is not None:
        return await _bearer(engine, authorization)
    if signed:
        return await _partner(request, engine, defer_nonce)
    raise _unauthorized(AUTHORIZATION, "is required: Bearer <token>, or sign the request (X-Smelend-* headers)")


async def _bearer(engine: Engine, authorization: str) -> Principal:
    scheme, _, token = authorization.strip().partition(" ")
    token = token.strip()
    if scheme.lower() != BEARER or not token:
        raise _unauthorized(AUTHORIZATION, "must be 'Bearer <token>'")
    if len(token) > access.TOKEN_MAX_CHARS:
        raise _unauthorized(AUTHORIZATION, "unknown or inactive token")
    user = await run_in_threadpool(_find_user, engine, token)
    if user is None or not user.active:
        raise _unauthorized(AUTHORIZATION, "unknown or inactive token")
    if user.role == BORROWER:
        assert user.person_id is not None, "a borrower user always names a person"
        return Principal(kind="borrower", id=user.id, name=user.name, role=BORROWER, person_id=user.person_id)
    return Principal(kind="staff", id=user.id, name=user.name, role=user.role)


def _find_user(engine: Engine, token: str) -> access.ApiUser | None:
    with reading(engine) as conn:
        return access.find_user_by_token(conn, token)


async def _partner(request: Request, engine: Engine, defer_nonce: bool) -> Principal:
    try:
        partner = await signing.verify_request(request, engine, defer_nonce=defer_nonce)
    except signing.SignatureError as exc:
        raise refused_signature(exc) from None
    share = worker_share(partner.rate_limit_per_minute, getattr(request.app.state, "workers", 1))
    wait = rate_limiter_of(request).check(f"partner:{partner.id}", share)
    if wait is not None:
        raise api_error(
            429, signing.KEY_ID_HEADER, f"more than {partner.rate_limit_per_minute} requests a minute", headers={"Retry-After": str(wait)}
        )
    return Principal(kind="partner", id=partner.id, name=partner.name)


def require_kind(*kinds: str, for_work: bool = False) -> Callable[..., Awaitable[Principal]]:
    """A dependency: the caller, when of one of ``kinds`` (staff, borrower, partner); else 403.
    ``for_work``: authenticated by :func:`authenticate_for_work` (the route's work runs through ``idempotent``, or
    ``idempotent_call`` storing the nonce)."""
    assert kinds and set(kinds) <= set(KINDS), f"kinds must be among {KINDS}"
    wanted = frozenset(kinds)

    async def dependency(principal: Principal = Depends(authenticate_for_work if for_work else authenticate)) -> Principal:
        if principal.kind not in wanted:
            raise api_error(403, "kind", f"this endpoint is for {', '.join(sorted(wanted))} callers")
        return principal

    return dependency


def require_roles(*roles: str) -> Callable[..., Awaitable[Principal]]:
    """A dependency: the caller, when staff with one of ``roles`` (admin passes everywhere); else 403."""
    assert roles and set(roles) <= set(STAFF_ROLES), f"roles must be among {STAFF_ROLES}"
    wanted = frozenset(roles) | {ADMIN}

    async def dependency(principal: Principal = Depends(authenticate)) -> Principal:
        if principal.kind != "staff" or principal.role not in wanted:
            raise api_error(403, "role", f"needs a staff role among {', '.join(sorted(wanted))}")
        return principal

    return dependency
