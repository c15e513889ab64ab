"""Idempotency keys: one stored response per (caller, key), so a retried POST does its work once.

A key moves ``in-progress`` (claimed, committed before the work starts, so a concurrent duplicate sees
it) -> ``done`` (the response stored). A claim whose work failed is released (deleted), so a retry
starts over. A claim left ``in-progress`` longer than :data:`STALE_CLAIM_SECONDS` (a crashed worker) may
be taken over by the next request with the same key and body. Done keys are kept for
:data:`RETENTION_SECONDS`; :func:`prune` forgets older ones. Transactions belong to the caller.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from sqlalchemy import and_, delete, insert, select, update
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError
from sqlalchemy.sql.elements import ColumnElement

from smelend.store.tables import KEY_MAX_CHARS, idempotency_keys

IN_PROGRESS = "in-progress"
DONE = "done"
KEY_PATTERN = re.compile(r"[\x21-\x7e]{1,%d}" % KEY_MAX_CHARS)  # printable ASCII, no spaces: a UUID fits
STALE_CLAIM_SECONDS = 600  # longer than any request's work (bank-core retries included)
RETENTION_SECONDS = 24 * 3600  # how long a retry still gets the stored response
MAX_RESPONSE_CHARS = 1_000_000  # a stored response body; larger means the endpoint should page

Outcome = Literal["claimed", "replay", "in-progress", "mismatch"]


@dataclass(frozen=True)
class Claim:
    """What :func:`claim` found: ``claimed`` (do the work), ``replay`` (``status`` and ``body`` stored),
    ``in-progress`` (another request holds the key) or ``mismatch`` (the key was used for another request)."""

    outcome: Outcome
    status: int | None = None
    body: str | None = None


def valid_key(key: str) -> bool:
    return bool(KEY_PATTERN.fullmatch(key))


def request_hash(method: str, path: str, body: bytes) -> str:
    """SHA-256 of what makes two requests "the same": method, path with query, and the body bytes."""
    digest = hashlib.sha256()
    digest.update(f"{method.upper()}\n{path}\n".encode())
    digest.update(body)
    return digest.hexdigest()


def claim(conn: Connection, principal: str, key: str, request_digest: str, now: datetime) -> Claim:
    """Claim ``key`` for ``principal``'s request; commit before doing the work (see the module docstring)."""
    assert valid_key(key), "validate the key before claiming it"
    assert len(principal) <= KEY_MAX_CHARS and now.tzinfo is not None
    try:
        with conn.begin_nested():  # a concurrent duplicate insert leaves the caller's transaction usable
            conn.execute(
                insert(idempotency_keys).values(
                    principal=principal, key=key, request_hash=request_digest, status=IN_PROGRESS, created_at=now
                )
            )
        return Claim("claimed")
    except IntegrityError:
        pass
    row = conn.execute(
        select(idempotency_keys).where(_row(principal, key))
    ).mappings().first()
    if row is None:  # released between our insert and this read: the caller may simply retry
        return Claim("in-progress")
    if row["request_hash"] != request_digest:
        return Claim("mismatch")
    if row["status"] == DONE:
        return Claim("replay", int(row["response_status"]), row["response_body"])
    stale = now - timedelta(seconds=STALE_CLAIM_SECONDS)
    taken = conn.execute(
        update(idempotency_keys)
        .where(_row(principal, key), idempotency_keys.c.status == IN_PROGRESS, idempotency_keys.c.created_at < stale)
        .values(created_at=now)
    ).rowcount
    return Claim("claimed") if taken == 1 else Claim("in-progress")


def complete(conn: Connection, principal: str, key: str, status: int, body: str) -> None:
    """Store the response of a claimed key (in the work's own transaction when possible)."""
    assert 100 <= status <= 599
    assert len(body) <= MAX_RESPONSE_CHARS, "response too large to store for idempotent replay"
    updated = conn.execute(
        update(idempotency_keys)
        .where(_row(principal, key), idempotency_keys.c.status == IN_PROGRESS)
        .values(status=DONE, response_status=status, response_body=body)
    ).rowcount
    assert updated == 1, "complete() needs a claim in progress"


def release(conn: Connection, principal: str, key: str) -> None:
    """Give up a claim whose work failed, so a retry does the work again."""
    conn.execute(delete(idempotency_keys).where(_row(principal, key), idempotency_keys.c.status == IN_PROGRESS))


def prune(conn: Connection, before: datetime) -> int:
    """Forget finished keys created before ``before`` (and abandoned claims as old); returns how many."""
    assert before.tzinfo is not None
    return int(conn.execute(delete(idempotency_keys).where(idempotency_keys.c.created_at < before)).rowcount or 0)


def _row(principal: str, key: str) -> ColumnElement[bool]:
    return and_(idempotency_keys.c.principal == principal, idempotency_keys.c.key == key)
