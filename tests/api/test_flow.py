"""The whole flow through HTTP, on SQLite and PostgreSQL: apply -> offer -> accept -> draw with every method the
product allows -> repay -> payoff; a referral reviewed into an offer; a partner's application; replay;
idempotent retries; the audit trail; metrics; and no ID number or mobile in any log line."""

from __future__ import annotations

import logging
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import pytest

from tests.api.conftest import PRODUCT, Api, application_body


def _apply_and_accept(api: Api, who: str, entry: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    applied = api.call(who, "POST", "/v1/applications", application_body(entry))
    assert applied.status_code == 201, applied.text
    document = applied.json()
    assert document["decision"]["outcome"] == "approve", document["decision"]
    assert document["offer"] is not None and document["offer"]["id"].startswith("OFR-")
    accepted = api.call(who, "POST", f"/v1/offers/{document['offer']['id']}/accept")
    assert accepted.status_code == 201, accepted.text
    return document, accepted.json()


def test_whole_flow(api: Api, applicants: dict[str, list[dict[str, Any]]], caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    for name in ("uvicorn", "uvicorn.access", "uvicorn.error", "fastapi", "httpx", "sqlalchemy", "smelend"):
        logging.getLogger(name).setLevel(logging.DEBUG)
    entry = applicants["approve"][0]

    # apply: decided at once, with the offer
    applied = api.call("alice", "POST", "/v1/applications", application_body(entry), headers={"Idempotency-Key": "apply-1"})
    assert applied.status_code == 201, applied.text
    document = applied.json()
    assert document["id"].startswith("APP-") and document["status"] == "approved"
    decision = document["decision"]
    assert decision["outcome"] == "approve" and Decimal(decision["limit"]) > 0
    assert decision["annual_rate"] and set(decision["apr"]) >= {"equal-installment", "bullet"}
    assert decision["reasons"] and {"code", "text"} <= set(decision["reasons"][0])
    assert document["applicant"]["mobile"] == entry["applicant"]["mobile"][:3] + "****" + entry["applicant"]["mobile"][-4:]
    assert entry["applicant"]["id_number"] not in applied.text

    # the same request again with the same key: the stored answer, nothing new
    again = api.call("alice", "POST", "/v1/applications", application_body(entry), headers={"Idempotency-Key": "apply-1"})
    assert again.status_code == 201 and again.json() == document and again.headers.get("Idempotent-Replayed") == "true"
    listed = api.call("alice", "GET", "/v1/applications").json()
    assert [a["id"] for a in listed["items"]] == [document["id"]] and listed["next"] is None
    assert api.call("alice", "GET", f"/v1/applications/{document['id']}").json()["decision"]["id"] == decision["id"]

    # the decision: inputs (masked), versions, trace, reasons
    shown = api.call("alice", "GET", f"/v1/decisions/{decision['id']}")
    assert shown.status_code == 200, shown.text
    shown_doc = shown.json()
    assert shown_doc["versions"]["strategy"]["sha256"] and shown_doc["policy_trace"] and shown_doc["reasons"]
    assert entry["applicant"]["id_number"] not in shown.text and "****" in shown_doc["inputs"]["application"]["applicant"]["mobile"]
    replayed = api.call("risk", "POST", f"/v1/decisions/{decision['id']}/replay")
    assert replayed.status_code == 200, replayed.text
    assert replayed.json()["matches"] is True, replayed.json()["differences"]

    # accept: the line and its contract
    accepted = api.call("alice", "POST", f"/v1/offers/{document['offer']['id']}/accept", headers={"Idempotency-Key": "accept-1"})
    assert accepted.status_code == 201, accepted.text
    line = accepted.json()
    assert isinstance(line["id"], int) and line["limit"] == decision["limit"] and line["status"] == "active"
    assert line["annual_rate"] == decision["annual_rate"]
    contract = api.call("alice", "GET", f"/v1/lines/{line['id']}/contract")
    assert contract.status_code == 200 and contract.headers["content-type"].startswith("text/html")
    import hashlib

    assert hashlib.sha256(contract.content).hexdigest() == line["contract"]["sha256"] == contract.headers["X-Contract-SHA256"]
    for method, apr in decision["apr"].items():
        assert method in contract.text
    assert entry["applicant"]["id_number"] not in contract.text
    assert api.call("alice", "POST", f"/v1/offers/{document['offer']['id']}/accept").status_code == 422  # once only

    # draw with every method the product allows
    products = api.call(None, "GET", "/v1/products").json()
    product = next(p for p in products if p["id"] == PRODUCT)
    loans = {}
    for method, (low, high) in product["repayment_methods"].items():
        term = min(max(6, low), high)
        drawn = api.call("alice", "POST", f"/v1/lines/{line['id']}/draws", {"amount": "10000.00", "method": method, "term": term},
                         headers={"Idempotency-Key": f"draw-{method}"})
        assert drawn.status_code == 201, drawn.text
        loan = drawn.json()
        assert isinstance(loan["id"], int) and loan["status"] == "active" and loan["method"] == method and loan["schedule"]
        loans[method] = loan
    replay_draw = api.call("alice", "POST", f"/v1/lines/{line['id']}/draws", {"amount": "10000.00", "method": "bullet", "term": min(max(6, product["repayment_methods"]["bullet"][0]), product["repayment_methods"]["bullet"][1])},
                           headers={"Idempotency-Key": "draw-bullet"})
    assert replay_draw.json()["id"] == loans["bullet"]["id"]  # a retried draw lends once
    used = Decimal(api.call("alice", "GET", f"/v1/lines/{line['id']}").json()["used"])
    assert used == Decimal("10000.00") * len(loans)

    # repay the first installment of the equal-installment loan on its due date; then pay the bullet loan off
    loan = loans["equal-installment"]
    first = loan["schedule"][0]
    repaid = api.call("alice", "POST", f"/v1/loans/{loan['id']}/repayments", {"amount": first["payment"], "date": first["due_date"]})
    assert repaid.status_code == 201, repaid.text
    allocation = repaid.json()["allocation"]
    assert sum(Decimal(v) for v in allocation.values()) == Decimal(first["payment"])
    assert Decimal(allocation["principal"]) == Decimal(first["principal"])
    later = (date.fromisoformat(first["due_date"]) + timedelta(days=5)).isoformat()
    quote = api.call("alice", "GET", f"/v1/loans/{loans['bullet']['id']}/payoff?date={later}")
    assert quote.status_code == 200, quote.text
    total = quote.json()["total"]
    assert Decimal(total) > Decimal("10000.00")
    paid_off = api.call("alice", "POST", f"/v1/loans/{loans['bullet']['id']}/repayments", {"amount": total, "date": later})
    assert paid_off.status_code == 201, paid_off.text
    assert paid_off.json()["loan"]["status"] == "closed"
    shown_loan = api.call("alice", "GET", f"/v1/loans/{loans['bullet']['id']}").json()
    assert shown_loan["status"] == "closed" and shown_loan["principal_outstanding"] == "0.00"
    closed = api.call("alice", "POST", f"/v1/loans/{loans['bullet']['id']}/repayments", {"amount": "1.00"})
    assert closed.status_code == 422 and closed.json()["detail"][0]["field"] == "loan"

    # the days closed on the way to the payoff date had the full close of business: the line was reassessed
    # (its other loans now past due: it may have been frozen), each change recorded with reasons and a notice
    from sqlalchemy import func, select

    from smelend.store.tables import line_changes, line_notifications

    with api.engine.connect() as conn:
        changes = conn.execute(select(line_changes.c.action, line_changes.c.reasons).where(line_changes.c.line_id == line["id"])).all()
        notices = conn.scalar(select(func.count()).select_from(line_notifications).where(line_notifications.c.line_id == line["id"]))
    print("line changes on the way:", [tuple(c) for c in changes])
    assert notices == len(changes) and all(c.reasons for c in changes)
    if api.call("operations", "GET", f"/v1/lines/{line['id']}").json()["status"] == "frozen":
        assert "freeze" in [c.action for c in changes]
        assert api.call("operations", "POST", f"/v1/lines/{line['id']}/unfreeze").json()["status"] == "active"

    # staff: freeze and unfreeze, the audit trail
    assert api.call("operations", "POST", f"/v1/lines/{line['id']}/freeze").json()["status"] == "frozen"
    refused = api.call("alice", "POST", f"/v1/lines/{line['id']}/draws", {"amount": "100.00", "method": "revolving", "term": 3})
    assert refused.status_code == 422 and refused.json()["detail"][0]["field"] == "line"
    assert api.call("operations", "POST", f"/v1/lines/{line['id']}/unfreeze").json()["status"] == "active"
    trail = api.call("auditor", "GET", "/v1/audit?limit=1000").json()["items"]
    actions = [t["action"] for t in trail]
    for action in ("application.create", "decision.replay", "offer.accept", "line.draw", "loan.repay", "line.freeze", "line.unfreeze"):
        assert action in actions
    assert actions.count("line.draw") == len(loans) and actions.count("application.create") == 1
    assert all(t["actor"] for t in trail)

    # metrics
    metrics = api.call(None, "GET", "/metrics").text
    assert 'smelend_decisions_total{outcome="approve"} 1.0' in metrics
    assert "smelend_http_request_duration_seconds_bucket" in metrics and 'route="/v1/loans/{loan_id}"' in metrics
    assert api.call(None, "GET", "/healthz").json() == {"status": "ok"}

    # no resident ID or mobile in any log record
    logged = "\n".join(f"{r.getMessage()} {r.args!r}" for r in caplog.records)
    assert logged  # something was logged (httpx logs each request)
    for secret in (entry["applicant"]["id_number"], entry["applicant"]["mobile"], entry["applicant"]["mobile"][-8:]):
        assert secret not in logged


def test_referral_reviewed_into_an_offer(api: Api, applicants: dict[str, list[dict[str, Any]]]) -> None:
    entry = applicants["refer"][0]
    applied = api.call("carol", "POST", "/v1/applications", application_body(entry))
    assert applied.status_code == 201, applied.text
    document = applied.json()
    assert document["status"] == "referred" and document["decision"]["outcome"] == "refer" and document["offer"] is None
    pending = api.call("risk", "GET", "/v1/reviews").json()["items"]
    assert [p["decision"] for p in pending] == [document["decision"]["id"]]
    # marketing may not approve; the approval needs a comment
    decision_id = document["decision"]["id"]
    assert api.call("marketing", "POST", f"/v1/decisions/{decision_id}/review", {"outcome": "approve", "comment": "ok"}).status_code == 403
    no_comment = api.call("risk", "POST", f"/v1/decisions/{decision_id}/review", {"outcome": "approve"})
    assert no_comment.status_code == 422 and no_comment.json()["detail"][0]["field"] == "comment"
    reviewed = api.call("risk", "POST", f"/v1/decisions/{decision_id}/review", {"outcome": "approve", "comment": "tax record checked by hand"})
    assert reviewed.status_code == 200, reviewed.text
    offer = reviewed.json()["offer"]
    assert offer is not None and offer["status"] == "open"
    assert api.call("risk", "POST", f"/v1/decisions/{decision_id}/review", {"outcome": "decline", "comment": "again"}).status_code == 422
    assert api.call("risk", "GET", "/v1/reviews").json()["items"] == []
    now = api.call("carol", "GET", f"/v1/applications/{document['id']}").json()
    assert now["status"] == "approved" and now["offer"]["id"] == offer["id"] and now["decision"]["review"]["outcome"] == "approve"
    accepted = api.call("carol", "POST", f"/v1/offers/{offer['id']}/accept")
    assert accepted.status_code == 201, accepted.text


def test_partner_application_and_draw(api: Api, applicants: dict[str, list[dict[str, Any]]]) -> None:
    entry = applicants["approve"][3]
    applied = api.call("partner", "POST", "/v1/applications", application_body(entry, channel="partner"))
    assert applied.status_code == 201, applied.text
    document = applied.json()
    assert document["channel"] == "partner-ecommerce"
    accepted = api.call("partner", "POST", f"/v1/offers/{document['offer']['id']}/accept")
    assert accepted.status_code == 201, accepted.text
    drawn = api.call("partner", "POST", f"/v1/lines/{accepted.json()['id']}/draws", {"amount": "5000.00", "method": "revolving", "term": 3})
    assert drawn.status_code == 201, drawn.text
    assert [a["id"] for a in api.call("partner", "GET", "/v1/applications").json()["items"]] == [document["id"]]
    # an own-app borrower's list does not show it
    assert api.call("alice", "GET", "/v1/applications").json()["items"] == []
    # the partner is told, through its callback outbox: ids and statuses, no personal data
    from sqlalchemy import select

    from smelend.store.tables import callbacks

    with api.engine.connect() as conn:
        sent = conn.execute(select(callbacks.c.event, callbacks.c.payload).order_by(callbacks.c.id)).all()
    assert [e for e, _ in sent] == ["application.decided", "line.opened", "loan.disbursed"]
    assert document["id"] in sent[0][1] and entry["applicant"]["id_number"] not in "".join(p for _, p in sent)


def test_created_application_reads_back_the_same(api: Api, applicants: dict[str, list[dict[str, Any]]]) -> None:
    """The 201 of an application is built from what was written, not read back: GET must show exactly it, for
    an approval (with its offer), a referral and a decline, applied by a partner (nobody registered yet)."""
    for outcome in ("approve", "refer", "decline"):
        entry = applicants[outcome][-1]
        applied = api.call("partner", "POST", "/v1/applications", application_body(entry, channel="partner"))
        assert applied.status_code == 201, applied.text
        created = applied.json()
        assert created["decision"]["outcome"] == outcome
        assert (created["offer"] is not None) == (outcome == "approve")
        shown = api.call("partner", "GET", f"/v1/applications/{created['id']}")
        assert shown.status_code == 200, shown.text
        assert shown.json() == created
