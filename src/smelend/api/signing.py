"""Partner request signing: HMAC-SHA256 over a canonical string, checked with a time window and a nonce.

The canonical string is five fields joined by ``\\n`` with no trailing newline::

    METHOD            upper case: POST
    PATH              as sent on the request line (percent-encoded), with ``?query`` when there is one
    TIMESTAMP         Unix seconds, the X-Smelend-Timestamp header
    NONCE             the X-Smelend-Nonce header: 16..128 characters of [A-Za-z0-9_-], never reused
    BODY              the raw request bytes exactly as sent (empty for GET)

and the signature is the lowercase hex HMAC-SHA256 of it under the partner's secret, sent with
X-Smelend-Key-Id and X-Smelend-Signature. A request is refused (401) when a header is missing or
malformed, the timestamp is more than :data:`WINDOW_SECONDS` from the server's clock, the key is unknown
or inactive, the signature does not match, or the nonce was already used with this key. Nonces are kept
for :data:`NONCE_RETENTION_SECONDS` (twice the window plus a margin): an older request would be refused by
its timestamp anyway, so forgetting its nonce opens no replay. The bank signs its callbacks to partners
the same way (:func:`signed_headers`).
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy.engine import Connection, Engine
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request

from smelend.store import access
from smelend.store.db import reading

KEY_ID_HEADER = "X-Smelend-Key-Id"
TIMESTAMP_HEADER = "X-Smelend-Timestamp"
NONCE_HEADER = "X-Smelend-Nonce"
SIGNATURE_HEADER = "X-Smelend-Signature"
SIGNATURE_HEADERS = (KEY_ID_HEADER, TIMESTAMP_HEADER, NONCE_HEADER, SIGNATURE_HEADER)

WINDOW_SECONDS = 300  # ±5 minutes of clock difference between a partner and the bank
NONCE_RETENTION_SECONDS = 2 * WINDOW_SECONDS + 60
PRUNE_EVERY_SECONDS = 60  # per process: how often old nonces are deleted
MAX_BODY_BYTES = 1 << 20  # a signed body is an application, not an upload: 1 MiB
NONCE_PATTERN = access.NONCE_PATTERN  # 16..128 url-safe characters
KEY_ID_PATTERN = re.compile(r"[A-Za-z0-9_-]{1,128}")
TIMESTAMP_PATTERN = re.compile(r"[0-9]{1,12}")
SIGNATURE_PATTERN = re.compile(r"[0-9a-f]{64}")
MIN_SECRET_CHARS = 32


class SignatureError(Exception):
    """A signed request was refused; ``field`` names the header whose check failed (never a secret)."""

    def __init__(self, field: str, message: str, status: int = 401) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message
        self.status = status


@dataclass(frozen=True)
class SignedParts:
    key_id: str
    timestamp: int
    nonce: str
    signature: str


# --- the scheme (pure) --------------------------------------------------------------------------------


def canonical(method: str, path: str, timestamp: int | str, nonce: str, body: bytes) -> bytes:
    """The bytes that are signed: ``METHOD\\nPATH\\nTIMESTAMP\\nNONCE\\nBODY``."""
    head = f"{method.upper()}\n{path}\n{timestamp}\n{nonce}\n".encode()
    return head + body


def sign(secret: str, method: str, path: str, timestamp: int | str, nonce: str, body: bytes = b"") -> str:
    """Lowercase hex HMAC-SHA256 of the canonical string under ``secret``."""
    assert len(secret) >= MIN_SECRET_CHARS, "a signing secret is at least 32 characters"
    return hmac.new(secret.encode(), canonical(method, path, timestamp, nonce, body), hashlib.sha256).hexdigest()


def new_nonce() -> str:
    return secrets.token_urlsafe(18)  # 24 characters


def signed_headers(
    key_id: str,
    secret: str,
    method: str,
    path: str,
    body: bytes = b"",
    *,
    timestamp: int | None = None,
    nonce: str | None = None,
) -> dict[str, str]:
    """The four headers for a request (a partner's client, the bank's callbacks, tests).

    ``path`` is what goes on the request line, query string included; ``body`` the exact bytes sent.
    """
    ts = int(time.time()) if timestamp is None else timestamp
    n = new_nonce() if nonce is None else nonce
    return {
        KEY_ID_HEADER: key_id,
        TIMESTAMP_HEADER: str(ts),
        NONCE_HEADER: n,
        SIGNATURE_HEADER: sign(secret, method, path, ts, n, body),
    }


def parse_headers(headers: Mapping[str, str]) -> SignedParts:
    """The four signature headers, each checked for form (length, characters)."""
    missing = [name for name in SIGNATURE_HEADERS if not headers.get(name)]
    if missing:
        raise SignatureError(missing[0], f"is required (missing: {', '.join(missing)})")
    key_id, ts, nonce, signature = (headers[name].strip() for name in SIGNATURE_HEADERS)
    if not KEY_ID_PATTERN.fullmatch(key_id):
        raise SignatureError(KEY_ID_HEADER, "must be 1-128 characters of [A-Za-z0-9_-]")
    if not TIMESTAMP_PATTERN.fullmatch(ts):
        raise SignatureError(TIMESTAMP_HEADER, "must be Unix seconds")
    if not NONCE_PATTERN.fullmatch(nonce):
        raise SignatureError(NONCE_HEADER, "must be 16-128 characters of [A-Za-z0-9_-]")
    if not SIGNATURE_PATTERN.fullmatch(signature):
        raise SignatureError(SIGNATURE_HEADER, "must be 64 lowercase hex characters")
    return SignedParts(key_id, int(ts), nonce, signature)


def check_timestamp(timestamp: int, now: float) -> None:
    if abs(now - timestamp) > WINDOW_SECONDS:
        raise SignatureError(TIMESTAMP_HEADER, f"is more than {WINDOW_SECONDS} seconds from the server's clock")


def signature_matches(secret: str, method: str, path: str, parts: SignedParts, body: bytes) -> bool:
    expected = sign(secret, method, path, parts.timestamp, parts.nonce, body)
    return hmac.compare_digest(expected, parts.signature)


def request_target(request: Request) -> str:
    """PATH as signed: the request line's path (still percent-encoded) with ``?query`` when present."""
    raw = request.scope.get("raw_path")
    path = raw.decode("latin-1") if raw else request.url.path
    query = request.scope.get("query_string", b"").decode("latin-1")
    return f"{path}?{query}" if query else path


