"""Who may call the service: API users (staff and borrowers) with bearer tokens, partner platforms with
HMAC keys, and the nonces of signed requests already seen.

A token is shown once, when created; only its keyed hash (HMAC-SHA256 under the PII lookup key, so a
copied table cannot even be used to test guesses) is stored. A partner's signing secret is needed in
the clear to verify signatures, so it is stored encrypted (``partners.secret`` is an EncryptedText).
Writers validate first and raise :class:`~smelend.errors.InvalidInput` naming the field; transactions
belong to the caller.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal, InvalidOperation
from urllib.parse import urlsplit

from sqlalchemy import bindparam, delete, exists, insert, select, update
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Connection, RowMapping

from smelend.errors import Collector, InvalidInput
from smelend.store import pii
from smelend.store.tables import KEY_MAX_CHARS, NAME_MAX_CHARS, ROLES, api_users, partners, persons, request_nonces

BORROWER_ROLE = "borrower"
TOKEN_PREFIX = "smu_"  # recognisable in a leaked log or a secret scanner
TOKEN_BYTES = 32  # 256 bits of randomness
TOKEN_MAX_CHARS = 200  # anything longer is refused before hashing
KEY_ID_PREFIX = "pk_"
KEY_ID_BYTES = 12
SECRET_BYTES = 32  # a partner's HMAC-SHA256 key: the hash's own block of strength
TOKEN_PURPOSE = b"api_users.token"

DEFAULT_RATE_LIMIT_PER_MINUTE = 12_000  # a large platform's peak (200 requests a second)
MAX_RATE_LIMIT_PER_MINUTE = 6_000_000  # 100,000 a second: beyond that a number is a typo
DEFAULT_MAX_LENDING_SHARE = Decimal("0.3")  # of new lending through one partner (concentration limit)
CALLBACK_URL_MAX_CHARS = 2_000
NONCE_PATTERN = re.compile(r"[A-Za-z0-9_-]{16,128}")  # = smelend.api.signing: 16..128 url-safe characters


@dataclass(frozen=True)
class ApiUser:
    id: int
    name: str
    role: str
    person_id: int | None
    active: bool


@dataclass(frozen=True)
class Partner:
    """A partner platform with its signing secret decrypted; ``repr`` leaves the secret out."""

    id: int
    name: str
    key_id: str
    secret: str = field(repr=False)
    rate_limit_per_minute: int
    max_lending_share: Decimal
    callback_url: str | None
    active: bool


# --- API users ----------------------------------------------------------------------------------------


def token_hash(token: str) -> str:
    """Hex HMAC-SHA256 of a bearer token under the lookup key (what ``api_users.token_hash`` holds)."""
    key = pii.active_keyring().lookup_key
    return hmac.new(key, TOKEN_PURPOSE + b"\x00" + token.encode("utf-8"), hashlib.sha256).hexdigest()


def new_token() -> str:
    return TOKEN_PREFIX + secrets.token_urlsafe(TOKEN_BYTES)


def create_user(conn: Connection, name: str, role: str, person_id: int | None = None) -> tuple[int, str]:
    """Add an API user; returns ``(id, token)``. The token is returned only here: print it once.

    Staff have a role from :data:`~smelend.store.tables.ROLES` and no person; a borrower (the bank's
    app acting for a person) must name an existing person.
    """
    errors = Collector()
    clean_name = _name(errors, name)
    if not isinstance(role, str) or role not in ROLES:
        errors.add("role", f"must be one of {', '.join(ROLES)}")
    elif role == BORROWER_ROLE:
        if person_id is None:
            errors.add("person_id", "a borrower must be a registered person")
        elif isinstance(person_id, bool) or not isinstance(person_id, int):
            errors.add("person_id", "must be a person id")
        elif conn.scalar(select(persons.c.id).where(persons.c.id == person_id)) is None:
            errors.add("person_id", f"no person with id {person_id}")
    elif person_id is not None:
        errors.add("person_id", "only a borrower is a person; staff users have none")
    errors.raise_if_any()
    assert clean_name is not None

    token = new_token()
    statement = insert(api_users).values(
        name=clean_name, role=role, token_hash=token_hash(token), person_id=person_id, active=True
    )
    user_id = conn.execute(statement.returning(api_users.c.id)).scalar_one()
    return int(user_id), token


# Built once: every authenticated request runs one of these.
_USER_BY_TOKEN_HASH = select(api_users).where(api_users.c.token_hash == bindparam("token_hash"))
_PARTNER_BY_KEY_ID = select(partners).where(partners.c.key_id == bindparam("key_id"))
_NONCE_SEEN = exists().where(request_nonces.c.key_id == partners.c.key_id, request_nonces.c.nonce == bindparam("nonce"))
_PARTNER_AND_NONCE_SEEN = select(partners, _NONCE_SEEN.label("nonce_seen")).where(partners.c.key_id == bindparam("key_id"))
# A replayed nonce (the primary key) is skipped, not an error: no savepoint (two more round trips) is needed
# to keep the caller's transaction usable, and no row coming back tells a replay.
_INSERT_NONCE = {
    "sqlite": sqlite_insert(request_nonces).on_conflict_do_nothing().returning(request_nonces.c.nonce),
    "postgresql": postgresql_insert(request_nonces).on_conflict_do_nothing().returning(request_nonces.c.nonce),
}


def find_user_by_token(conn: Connection, token: str) -> ApiUser | None:
    """The user this bearer token belongs to (active or not), or None; overlong tokens are never looked up."""
    if not token or len(token) > TOKEN_MAX_CHARS:
        return None
    row = conn.execute(_USER_BY_TOKEN_HASH, {"token_hash": token_hash(token)}).mappings().first()
    return None if row is None else _user(row)


def get_user(conn: Connection, user_id: int) -> ApiUser:
    row = conn.execute(select(api_users).where(api_users.c.id == user_id)).mappings().first()
    if row is None:
        raise InvalidInput.one("user_id", f"no API user with id {user_id}")
    return _user(row)


def set_user_active(conn: Connection, user_id: int, active: bool) -> None:
    """Revoke (or restore) a user's token without deleting who they were (the audit log names them)."""
    if conn.execute(update(api_users).where(api_users.c.id == user_id).values(active=active)).rowcount != 1:
        raise InvalidInput.one("user_id", f"no API user with id {user_id}")


