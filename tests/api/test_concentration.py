"""A partner may bring at most its share of new lending: beyond it, accepting its offer opens nothing."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import update

from smelend.api.routers import offers
from smelend.store.tables import partners
from tests.api.conftest import Api, application_body, table_counts

pytestmark = pytest.mark.db


def _offer(api: Api, who: str, entry: dict[str, Any]) -> str:
    applied = api.call(who, "POST", "/v1/applications", application_body(entry, channel="partner" if who == "partner" else "app"))
    assert applied.status_code == 201 and applied.json()["offer"] is not None, applied.text
    return applied.json()["offer"]["id"]


def test_partner_concentration_limit(api: Api, applicants: dict[str, list[dict[str, Any]]], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(offers, "CONCENTRATION_FLOOR_FEN", 1)  # measure the share from the first line on
    assert api.call("alice", "POST", f"/v1/offers/{_offer(api, 'alice', applicants['approve'][0])}/accept").status_code == 201
    partner_offer = _offer(api, "partner", applicants["approve"][2])
    with api.engine.begin() as conn:
        conn.execute(update(partners).values(max_lending_share="0.01"))
    before = table_counts(api.engine)
    refused = api.call("partner", "POST", f"/v1/offers/{partner_offer}/accept")
    assert refused.status_code == 422
    (error,) = refused.json()["detail"]
    assert error["field"] == "offer" and error["reason"].startswith("PARTNER_CONCENTRATION_LIMIT")
    assert table_counts(api.engine) == before  # nothing opened, nothing audited
    with api.engine.begin() as conn:
        conn.execute(update(partners).values(max_lending_share="1"))
    assert api.call("partner", "POST", f"/v1/offers/{partner_offer}/accept").status_code == 201
