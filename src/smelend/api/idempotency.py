"""``Idempotency-Key`` on POST: a retried request returns the first response instead of doing the work twice.

Routers wrap their work in one of two helpers; without the header the work simply runs::

    @router.post("/v1/applications", status_code=201)
    async def apply(request: Request, body: ApplicationIn, principal: Principal = Depends(authenticate)) -> Response:
        def work(conn: Connection, _: Any) -> tuple[int, Any]:
            application_id = origination.apply(conn, principal, body)
            audit.record(conn, principal.key, "apply", "application", application_id, None, {...})
            return 201, {"id": application_id}
        return await idempotent(request, principal, work)

- :func:`idempotent` runs ``work(conn, prepared)`` in one transaction together with storing its response, so the
  effect and the record commit or roll back together (prefer it);
- :func:`idempotent_call` runs ``work()`` (sync or async) that manages its own transactions (a draw that
  calls the bank core), then stores the response in a transaction of its own. If the process dies between
  the two, the claim goes stale and a retry after :data:`~smelend.store.idempotency.STALE_CLAIM_SECONDS`
  redoes the work: such work must be idempotent itself (the bank core's instruction ids are).

The rules, per caller (:attr:`Principal.key`) and key:

- the key is claimed in its own committed transaction before the work, so a concurrent duplicate sees
  it: **409** (``Retry-After: 1``);
- the same key with another request (method, path and query, body bytes) is **422** naming
  ``Idempotency-Key`` (``{"detail": [{"field": "Idempotency-Key", "reason"}]}``);
- the same request again gets the stored status and body, byte for byte, with ``Idempotent-Replayed: true``;
- work that raises, or returns a status of 400 or more, releases the claim: nothing is stored and a
  retry does the work again (a 4xx may be fixed by then; a 5xx is worth retrying).

Keys are 1..128 printable ASCII characters, kept for 24 hours (pruned hourly per process). On SQLite a
write transaction holds the database lock, so a concurrent duplicate of :func:`idempotent` work usually
waits for it and then gets the stored response rather than 409; PostgreSQL answers 409 at once.
"""

from __future__ import annotations

import inspect
import json
import threading
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi import Request, Response
from fastapi.encoders import jsonable_encoder
from sqlalchemy.engine import Connection, Engine
from starlette.concurrency import run_in_threadpool

from smelend.api.principal import Principal
from smelend.api.security import api_error, engine_of, refused_signature
from smelend.api.signing import PendingNonce, SignatureError, remember, request_target
from smelend.store import idempotency as store

HEADER = "Idempotency-Key"
REPLAYED_HEADER = "Idempotent-Replayed"
PRUNE_EVERY_SECONDS = 3600

Result = tuple[int, Any]  # (HTTP status, a JSON-able body)
Work = Callable[[Connection, Any], Result]  # (the transaction, what prepare() returned)
CallWork = Callable[[], Result | Awaitable[Result]]
StoringCallWork = Callable[[Callable[[Connection], None]], Result]  # work(store_nonce), run in the threadpool

_prune_lock = threading.Lock()
_last_prune = 0.0


async def idempotent(request: Request, principal: Principal, work: Work, prepare: Callable[[], Any] | None = None) -> Response:
    """Run ``work(conn, prepared)`` once per (caller, Idempotency-Key): in one transaction with its stored
    response. ``prepare()`` (checks and slow reads, no writes, e.g. the providers' data for a decision) runs
    first, outside the transaction, and only once the key is claimed: a retry is answered from the store
    without calling anyone again. A partner's nonce left pending by :func:`~smelend.api.security.authenticate_for_work`
    is stored by the first write transaction (the claim's, or the work's); when the work raises, on its own."""
    engine = engine_of(request)
    key = _key(request)
    nonce: PendingNonce | None = getattr(request.state, "pending_nonce", None)
    request.state.pending_nonce = None
    if key is None:
        try:
            status, text = await run_in_threadpool(_prepare_and_work, engine, prepare, work, None, nonce)
        except SignatureError as exc:
            raise refused_signature(exc) from None
        except BaseException:
            if nonce is not None:  # refused work still used its nonce
                await run_in_threadpool(_remember_alone, engine, nonce)
            raise
        return _response(status, text)
    early = await _claim(request, engine, principal, key, nonce)
    if early is not None:
        return early
    claimed = (principal.key, key)
    try:
        status, text = await run_in_threadpool(_prepare_and_work, engine, prepare, work, claimed, None)
    except BaseException:
        await run_in_threadpool(_release, engine, principal.key, key)
        raise
    if status >= 400:
        await run_in_threadpool(_release, engine, principal.key, key)
    return _response(status, text)


