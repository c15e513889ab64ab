"""Dashboard pages over a seeded book, on SQLite and PostgreSQL: every page checks the role, the figures
equal the store's and the API's, and the replay and review buttons run the API's own code behind CSRF."""

from __future__ import annotations

import re
from collections import Counter
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import func, select

from smelend.store.tables import audit_log, decisions, loans, offers
from smelend.web.access import PAGES

from .conftest import STAFF, Seeded, csrf_of, fen, table_counts, table_rows

GET_PAGES = {"portfolio": "/dashboard/portfolio", "decisions": "/dashboard/decisions", "reviews": "/dashboard/reviews", "audit": "/dashboard/audit",
             "funnel": "/dashboard/funnel", "segments": "/dashboard/segments"}


def _audit_actions(seeded: Seeded) -> list[str]:
    with seeded.engine.connect() as conn:
        return list(conn.execute(select(audit_log.c.action).order_by(audit_log.c.id)).scalars())


def test_every_page_and_action_checks_the_role(seeded: Seeded) -> None:
    decision = seeded.decisions["approve"][0]
    referral = seeded.decisions["refer"][0]
    anonymous = seeded.browser()
    for path in [*GET_PAGES.values(), f"/dashboard/decisions/{decision}"]:
        answer = anonymous.get(path)
        assert answer.status_code == 303 and answer.headers["location"].startswith("/dashboard/login?next=/dashboard/")
    for role in STAFF:
        client, csrf = seeded.signed_in(role)
        home = client.get("/dashboard/")
        for page, path in GET_PAGES.items():
            may = role == "admin" or role in PAGES[page]
            answer = client.get(path)
            assert answer.status_code == (200 if may else 403), (role, page)
            assert (f'href="{path}"' in home.text) == may, (role, page)  # the navigation shows only what opens
        assert client.get(f"/dashboard/decisions/{decision}").status_code == (200 if role in ("risk", "auditor", "admin") else 403)
        before, counts = _audit_actions(seeded), table_counts(seeded.engine)
        replay = client.post(f"/dashboard/decisions/{decision}/replay", data={"csrf_token": csrf})
        assert replay.status_code == (200 if role in ("risk", "auditor", "admin") else 403), role
        if replay.status_code == 403:
            assert _audit_actions(seeded) == before and table_counts(seeded.engine) == counts
        if role not in ("risk", "admin"):
            refused = client.post(f"/dashboard/decisions/{referral}/review", data={"csrf_token": csrf, "outcome": "approve", "comment": "fine"})
            assert refused.status_code == 403 and table_counts(seeded.engine)["offers"] == counts["offers"]


def test_portfolio_figures_equal_the_store(seeded: Seeded) -> None:
    from smelend.ledger import Account
    from smelend.operations.cob import book_buckets
    from smelend.store import ledger as ledger_store
    from smelend.store.lending import book_totals

    client, _ = seeded.signed_in("operations")
    page = client.get("/dashboard/portfolio").text
    book = seeded.app.state.service.book
    buckets = book_buckets(book)
    assert {row[0]: (int(row[1]), fen(row[2])) for row in table_rows(page, "buckets")} == {
        name: (v["loans"], v["principal_fen"]) for name, v in buckets["buckets"].items()}
    shown = {row[0]: (int(row[1]), fen(row[2])) for row in table_rows(page, "classification")}
    assert {k: v[0] for k, v in shown.items() if v[0]} == buckets["classification"]
    assert set(shown) == {"pass", "special-mention", "substandard", "doubtful", "loss"}
    with seeded.engine.connect() as conn:
        totals, kept = book_totals(conn), ledger_store.trial_balance(conn)
        lent = dict(conn.execute(select(func.count(), func.sum(loans.c.principal_fen)).where(loans.c.status != "cancelled")).one()._mapping)
    assert sum(v[1] for v in shown.values()) == totals["principal"]
    ledger = {row[0]: fen(row[1]) for row in table_rows(page, "ledger")}
    assert ledger == {a.value: kept.normal_balance_fen(a) for a in kept.balances_fen}
    assert ledger["principal_receivable"] == totals["principal"] and "balanced" in page
    for figure, key in (("principal-total", "principal"), ("interest-total", "interest"), ("provision-total", "provision")):
        shown_fen = fen(re.search(rf'id="{figure}">([^<]+)<', page).group(1))  # type: ignore[union-attr]
        assert shown_fen == totals[key] and shown_fen > 0, figure  # the loan book's own sums
    vintages = table_rows(page, "vintages")
    assert len(vintages) == 2  # the first draws, and the draw after close of business moved into a later month
    assert sum(int(v[1]) for v in vintages) == len(seeded.loans) and sum(fen(v[2]) for v in vintages) == sum(lent.values()) - len(seeded.loans)
    assert fen(vintages[0][4]) == 30_000_00 and vintages[0][6] == "75.00%"  # three of four 10,000 loans 31+ days late
    assert page.count('data-chart="chart-') == 3 and "cdn" not in page.lower()


