"""Fixtures for the dashboard: a seeded book on each backend, staff with passwords, logged-in clients.

``seeded`` builds the API app on the ``db_url`` backend, creates one staff user per role with a dashboard
password (and a bearer token, to compare pages with the API's JSON), and seeds a small book through the
API and the servicing operations: approved applications accepted into lines and drawn, referrals waiting
for review, a decline, then close of business far enough ahead that some loans are past due, one loan
brought current again and a new draw in a later month (so buckets and vintages differ).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.conftest import APPLICANT_PRODUCT as PRODUCT, bank_today  # noqa: F401  (bank_today: used by the pages tests)
STAFF = ("product", "risk", "marketing", "operations", "auditor", "admin")
PASSWORD = "correct horse battery staple"
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


@pytest.fixture(scope="session")
def marketing_data() -> Any:
    """A small marketing data set made by ``smelend.marketing.events.generate`` on the real engines."""
    from smelend.marketing.events import generate

    return generate(150, 1)


@dataclass
class Seeded:
    app: Any
    engine: Any
    tokens: dict[str, str] = field(default_factory=dict)  # staff and borrowers' bearer tokens
    decisions: dict[str, list[str]] = field(default_factory=dict)  # outcome -> decision ids
    loans: list[int] = field(default_factory=list)

    def api(self, who: str, method: str, path: str, body: Any = None) -> Any:
        client = TestClient(self.app)
        headers = {"authorization": f"Bearer {self.tokens[who]}"}
        if body is not None:
            headers["content-type"] = "application/json"
        response = client.request(method, path, content=None if body is None else json.dumps(body).encode(), headers=headers)
        return response

    def browser(self) -> TestClient:
        """A fresh client with its own cookie jar (one per person at a desk)."""
        return TestClient(self.app, follow_redirects=False)

    def signed_in(self, role: str) -> tuple[TestClient, str]:
        """A client logged in as the ``role`` user, and its session's CSRF token."""
        client = self.browser()
        response = login(client, f"staff {role}", PASSWORD)
        assert response.status_code == 303, response.text
        home = client.get("/dashboard/")
        assert home.status_code == 200
        return client, csrf_of(home.text)


def csrf_of(html: str) -> str:
    found = CSRF.search(html)
    assert found is not None, "no CSRF token in the page"
    return found.group(1)


def login(client: TestClient, name: str, password: str, next_path: str = "/dashboard/") -> Any:
    page = client.get("/dashboard/login")
    assert page.status_code == 200
    return client.post("/dashboard/login", data={"name": name, "password": password, "csrf_token": csrf_of(page.text), "next": next_path})


def make_staff(engine: Any, tokens: dict[str, str]) -> None:
    from smelend.store import web_sessions
    from smelend.store.access import create_user
    from smelend.web import passwords

    stored = passwords.hash_password(PASSWORD)  # one hash for all: scrypt is slow on purpose
    with engine.begin() as conn:
        for role in STAFF:
            user_id, tokens[role] = create_user(conn, f"staff {role}", role)
            web_sessions.set_password(conn, user_id, f"staff {role}", stored)