# --- partners -----------------------------------------------------------------------------------------


def create_partner(
    conn: Connection,
    name: str,
    rate_limit_per_minute: int = DEFAULT_RATE_LIMIT_PER_MINUTE,
    max_lending_share: Decimal | str | float = DEFAULT_MAX_LENDING_SHARE,
    callback_url: str | None = None,
) -> tuple[int, str, str]:
    """Add a partner platform; returns ``(id, key_id, secret)``. The secret is returned only here.

    ``max_lending_share`` is the largest fraction of new lending this partner may bring (0 < share <= 1);
    ``callback_url`` (http or https) receives signed notifications.
    """
    clean_name, share, url = check_partner(name, rate_limit_per_minute, max_lending_share, callback_url)
    key_id = KEY_ID_PREFIX + secrets.token_hex(KEY_ID_BYTES)
    secret = secrets.token_urlsafe(SECRET_BYTES)
    statement = insert(partners).values(
        name=clean_name,
        key_id=key_id,
        secret=secret,
        rate_limit_per_minute=rate_limit_per_minute,
        max_lending_share=str(share),
        callback_url=url,
        active=True,
    )
    partner_id = conn.execute(statement.returning(partners.c.id)).scalar_one()
    return int(partner_id), key_id, secret


def check_partner(
    name: str, rate_limit_per_minute: int, max_lending_share: Decimal | str | float, callback_url: str | None
) -> tuple[str, Decimal, str | None]:
    """``(name, share, callback_url)`` cleaned, or InvalidInput naming every bad field (no database needed)."""
    errors = Collector()
    clean_name = _name(errors, name)
    if isinstance(rate_limit_per_minute, bool) or not isinstance(rate_limit_per_minute, int):
        errors.add("rate_limit_per_minute", "must be a whole number of requests a minute")
    elif not 1 <= rate_limit_per_minute <= MAX_RATE_LIMIT_PER_MINUTE:
        errors.add("rate_limit_per_minute", f"must be between 1 and {MAX_RATE_LIMIT_PER_MINUTE}")
    share = _share(errors, max_lending_share)
    url = _callback_url(errors, callback_url)
    errors.raise_if_any()
    assert clean_name is not None and share is not None
    return clean_name, share, url


