"""Idempotency-Key on POST: one effect per (caller, key, request), 422 for a reused key, 409 while the
first is in progress, released claims after failures; on every backend, through real routes."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from fastapi import Depends, FastAPI, HTTPException, Request, Response
from fastapi.testclient import TestClient
from pydantic import BaseModel
from sqlalchemy import text
from sqlalchemy.engine import Connection, Engine

from smelend.api.idempotency import REPLAYED_HEADER, idempotent, idempotent_call
from smelend.api.principal import Principal
from smelend.api.security import authenticate
from smelend.store import audit, open_store
from smelend.store import idempotency as store
from smelend.store.access import create_user


class Order(BaseModel):
    amount: int


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    engine = open_store(db_url)
    yield engine
    engine.dispose()


@pytest.fixture
def tokens(engine: Engine) -> tuple[str, str]:
    with engine.begin() as conn:
        return create_user(conn, "Ops one", "operations")[1], create_user(conn, "Ops two", "operations")[1]


class Hooks:
    """What the test routes do, switchable per test."""

    def __init__(self) -> None:
        self.fail_with: Exception | None = None
        self.status = 201
        self.gate: threading.Event | None = None
        self.entered = threading.Event()
        self.calls = 0
        self.prepared = 0  # prepare() runs: slow reads (a decision's provider calls) done before the work


def make_app(engine: Engine, hooks: Hooks) -> FastAPI:
    app = FastAPI()
    app.state.engine = engine

    @app.post("/orders")
    async def create(request: Request, order: Order, principal: Principal = Depends(authenticate)) -> Response:
        def prepare() -> str:
            hooks.prepared += 1
            return "prepared"

        def work(conn: Connection, prepared: Any) -> tuple[int, Any]:
            assert prepared == "prepared"
            hooks.calls += 1
            entry = audit.record(conn, principal.key, "create", "order", "ORD-1", None, {"amount": order.amount})
            if hooks.fail_with is not None:
                raise hooks.fail_with
            return hooks.status, {"entry": entry, "amount": order.amount, "note": "非常好"}

        return await idempotent(request, principal, work, prepare)

    @app.post("/slow")
    async def slow(request: Request, order: Order, principal: Principal = Depends(authenticate)) -> Response:
        def work() -> tuple[int, Any]:
            hooks.calls += 1
            hooks.entered.set()
            if hooks.gate is not None:
                assert hooks.gate.wait(10)
            with engine.begin() as conn:
                entry = audit.record(conn, principal.key, "create", "order", "ORD-2", None, {"amount": order.amount})
            return 200, {"entry": entry}

        return await idempotent_call(request, principal, work)

    return app


def audit_rows(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(text("SELECT count(*) FROM audit_log")).scalar_one())


def headers(token: str, key: str | bytes | None) -> dict[str, Any]:
    out: dict[str, Any] = {"Authorization": f"Bearer {token}"}
    if key is not None:
        out["Idempotency-Key"] = key
    return out


def test_the_same_key_and_body_does_the_work_once(engine, tokens):
    hooks = Hooks()
    client = TestClient(make_app(engine, hooks))
    first = client.post("/orders", json={"amount": 5}, headers=headers(tokens[0], "key-1"))
    second = client.post("/orders", json={"amount": 5}, headers=headers(tokens[0], "key-1"))
    assert first.status_code == second.status_code == 201
    assert first.content == second.content and first.json()["note"] == "非常好"
    assert REPLAYED_HEADER.lower() not in first.headers and second.headers[REPLAYED_HEADER] == "true"
    assert audit_rows(engine) == 1 and hooks.calls == 1
    assert hooks.prepared == 1, "a retry is answered from the store before anything is prepared again"
    with engine.connect() as conn:
        row = conn.execute(text("SELECT status, response_status FROM idempotency_keys")).one()
    assert tuple(row) == ("done", 201)


def test_without_a_key_every_request_does_the_work(engine, tokens):
    client = TestClient(make_app(engine, Hooks()))
    for _ in range(2):
        assert client.post("/orders", json={"amount": 5}, headers=headers(tokens[0], None)).status_code == 201
    assert audit_rows(engine) == 2


def test_the_same_key_with_another_body_is_422_naming_the_header(engine, tokens):
    client = TestClient(make_app(engine, Hooks()))
    assert client.post("/orders", json={"amount": 5}, headers=headers(tokens[0], "key-1")).status_code == 201
    reused = client.post("/orders", json={"amount": 6}, headers=headers(tokens[0], "key-1"))
    assert reused.status_code == 422
    assert reused.json()["detail"][0]["field"] == "Idempotency-Key"
    assert "different request" in reused.json()["detail"][0]["reason"]
    assert audit_rows(engine) == 1


def test_keys_belong_to_their_caller(engine, tokens):
    client = TestClient(make_app(engine, Hooks()))
    assert client.post("/orders", json={"amount": 5}, headers=headers(tokens[0], "shared")).status_code == 201
    other = client.post("/orders", json={"amount": 7}, headers=headers(tokens[1], "shared"))
    assert other.status_code == 201 and REPLAYED_HEADER.lower() not in other.headers
    assert audit_rows(engine) == 2


@pytest.mark.parametrize("key", ["", "has space", "x" * 129, "ключ".encode()], ids=["empty", "space", "long", "utf8"])
def test_a_malformed_key_is_422(engine, tokens, key):
    response = TestClient(make_app(engine, Hooks())).post("/orders", json={"amount": 5}, headers=headers(tokens[0], key))
    assert response.status_code == 422 and response.json()["detail"][0]["field"] == "Idempotency-Key"
    assert audit_rows(engine) == 0


def test_a_claim_in_progress_makes_a_duplicate_409(engine, tokens):
    hooks = Hooks()
    app = make_app(engine, hooks)
    client = TestClient(app)
    body = b'{"amount":5}'
    with engine.begin() as conn:  # another worker claimed this request and is still working on it
        user_key = "staff:1"
        digest = store.request_hash("POST", "/orders", body)
        assert store.claim(conn, user_key, "key-1", digest, datetime.now(UTC)).outcome == "claimed"
    response = client.post("/orders", content=body, headers={**headers(tokens[0], "key-1"), "Content-Type": "application/json"})
    assert response.status_code == 409 and response.headers["retry-after"] == "1"
    assert response.json()["detail"][0]["field"] == "Idempotency-Key"
    assert hooks.calls == 0 and audit_rows(engine) == 0


def test_a_concurrent_duplicate_is_409_while_the_first_works(engine, tokens):
    hooks = Hooks()
    hooks.gate = threading.Event()
    app = make_app(engine, hooks)

    async def scenario() -> tuple[httpx.Response, httpx.Response, httpx.Response]:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            first = asyncio.create_task(client.post("/slow", json={"amount": 5}, headers=headers(tokens[0], "key-c")))
            while not hooks.entered.is_set():
                await asyncio.sleep(0.01)
            duplicate = await client.post("/slow", json={"amount": 5}, headers=headers(tokens[0], "key-c"))
            hooks.gate.set()
            done = await first
            again = await client.post("/slow", json={"amount": 5}, headers=headers(tokens[0], "key-c"))
            return done, duplicate, again

    done, duplicate, again = asyncio.run(scenario())
    assert duplicate.status_code == 409
    assert done.status_code == again.status_code == 200 and done.content == again.content
    assert hooks.calls == 1 and audit_rows(engine) == 1


def test_failed_work_releases_the_claim_and_leaves_no_effect(engine, tokens):
    hooks = Hooks()
    client = TestClient(make_app(engine, hooks), raise_server_exceptions=False)
    hooks.fail_with = RuntimeError("bank core down")
    assert client.post("/orders", json={"amount": 5}, headers=headers(tokens[0], "key-1")).status_code == 500
    hooks.fail_with = HTTPException(409, "line frozen")
    assert client.post("/orders", json={"amount": 5}, headers=headers(tokens[0], "key-1")).status_code == 409
    assert audit_rows(engine) == 0  # the work's transaction rolled back, audit row included
    hooks.fail_with = None
    hooks.status = 400  # a refusal the work returns: committed as the work chose, but not stored for replay
    assert client.post("/orders", json={"amount": 5}, headers=headers(tokens[0], "key-1")).status_code == 400
    hooks.status = 201
    retried = client.post("/orders", json={"amount": 5}, headers=headers(tokens[0], "key-1"))
    assert retried.status_code == 201 and REPLAYED_HEADER.lower() not in retried.headers
    assert hooks.calls == 4
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM idempotency_keys")).scalar_one() == 1


def test_claims_mismatches_replays_and_stale_takeover_in_the_store(engine):
    now = datetime.now(UTC)
    with engine.begin() as conn:
        assert store.claim(conn, "partner:1", "k", "a" * 64, now).outcome == "claimed"
        assert store.claim(conn, "partner:1", "k", "b" * 64, now).outcome == "mismatch"
        assert store.claim(conn, "partner:1", "k", "a" * 64, now).outcome == "in-progress"
        later = now + timedelta(seconds=store.STALE_CLAIM_SECONDS + 1)
        assert store.claim(conn, "partner:1", "k", "a" * 64, later).outcome == "claimed"  # the first worker died
        store.complete(conn, "partner:1", "k", 201, '{"id":1}')
        replay = store.claim(conn, "partner:1", "k", "a" * 64, later)
        assert (replay.outcome, replay.status, replay.body) == ("replay", 201, '{"id":1}')
        store.release(conn, "partner:1", "k")  # only an in-progress claim is released
        assert store.claim(conn, "partner:1", "k", "a" * 64, later).outcome == "replay"
        assert store.prune(conn, later + timedelta(seconds=1)) == 1


def test_the_request_hash_covers_method_path_and_body():
    base = store.request_hash("POST", "/orders", b"{}")
    assert base != store.request_hash("POST", "/orders?x=1", b"{}")
    assert base != store.request_hash("PUT", "/orders", b"{}")
    assert base != store.request_hash("POST", "/orders", b"{ }")
    assert base == store.request_hash("post", "/orders", b"{}")