def test_decisions_search_and_detail_show_what_the_api_returns(seeded: Seeded) -> None:
    client, _ = seeded.signed_in("auditor")
    for decision_id in (seeded.decisions["decline"][0], seeded.decisions["approve"][1]):
        api = seeded.api("auditor", "GET", f"/v1/decisions/{decision_id}").json()
        page = client.get(f"/dashboard/decisions/{decision_id}").text
        assert [row[1] for row in table_rows(page, "reasons")] == [r["code"] for r in api["reasons"]]
        assert f'<strong id="limit">{api["limit"]}</strong>' in page and api["outcome"] in page
        assert all(str(v) in page for v in api["versions"].values() if isinstance(v, str))
    from smelend.store.origination import get_decision

    with seeded.engine.connect() as conn:  # the applicant's own data never reaches the page unmasked
        document = get_decision(conn, seeded.decisions["approve"][1])["document"]  # type: ignore[index]
    applicant = document["inputs"]["application"]["applicant"]
    assert applicant["id_number"] not in page and applicant["name"] not in page

    client, _ = seeded.signed_in("risk")  # searching: risk
    ids = lambda page: [row[0] for row in table_rows(page, "decisions") if len(row) > 1]  # noqa: E731
    everything = ids(client.get("/dashboard/decisions").text)
    assert sorted(everything) == sorted(d for v in seeded.decisions.values() for d in v)
    assert sorted(ids(client.get("/dashboard/decisions?outcome=refer").text)) == sorted(seeded.decisions["refer"])
    one = seeded.decisions["decline"][0]
    assert ids(client.get(f"/dashboard/decisions?id={one[:12]}").text) == [d for d in everything if d.startswith(one[:12])]
    assert ids(client.get("/dashboard/decisions?product=invoice-loan").text) == []
    code = seeded.api("risk", "GET", f"/v1/decisions/{one}").json()["reasons"][0]["code"]
    with_code = ids(client.get(f"/dashboard/decisions?reason={code.lower()}").text)
    assert one in with_code
    for decision_id in with_code:
        assert code in [r["code"] for r in seeded.api("risk", "GET", f"/v1/decisions/{decision_id}").json()["reasons"]]
    from .conftest import bank_today

    today = bank_today().isoformat()
    assert sorted(ids(client.get(f"/dashboard/decisions?date_from={today}&date_to={today}").text)) == sorted(everything)
    bad = client.get("/dashboard/decisions?date_from=2026-13-01&outcome=maybe")
    assert bad.status_code == 422 and "date_from: must be a date" in bad.text and "outcome: must be one of" in bad.text


