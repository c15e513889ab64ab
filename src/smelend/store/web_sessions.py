"""Dashboard logins and sessions (tables ``web_logins`` and ``web_sessions``, migration 0008).

- A **login** belongs to one staff API user: a unique login name and an scrypt password hash
  (:mod:`smelend.web.passwords`). Borrowers never get one: the dashboard is for staff.
- **Lock-out**: :data:`MAX_FAILED_ATTEMPTS` wrong passwords in a row lock the login for
  :data:`LOCK_MINUTES`; while locked even the right password is refused (without being checked), and a
  success resets the count. It is kept in the database, so it holds across workers and restarts.
- A **session** is a random 256-bit cookie value; only its SHA-256 is stored (a copied table opens no
  session). It ends after :data:`IDLE_MINUTES` without a request or :data:`ABSOLUTE_HOURS` after login,
  at logout, or when the user is deactivated. Each session has its own CSRF token for forms.

Times are passed in (timezone-aware UTC) so tests can move the clock; transactions belong to the caller.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from sqlalchemy import delete, insert, select, update
from sqlalchemy.engine import Connection

from smelend.errors import InvalidInput
from smelend.store.access import BORROWER_ROLE
from smelend.store.tables import NAME_MAX_CHARS, api_users, web_logins, web_sessions

MAX_FAILED_ATTEMPTS = 5
LOCK_MINUTES = 15
IDLE_MINUTES = 30
ABSOLUTE_HOURS = 8
SESSION_BYTES = 32
SESSION_MAX_CHARS = 100  # a cookie longer than this is not ours: refused before hashing
TOUCH_SECONDS = 60  # last_seen_at is written at most once a minute per session


@dataclass(frozen=True)
class Login:
    user_id: int
    login: str
    password_hash: str
    failed_attempts: int
    locked_until: datetime | None


@dataclass(frozen=True)
class Session:
    """A live session: who (the API user, active, with a staff role) and its CSRF token."""

    user_id: int
    name: str
    role: str
    csrf_token: str
    expires_at: datetime


def _aware(value: datetime | None) -> datetime | None:
    """SQLite hands back naive datetimes for timezone columns; they were written in UTC."""
    if value is None or value.tzinfo is not None:
        return value
    return value.replace(tzinfo=timezone.utc)


def clean_login(value: str) -> str:
    """A login name with runs of spaces collapsed, compared case-insensitively (stored lower-case)."""
    clean = " ".join(str(value).split()).lower()
    if not clean:
        raise InvalidInput.one("name", "is required")
    if len(clean) > NAME_MAX_CHARS:
        raise InvalidInput.one("name", f"at most {NAME_MAX_CHARS} characters")
    return clean


def set_password(conn: Connection, user_id: int, login: str, password_hash: str) -> None:
    """Give a staff user a dashboard login (or a new password); a login name taken by another user is refused."""
    row = conn.execute(select(api_users.c.role).where(api_users.c.id == user_id)).first()
    if row is None:
        raise InvalidInput.one("user_id", f"no API user with id {user_id}")
    if row.role == BORROWER_ROLE:
        raise InvalidInput.one("password", "borrowers have no dashboard login")
    name = clean_login(login)
    holder = conn.scalar(select(web_logins.c.user_id).where(web_logins.c.login == name))
    if holder is not None and holder != user_id:
        raise InvalidInput.one("name", "another user already has this login name")
    if conn.execute(update(web_logins).where(web_logins.c.user_id == user_id).values(
        login=name, password_hash=password_hash, failed_attempts=0, locked_until=None)).rowcount == 0:
        conn.execute(insert(web_logins).values(user_id=user_id, login=name, password_hash=password_hash))
    end_sessions(conn, user_id)  # a new password ends every open session


def login_taken(conn: Connection, login: str) -> bool:
    return conn.scalar(select(web_logins.c.user_id).where(web_logins.c.login == clean_login(login))) is not None


def find_login(conn: Connection, login: str) -> Login | None:
    try:
        name = clean_login(login)
    except InvalidInput:
        return None
    row = conn.execute(select(web_logins).where(web_logins.c.login == name)).mappings().first()
    if row is None:
        return None
    return Login(row["user_id"], row["login"], row["password_hash"], row["failed_attempts"], _aware(row["locked_until"]))


def is_locked(login: Login, now: datetime) -> bool:
    return login.locked_until is not None and now < login.locked_until


def record_failure(conn: Connection, login: Login, now: datetime) -> bool:
    """Count a wrong password (an atomic increment, so concurrent guesses all count); returns True when
    this one locks the login for :data:`LOCK_MINUTES`."""
    failures = conn.execute(
        update(web_logins).where(web_logins.c.user_id == login.user_id)
        .values(failed_attempts=web_logins.c.failed_attempts + 1).returning(web_logins.c.failed_attempts)
    ).scalar_one()
    if failures >= MAX_FAILED_ATTEMPTS:
        conn.execute(update(web_logins).where(web_logins.c.user_id == login.user_id).values(
            failed_attempts=0, locked_until=now + timedelta(minutes=LOCK_MINUTES)))
        return True
    return False


def record_success(conn: Connection, login: Login, new_hash: str | None = None) -> None:
    values: dict[str, object] = {"failed_attempts": 0, "locked_until": None}
    if new_hash is not None:
        values["password_hash"] = new_hash
    conn.execute(update(web_logins).where(web_logins.c.user_id == login.user_id).values(**values))


def _hash(cookie: str) -> str:
    return hashlib.sha256(cookie.encode("utf-8")).hexdigest()


def start_session(conn: Connection, user_id: int, now: datetime) -> tuple[str, str]:
    """A new session for ``user_id``: returns ``(cookie value, csrf token)``; only the cookie's hash is kept."""
    cookie = secrets.token_urlsafe(SESSION_BYTES)
    csrf = secrets.token_hex(32)
    conn.execute(insert(web_sessions).values(
        id_hash=_hash(cookie), user_id=user_id, csrf_token=csrf, last_seen_at=now, expires_at=now + timedelta(hours=ABSOLUTE_HOURS)))
    return cookie, csrf


