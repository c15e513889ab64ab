"""API parity: ``/v1/marketing/segments | retention | whitelist | abtest`` answer exactly what the CLI prints
with ``--json`` for the same inputs, refuse bad or oversized input with 422 naming the field, and keep
the marketing roles (on SQLite and PostgreSQL)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from fastapi.testclient import TestClient

CUSTOMERS = "600"
SEED = "3"


def cli_json(*args: str) -> Any:
    """``smelend marketing ... --json`` through its entry point in this process (see tests.marketing.test_store_cli.cli)."""
    from tests.marketing.test_store_cli import cli

    done = cli(*args, "--json")
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


@pytest.fixture(scope="module")
def cli_documents() -> dict[str, Any]:
    """The CLI's documents, computed once for both backends (these commands need no database)."""
    return {
        "segments": cli_json("segments", "--customers", CUSTOMERS, "--seed", SEED, "--clusters", "4"),
        "retention": cli_json("retention", "--customers", CUSTOMERS, "--seed", SEED),
        "whitelist": cli_json("whitelist", "--customers", CUSTOMERS, "--seed", SEED, "--size", "20", "--on", "2026-08-03"),
        "abtest": cli_json("abtest", "--control", "1000:100", "--treatment", "1000:130", "--alpha", "0.1"),
    }


@pytest.fixture
def api(db_url: str):
    from smelend.api.app import create_app
    from smelend.risk.providers.simulated import SimulatedProvider
    from smelend.store import open_store
    from smelend.store.access import create_user

    engine = open_store(db_url)
    app = create_app(engine, provider=SimulatedProvider(seed=0))
    with engine.begin() as conn:
        tokens = {role: create_user(conn, role, role)[1] for role in ("marketing", "auditor", "risk", "admin")}
    with TestClient(app) as client:
        yield client, {role: {"authorization": f"Bearer {t}"} for role, t in tokens.items()}
    engine.dispose()


def without_seconds(document: dict[str, Any]) -> dict[str, Any]:
    assert set(document["seconds"]) == {"base", "score", "decide"}  # this run's timings: the only part that differs
    return {k: v for k, v in document.items() if k != "seconds"}


def test_same_documents_as_the_cli(api, cli_documents: dict[str, Any]) -> None:
    client, auth = api
    h = auth["marketing"]
    got = client.get("/v1/marketing/segments", params={"customers": CUSTOMERS, "seed": SEED, "clusters": 4}, headers=h)
    assert got.status_code == 200, got.text
    assert got.json() == cli_documents["segments"]
    got = client.get("/v1/marketing/retention", params={"customers": CUSTOMERS, "seed": SEED}, headers=auth["auditor"])
    assert got.status_code == 200, got.text
    assert got.json() == cli_documents["retention"]
    got = client.get("/v1/marketing/whitelist", params={"customers": CUSTOMERS, "seed": SEED, "size": 20, "on": "2026-08-03"}, headers=auth["admin"])
    assert got.status_code == 200, got.text
    assert without_seconds(got.json()) == without_seconds(cli_documents["whitelist"])
    assert got.json()["entries_shown"] == len(got.json()["entries"]) > 0
    got = client.post("/v1/marketing/abtest", json={"control": {"n": 1000, "conversions": 100}, "treatment": {"n": 1000, "conversions": 130}, "alpha": 0.1}, headers=h)
    assert got.status_code == 200, got.text
    assert got.json() == cli_documents["abtest"]
    assert set(got.json()) == {"control_rate", "treatment_rate", "lift", "p_value", "ci_low", "ci_high"}


def fields(response: Any) -> list[str]:
    assert response.status_code == 422, response.text
    return [e["field"] for e in response.json()["detail"]]


@pytest.mark.parametrize(
    ("path", "params", "field"),
    [
        ("/v1/marketing/whitelist", {"size": 101}, "size"),
        ("/v1/marketing/whitelist", {"customers": 10_001}, "customers"),
        ("/v1/marketing/whitelist", {"on": "2026-13-01"}, "on"),
        ("/v1/marketing/whitelist", {"on": "0033-01-01"}, "on"),
        ("/v1/marketing/retention", {"on": "9999-12-31"}, "on"),
        ("/v1/marketing/retention", {"customers": 10, "seed": 0}, "customers"),
        ("/v1/marketing/segments", {"clusters": 1}, "clusters"),
        ("/v1/marketing/segments", {"customers": 5_000_000}, "customers"),
        ("/v1/marketing/retention", {"seed": -1}, "seed"),
        ("/v1/marketing/retention", {"customers": "many"}, "customers"),
    ],
)
def test_bad_or_oversized_queries_name_the_field(api, path: str, params: dict[str, Any], field: str) -> None:
    client, auth = api
    assert fields(client.get(path, params=params, headers=auth["marketing"])) == [field]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"control": {"n": 100, "conversions": 101}, "treatment": {"n": 100, "conversions": 5}}, "control.conversions"),
        ({"control": {"n": 100, "conversions": 1}, "treatment": {"n": 100, "conversions": -1}}, "treatment.conversions"),
        ({"control": {"n": 0, "conversions": 0}, "treatment": {"n": 100, "conversions": 5}}, "control.n"),
        ({"control": {"n": "lots", "conversions": 0}, "treatment": {"n": 100, "conversions": 5}}, "control.n"),
        ({"control": {"n": 100, "conversions": 1}, "treatment": {"n": 100, "conversions": 5}, "alpha": 1.5}, "alpha"),
        ({"control": {"n": 100, "conversions": 1}}, "treatment"),
    ],
)
def test_bad_abtest_counts_name_the_field(api, body: dict[str, Any], field: str) -> None:
    client, auth = api
    assert fields(client.post("/v1/marketing/abtest", json=body, headers=auth["marketing"])) == [field]


def test_roles(api) -> None:
    client, auth = api
    body = {"control": {"n": 10, "conversions": 1}, "treatment": {"n": 10, "conversions": 2}}
    for path in ("/v1/marketing/segments", "/v1/marketing/retention", "/v1/marketing/whitelist"):
        assert client.get(path, params={"customers": 50, "size": 1}, headers=auth["risk"]).status_code == 403
        assert client.get(path, params={"customers": 50, "size": 1}).status_code == 401
    assert client.post("/v1/marketing/abtest", json=body, headers=auth["risk"]).status_code == 403
    assert client.post("/v1/marketing/abtest", json=body).status_code == 401
    for role in ("marketing", "auditor", "admin"):
        assert client.post("/v1/marketing/abtest", json=body, headers=auth[role]).status_code == 200


@pytest.mark.parametrize(
    ("args", "option"),
    [(("retention", "--on", "0033-01-01"), "--on"), (("whitelist", "--on", "2100-01-01"), "--on"), (("retention", "--customers", "10"), "--customers")],
)
def test_cli_refuses_the_same_bad_input(args: tuple[str, ...], option: str) -> None:
    from tests.marketing.test_store_cli import cli

    done = cli(*args, "--json")
    assert done.returncode == 2 and option in done.stderr and done.stdout == "", (done.returncode, done.stderr)
