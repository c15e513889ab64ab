"""Partner request signing: the canonical string, the time window, nonces, and body parsing that still
works after the signature check read the body (through FastAPI's TestClient and a real route)."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from fastapi import Depends, FastAPI
from fastapi.testclient import TestClient
from pydantic import BaseModel
from sqlalchemy import text
from sqlalchemy.engine import Engine

from smelend.api import signing
from smelend.api.principal import Principal
from smelend.api.security import authenticate
from smelend.store import open_store
from smelend.store.access import create_partner, prune_nonces, remember_nonce


SECRET = "s" * 43


class Lead(BaseModel):
    uscc: str
    amount: int


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    store = open_store(db_url)
    yield store
    store.dispose()


@pytest.fixture
def partner(engine: Engine) -> tuple[int, str, str]:
    with engine.begin() as conn:
        return create_partner(conn, "Tax platform")


@pytest.fixture
def client(engine: Engine) -> TestClient:
    app = FastAPI()
    app.state.engine = engine

    @app.post("/v1/leads")
    async def lead(body: Lead, principal: Principal = Depends(authenticate)) -> dict[str, object]:
        return {"partner": principal.key, "uscc": body.uscc, "amount": body.amount}

    @app.get("/v1/leads/{lead_id}")
    async def show(lead_id: str, principal: Principal = Depends(authenticate)) -> dict[str, object]:
        return {"partner": principal.key, "lead": lead_id}

    return TestClient(app)


def post(client: TestClient, path: str, body: bytes, headers: dict[str, str]):
    return client.post(path, content=body, headers={**headers, "Content-Type": "application/json"})


# --- the scheme ---------------------------------------------------------------------------------------


def test_the_signature_is_hmac_sha256_of_the_canonical_string():
    body = b'{"amount":1}'
    message = b"POST\n/v1/leads?ref=a%20b\n1700000000\nnonce-0123456789abcdef\n" + body
    expected = hmac.new(SECRET.encode(), message, hashlib.sha256).hexdigest()
    assert signing.canonical("post", "/v1/leads?ref=a%20b", 1700000000, "nonce-0123456789abcdef", body) == message
    assert signing.sign(SECRET, "POST", "/v1/leads?ref=a%20b", 1700000000, "nonce-0123456789abcdef", body) == expected
    headers = signing.signed_headers("pk_1", SECRET, "POST", "/v1/leads?ref=a%20b", body, timestamp=1700000000, nonce="nonce-0123456789abcdef")
    assert headers == {
        "X-Smelend-Key-Id": "pk_1",
        "X-Smelend-Timestamp": "1700000000",
        "X-Smelend-Nonce": "nonce-0123456789abcdef",
        "X-Smelend-Signature": expected,
    }


def test_fresh_nonces_differ_and_are_well_formed():
    nonces = {signing.new_nonce() for _ in range(100)}
    assert len(nonces) == 100 and all(signing.NONCE_PATTERN.fullmatch(n) for n in nonces)


# --- through a route ----------------------------------------------------------------------------------


def test_a_signed_post_reaches_the_route_with_its_body_parsed(client, partner):
    partner_id, key_id, secret = partner
    body = json.dumps({"uscc": "91310000MA1FL8T5X3", "amount": 500000}).encode()
    response = post(client, "/v1/leads?ref=tax%2Fq1", body, signing.signed_headers(key_id, secret, "POST", "/v1/leads?ref=tax%2Fq1", body))
    assert response.status_code == 200, response.text
    assert response.json() == {"partner": f"partner:{partner_id}", "uscc": "91310000MA1FL8T5X3", "amount": 500000}


def test_a_signed_get_with_a_percent_encoded_path(client, partner):
    _, key_id, secret = partner
    path = "/v1/leads/a%20b?x=1"
    response = client.get(path, headers=signing.signed_headers(key_id, secret, "GET", path))
    assert response.status_code == 200 and response.json()["lead"] == "a b"
    decoded = "/v1/leads/a b?x=1"  # signing the decoded path is not what was sent
    response = client.get(path, headers=signing.signed_headers(key_id, secret, "GET", decoded))
    assert response.status_code == 401


def check_of(response) -> str:
    assert response.status_code == 401, response.text
    return response.json()["detail"][0]["field"]


def test_every_failed_check_is_named_and_never_echoes_the_secret(client, partner):
    _, key_id, secret = partner
    body = b'{"uscc":"91310000MA1FL8T5X3","amount":1}'
    good = signing.signed_headers(key_id, secret, "POST", "/v1/leads", body)
    now = int(time.time())
    cases = {
        "signature": post(client, "/v1/leads", body, {**good, "X-Smelend-Signature": "0" * 64}),
        "tampered": post(client, "/v1/leads", body.replace(b"1}", b"2}"), signing.signed_headers(key_id, secret, "POST", "/v1/leads", body)),
        "other path": post(client, "/v1/leads?x=1", body, signing.signed_headers(key_id, secret, "POST", "/v1/leads", body)),
        "other secret": post(client, "/v1/leads", body, signing.signed_headers(key_id, SECRET, "POST", "/v1/leads", body)),
        "old": post(client, "/v1/leads", body, signing.signed_headers(key_id, secret, "POST", "/v1/leads", body, timestamp=now - 301)),
        # a minute beyond the window, from the clock now: on a loaded machine the cases above take seconds
        "future": post(client, "/v1/leads", body, signing.signed_headers(key_id, secret, "POST", "/v1/leads", body, timestamp=int(time.time()) + 360)),
        "unknown key": post(client, "/v1/leads", body, signing.signed_headers("pk_unknown", secret, "POST", "/v1/leads", body)),
        "missing": post(client, "/v1/leads", body, {k: v for k, v in good.items() if k != "X-Smelend-Nonce"}),
        "short nonce": post(client, "/v1/leads", body, signing.signed_headers(key_id, secret, "POST", "/v1/leads", body, nonce="abc")),
        "bad timestamp": post(client, "/v1/leads", body, {**good, "X-Smelend-Timestamp": "yesterday"}),
        "upper hex": post(client, "/v1/leads", body, {**good, "X-Smelend-Signature": good["X-Smelend-Signature"].upper()}),
    }
    checks = {name: check_of(response) for name, response in cases.items()}
    key, ts, nonce, sig = "X-Smelend-Key-Id", "X-Smelend-Timestamp", "X-Smelend-Nonce", "X-Smelend-Signature"
    assert checks == {
        "signature": sig, "tampered": sig, "other path": sig, "other secret": sig, "old": ts, "future": ts,
        "unknown key": key, "missing": nonce, "short nonce": nonce, "bad timestamp": ts, "upper hex": sig,
    }
    assert all(secret not in response.text for response in cases.values())
    assert post(client, "/v1/leads", body, good).status_code == 200  # none of the refusals spent its nonce


def test_inside_the_window_is_accepted(client, partner):
    _, key_id, secret = partner
    for skew in (-290, 290):
        headers = signing.signed_headers(key_id, secret, "GET", "/v1/leads/1", timestamp=int(time.time()) + skew)
        assert client.get("/v1/leads/1", headers=headers).status_code == 200


def test_a_replayed_nonce_is_refused(client, partner, engine):
    _, key_id, secret = partner
    body = b'{"uscc":"91310000MA1FL8T5X3","amount":1}'
    headers = signing.signed_headers(key_id, secret, "POST", "/v1/leads", body)
    assert post(client, "/v1/leads", body, headers).status_code == 200
    replay = post(client, "/v1/leads", body, headers)
    assert check_of(replay) == "X-Smelend-Nonce" and "already used" in replay.json()["detail"][0]["reason"]
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM request_nonces")).scalar_one() == 1


def test_an_oversized_body_is_refused(client, partner):
    _, key_id, secret = partner
    body = json.dumps({"uscc": "91310000MA1FL8T5X3", "amount": 1, "pad": "x" * signing.MAX_BODY_BYTES}).encode()
    response = post(client, "/v1/leads", body, signing.signed_headers(key_id, secret, "POST", "/v1/leads", body))
    assert response.status_code == 413 and response.json()["detail"][0]["field"] == "body"


def test_nonces_are_per_key_and_pruned_after_the_retention(engine):
    now = datetime.now(UTC)
    old = now - timedelta(seconds=signing.NONCE_RETENTION_SECONDS + 1)
    with engine.begin() as conn:
        assert remember_nonce(conn, "pk_a", "n" * 16, old)
        assert remember_nonce(conn, "pk_b", "n" * 16, now)  # another key may use the same nonce
        assert not remember_nonce(conn, "pk_b", "n" * 16, now)
        assert remember_nonce(conn, "pk_b", "m" * 16, now)  # the transaction is still usable
        assert prune_nonces(conn, now - timedelta(seconds=signing.NONCE_RETENTION_SECONDS)) == 1
        assert conn.execute(text("SELECT count(*) FROM request_nonces")).scalar_one() == 2
    assert signing.NONCE_RETENTION_SECONDS > 2 * signing.WINDOW_SECONDS