def test_replay_button_runs_the_api_replay_and_the_audit_page_shows_it(seeded: Seeded, monkeypatch: pytest.MonkeyPatch) -> None:
    client, csrf = seeded.signed_in("risk")
    decision = seeded.decisions["approve"][0]
    before = _audit_actions(seeded)
    refused = client.post(f"/dashboard/decisions/{decision}/replay", data={"csrf_token": "forged"})
    assert refused.status_code == 403 and _audit_actions(seeded) == before
    answer = client.post(f"/dashboard/decisions/{decision}/replay", data={"csrf_token": csrf})
    assert answer.status_code == 200 and 'id="replay-result"' in answer.text and "<strong>Matches</strong>" in answer.text
    api = seeded.api("risk", "POST", f"/v1/decisions/{decision}/replay").json()
    assert api["matches"] is True
    with seeded.engine.connect() as conn:
        rows = conn.execute(select(audit_log.c.actor, audit_log.c.action).order_by(audit_log.c.id)).all()[len(before):]
    risk_user = rows[0][0]
    assert [tuple(r) for r in rows] == [(risk_user, "decision.replay"), (risk_user, "decision.replay")] and risk_user.startswith("staff:")
    missing = client.post("/dashboard/decisions/DEC-0000000000000000000000000000/replay", data={"csrf_token": csrf})
    assert missing.status_code == 404
    client, _ = seeded.signed_in("auditor")  # the audit log, as GET /v1/audit lists it
    api = seeded.api("auditor", "GET", "/v1/audit?limit=1000").json()["items"]
    shown = table_rows(client.get("/dashboard/audit").text, "audit")
    assert [int(r[0]) for r in shown] == sorted((i["id"] for i in api), reverse=True)[:100]
    assert [r[3] for r in shown] == [i["action"] for i in sorted(api, key=lambda i: -i["id"])][:100]
    assert shown[0][3] == "dashboard.login" and shown[1][3] == "decision.replay" and shown[1][2] == risk_user  # the auditor signed in last
    applications_only = table_rows(client.get("/dashboard/audit?entity=application").text, "audit")
    assert applications_only and {r[4].split()[0] for r in applications_only} == {"application"}
    assert [int(r[0]) for r in applications_only] == sorted((i["id"] for i in api if i["entity"] == "application"), reverse=True)
    pages, before = [], ""  # paging back two rows at a time reaches every record once
    monkeypatch.setattr("smelend.web.routes.AUDIT_PAGE_ROWS", 2)
    while True:
        page = client.get(f"/dashboard/audit{before}").text
        pages.extend(int(r[0]) for r in table_rows(page, "audit"))
        older = re.search(r'href="/dashboard/audit\?before=(\d+)" id="older"', page)
        if older is None:
            break
        before = f"?before={older.group(1)}"
    assert pages == sorted((i["id"] for i in api), reverse=True)
    assert client.get("/dashboard/audit?before=x").status_code == 422


def test_referrals_are_reviewed_through_the_api_code(seeded: Seeded) -> None:
    client, csrf = seeded.signed_in("risk")
    first, second = seeded.decisions["refer"][:2]
    queue = client.get("/dashboard/reviews").text
    assert [row[0] for row in table_rows(queue, "reviews")] == [i["decision"] for i in seeded.api("risk", "GET", "/v1/reviews").json()["items"]]
    counts = table_counts(seeded.engine)
    for data in ({"outcome": "approve", "comment": "  "}, {"outcome": "maybe", "comment": "why not"}, {"outcome": "approve", "comment": "ok", "csrf_token": "x"}):
        answer = client.post(f"/dashboard/decisions/{first}/review", data={"csrf_token": csrf, **data})
        assert answer.status_code in (403, 422) and table_counts(seeded.engine) == counts
    approved = client.post(f"/dashboard/decisions/{first}/review", data={"csrf_token": csrf, "outcome": "approve", "comment": "income checked by phone"})
    assert approved.status_code == 200 and "referral approved" in approved.text and "offer OFR-" in approved.text
    declined = client.post(f"/dashboard/decisions/{second}/review", data={"csrf_token": csrf, "outcome": "decline", "comment": "documents <script>alert(1)</script> do not match"})
    assert declined.status_code == 200 and "referral declined" in declined.text
    again = client.post(f"/dashboard/decisions/{first}/review", data={"csrf_token": csrf, "outcome": "decline", "comment": "twice"})
    assert again.status_code == 422 and "not a referral waiting for review" in again.text
    with seeded.engine.connect() as conn:
        reviewed = dict(conn.execute(select(decisions.c.id, decisions.c.review_outcome).where(decisions.c.id.in_([first, second]))).all())
        made = conn.scalar(select(func.count()).select_from(offers).where(offers.c.decision_id == first))
    assert reviewed == {first: "approve", second: "decline"} and made == 1
    assert seeded.api("risk", "GET", "/v1/reviews").json()["items"] == [] and "No referral is waiting" in client.get("/dashboard/reviews").text
    assert Counter(_audit_actions(seeded))["decision.review.approve"] == 1
    audit_page = seeded.signed_in("auditor")[0].get("/dashboard/audit").text  # text from staff is escaped everywhere
    assert "<script>alert(1)</script>" not in audit_page and "&lt;script&gt;alert(1)&lt;/script&gt;" in audit_page


