"""Bad input is a 4xx naming the field and the reason, and writes nothing: every table's rows are counted
before and after each refused request."""

from __future__ import annotations

from typing import Any

import pytest

from tests.api.conftest import Api, application_body, table_counts


def _refused(api: Api, who: str, method: str, path: str, body: Any, field: str, status: int = 422, headers: dict[str, str] | None = None) -> str:
    before = table_counts(api.engine)
    answer = api.call(who, method, path, body, headers)
    assert answer.status_code == status, (path, body, answer.text)
    detail = answer.json()["detail"]
    fields = [d["field"] for d in detail] if isinstance(detail, list) and isinstance(detail[0], dict) and "field" in detail[0] else None
    if fields is not None:
        assert field in fields, (field, detail)
        assert all(d["reason"] for d in detail)
    else:  # FastAPI's own shape (the idempotency header)
        assert field in answer.text, answer.text
    assert table_counts(api.engine) == before, f"{path} {body} wrote rows"
    return answer.text


def test_applications_refused(api: Api, applicants: dict[str, list[dict[str, Any]]]) -> None:
    entry = applicants["approve"][0]
    good = application_body(entry)
    cases = [
        ({**good, "colour": "red"}, "colour"),
        ({**good, "applicant": {**good["applicant"], "nickname": "x"}}, "applicant.nickname"),
        ({**good, "applicant": {**good["applicant"], "id_number": "110105194912310021"}}, "applicant.id_number"),
        ({**good, "applicant": {**good["applicant"], "mobile": "12345"}}, "applicant.mobile"),
        ({**good, "enterprise": {**good["enterprise"], "uscc": "91110000600037341X"}}, "enterprise.uscc"),
        ({**good, "requested_amount": "-100.00"}, "requested_amount"),
        ({**good, "requested_amount": "0"}, "requested_amount"),
        ({**good, "requested_amount": 100000}, "requested_amount"),
        ({**good, "product": "no-such-loan"}, "product"),
        ({**good, "channel": "carrier-pigeon"}, "channel"),
        ({**good, "consent": {"data_use": False}}, "consent.data_use"),
        ({k: v for k, v in good.items() if k != "applicant"}, "applicant"),
    ]
    for body, field in cases:
        text = _refused(api, "alice", "POST", "/v1/applications", body, field)
        assert entry["applicant"]["id_number"] not in text and entry["applicant"]["mobile"] not in text
    _refused(api, "partner", "POST", "/v1/applications", {**good, "applicant": {**good["applicant"], "id_number": "11010519491231002"}}, "applicant.id_number")
    # a reused Idempotency-Key with another body
    assert api.call("alice", "POST", "/v1/applications", good, {"Idempotency-Key": "k-1"}).status_code == 201
    _refused(api, "alice", "POST", "/v1/applications", {**good, "requested_amount": "1000.00"}, "Idempotency-Key", headers={"Idempotency-Key": "k-1"})


@pytest.fixture
def loan(api: Api, applicants: dict[str, list[dict[str, Any]]]) -> dict[str, Any]:
    applied = api.call("alice", "POST", "/v1/applications", application_body(applicants["approve"][0])).json()
    line = api.call("alice", "POST", f"/v1/offers/{applied['offer']['id']}/accept").json()
    drawn = api.call("alice", "POST", f"/v1/lines/{line['id']}/draws", {"amount": "1000.00", "method": "equal-installment", "term": 6}).json()
    return {"line": line, "loan": drawn}


def test_servicing_refused(api: Api, loan: dict[str, Any]) -> None:
    line, drawn = loan["line"], loan["loan"]
    draws = f"/v1/lines/{line['id']}/draws"
    above = f"{int(line['limit'].split('.')[0]) + 1}.00"
    _refused(api, "alice", "POST", draws, {"amount": above, "method": "revolving", "term": 3}, "amount")
    _refused(api, "alice", "POST", draws, {"amount": "-5.00", "method": "revolving", "term": 3}, "amount")
    _refused(api, "alice", "POST", draws, {"amount": "5.001", "method": "revolving", "term": 3}, "amount")
    _refused(api, "alice", "POST", draws, {"amount": "100.00", "method": "flat", "term": 3}, "method")
    _refused(api, "alice", "POST", draws, {"amount": "100.00", "method": "sideways", "term": 3}, "method")
    _refused(api, "alice", "POST", draws, {"amount": "100.00", "method": "bullet", "term": 60}, "term")
    _refused(api, "alice", "POST", draws, {"amount": "100.00", "method": "bullet", "term": 3, "fast": True}, "fast")
    repayments = f"/v1/loans/{drawn['id']}/repayments"
    _refused(api, "alice", "POST", repayments, {"amount": "-1.00"}, "amount")
    _refused(api, "alice", "POST", repayments, {"amount": "0.00"}, "amount")
    _refused(api, "alice", "POST", repayments, {"amount": "10.00", "date": "2000-01-01"}, "date")
    _refused(api, "alice", "POST", repayments, {"amount": "10.00", "date": "2026-02-30"}, "date")
    _refused(api, "alice", "GET", f"/v1/loans/{drawn['id']}/payoff?date=yesterday", None, "date")
    _refused(api, "alice", "GET", f"/v1/loans/{drawn['id']}/payoff?date=2000-01-01", None, "date")
    _refused(api, "risk", "POST", "/v1/decisions/DEC-00/review", {"outcome": "maybe", "comment": "x"}, "outcome")
    # a repayment on a closed loan: pay it off, then once more
    total = api.call("alice", "GET", f"/v1/loans/{drawn['id']}/payoff").json()["total"]
    assert api.call("alice", "POST", repayments, {"amount": total}).json()["loan"]["status"] == "closed"
    _refused(api, "alice", "POST", repayments, {"amount": "10.00"}, "loan")
    # freezing a frozen line
    assert api.call("operations", "POST", f"/v1/lines/{line['id']}/freeze").status_code == 200
    _refused(api, "operations", "POST", f"/v1/lines/{line['id']}/freeze", None, "line")
