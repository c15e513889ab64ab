"""Sessions, CSRF and page checks for the dashboard's routes.

- The session cookie (:data:`SESSION_COOKIE`) is HttpOnly, SameSite=Strict, Path=/dashboard, and Secure
  when the request came over https; its value is random and only its hash is stored
  (:mod:`smelend.store.web_sessions`).
- Every state-changing form (login, logout, replay, review) carries a CSRF token: the session's own
  token once logged in; before login a double-submit token (a random value both in a SameSite=Strict
  cookie and in the form). A mismatch is a 403 and changes nothing. Requests whose ``Origin`` header
  names another site are refused as well.
- Logins are limited per client address (:data:`LOGIN_ATTEMPTS_PER_MINUTE`, in this process's memory)
  and per login name (lock-out after repeated failures, in the database).

Routes call :func:`page_session` (or :func:`form_session` for a POST); instead of returning, those raise
:class:`LoginRequired` (answered with a redirect to the login page) or :class:`PageForbidden` (403 page).
"""

from __future__ import annotations

import hmac
import secrets
from datetime import datetime, timezone
from urllib.parse import urlsplit

from fastapi import Request
from starlette.concurrency import run_in_threadpool

from smelend.api.principal import Principal
from smelend.api.ratelimit import RateLimiter
from smelend.api.security import engine_of
from smelend.store import web_sessions
from smelend.store.db import reading
from smelend.web.access import allowed

SESSION_COOKIE = "smelend_session"
LOGIN_CSRF_COOKIE = "smelend_login_csrf"
COOKIE_PATH = "/dashboard"
LOGIN_ATTEMPTS_PER_MINUTE = 20  # per client address


class LoginRequired(Exception):
    """No live session: the answer is a redirect to the login page."""

    def __init__(self, next_path: str):
        super().__init__(next_path)
        self.next_path = next_path


class PageForbidden(Exception):
    """A live session whose role may not use this page or action (403)."""

    def __init__(self, session: web_sessions.Session, page: str, reason: str = ""):
        super().__init__(page)
        self.session, self.page, self.reason = session, page, reason


class CsrfFailed(Exception):
    """A form without this session's (or the login page's) CSRF token, or posted from another site (403)."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


def principal_of(session: web_sessions.Session) -> Principal:
    """The API's caller for this session: the same user, role and audit name (``staff:ID``)."""
    return Principal(kind="staff", id=session.user_id, name=session.name, role=session.role)


def _find(request: Request) -> web_sessions.Session | None:
    cookie = request.cookies.get(SESSION_COOKIE)
    if not cookie:
        return None
    engine, now = engine_of(request), utcnow()
    try:
        with reading(engine) as conn:  # most requests only read
            return web_sessions.find_session(conn, cookie, now, write=False)
    except web_sessions.NeedsWrite:
        with engine.begin() as conn:
            return web_sessions.find_session(conn, cookie, now)


async def current_session(request: Request) -> web_sessions.Session | None:
    return await run_in_threadpool(_find, request)


async def page_session(request: Request, page: str | None) -> web_sessions.Session:
    """The live session allowed to see ``page`` (None: any staff member), else LoginRequired / PageForbidden."""
    session = await current_session(request)
    if session is None:
        raise LoginRequired(request.url.path + (f"?{request.url.query}" if request.url.query else ""))
    if page is not None and not allowed(session.role, page):
        raise PageForbidden(session, page)
    return session


async def form_session(request: Request, page: str, csrf_token: str) -> web_sessions.Session:
    """As :func:`page_session` for a POSTed form, which must carry the session's CSRF token."""
    check_origin(request)
    session = await current_session(request)
    if session is None:
        raise LoginRequired("/dashboard/")
    if not csrf_token or not hmac.compare_digest(csrf_token.encode(), session.csrf_token.encode()):
        raise CsrfFailed("the form's CSRF token does not match this session; reload the page and try again")
    if not allowed(session.role, page):
        raise PageForbidden(session, page)
    return session


def check_origin(request: Request) -> None:
    """Refuse a form posted from another origin (when the browser says where it came from)."""
    origin = request.headers.get("origin")
    if origin and origin != "null":
        if urlsplit(origin).netloc != request.headers.get("host", ""):
            raise CsrfFailed("the form was posted from another site")


def new_login_csrf() -> str:
    return secrets.token_urlsafe(32)


def check_login_csrf(request: Request, form_token: str) -> None:
    check_origin(request)
    cookie = request.cookies.get(LOGIN_CSRF_COOKIE, "")
    if not cookie or not form_token or not hmac.compare_digest(cookie.encode(), form_token.encode()):
        raise CsrfFailed("the login form expired or was not sent from this site; reload the page and try again")


def login_limiter(request: Request) -> RateLimiter:
    limiter = getattr(request.app.state, "web_login_limiter", None)
    if limiter is None:
        limiter = request.app.state.web_login_limiter = RateLimiter()
    assert isinstance(limiter, RateLimiter)
    return limiter


def client_address(request: Request) -> str:
    return request.client.host if request.client is not None else "unknown"


def safe_next(path: str | None) -> str:
    """Where to go after login: a dashboard path on this site only (never another host)."""
    if not path or not path.startswith("/dashboard") or path.startswith("//") or "\\" in path:
        return "/dashboard/"
    return path