def test_funnel_and_channels_page_shows_the_marketing_figures(seeded: Seeded, marketing_data: Any) -> None:
    from smelend.marketing.channel_figures import channel_figures
    from smelend.marketing.funnel import funnel
    from smelend.store.marketing import load_data, replace_data

    client, _ = seeded.signed_in("marketing")
    empty = client.get("/dashboard/funnel")
    assert empty.status_code == 200 and "No marketing data set is stored" in empty.text
    with seeded.engine.begin() as conn:
        replace_data(conn, marketing_data)
    with seeded.engine.connect() as conn:
        stored = load_data(conn)
    page = client.get("/dashboard/funnel").text
    steps = funnel(stored)[0].steps
    assert [(r[0], int(r[1])) for r in table_rows(page, "funnel")] == [(s.step, s.count) for s in steps]
    assert [r[2] for r in table_rows(page, "funnel")][1:] == [f"{Decimal(str(s.conversion)) * 100:.2f}%" for s in steps[1:]]
    figures = channel_figures(stored)
    shown = table_rows(page, "channels")
    assert [(r[0], int(r[2]), int(r[3]), int(r[7]), fen(r[11])) for r in shown] == [(c.name, c.visits, c.applications, c.first_draws, c.spend_fen) for c in figures]
    assert page.count('data-chart="chart-') == 2
    by_channel = client.get("/dashboard/funnel?by=channel").text
    assert [r[0] for r in table_rows(by_channel, "funnel-groups")] == [f.value for f in funnel(stored, "channel")]
    bad = client.get("/dashboard/funnel?by=postcode")
    assert bad.status_code == 422 and "by: must be one of" in bad.text


def test_segments_page_shows_the_recorded_run_as_the_cli_reported_it(seeded: Seeded, capsys: pytest.CaptureFixture[str]) -> None:
    import json

    from smelend.cli import main

    client, _ = seeded.signed_in("product")
    assert "No segmentation run is recorded" in client.get("/dashboard/segments").text
    capsys.readouterr()
    with pytest.raises(SystemExit) as done:
        main(["marketing", "segments", "--customers", "300", "--clusters", "3", "--record", "november book", "--json"])
    assert done.value.code in (0, None)
    document = json.loads(capsys.readouterr().out)
    page = client.get("/dashboard/segments").text
    assert "november book" in page and f'<strong id="run-customers">{document["customers"]}</strong>' in page
    by_kind = lambda kind: {p["segment"]: p["customers"] for p in document["segments"] if p["kind"] == kind}  # noqa: E731
    assert {r[0]: int(r[1]) for r in table_rows(page, "stages") if int(r[1])} == by_kind("stage")
    assert {f"{r[0]}-{r[1]}": int(r[2]) for r in table_rows(page, "cells") if int(r[2])} == by_kind("cell")
    assert [int(r[1]) for r in table_rows(page, "clusters")] == [c["customers"] for c in document["clusters"]]
    assert page.count('data-chart="chart-') == 1 and "Grow with a larger line." in page  # the cell strategies from segments.yaml
    missing = client.get("/dashboard/segments?run=october")
    assert missing.status_code == 404 and "no segmentation run named" in missing.text
