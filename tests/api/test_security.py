"""Authentication and authorisation: bearer tokens for staff and borrowers, partner signatures, roles,
per-partner rate limits; on every backend, through FastAPI's TestClient and real routes."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi import Depends, FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select, text
from sqlalchemy.engine import Engine

from smelend.api.principal import Principal
from smelend.api.ratelimit import RateLimiter
from smelend.api.security import authenticate, require_kind, require_roles
from smelend.api.signing import signed_headers
from smelend.errors import InvalidInput
from smelend.store import add_person, open_store
from smelend.store.access import (
    DEFAULT_RATE_LIMIT_PER_MINUTE,
    create_partner,
    create_user,
    find_user_by_token,
    get_partner,
    set_partner_active,
    set_user_active,
)
from smelend.store.tables import api_users


RESIDENT_ID = "11010519491231002X"


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    store = open_store(db_url)
    yield store
    store.dispose()


def make_app(engine: Engine, limiter: RateLimiter | None = None) -> FastAPI:
    app = FastAPI()
    app.state.engine = engine
    if limiter is not None:
        app.state.rate_limiter = limiter

    @app.get("/whoami")
    async def whoami(principal: Principal = Depends(authenticate)) -> dict[str, object]:
        return {"key": principal.key, "kind": principal.kind, "role": principal.role, "person_id": principal.person_id}

    @app.get("/risk")
    def risk(principal: Principal = Depends(require_roles("risk"))) -> dict[str, str]:
        return {"key": principal.key}

    @app.get("/apps")
    def apps(principal: Principal = Depends(require_kind("borrower", "partner"))) -> dict[str, str]:
        return {"key": principal.key}

    return app


@pytest.fixture
def people(engine: Engine) -> dict[str, object]:
    with engine.begin() as conn:
        person = add_person(conn, "Zhang San", RESIDENT_ID, "13800138000")
        tokens = {role: create_user(conn, f"user {role}", role)[1] for role in ("risk", "marketing", "admin")}
        tokens["borrower"] = create_user(conn, "Zhang San app", "borrower", person)[1]
        partner_id, key_id, secret = create_partner(conn, "Tax platform")
    return {"person": person, "tokens": tokens, "partner": (partner_id, key_id, secret)}


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


# --- the store ----------------------------------------------------------------------------------------


def test_only_a_hash_of_the_token_is_stored(engine):
    with engine.begin() as conn:
        user_id, token = create_user(conn, "Li Si", "risk")
        row = conn.execute(select(api_users).where(api_users.c.id == user_id)).mappings().one()
        assert token.startswith("smu_") and len(token) >= 40
        assert token not in str(dict(row)) and len(row["token_hash"]) == 64
        found = find_user_by_token(conn, token)
        assert found is not None and found.id == user_id and found.role == "risk" and found.active
        assert find_user_by_token(conn, token + "x") is None
        assert find_user_by_token(conn, "x" * 10_000) is None
        second = create_user(conn, "Li Si", "risk")[1]
    assert second != token


@pytest.mark.parametrize(
    ("role", "person", "field"),
    [("boss", None, "role"), ("borrower", None, "person_id"), ("risk", 1, "person_id"), ("borrower", 999, "person_id")],
)
def test_bad_users_are_refused_naming_the_field(engine, role, person, field):
    with engine.begin() as conn:
        add_person(conn, "Zhang San", RESIDENT_ID, "13800138000")
        with pytest.raises(InvalidInput) as refused:
            create_user(conn, "Wang Wu", role, person)
        assert refused.value.first.field == field
        assert conn.execute(text("SELECT count(*) FROM api_users")).scalar_one() == 0


def test_partner_secret_is_stored_encrypted_with_defaults(engine):
    with engine.begin() as conn:
        partner_id, key_id, secret = create_partner(conn, "E-invoice platform", callback_url="https://partner.example/cb")
        raw = conn.execute(text("SELECT secret, rate_limit_per_minute, max_lending_share FROM partners")).one()
        partner = get_partner(conn, partner_id)
    assert raw.secret.startswith("v1:") and secret not in raw.secret
    assert raw.rate_limit_per_minute == DEFAULT_RATE_LIMIT_PER_MINUTE >= 12_000
    assert partner.secret == secret and partner.key_id == key_id and secret not in repr(partner)
    assert str(partner.max_lending_share) == "0.3" and partner.callback_url == "https://partner.example/cb"


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"rate_limit_per_minute": 0}, "rate_limit_per_minute"),
        ({"max_lending_share": "1.5"}, "max_lending_share"),
        ({"max_lending_share": "abc"}, "max_lending_share"),
        ({"callback_url": "ftp://x.example/"}, "callback_url"),
    ],
)
def test_bad_partners_are_refused_naming_the_field(engine, kwargs, field):
    with engine.begin() as conn, pytest.raises(InvalidInput) as refused:
        create_partner(conn, "P", **kwargs)
    assert refused.value.first.field == field


# --- through FastAPI ----------------------------------------------------------------------------------


def test_bearer_tokens_name_staff_and_borrowers(engine, people):
    client = TestClient(make_app(engine))
    tokens = people["tokens"]
    risk = client.get("/whoami", headers=bearer(tokens["risk"])).json()
    assert risk["kind"] == "staff" and risk["role"] == "risk" and risk["person_id"] is None
    borrower = client.get("/whoami", headers=bearer(tokens["borrower"])).json()
    assert borrower == {"key": borrower["key"], "kind": "borrower", "role": "borrower", "person_id": people["person"]}


@pytest.mark.parametrize(
    "headers",
    [{}, {"Authorization": "Bearer smu_nope"}, {"Authorization": "Basic dXNlcjpwdw=="}, {"Authorization": "Bearer"}],
    ids=["none", "unknown", "basic", "empty"],
)
def test_no_valid_credentials_is_401_with_a_json_body(engine, people, headers):
    response = TestClient(make_app(engine)).get("/whoami", headers=headers)
    assert response.status_code == 401 and response.headers["www-authenticate"].startswith("Bearer")
    assert response.json()["detail"][0]["field"] == "Authorization" and response.json()["detail"][0]["reason"]


def test_a_revoked_token_is_refused(engine, people):
    client = TestClient(make_app(engine))
    token = people["tokens"]["marketing"]
    with engine.begin() as conn:
        set_user_active(conn, find_user_by_token(conn, token).id, False)
    response = client.get("/whoami", headers=bearer(token))
    assert response.status_code == 401 and token not in response.text


def test_a_token_and_a_signature_together_are_refused(engine, people):
    _, key_id, secret = people["partner"]
    headers = {**bearer(people["tokens"]["risk"]), **signed_headers(key_id, secret, "GET", "/whoami")}
    response = TestClient(make_app(engine)).get("/whoami", headers=headers)
    assert response.status_code == 401 and "not both" in response.json()["detail"][0]["reason"]


def test_roles_and_kinds(engine, people):
    client = TestClient(make_app(engine))
    tokens = people["tokens"]
    partner_id, key_id, secret = people["partner"]
    assert client.get("/risk", headers=bearer(tokens["risk"])).status_code == 200
    assert client.get("/risk", headers=bearer(tokens["admin"])).status_code == 200  # admin passes everywhere
    for caller in (bearer(tokens["marketing"]), bearer(tokens["borrower"]), signed_headers(key_id, secret, "GET", "/risk")):
        response = client.get("/risk", headers=caller)
        assert response.status_code == 403 and response.json()["detail"][0]["field"] == "role"
    assert client.get("/apps", headers=bearer(tokens["borrower"])).status_code == 200
    assert client.get("/apps", headers=signed_headers(key_id, secret, "GET", "/apps")).json() == {"key": f"partner:{partner_id}"}
    refused = client.get("/apps", headers=bearer(tokens["admin"]))
    assert refused.status_code == 403 and refused.json()["detail"][0]["field"] == "kind"
    assert client.get("/apps").status_code == 401


def test_factories_refuse_unknown_roles_and_kinds():
    with pytest.raises(AssertionError):
        require_roles("borrower")
    with pytest.raises(AssertionError):
        require_kind("robot")


# --- rate limits --------------------------------------------------------------------------------------


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_partner_over_its_limit_gets_429_with_retry_after(engine):
    with engine.begin() as conn:
        partner_id, key_id, secret = create_partner(conn, "Small platform", rate_limit_per_minute=3)
        other = create_partner(conn, "Other platform", rate_limit_per_minute=3)
    clock = FakeClock()
    client = TestClient(make_app(engine, RateLimiter(clock)))
    for _ in range(3):
        assert client.get("/whoami", headers=signed_headers(key_id, secret, "GET", "/whoami")).status_code == 200
    refused = client.get("/whoami", headers=signed_headers(key_id, secret, "GET", "/whoami"))
    assert refused.status_code == 429 and int(refused.headers["retry-after"]) >= 1
    assert refused.json()["detail"][0] == {"field": "X-Smelend-Key-Id", "reason": "more than 3 requests a minute"}
    assert client.get("/whoami", headers=signed_headers(other[1], other[2], "GET", "/whoami")).status_code == 200  # per partner
    clock.now += 121  # two windows later the count is forgotten
    assert client.get("/whoami", headers=signed_headers(key_id, secret, "GET", "/whoami")).status_code == 200


def test_workers_split_a_partners_limit(engine):
    """Under `smelend serve --workers 2` each worker allows half the limit, so the service allows about all of it."""
    with engine.begin() as conn:
        _, key_id, secret = create_partner(conn, "Small platform", rate_limit_per_minute=4)
    app = make_app(engine, RateLimiter(FakeClock()))
    app.state.workers = 2
    client = TestClient(app)
    statuses = [client.get("/whoami", headers=signed_headers(key_id, secret, "GET", "/whoami")).status_code for _ in range(3)]
    assert statuses == [200, 200, 429]


def test_an_unsigned_request_never_spends_a_partners_budget(engine):
    with engine.begin() as conn:
        _, key_id, secret = create_partner(conn, "Small platform", rate_limit_per_minute=1)
    client = TestClient(make_app(engine, RateLimiter(FakeClock())))
    bad = signed_headers(key_id, "x" * 43, "GET", "/whoami")
    for _ in range(3):
        assert client.get("/whoami", headers=bad).status_code == 401
    assert client.get("/whoami", headers=signed_headers(key_id, secret, "GET", "/whoami")).status_code == 200


def test_an_inactive_partner_is_refused(engine):
    with engine.begin() as conn:
        partner_id, key_id, secret = create_partner(conn, "Gone platform")
        set_partner_active(conn, partner_id, False)
    response = TestClient(make_app(engine)).get("/whoami", headers=signed_headers(key_id, secret, "GET", "/whoami"))
    assert response.status_code == 401 and response.json()["detail"][0]["field"] == "X-Smelend-Key-Id"


def test_sliding_window_counts_the_previous_minute_by_its_overlap():
    clock = FakeClock()
    limiter = RateLimiter(clock)
    assert all(limiter.check("p", 10) is None for _ in range(10))
    assert limiter.check("p", 10) == 66  # the next window, once the 10 weigh at most 9: 6 s into it
    clock.now += 60  # next window: 10 previous requests weigh fully at its start
    assert limiter.check("p", 10) is not None
    clock.now += 30  # half way: they weigh 5, so 4 more fit (5 + 4 + 1 <= 10)
    assert [limiter.check("p", 10) for _ in range(5)][:4] == [None] * 4
    assert limiter.check("p", 10) is not None
    assert limiter.check("q", 10) is None  # names are independent


def test_retry_after_is_when_a_request_fits_again():
    clock = FakeClock()
    limiter = RateLimiter(clock)
    for _ in range(6):
        assert limiter.check("p", 6) is None
    clock.now += 60  # the 6 now weigh 6 * (1 - t/60): one more fits once that is <= 5, at t = 10 s
    wait = limiter.check("p", 6)
    assert wait == 10
    clock.now += wait
    assert limiter.check("p", 6) is None
