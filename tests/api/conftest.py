"""Fixtures for the HTTP API: an app and a TestClient per backend, users of every role, a partner, applicants.

``api`` builds the app on the ``db_url`` backend (SQLite and PostgreSQL) and creates one staff user per
role, two borrowers (each a registered person) and a partner; requests go through ``api.call(who, ...)``
which adds the bearer token or signs the request. Applicants come from the simulated market, chosen once
per session by what the risk engine decides for them today (approve / refer), so the flow is not luck.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.conftest import APPLICANT_PRODUCT as PRODUCT

STAFF = ("product", "risk", "marketing", "operations", "auditor", "admin")


def application_body(entry: dict[str, Any], **changes: Any) -> dict[str, Any]:
    body = {
        "applicant": dict(entry["applicant"]),
        "enterprise": dict(entry["enterprise"]),
        "product": PRODUCT,
        "requested_amount": entry["requested_amount"],
        "channel": "app",
        "consent": {"data_use": True},
    }
    body.update(changes)
    return body


@dataclass
class Api:
    client: TestClient
    engine: Any
    tokens: dict[str, str] = field(default_factory=dict)
    partner: tuple[int, str, str] | None = None
    borrower_people: dict[str, int] = field(default_factory=dict)

    def add_borrower(self, who: str, entry: dict[str, Any]) -> None:
        from smelend.store import add_person
        from smelend.store.access import create_user

        with self.engine.begin() as conn:
            person_id = add_person(conn, entry["applicant"]["name"], entry["applicant"]["id_number"], entry["applicant"]["mobile"])
            _, token = create_user(conn, f"borrower {who}", "borrower", person_id)
        self.tokens[who] = token
        self.borrower_people[who] = person_id

    def call(self, who: str | None, method: str, path: str, body: Any = None, headers: dict[str, str] | None = None) -> Any:
        content = b"" if body is None else json.dumps(body).encode()
        sent = {"content-type": "application/json"} if body is not None else {}
        if who == "partner":
            from smelend.api.signing import signed_headers

            assert self.partner is not None
            sent |= signed_headers(self.partner[1], self.partner[2], method, path, content)
        elif who is not None:
            sent["authorization"] = f"Bearer {self.tokens[who]}"
        sent |= headers or {}
        return self.client.request(method, path, content=content or None, headers=sent)


@pytest.fixture
def api(db_url: str, applicants: dict[str, list[dict[str, Any]]]) -> Iterator[Api]:
    from smelend.api.app import create_app
    from smelend.risk.providers.simulated import SimulatedProvider
    from smelend.store import open_store
    from smelend.store.access import create_partner, create_user

    engine = open_store(db_url)
    app = create_app(engine, provider=SimulatedProvider(seed=0))
    with TestClient(app) as client:
        found = Api(client, engine)
        with engine.begin() as conn:
            for role in STAFF:
                found.tokens[role] = create_user(conn, f"staff {role}", role)[1]
            found.partner = create_partner(conn, "partner platform", rate_limit_per_minute=100_000, callback_url="https://partner.example/smelend")
        found.add_borrower("alice", applicants["approve"][0])
        found.add_borrower("bob", applicants["approve"][1])
        found.add_borrower("carol", applicants["refer"][0])
        yield found
    engine.dispose()


def table_counts(engine: Any) -> dict[str, int]:
    """Rows in every table but the signed-request nonces (a signed request remembers its nonce by design)."""
    from sqlalchemy import func, select

    from smelend.store.tables import metadata

    with engine.connect() as conn:
        return {t.name: int(conn.scalar(select(func.count()).select_from(t)) or 0) for t in metadata.sorted_tables if t.name != "request_nonces"}