# --- checking a request against the store -------------------------------------------------------------

_prune_lock = threading.Lock()
_last_prune = 0.0


@dataclass(frozen=True)
class PendingNonce:
    """A proved request's nonce, to be stored by the request's own write transaction (:func:`remember`)."""

    key_id: str
    nonce: str
    seen_at: datetime


async def verify_request(request: Request, engine: Engine, now: float | None = None, *, defer_nonce: bool = False) -> access.Partner:
    """The partner that signed ``request``, or :class:`SignatureError` naming the failed check.

    Reads the body with ``await request.body()``, which Starlette caches on the request, so the route's
    own body parsing still sees it. The nonce is stored only once the signature is proved, so nobody
    can burn a partner's nonces. FastAPI reads (and JSON-decodes) a route's body before running its
    dependencies, so :data:`MAX_BODY_BYTES` bounds what is signed, not what is received: cap request
    sizes at the proxy too.

    ``defer_nonce``: check in a read transaction that the nonce is new and leave it, as a
    :class:`PendingNonce`, in ``request.state.pending_nonce`` for the route's first write transaction
    to store with its work (:func:`remember`), which then refuses a replay that raced this one. A
    decision costs one write transaction instead of two (a SQLite file has one writer at a time). Work
    that fails still spends the nonce (in a transaction of its own); a body FastAPI refuses before the
    work starts (422 for its shape) does not: its replay is refused the same way, and nothing was done.
    """
    parts = parse_headers(request.headers)
    length = request.headers.get("content-length", "")
    if length.isdigit() and int(length) > MAX_BODY_BYTES:
        raise SignatureError("body", f"is at most {MAX_BODY_BYTES} bytes when signed", status=413)
    at = time.time() if now is None else now
    check_timestamp(parts.timestamp, at)
    body = await request.body()
    if len(body) > MAX_BODY_BYTES:
        raise SignatureError("body", f"is at most {MAX_BODY_BYTES} bytes when signed", status=413)
    target = request_target(request)
    if not defer_nonce:
        return await run_in_threadpool(_check_and_remember, engine, request.method, target, parts, body, at)
    partner = await run_in_threadpool(_check_unused, engine, request.method, target, parts, body)
    request.state.pending_nonce = PendingNonce(parts.key_id, parts.nonce, datetime.fromtimestamp(at, UTC))
    return partner


def remember(conn: Connection, pending: PendingNonce) -> None:
    """Store a deferred nonce in the caller's (write) transaction; :class:`SignatureError` when it was
    used meanwhile (the caller rolls back). Prunes old nonces at most once a minute per process."""
    if not access.remember_nonce(conn, pending.key_id, pending.nonce, pending.seen_at):
        raise SignatureError(NONCE_HEADER, "was already used with this key")
    _prune_if_due(conn, pending.seen_at)


def _check_and_remember(engine: Engine, method: str, target: str, parts: SignedParts, body: bytes, now: float) -> access.Partner:
    """In one transaction: find the partner, prove the signature, store the nonce (only once proved)."""
    with engine.begin() as conn:
        partner = _proved_partner(conn, method, target, parts, body)
        remember(conn, PendingNonce(parts.key_id, parts.nonce, datetime.fromtimestamp(now, UTC)))
    return partner


def _check_unused(engine: Engine, method: str, target: str, parts: SignedParts, body: bytes) -> access.Partner:
    """In a read transaction: find the partner, prove the signature, see that the nonce is new."""
    with reading(engine) as conn:
        partner, seen = access.find_partner_and_nonce(conn, parts.key_id, parts.nonce)
    partner = _proved(partner, method, target, parts, body)
    if seen:
        raise SignatureError(NONCE_HEADER, "was already used with this key")
    return partner


def _proved_partner(conn: Connection, method: str, target: str, parts: SignedParts, body: bytes) -> access.Partner:
    return _proved(access.find_partner_by_key_id(conn, parts.key_id), method, target, parts, body)


def _proved(partner: access.Partner | None, method: str, target: str, parts: SignedParts, body: bytes) -> access.Partner:
    """``partner`` once it is active and signed the request; the order of the checks is what a caller learns."""
    if partner is None or not partner.active:
        raise SignatureError(KEY_ID_HEADER, "unknown or inactive key")
    if not signature_matches(partner.secret, method, target, parts, body):
        raise SignatureError(SIGNATURE_HEADER, "does not match the request (method, path, timestamp, nonce, body)")
    return partner


def _prune_if_due(conn: Connection, seen_at: datetime) -> None:
    global _last_prune
    now = seen_at.timestamp()
    with _prune_lock:
        due = now - _last_prune >= PRUNE_EVERY_SECONDS
        if due:
            _last_prune = now
    if due:
        access.prune_nonces(conn, seen_at - timedelta(seconds=NONCE_RETENTION_SECONDS))