def _prepare_and_work(engine: Engine, prepare: Callable[[], Any] | None, work: Work, claimed: tuple[str, str] | None,
                      nonce: PendingNonce | None) -> tuple[int, str]:
    """``prepare()`` then ``work`` in its transaction, in one trip to the threadpool (each trip costs a
    thread hand-off both ways, a noticeable share of a fast request)."""
    prepared = None if prepare is None else prepare()
    return _in_transaction(engine, lambda conn: work(conn, prepared), claimed, nonce)


def _remember_alone(engine: Engine, nonce: PendingNonce) -> None:
    with engine.begin() as conn:
        try:
            remember(conn, nonce)
        except SignatureError:
            pass  # a concurrent replay stored it: used either way


async def idempotent_call(request: Request, principal: Principal, work: CallWork | StoringCallWork, *, stores_nonce: bool = False) -> Response:
    """Run ``work()`` (which commits on its own) once per (caller, Idempotency-Key); store its response after.

    ``stores_nonce`` (a route authenticated ``for_work``): ``work(store)`` is given a function that stores
    the request's pending nonce in the connection it is passed; the work calls it in its first write
    transaction, before any money moves, so a replay that raced the original is refused there with
    nothing done. Work that raises, or never called it, spends the nonce on its own; with an
    Idempotency-Key the claim stores it and ``store`` does nothing."""
    engine = engine_of(request)
    key = _key(request)
    nonce: PendingNonce | None = getattr(request.state, "pending_nonce", None)
    request.state.pending_nonce = None
    assert nonce is None or stores_nonce, "a route that defers its nonce must store it"
    if stores_nonce:
        work = _storing(engine, work, None if key is not None else nonce)  # type: ignore[arg-type]
    if key is None:
        status, text = _encode(*await _call(work))
        return _response(status, text)
    early = await _claim(request, engine, principal, key, nonce)
    if early is not None:
        return early
    try:
        status, text = _encode(*await _call(work))
    except BaseException:
        await run_in_threadpool(_release, engine, principal.key, key)
        raise
    if status >= 400:
        await run_in_threadpool(_release, engine, principal.key, key)
    else:
        await run_in_threadpool(_complete, engine, principal.key, key, status, text)
    return _response(status, text)


def _storing(engine: Engine, work: StoringCallWork, nonce: PendingNonce | None) -> CallWork:
    """``work(store)`` as a :data:`CallWork`: ``store(conn)`` remembers ``nonce`` in the caller's
    transaction; a replay is refused as 401, and a nonce the work did not store is stored on its own."""

    def run() -> Result:
        stored: list[bool] = []

        def store(conn: Connection) -> None:
            if nonce is not None:
                remember(conn, nonce)
                stored.append(True)

        try:
            result = work(store)
        except SignatureError as exc:
            raise refused_signature(exc) from None
        except BaseException:
            if nonce is not None:  # refused or failed work still used its nonce (a no-op if its transaction committed)
                _remember_alone(engine, nonce)
            raise
        if nonce is not None and not stored:
            _remember_alone(engine, nonce)
        return result

    return run


