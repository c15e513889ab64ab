"""Object-level checks (another caller's id is 404, like one that does not exist) and function-level roles (403)."""

from __future__ import annotations

from typing import Any

from tests.api.conftest import Api, application_body


def _alice_with_a_loan(api: Api, applicants: dict[str, list[dict[str, Any]]]) -> dict[str, Any]:
    applied = api.call("alice", "POST", "/v1/applications", application_body(applicants["approve"][0])).json()
    line = api.call("alice", "POST", f"/v1/offers/{applied['offer']['id']}/accept").json()
    loan = api.call("alice", "POST", f"/v1/lines/{line['id']}/draws", {"amount": "1000.00", "method": "revolving", "term": 3}).json()
    return {"application": applied["id"], "decision": applied["decision"]["id"], "offer": applied["offer"]["id"], "line": line["id"], "loan": loan["id"]}


def test_another_callers_ids_are_not_found(api: Api, applicants: dict[str, list[dict[str, Any]]]) -> None:
    ids = _alice_with_a_loan(api, applicants)
    reads = [
        f"/v1/applications/{ids['application']}",
        f"/v1/decisions/{ids['decision']}",
        f"/v1/offers/{ids['offer']}",
        f"/v1/lines/{ids['line']}",
        f"/v1/lines/{ids['line']}/contract",
        f"/v1/loans/{ids['loan']}",
        f"/v1/loans/{ids['loan']}/payoff",
    ]
    for path in reads:
        assert api.call("alice", "GET", path).status_code == 200, path
        for other in ("bob", "partner"):
            answer = api.call(other, "GET", path)
            assert answer.status_code == 404, (other, path, answer.text)
    writes = [
        (f"/v1/offers/{ids['offer']}/accept", None),
        (f"/v1/lines/{ids['line']}/draws", {"amount": "100.00", "method": "revolving", "term": 3}),
        (f"/v1/loans/{ids['loan']}/repayments", {"amount": "10.00"}),
    ]
    for path, body in writes:
        for other in ("bob", "partner"):
            answer = api.call(other, "POST", path, body)
            assert answer.status_code == 404, (other, path, answer.text)
    # ids that do not exist at all answer the same
    assert api.call("alice", "GET", "/v1/applications/APP-0123456789ABCDEF").status_code == 404
    assert api.call("alice", "GET", "/v1/loans/999999").status_code == 404
    assert api.call("risk", "GET", "/v1/lines/999999").status_code == 404
    # lists hold only one's own
    assert api.call("bob", "GET", "/v1/applications").json() == {"items": [], "next": None}
    # staff with a reading role see everything
    for role in ("risk", "operations", "auditor", "admin"):
        assert api.call(role, "GET", f"/v1/loans/{ids['loan']}").status_code == 200, role
    assert len(api.call("auditor", "GET", "/v1/applications").json()["items"]) == 1


def test_roles(api: Api, applicants: dict[str, list[dict[str, Any]]]) -> None:
    ids = _alice_with_a_loan(api, applicants)
    refused = [
        ("marketing", "POST", f"/v1/lines/{ids['line']}/freeze", None),
        ("risk", "POST", f"/v1/lines/{ids['line']}/freeze", None),
        ("alice", "POST", f"/v1/lines/{ids['line']}/freeze", None),
        ("marketing", "POST", f"/v1/decisions/{ids['decision']}/review", {"outcome": "approve", "comment": "x"}),
        ("operations", "POST", f"/v1/decisions/{ids['decision']}/review", {"outcome": "approve", "comment": "x"}),
        ("alice", "POST", f"/v1/decisions/{ids['decision']}/review", {"outcome": "approve", "comment": "x"}),
        ("marketing", "POST", f"/v1/decisions/{ids['decision']}/replay", None),
        ("alice", "POST", f"/v1/decisions/{ids['decision']}/replay", None),
        ("marketing", "GET", "/v1/audit", None),
        ("risk", "GET", "/v1/audit", None),
        ("alice", "GET", "/v1/audit", None),
        ("marketing", "GET", "/v1/reviews", None),
        ("partner", "GET", "/v1/reviews", None),
        ("marketing", "GET", f"/v1/decisions/{ids['decision']}", None),
        ("operations", "GET", f"/v1/decisions/{ids['decision']}", None),
        ("marketing", "GET", f"/v1/loans/{ids['loan']}", None),
        ("product", "GET", "/v1/applications", None),
        ("admin", "POST", "/v1/applications", application_body(applicants["approve"][2])),
        ("admin", "POST", f"/v1/lines/{ids['line']}/draws", {"amount": "100.00", "method": "revolving", "term": 3}),
    ]
    for who, method, path, body in refused:
        answer = api.call(who, method, path, body)
        assert answer.status_code == 403, (who, method, path, answer.status_code, answer.text)
    assert api.call(None, "GET", f"/v1/loans/{ids['loan']}").status_code == 401
    assert api.call("operations", "POST", f"/v1/lines/{ids['line']}/freeze").status_code == 200
    assert api.call("admin", "POST", f"/v1/lines/{ids['line']}/unfreeze").status_code == 200
    assert api.call("auditor", "POST", f"/v1/decisions/{ids['decision']}/replay").json()["matches"] is True
    # a borrower applies only as themself: bob's token with alice's identity
    other = api.call("bob", "POST", "/v1/applications", application_body(applicants["approve"][0]))
    assert other.status_code == 403 and other.json()["detail"][0]["field"] == "applicant.id_number"
