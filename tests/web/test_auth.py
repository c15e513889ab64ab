"""Dashboard sign-in on SQLite and PostgreSQL: hardened session cookies stored hashed, CSRF on every form,
the same answer for a wrong name or password, lock-out, a per-address limit, expiry and revocation."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from sqlalchemy import select

from smelend.store import web_sessions
from smelend.store.tables import web_logins, web_sessions as sessions_table

from .conftest import PASSWORD, Bare, csrf_of, login, table_counts


def _sessions(bare: Bare) -> list[str]:
    with bare.engine.connect() as conn:
        return list(conn.execute(select(sessions_table.c.id_hash)).scalars())


def test_login_sets_a_hardened_cookie_stored_only_as_a_hash_and_logout_ends_it(bare: Bare) -> None:
    client = bare.browser()
    assert client.get("/dashboard/").headers["location"] == "/dashboard/login?next=/dashboard/"
    answer = login(client, "Staff Risk", PASSWORD)  # the login name is not case-sensitive
    assert answer.status_code == 303 and answer.headers["location"] == "/dashboard/"
    cookie = next(c for c in answer.headers.get_list("set-cookie") if c.startswith("smelend_session="))
    attributes = {part.strip().lower() for part in cookie.split(";")}
    assert {"httponly", "samesite=strict", "path=/dashboard"} <= attributes
    value = client.cookies.get("smelend_session")
    assert value and len(value) >= 43
    stored = _sessions(bare)
    assert len(stored) == 1 and stored[0] != value and value not in stored[0]

    home = client.get("/dashboard/")
    assert home.status_code == 200 and "staff risk" in home.text
    assert home.headers["x-frame-options"] == "DENY" and "script-src 'self'" in home.headers["content-security-policy"]
    assert home.headers["cache-control"] == "no-store"

    refused = client.post("/dashboard/logout", data={"csrf_token": "not-the-token"})
    assert refused.status_code == 403 and len(_sessions(bare)) == 1
    out = client.post("/dashboard/logout", data={"csrf_token": csrf_of(home.text)})
    assert out.status_code == 303 and _sessions(bare) == []
    from smelend.store.audit import list_audit

    with bare.engine.connect() as conn:
        entries = list_audit(conn, limit=1000)
    trail = [(e.actor, e.action) for e in entries if e.action.startswith("dashboard.")]
    assert [a for _, a in trail] == ["dashboard.login", "dashboard.logout"] and trail[0][0] == trail[1][0]
    assert PASSWORD not in json.dumps([vars(e) for e in entries], default=str)
    client.cookies.set("smelend_session", value, path="/dashboard")  # the old cookie opens nothing now
    assert client.get("/dashboard/").status_code == 303


def test_wrong_password_and_unknown_name_read_the_same_then_the_login_locks(bare: Bare) -> None:
    client = bare.browser()
    before = table_counts(bare.engine)
    unknown = login(client, "nobody at all", PASSWORD)
    assert unknown.status_code == 401 and "wrong name or password" in unknown.text
    for attempt in range(web_sessions.MAX_FAILED_ATTEMPTS - 1):
        wrong = login(client, "staff auditor", "not the password at all")
        assert wrong.status_code == 401 and "wrong name or password" in wrong.text and "locked" not in wrong.text
    locking = login(client, "staff auditor", "not the password at all")
    assert locking.status_code == 401 and "now locked" in locking.text
    right_but_locked = login(client, "staff auditor", PASSWORD)
    assert right_but_locked.status_code == 401 and "locked until" in right_but_locked.text
    after = table_counts(bare.engine)
    assert after.pop("audit_log") == before.pop("audit_log") + 1 and after == before  # no session, nothing else written
    from smelend.store.audit import list_audit

    with bare.engine.connect() as conn:
        locked = list_audit(conn, limit=1000)[-1]
    assert locked.action == "dashboard.login.locked" and locked.actor == "web:login" and "not the password" not in json.dumps(locked.after)
    assert login(client, "staff risk", PASSWORD).status_code == 303  # others are not affected

    from smelend.web.auth import utcnow
    from smelend.web.login import attempt

    later = utcnow() + timedelta(minutes=web_sessions.LOCK_MINUTES + 1)
    assert attempt(bare.engine, "staff auditor", PASSWORD, later).cookie is not None  # the lock lapses
    with bare.engine.connect() as conn:
        row = conn.execute(select(web_logins).where(web_logins.c.login == "staff auditor")).mappings().one()
    assert row["failed_attempts"] == 0 and row["locked_until"] is None


def test_the_login_form_needs_its_csrf_token_and_this_site_as_origin(bare: Bare) -> None:
    client = bare.browser()
    page = client.get("/dashboard/login")
    token = csrf_of(page.text)
    assert "httponly" in page.headers["set-cookie"].lower() and "samesite=strict" in page.headers["set-cookie"].lower()
    form = {"name": "staff risk", "password": PASSWORD, "next": "/dashboard/"}
    assert client.post("/dashboard/login", data=form).status_code == 403  # no token
    assert client.post("/dashboard/login", data={**form, "csrf_token": token + "x"}).status_code == 403
    elsewhere = client.post("/dashboard/login", data={**form, "csrf_token": token}, headers={"origin": "https://evil.example"})
    assert elsewhere.status_code == 403
    fresh = bare.browser()  # a forged form from another site has no cookie of ours
    assert fresh.post("/dashboard/login", data={**form, "csrf_token": token}).status_code == 403
    assert _sessions(bare) == []
    assert client.post("/dashboard/login", data={**form, "csrf_token": token}).status_code == 303


def test_logins_are_limited_per_address(bare: Bare, monkeypatch: pytest.MonkeyPatch) -> None:
    from smelend.web import auth

    monkeypatch.setattr(auth, "LOGIN_ATTEMPTS_PER_MINUTE", 3)
    client = bare.browser()
    for _ in range(3):
        assert login(client, "staff product", "a wrong password here").status_code == 401
    limited = login(client, "staff product", PASSWORD)
    assert limited.status_code == 429 and int(limited.headers["retry-after"]) >= 1 and "too many login attempts" in limited.text
    assert _sessions(bare) == []


def test_redirect_after_login_stays_on_the_dashboard(bare: Bare) -> None:
    client = bare.browser()
    assert client.get("/dashboard/audit").headers["location"] == "/dashboard/login?next=/dashboard/audit"
    assert login(client, "staff auditor", PASSWORD, next_path="/dashboard/audit").headers["location"] == "/dashboard/audit"
    other = bare.browser()
    for target in ("https://evil.example/", "//evil.example/dashboard", "/v1/audit"):
        assert login(other, "staff auditor", PASSWORD, next_path=target).headers["location"] == "/dashboard/"
        other.cookies.clear()


def test_sessions_end_when_idle_old_revoked_or_the_password_changes(bare: Bare) -> None:
    from smelend.store.access import set_user_active
    from smelend.web import passwords
    from smelend.web.auth import utcnow

    now = utcnow()
    with bare.engine.begin() as conn:
        user_id = web_sessions.find_login(conn, "staff operations").user_id  # type: ignore[union-attr]
        idle, _ = web_sessions.start_session(conn, user_id, now)
        old, _ = web_sessions.start_session(conn, user_id, now)
        revoked, _ = web_sessions.start_session(conn, user_id, now)
    with bare.engine.begin() as conn:
        assert web_sessions.find_session(conn, idle, now + timedelta(minutes=web_sessions.IDLE_MINUTES)) is None
        for minutes in range(25, web_sessions.ABSOLUTE_HOURS * 60, 25):  # used every 25 minutes: never idle
            assert web_sessions.find_session(conn, old, now + timedelta(minutes=minutes)) is not None
        assert web_sessions.find_session(conn, old, now + timedelta(hours=web_sessions.ABSOLUTE_HOURS)) is None
        assert web_sessions.find_session(conn, revoked, now) is not None
        set_user_active(conn, user_id, False)
        assert web_sessions.find_session(conn, revoked, now) is None
        set_user_active(conn, user_id, True)
        again, _ = web_sessions.start_session(conn, user_id, now)
        web_sessions.set_password(conn, user_id, "staff operations", passwords.hash_password("another long passphrase", n=2**10))
        assert web_sessions.find_session(conn, again, now) is None
    assert login(bare.browser(), "staff operations", PASSWORD).status_code == 401
    assert login(bare.browser(), "staff operations", "another long passphrase").status_code == 303  # and is rehashed at full cost
    with bare.engine.connect() as conn:
        assert not passwords.needs_rehash(web_sessions.find_login(conn, "staff operations").password_hash)  # type: ignore[union-attr]


def test_borrowers_get_no_login_and_names_are_unique(bare: Bare) -> None:
    from smelend.errors import InvalidInput
    from smelend.store import add_person
    from smelend.store.access import create_user

    with bare.engine.begin() as conn:
        person = add_person(conn, "张三", "11010519491231002X", "13800138000")
        borrower, _ = create_user(conn, "borrower app", "borrower", person)
        with pytest.raises(InvalidInput) as refused:
            web_sessions.set_password(conn, borrower, "borrower app", "scrypt$1$1$1$x$y")
        assert refused.value.errors[0].field == "password"
        other, _ = create_user(conn, "another risk analyst", "risk")
        with pytest.raises(InvalidInput) as taken:
            web_sessions.set_password(conn, other, "STAFF  risk", "scrypt$1$1$1$x$y")
        assert taken.value.errors[0].field == "name"


def test_a_login_replaces_the_browsers_previous_session(bare: Bare) -> None:
    client = bare.browser()
    assert login(client, "staff risk", PASSWORD).status_code == 303
    first = client.cookies.get("smelend_session")
    assert client.get("/dashboard/login").status_code == 303  # signed in already: no form
    other = bare.browser()  # a login form still open in another tab
    token = csrf_of(other.get("/dashboard/login").text)
    client.cookies.set("smelend_login_csrf", other.cookies.get("smelend_login_csrf") or "", path="/dashboard")
    answer = client.post("/dashboard/login", data={"name": "staff auditor", "password": PASSWORD, "csrf_token": token})
    assert answer.status_code == 303
    second = client.cookies.get("smelend_session")
    assert first != second and len(_sessions(bare)) == 1
    assert "staff auditor" in client.get("/dashboard/").text


def test_page_views_only_read_until_a_session_is_due_to_be_marked_seen(bare: Bare) -> None:
    from sqlalchemy import update

    client = bare.browser()
    login(client, "staff admin", PASSWORD)
    with bare.engine.connect() as conn:
        seen = conn.execute(select(sessions_table.c.last_seen_at)).scalar_one()
    assert client.get("/dashboard/").status_code == 200
    with bare.engine.begin() as conn:
        assert conn.execute(select(sessions_table.c.last_seen_at)).scalar_one() == seen  # within the minute: not rewritten
        conn.execute(update(sessions_table).values(last_seen_at=seen - timedelta(minutes=5)))
        earlier = conn.execute(select(sessions_table.c.last_seen_at)).scalar_one()
    assert client.get("/dashboard/").status_code == 200
    with bare.engine.connect() as conn:
        assert conn.execute(select(sessions_table.c.last_seen_at)).scalar_one() > earlier