# --- steps --------------------------------------------------------------------------------------------


def _key(request: Request) -> str | None:
    key = request.headers.get(HEADER)
    if key is None:
        return None
    if not store.valid_key(key):
        raise api_error(422, HEADER, f"must be 1-{store.KEY_MAX_CHARS} printable ASCII characters without spaces")
    return key


async def _claim(request: Request, engine: Engine, principal: Principal, key: str, nonce: PendingNonce | None = None) -> Response | None:
    """None when this request now holds the key; else the response to send instead of doing the work."""
    digest = store.request_hash(request.method, request_target(request), await request.body())
    try:
        found = await run_in_threadpool(_claim_in_transaction, engine, principal.key, key, digest, nonce)
    except SignatureError as exc:
        raise refused_signature(exc) from None
    if found.outcome == "claimed":
        return None
    if found.outcome == "mismatch":
        raise api_error(422, HEADER, "was already used with a different request (method, path or body)")
    if found.outcome == "in-progress":
        raise api_error(409, HEADER, "a request with this key is still in progress: retry shortly", {"Retry-After": "1"})
    assert found.outcome == "replay" and found.status is not None and found.body is not None
    response = _response(found.status, found.body)
    response.headers[REPLAYED_HEADER] = "true"
    return response


def _claim_in_transaction(engine: Engine, principal: str, key: str, digest: str, nonce: PendingNonce | None = None) -> store.Claim:
    global _last_prune
    now = datetime.now(UTC)
    with engine.begin() as conn:
        if nonce is not None:
            remember(conn, nonce)
        found = store.claim(conn, principal, key, digest, now)
        with _prune_lock:
            due = time.monotonic() - _last_prune >= PRUNE_EVERY_SECONDS or _last_prune == 0.0
            if due:
                _last_prune = time.monotonic()
        if due:
            store.prune(conn, now - timedelta(seconds=store.RETENTION_SECONDS))
    return found


def _in_transaction(engine: Engine, work: Work, claimed: tuple[str, str] | None, nonce: PendingNonce | None = None) -> tuple[int, str]:
    with engine.begin() as conn:
        if nonce is not None:
            remember(conn, nonce)
        status, text = _encode(*work(conn))
        if claimed is not None and status < 400:
            store.complete(conn, claimed[0], claimed[1], status, text)
    return status, text


def _complete(engine: Engine, principal: str, key: str, status: int, text: str) -> None:
    with engine.begin() as conn:
        store.complete(conn, principal, key, status, text)


def _release(engine: Engine, principal: str, key: str) -> None:
    with engine.begin() as conn:
        store.release(conn, principal, key)


async def _call(work: CallWork) -> Result:
    if inspect.iscoroutinefunction(work):
        return await work()  # type: ignore[no-any-return]
    result = await run_in_threadpool(work)
    if inspect.isawaitable(result):
        result = await result
    return result  # type: ignore[return-value]


def _encode(status: int, content: Any) -> tuple[int, str]:
    """The response body as FastAPI's JSONResponse renders it, so a replay is byte for byte the same.

    JSON-native content (what the routers build: dicts, lists, strings, numbers) is dumped directly,
    anything else (a Decimal, a date, a model) through FastAPI's ``jsonable_encoder`` as ``default``,
    which gives the same text as encoding the whole document first at a fraction of the cost; a
    document ``json`` cannot take even so (keys that are dates) is encoded whole first."""
    assert isinstance(status, int) and 100 <= status <= 599, f"work must return an HTTP status, got {status!r}"
    try:
        text = json.dumps(content, ensure_ascii=False, allow_nan=False, separators=(",", ":"), default=jsonable_encoder)
    except TypeError:
        text = json.dumps(jsonable_encoder(content), ensure_ascii=False, allow_nan=False, separators=(",", ":"))
    return status, text


def _response(status: int, text: str) -> Response:
    return Response(content=text, status_code=status, media_type="application/json")
