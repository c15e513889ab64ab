"""Delivering partner callbacks: signed POSTs with timeouts, retried with back-off, a bounded number of times.

Each callback is a POST of ``{"id", "event", "created_at", "data"}`` (JSON) to the partner's
``callback_url``, signed with the scheme partners use towards the bank (:mod:`smelend.api.signing`): the
key id is the partner's own ``key_id`` and the HMAC key the partner's own secret, the one secret both
sides already share, so a partner verifies callbacks with the code that signs its requests. The
signature's timestamp is the wall clock at sending (``now`` only schedules). The callback id is also sent
as ``X-Smelend-Callback-Id``: delivery is at least once, so partners deduplicate by it.

A 2xx answer delivers; any other status, a timeout or a connection error is a failed attempt, retried
after :func:`smelend.store.callbacks.backoff` until :data:`~smelend.store.callbacks.MAX_ATTEMPTS`. Run
:func:`deliver_pending` from a scheduler or a background task; each call sends what is due and returns.
"""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime

import httpx
from sqlalchemy.engine import Engine

from smelend.api.signing import signed_headers
from smelend.store.db import reading
from smelend.store import callbacks as outbox

CALLBACK_ID_HEADER = "X-Smelend-Callback-Id"
TIMEOUT = httpx.Timeout(10.0, connect=5.0)  # a slow partner must not hold the deliverer up
BATCH = 100  # callbacks sent per deliver_pending call


def deliver_pending(engine: Engine, now: datetime | None = None, client: httpx.Client | None = None, limit: int = BATCH) -> dict[str, int]:
    """Send every callback due at ``now`` (default: the current time); returns counts
    ``{"delivered", "retrying", "failed"}``. ``client`` (an httpx.Client) is used when given, else one is
    made for this call with :data:`TIMEOUT`."""
    at = datetime.now(UTC) if now is None else now
    assert at.tzinfo is not None, "now must be timezone-aware (UTC)"
    counts = {"delivered": 0, "retrying": 0, "failed": 0}
    with reading(engine) as conn:
        due = outbox.due(conn, at, limit)
    if not due:
        return counts
    own = client is None
    http = httpx.Client(timeout=TIMEOUT) if own else client
    assert http is not None
    try:
        for callback in due:
            with engine.begin() as conn:
                if not outbox.lease(conn, callback.id, at):
                    continue  # another deliverer took it
            outcome = _attempt(engine, http, callback, at)
            counts[outcome] += 1
    finally:
        if own:
            http.close()
    return counts


def body_of(callback: outbox.DueCallback) -> bytes:
    created = callback.created_at if callback.created_at.tzinfo else callback.created_at.replace(tzinfo=UTC)
    document = {"id": callback.id, "event": callback.event, "created_at": created.isoformat(), "data": json.loads(callback.payload)}
    return json.dumps(document, ensure_ascii=False, separators=(",", ":")).encode()


def _attempt(engine: Engine, http: httpx.Client, callback: outbox.DueCallback, now: datetime) -> str:
    attempts = callback.attempts + 1
    if callback.callback_url is None or not callback.partner_active:
        with engine.begin() as conn:  # nowhere to send it: no point retrying
            outbox.mark_attempt_failed(conn, callback.id, attempts, now, give_up=True)
        return "failed"
    delivered = _send(http, callback)
    with engine.begin() as conn:
        if delivered:
            outbox.mark_delivered(conn, callback.id, attempts, now)
            return "delivered"
        status = outbox.mark_attempt_failed(conn, callback.id, attempts, now)
    return "failed" if status == outbox.FAILED else "retrying"


def _send(http: httpx.Client, callback: outbox.DueCallback) -> bool:
    assert callback.callback_url is not None
    body = body_of(callback)
    url = httpx.URL(callback.callback_url)
    target = url.raw_path.decode("ascii")  # path and query exactly as they go on the request line
    headers = signed_headers(callback.key_id, callback.secret, "POST", target, body, timestamp=int(time.time()))
    headers[CALLBACK_ID_HEADER] = str(callback.id)
    headers["Content-Type"] = "application/json"
    try:
        response = http.post(url, content=body, headers=headers, timeout=TIMEOUT, follow_redirects=False)
    except httpx.HTTPError:
        return False  # timeout, refused, reset: retried later
    return 200 <= response.status_code < 300