def find_partner_by_key_id(conn: Connection, key_id: str) -> Partner | None:
    """The partner holding ``key_id`` (active or not), or None; overlong ids are never looked up."""
    if not key_id or len(key_id) > KEY_MAX_CHARS:
        return None
    row = conn.execute(_PARTNER_BY_KEY_ID, {"key_id": key_id}).mappings().first()
    return None if row is None else _partner(row)


def get_partner(conn: Connection, partner_id: int) -> Partner:
    row = conn.execute(select(partners).where(partners.c.id == partner_id)).mappings().first()
    if row is None:
        raise InvalidInput.one("partner_id", f"no partner with id {partner_id}")
    return _partner(row)


def set_partner_active(conn: Connection, partner_id: int, active: bool) -> None:
    if conn.execute(update(partners).where(partners.c.id == partner_id).values(active=active)).rowcount != 1:
        raise InvalidInput.one("partner_id", f"no partner with id {partner_id}")


# --- nonces of signed requests ------------------------------------------------------------------------


def remember_nonce(conn: Connection, key_id: str, nonce: str, seen_at: datetime) -> bool:
    """Record a signed request's nonce; False when this key already used it (a replay).

    A duplicate, even a concurrent one, writes nothing and leaves the caller's transaction usable
    (``ON CONFLICT DO NOTHING`` on the primary key; PostgreSQL waits for a concurrent insert's outcome).
    """
    assert NONCE_PATTERN.fullmatch(nonce), "validate the nonce before storing it"
    assert seen_at.tzinfo is not None, "seen_at must be timezone-aware (UTC)"
    written = conn.execute(_INSERT_NONCE[conn.dialect.name], {"key_id": key_id, "nonce": nonce, "seen_at": seen_at}).first()
    return written is not None


def find_partner_and_nonce(conn: Connection, key_id: str, nonce: str) -> tuple[Partner | None, bool]:
    """:func:`find_partner_by_key_id`, and whether that key already used ``nonce``, in one statement (a
    read: :func:`remember_nonce` decides a race). An unknown key has seen no nonce."""
    if not key_id or len(key_id) > KEY_MAX_CHARS:
        return None, False
    row = conn.execute(_PARTNER_AND_NONCE_SEEN, {"key_id": key_id, "nonce": nonce}).mappings().first()
    return (None, False) if row is None else (_partner(row), bool(row["nonce_seen"]))


def prune_nonces(conn: Connection, before: datetime) -> int:
    """Forget nonces seen before ``before``; returns how many. Safe once their timestamps are out of the
    accepted window (see :mod:`smelend.api.signing`), since a replay of those is refused anyway."""
    assert before.tzinfo is not None
    return int(conn.execute(delete(request_nonces).where(request_nonces.c.seen_at < before)).rowcount or 0)


# --- helpers ------------------------------------------------------------------------------------------


def _user(row: RowMapping) -> ApiUser:
    return ApiUser(row["id"], row["name"], row["role"], row["person_id"], bool(row["active"]))


def _partner(row: RowMapping) -> Partner:
    return Partner(
        id=row["id"],
        name=row["name"],
        key_id=row["key_id"],
        secret=row["secret"],
        rate_limit_per_minute=row["rate_limit_per_minute"],
        max_lending_share=Decimal(row["max_lending_share"]),
        callback_url=row["callback_url"],
        active=bool(row["active"]),
    )


def _name(errors: Collector, value: object) -> str | None:
    if not isinstance(value, str) or not value.strip():
        errors.add("name", "is required")
        return None
    clean = " ".join(value.split())
    if len(clean) > NAME_MAX_CHARS:
        errors.add("name", f"at most {NAME_MAX_CHARS} characters")
        return None
    return clean


def _share(errors: Collector, value: object) -> Decimal | None:
    try:
        share = Decimal(str(value).strip())
    except (InvalidOperation, ValueError):
        errors.add("max_lending_share", "must be a fraction, e.g. 0.3")
        return None
    if not share.is_finite() or not Decimal(0) < share <= Decimal(1):
        errors.add("max_lending_share", "must be above 0 and at most 1")
        return None
    return share


def _callback_url(errors: Collector, value: str | None) -> str | None:
    if value is None:
        return None
    clean = value.strip()
    parts = urlsplit(clean)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        errors.add("callback_url", "must be an http:// or https:// address")
        return None
    if len(clean) > CALLBACK_URL_MAX_CHARS:
        errors.add("callback_url", f"at most {CALLBACK_URL_MAX_CHARS} characters")
        return None
    return clean