def find_session(conn: Connection, cookie: str | None, now: datetime, write: bool = True) -> Session | None:
    """The live session for this cookie value, or None (unknown, expired, idle too long, user inactive).

    With ``write`` (the default) it also forgets a dead session and marks a live one as seen (at most
    once a minute). With ``write=False`` it changes nothing and raises :class:`NeedsWrite` when one of
    those writes is due, so a caller can look sessions up on a read-only connection and open a writing
    transaction only then (on SQLite a writing transaction takes the database's write lock)."""
    if not cookie or len(cookie) > SESSION_MAX_CHARS:
        return None
    row = conn.execute(
        select(web_sessions, api_users.c.name, api_users.c.role, api_users.c.active)
        .join(api_users, api_users.c.id == web_sessions.c.user_id)
        .where(web_sessions.c.id_hash == _hash(cookie))
    ).mappings().first()
    if row is None:
        return None
    expires_at, last_seen = _aware(row["expires_at"]), _aware(row["last_seen_at"])
    assert expires_at is not None and last_seen is not None
    if not row["active"] or row["role"] == BORROWER_ROLE or now >= expires_at or now - last_seen >= timedelta(minutes=IDLE_MINUTES):
        if not write:
            raise NeedsWrite()
        conn.execute(delete(web_sessions).where(web_sessions.c.id_hash == row["id_hash"]))
        return None
    if now - last_seen >= timedelta(seconds=TOUCH_SECONDS):
        if not write:
            raise NeedsWrite()
        conn.execute(update(web_sessions).where(web_sessions.c.id_hash == row["id_hash"]).values(last_seen_at=now))
    return Session(row["user_id"], row["name"], row["role"], row["csrf_token"], expires_at)


class NeedsWrite(Exception):
    """:func:`find_session` with ``write=False`` found a session to forget or to mark as seen."""


def end_session(conn: Connection, cookie: str | None) -> None:
    if cookie and len(cookie) <= SESSION_MAX_CHARS:
        conn.execute(delete(web_sessions).where(web_sessions.c.id_hash == _hash(cookie)))


def end_sessions(conn: Connection, user_id: int) -> int:
    return int(conn.execute(delete(web_sessions).where(web_sessions.c.user_id == user_id)).rowcount or 0)


def prune_sessions(conn: Connection, now: datetime) -> int:
    """Forget sessions past their absolute expiry or idle too long."""
    idle = now - timedelta(minutes=IDLE_MINUTES)
    done = conn.execute(delete(web_sessions).where((web_sessions.c.expires_at <= now) | (web_sessions.c.last_seen_at <= idle)))
    return int(done.rowcount or 0)
