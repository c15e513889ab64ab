"""The marketing endpoints on SQLite and PostgreSQL: the same figures as the core, roles enforced, clear errors."""

from __future__ import annotations

from datetime import date

import pytest
from fastapi.testclient import TestClient

from smelend.marketing.channel_figures import channel_figures
from smelend.marketing.conversion import conversion
from smelend.marketing.plain import jsonable

from tests.marketing.handmade import handmade


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
        yield client, engine, {role: {"authorization": f"Bearer {t}"} for role, t in tokens.items()}
    engine.dispose()


def test_figures_roles_and_errors(api) -> None:
    client, engine, auth = api
    missing = client.get("/v1/marketing/channels", headers=auth["marketing"])
    assert missing.status_code == 422 and missing.json()["detail"][0]["field"] == "database"
    from smelend.store.marketing import Grant, create_campaign, redeem, replace_data

    data = handmade()
    with engine.begin() as conn:
        replace_data(conn, data)
        create_campaign(conn, "spring", "x", {"targeted": 1}, [Grant("spring:1", "C1", 100, 100_000)])
        redeem(conn, "spring:1", 12_345, date(2026, 3, 1))
    for role in ("marketing", "auditor", "admin"):
        got = client.get("/v1/marketing/channels", headers=auth[role])
        assert got.status_code == 200, got.text
        assert got.json() == {"channels": jsonable(channel_figures(data))}
    assert client.get("/v1/marketing/channels", headers=auth["risk"]).status_code == 403
    assert client.get("/v1/marketing/channels").status_code == 401
    funnel = client.get("/v1/marketing/funnel", params={"by": "channel"}, headers=auth["marketing"]).json()
    assert [f["value"] for f in funnel["funnel"]] == ["own-app", "partner-tax"]
    assert funnel["standard_310"]["human_steps"] == 1
    bad = client.get("/v1/marketing/funnel", params={"by": "colour"}, headers=auth["marketing"])
    assert bad.status_code == 422 and bad.json()["detail"][0]["field"] == "by"
    assert client.get("/v1/marketing/conversion", headers=auth["auditor"]).json() == jsonable(conversion(data))
    attribution = client.get("/v1/marketing/attribution", headers=auth["marketing"]).json()
    assert attribution["last_touch"] == {"own-app": 1.0, "partner-tax": 2.0}
    (campaign,) = client.get("/v1/marketing/campaigns", headers=auth["marketing"]).json()["campaigns"]
    assert campaign["name"] == "spring" and campaign["coupon_cost"] == "123.45" and campaign["redeemed"] == 1