def seed_book(seeded: Seeded, applicants: dict[str, list[dict[str, Any]]]) -> None:
    """Applications of every outcome through the API; lines, draws, close of business, a repayment."""
    from smelend.operations.cob import close_business
    from smelend.operations.repayments import amount_due_fen, repay
    from smelend.store import add_person
    from smelend.store.access import create_user
    from smelend.store.lending import get_business_day, load_loan

    lines: list[int] = []
    for outcome, count in (("approve", 4), ("refer", 2), ("decline", 1)):
        for i, entry in enumerate(applicants[outcome][:count]):
            who = f"{outcome}-{i}"
            with seeded.engine.begin() as conn:
                person_id = add_person(conn, entry["applicant"]["name"], entry["applicant"]["id_number"], entry["applicant"]["mobile"])
                seeded.tokens[who] = create_user(conn, f"borrower {who}", "borrower", person_id)[1]
            body = {"applicant": entry["applicant"], "enterprise": entry["enterprise"], "product": PRODUCT,
                    "requested_amount": entry["requested_amount"], "channel": "app", "consent": {"data_use": True}}
            applied = seeded.api(who, "POST", "/v1/applications", body)
            assert applied.status_code == 201, applied.text
            document = applied.json()
            seeded.decisions.setdefault(outcome, []).append(document["decision"]["id"])
            if outcome == "approve":
                accepted = seeded.api(who, "POST", f"/v1/offers/{document['offer']['id']}/accept")
                assert accepted.status_code == 201, accepted.text
                lines.append(accepted.json()["id"])
                drawn = seeded.api(who, "POST", f"/v1/lines/{lines[-1]}/draws", {"amount": "10000.00", "method": "equal-installment", "term": 6})
                assert drawn.status_code == 201, drawn.text
                seeded.loans.append(drawn.json()["id"])
    book = seeded.app.state.service.book
    close_business(book, bank_today() + timedelta(days=75))  # every loan ~45 days past due
    with seeded.engine.connect() as conn:
        day = get_business_day(conn).business_date
        state = load_loan(conn, seeded.loans[0]).state
    repay(book, seeded.loans[0], amount_due_fen(state, day), day)  # brought current again
    drawn = seeded.api("approve-1", "POST", f"/v1/lines/{lines[1]}/draws", {"amount": "5000.00", "method": "equal-principal", "term": 3})
    assert drawn.status_code == 201, drawn.text  # a second vintage
    seeded.loans.append(drawn.json()["id"])


@pytest.fixture
def seeded(db_url: str, applicants: dict[str, list[dict[str, Any]]]) -> Iterator[Seeded]:
    from smelend.api.app import create_app
    from smelend.risk.providers.simulated import SimulatedProvider
    from smelend.store import open_store

    engine = open_store(db_url)
    app = create_app(engine, provider=SimulatedProvider(seed=0))
    found = Seeded(app, engine)
    make_staff(engine, found.tokens)
    seed_book(found, applicants)
    yield found
    engine.dispose()


def table_counts(engine: Any) -> dict[str, int]:
    from sqlalchemy import func, select

    from smelend.store.tables import metadata

    with engine.connect() as conn:
        return {t.name: int(conn.scalar(select(func.count()).select_from(t)) or 0) for t in metadata.sorted_tables}


@dataclass
class Bare:
    """The app with staff users (and passwords) but no book: enough for logins and sessions."""

    app: Any
    engine: Any
    tokens: dict[str, str] = field(default_factory=dict)

    def browser(self) -> TestClient:
        return TestClient(self.app, follow_redirects=False)


@pytest.fixture
def bare(db_url: str) -> Iterator[Bare]:
    from smelend.api.app import create_app
    from smelend.risk.providers.simulated import SimulatedProvider
    from smelend.store import open_store

    engine = open_store(db_url)
    found = Bare(create_app(engine, provider=SimulatedProvider(seed=0)), engine)
    make_staff(engine, found.tokens)
    yield found
    engine.dispose()


def table_rows(page: str, table_id: str) -> list[list[str]]:
    """The body rows of ``<table id=table_id>`` as lists of cell texts (whitespace collapsed)."""
    from html.parser import HTMLParser

    class Cells(HTMLParser):
        def __init__(self) -> None:
            super().__init__()
            self.inside = self.body = False
            self.rows: list[list[str]] = []
            self.cell: list[str] | None = None

        def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
            if tag == "table" and dict(attrs).get("id") == table_id:
                self.inside = True
            elif self.inside and tag == "tbody":
                self.body = True
            elif self.body and tag == "tr":
                self.rows.append([])
            elif self.body and tag in ("td", "th"):
                self.cell = []

        def handle_endtag(self, tag: str) -> None:
            if self.body and tag in ("td", "th") and self.cell is not None:
                self.rows[-1].append(" ".join("".join(self.cell).split()))
                self.cell = None
            elif tag == "table" and self.inside:
                self.inside = self.body = False

        def handle_data(self, data: str) -> None:
            if self.cell is not None:
                self.cell.append(data)

    parser = Cells()
    parser.feed(page)
    return parser.rows


def fen(text: str) -> int:
    """'1,234.56' -> 123456."""
    from decimal import Decimal

    return int(Decimal(text.replace(",", "")) * 100)
