"""Checking a login attempt: the password against its scrypt hash, the lock-out, the user still active.

Unknown names are verified against a dummy hash so that they take as long as known ones, and every
refusal reads the same ("wrong name or password") except a lock-out, which says until when. Sign-ins
and lock-outs are written to the audit log (``dashboard.login``, ``dashboard.login.locked``); single
wrong passwords are only counted.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.engine import Engine

from smelend.store import audit, web_sessions
from smelend.store.db import reading
from smelend.store.tables import api_users
from smelend.web import passwords

WRONG = "wrong name or password"
SYSTEM_ACTOR = "web:login"  # who the audit log names for a lock-out (nobody is signed in)


@dataclass(frozen=True)
class Attempt:
    cookie: str | None  # the new session's cookie value, when logged in
    refusal: str | None  # why not, in words for the login page


def attempt(engine: Engine, name: str, password: str, now: datetime, previous_cookie: str | None = None) -> Attempt:
    """Check one sign-in; on success a new session (and the browser's previous one, if any, ends: a
    session id is never carried across a login)."""
    with reading(engine) as conn:
        login = web_sessions.find_login(conn, name)
        active = login is not None and bool(conn.scalar(select(api_users.c.active).where(api_users.c.id == login.user_id)))
    if login is None or len(password) > passwords.MAX_CHARS:
        passwords.verify_password(password[: passwords.MAX_CHARS], passwords.dummy_hash())
        return Attempt(None, WRONG)
    if web_sessions.is_locked(login, now):
        assert login.locked_until is not None
        return Attempt(None, f"too many failed attempts: this login is locked until {login.locked_until:%H:%M} UTC")
    good = passwords.verify_password(password, login.password_hash)
    with engine.begin() as conn:
        if not good:
            locked = web_sessions.record_failure(conn, login, now)
            if locked:
                audit.record(conn, SYSTEM_ACTOR, "dashboard.login.locked", "api_user", login.user_id, None,
                             {"login": login.login, "failed_attempts": web_sessions.MAX_FAILED_ATTEMPTS, "minutes": web_sessions.LOCK_MINUTES})
            return Attempt(None, WRONG + (f"; this login is now locked for {web_sessions.LOCK_MINUTES} minutes" if locked else ""))
        if not active:
            return Attempt(None, WRONG)
        rehash = passwords.hash_password(password) if passwords.needs_rehash(login.password_hash) else None
        web_sessions.record_success(conn, login, rehash)
        web_sessions.end_session(conn, previous_cookie)
        cookie, _ = web_sessions.start_session(conn, login.user_id, now)
        audit.record(conn, f"staff:{login.user_id}", "dashboard.login", "api_user", login.user_id, None, {"login": login.login})
    return Attempt(cookie, None)
