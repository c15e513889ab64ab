"""A partner's application stores its nonce in the decision's own write transaction, a draw in the transaction
that reserves the line (before the bank core is asked for money).

``POST /v1/applications`` is authenticated by ``authenticate_for_work``: the signature and the nonce's
novelty are checked in a read transaction, and the nonce is written with the application (one write
transaction a decision instead of two). What must still hold: a replay is refused and writes nothing; a
replay that raced the original (both checked before either wrote) is refused when it writes; a refused
application still spends its nonce; an Idempotency-Key request stores its nonce with the claim.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from sqlalchemy import text

from smelend.api.signing import signed_headers
from tests.api.conftest import application_body, table_counts

pytestmark = pytest.mark.db

PATH = "/v1/applications"


def signed(api: Any, body: dict[str, Any], **extra: str) -> tuple[bytes, dict[str, str]]:
    content = json.dumps(body).encode()
    headers = {"content-type": "application/json"} | signed_headers(api.partner[1], api.partner[2], "POST", PATH, content) | extra
    return content, headers


def send(api: Any, content: bytes, headers: dict[str, str]) -> Any:
    return api.client.post(PATH, content=content, headers=headers)


def nonces(api: Any) -> set[str]:
    with api.engine.connect() as conn:
        return {row[0] for row in conn.execute(text("SELECT nonce FROM request_nonces"))}


def test_the_nonce_is_stored_with_the_application_and_a_replay_writes_nothing(api, applicants):
    content, headers = signed(api, application_body(applicants["approve"][2], channel="partner"))
    first = send(api, content, headers)
    assert first.status_code == 201, first.text
    assert headers["X-Smelend-Nonce"] in nonces(api)
    before = table_counts(api.engine)
    replay = send(api, content, headers)
    assert replay.status_code == 401
    assert replay.json()["detail"][0]["field"] == "X-Smelend-Nonce"
    assert table_counts(api.engine) == before


def test_a_replay_that_raced_the_original_is_refused_when_it_writes(api, applicants):
    """The original commits between the replay's read check and its write (here: while the replay's
    providers are asked, which is when a real race leaves the window open)."""
    content, headers = signed(api, application_body(applicants["approve"][3], channel="partner"))
    provider = api.client.app.state.service.provider
    original_fetch = provider.fetch
    raced: list[bool] = []

    def fetch_while_the_original_commits(source: str, application: Any) -> Any:
        if not raced:
            raced.append(True)
            with api.engine.begin() as conn:  # the original request's nonce, committed meanwhile
                conn.execute(text("INSERT INTO request_nonces (key_id, nonce, seen_at) VALUES (:k, :n, CURRENT_TIMESTAMP)"),
                             {"k": api.partner[1], "n": headers["X-Smelend-Nonce"]})
        return original_fetch(source, application)

    provider.fetch = fetch_while_the_original_commits
    try:
        before = table_counts(api.engine)
        refused = send(api, content, headers)
    finally:
        del provider.fetch
    assert raced, "the providers were asked after the read check"
    assert refused.status_code == 401 and refused.json()["detail"][0]["field"] == "X-Smelend-Nonce"
    assert table_counts(api.engine) == before  # no person, enterprise, application, decision, audit or callback


def test_a_refused_application_spends_its_nonce(api, applicants):
    content, headers = signed(api, application_body(applicants["approve"][4], channel="partner", product="no-such-product"))
    before = table_counts(api.engine)
    refused = send(api, content, headers)
    assert refused.status_code == 422 and refused.json()["detail"][0]["field"] == "product"
    assert headers["X-Smelend-Nonce"] in nonces(api)
    assert table_counts(api.engine) == before
    assert send(api, content, headers).status_code == 401


def test_with_an_idempotency_key_the_claim_stores_the_nonce(api, applicants):
    body = application_body(applicants["approve"][5], channel="partner")
    content, headers = signed(api, body, **{"Idempotency-Key": "nonce-with-claim-1"})
    first = send(api, content, headers)
    assert first.status_code == 201, first.text
    assert headers["X-Smelend-Nonce"] in nonces(api)
    assert send(api, content, headers).status_code == 401  # the same signed bytes: a replay, not a retry
    retry_content, retry_headers = signed(api, body, **{"Idempotency-Key": "nonce-with-claim-1"})  # a retry signs afresh
    retried = send(api, retry_content, retry_headers)
    assert retried.status_code == 201 and retried.headers.get("Idempotent-Replayed") == "true"
    assert retried.json() == first.json()


# --- draws: the nonce is stored with the reservation, before the bank core is asked for money ------------


def partner_line(api: Any, entry: dict[str, Any]) -> int:
    applied = api.call("partner", "POST", PATH, application_body(entry, channel="partner"))
    assert applied.status_code == 201 and applied.json()["offer"] is not None, applied.text
    accepted = api.call("partner", "POST", f"/v1/offers/{applied.json()['offer']['id']}/accept")
    assert accepted.status_code == 201, accepted.text
    return int(accepted.json()["id"])


def signed_draw(api: Any, line_id: int, amount: str = "1000.00", **extra: str) -> tuple[str, bytes, dict[str, str]]:
    path = f"/v1/lines/{line_id}/draws"
    content = json.dumps({"amount": amount, "method": "equal-installment", "term": 6}).encode()
    headers = {"content-type": "application/json"} | signed_headers(api.partner[1], api.partner[2], "POST", path, content) | extra
    return path, content, headers


def test_a_draw_stores_its_nonce_with_the_reservation_and_a_replay_writes_nothing(api, applicants):
    path, content, headers = signed_draw(api, partner_line(api, applicants["approve"][6]))
    drawn = api.client.post(path, content=content, headers=headers)
    assert drawn.status_code == 201, drawn.text
    assert headers["X-Smelend-Nonce"] in nonces(api)
    before = table_counts(api.engine)
    replay = api.client.post(path, content=content, headers=headers)
    assert replay.status_code == 401 and replay.json()["detail"][0]["field"] == "X-Smelend-Nonce"
    assert table_counts(api.engine) == before


def test_a_draw_replay_that_raced_the_original_is_refused_before_any_money_moves(api, applicants, monkeypatch):
    """The original commits between the replay's read check and its reservation: the replay is refused
    there, so no line reserved, no loan, no bank-core transfer."""
    from smelend.operations import lines as line_ops

    path, content, headers = signed_draw(api, partner_line(api, applicants["approve"][7]))
    real_bring_to = line_ops.bring_to
    raced: list[bool] = []

    def bring_to_while_the_original_commits(*args: Any, **kwargs: Any) -> bool:
        raced.append(True)
        with api.engine.begin() as conn:
            conn.execute(text("INSERT INTO request_nonces (key_id, nonce, seen_at) VALUES (:k, :n, CURRENT_TIMESTAMP)"),
                         {"k": api.partner[1], "n": headers["X-Smelend-Nonce"]})
        return real_bring_to(*args, **kwargs)

    monkeypatch.setattr(line_ops, "bring_to", bring_to_while_the_original_commits)
    before = table_counts(api.engine)
    refused = api.client.post(path, content=content, headers=headers)
    assert raced, "the draw was checked before its reservation"
    assert refused.status_code == 401 and refused.json()["detail"][0]["field"] == "X-Smelend-Nonce"
    assert table_counts(api.engine) == before  # bank_core_transfers, loans, installments, ledger, audit: unchanged


def test_a_refused_draw_spends_its_nonce_and_a_key_makes_the_claim_store_it(api, applicants):
    line_id = partner_line(api, applicants["approve"][8])
    path, content, headers = signed_draw(api, line_id, amount="999999999.00")
    before = table_counts(api.engine)
    refused = api.client.post(path, content=content, headers=headers)
    assert refused.status_code == 422 and refused.json()["detail"][0]["field"] == "amount"
    assert headers["X-Smelend-Nonce"] in nonces(api)
    assert table_counts(api.engine) == before
    assert api.client.post(path, content=content, headers=headers).status_code == 401

    path, content, headers = signed_draw(api, line_id, **{"Idempotency-Key": "draw-nonce-with-claim-1"})
    first = api.client.post(path, content=content, headers=headers)
    assert first.status_code == 201, first.text
    assert headers["X-Smelend-Nonce"] in nonces(api)
    assert api.client.post(path, content=content, headers=headers).status_code == 401  # the same signed bytes: a replay
    path, retry_content, retry_headers = signed_draw(api, line_id, **{"Idempotency-Key": "draw-nonce-with-claim-1"})
    retried = api.client.post(path, content=retry_content, headers=retry_headers)
    assert retried.status_code == 201 and retried.headers.get("Idempotent-Replayed") == "true"
    assert retried.json() == first.json()
