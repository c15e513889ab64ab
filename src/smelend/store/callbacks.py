"""The callback outbox: notifications to partners, written in the transaction of the change they report.

Writing the notification with the change (an outbox) means a committed decision always gets its
callback and a rolled-back one never does; :mod:`smelend.api.callbacks` delivers them later, with
retries. Delivery is at least once: a partner deduplicates by the callback id. Payloads go to the
partner and sit unencrypted here, so they carry ids and statuses, never PII (refused when they hold a
resident ID or a mobile number): the partner fetches details through the API.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import bindparam, insert, select, update
from sqlalchemy.engine import Connection

from smelend.errors import InvalidInput
from smelend.store.audit import mask_text
from smelend.store.tables import callbacks, partners

PENDING = "pending"
DELIVERED = "delivered"
FAILED = "failed"
EVENT_PATTERN = re.compile(r"[a-z][a-z0-9_.-]{0,127}")  # e.g. application.decided
MAX_PAYLOAD_CHARS = 64_000
MAX_ATTEMPTS = 8  # then the callback is failed; about 2 hours of retrying with the back-off below
BACKOFF_BASE_SECONDS = 30
BACKOFF_MAX_SECONDS = 3600
LEASE_SECONDS = 120  # a deliverer owns a callback this long (longer than one HTTP attempt)


@dataclass(frozen=True)
class DueCallback:
    """A pending callback with where and how to send it (the partner's secret decrypted)."""

    id: int
    partner_id: int
    event: str
    payload: str
    attempts: int
    created_at: datetime
    callback_url: str | None
    key_id: str
    secret: str = field(repr=False)
    partner_active: bool


def backoff(attempts: int) -> timedelta:
    """Wait before the next attempt after ``attempts`` failed ones: 30 s, 1 min, 2 min, ... at most an hour."""
    assert attempts >= 1
    return timedelta(seconds=min(BACKOFF_BASE_SECONDS * 2 ** (attempts - 1), BACKOFF_MAX_SECONDS))


# Built once: a notice is queued with most state changes a partner's customer makes, in one statement that
# writes nothing for a partner without a callback address (most partners poll).
_ENQUEUE_IF_ADDRESSED = (
    insert(callbacks)
    .from_select(
        ["partner_id", "event", "payload", "status", "attempts", "next_attempt_at", "created_at"],
        select(
            partners.c.id,
            bindparam("event", type_=callbacks.c.event.type),
            bindparam("payload", type_=callbacks.c.payload.type),
            bindparam("status", type_=callbacks.c.status.type),
            bindparam("attempts", type_=callbacks.c.attempts.type),
            bindparam("next_attempt_at", type_=callbacks.c.next_attempt_at.type),
            bindparam("created_at", type_=callbacks.c.created_at.type),
        ).where(partners.c.id == bindparam("partner_id"), partners.c.callback_url.is_not(None)),
    )
    .returning(callbacks.c.id)
)


def enqueue(conn: Connection, partner_id: int, event: str, payload: dict[str, Any], now: datetime) -> int | None:
    """Queue ``event`` with ``payload`` for the partner, in the caller's transaction; returns the callback id,
    or None when the partner has no callback address (nothing to send; ``partner_id`` comes from the
    caller's own rows, so an unknown one is a partner nobody can be notified at either)."""
    assert now.tzinfo is not None
    if not EVENT_PATTERN.fullmatch(event):
        raise InvalidInput.one("event", "must be 1-128 characters of [a-z0-9_.-], starting with a letter")
    text = json.dumps(payload, ensure_ascii=False, sort_keys=True, separators=(",", ":"), default=str)
    if len(text) > MAX_PAYLOAD_CHARS:
        raise InvalidInput.one("payload", f"at most {MAX_PAYLOAD_CHARS} characters of JSON")
    if mask_text(text) != text:
        raise InvalidInput.one("payload", "must not carry resident IDs or mobile numbers")
    new_id = conn.execute(
        _ENQUEUE_IF_ADDRESSED,
        {"partner_id": partner_id, "event": event, "payload": text, "status": PENDING, "attempts": 0, "next_attempt_at": now, "created_at": now},
    ).scalar()
    return None if new_id is None else int(new_id)


def due(conn: Connection, now: datetime, limit: int) -> list[DueCallback]:
    """Pending callbacks whose next attempt is due, oldest first."""
    rows = conn.execute(
        select(
            callbacks.c.id, callbacks.c.partner_id, callbacks.c.event, callbacks.c.payload, callbacks.c.attempts,
            callbacks.c.created_at, partners.c.callback_url, partners.c.key_id, partners.c.secret, partners.c.active,
        )
        .join(partners, partners.c.id == callbacks.c.partner_id)
        .where(callbacks.c.status == PENDING, callbacks.c.next_attempt_at <= now)
        .order_by(callbacks.c.next_attempt_at, callbacks.c.id)
        .limit(limit)
    ).all()
    return [DueCallback(*row[:9], partner_active=bool(row[9])) for row in rows]


def lease(conn: Connection, callback_id: int, now: datetime) -> bool:
    """Take a due callback for one delivery attempt (True), so two deliverers never send it at once."""
    taken = conn.execute(
        update(callbacks)
        .where(callbacks.c.id == callback_id, callbacks.c.status == PENDING, callbacks.c.next_attempt_at <= now)
        .values(next_attempt_at=now + timedelta(seconds=LEASE_SECONDS))
    ).rowcount
    return taken == 1


def mark_delivered(conn: Connection, callback_id: int, attempts: int, now: datetime) -> None:
    conn.execute(
        update(callbacks)
        .where(callbacks.c.id == callback_id)
        .values(status=DELIVERED, attempts=attempts, delivered_at=now, next_attempt_at=None)
    )


def mark_attempt_failed(conn: Connection, callback_id: int, attempts: int, now: datetime, give_up: bool = False) -> str:
    """After a failed attempt: retry later with back-off, or fail for good after :data:`MAX_ATTEMPTS`; returns the status."""
    if give_up or attempts >= MAX_ATTEMPTS:
        conn.execute(update(callbacks).where(callbacks.c.id == callback_id).values(status=FAILED, attempts=attempts, next_attempt_at=None))
        return FAILED
    conn.execute(
        update(callbacks).where(callbacks.c.id == callback_id).values(attempts=attempts, next_attempt_at=now + backoff(attempts))
    )
    return PENDING


def get_callback(conn: Connection, callback_id: int) -> dict[str, Any]:
    row = conn.execute(select(callbacks).where(callbacks.c.id == callback_id)).mappings().first()
    if row is None:
        raise InvalidInput.one("callback_id", f"no callback with id {callback_id}")
    return dict(row)
