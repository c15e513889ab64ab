"""The dashboard in a real browser: Debian's chromium (playwright, sync API) against ``smelend serve`` on a
free port, over a seeded SQLite book. Signs in, opens every page, checks the figures against the API's
JSON and the store (the funnel page against ``smelend.marketing``'s functions), replays a decision,
reviews a referral, and saves a screenshot of each page (to the
test's tmp folder, and to ``$SMELEND_SCREENSHOTS`` when set).

Without /usr/bin/chromium the test skips locally; under CI=true it fails (``.ci/run`` installs chromium).
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from .conftest import PASSWORD, Seeded, fen, make_staff, seed_book, table_rows

CHROMIUM = "/usr/bin/chromium"
START_SECONDS = 90


def _in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in ("true", "1", "yes")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def server(smelend_env: Path, tmp_path: Path, applicants: dict[str, list[dict[str, Any]]], marketing_data: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[str, Seeded]]:
    """A seeded SQLite book served by a real ``smelend serve`` process; yields its base URL and the seed."""
    if not Path(CHROMIUM).exists():
        message = f"{CHROMIUM} is missing (Debian package chromium)"
        if _in_ci():
            pytest.fail(f"{message}, but CI=true: the browser test must run in CI", pytrace=False)
        pytest.skip(message)
    from smelend.api.app import create_app
    from smelend.risk.providers.simulated import SimulatedProvider
    from smelend.store import open_store

    url = f"sqlite:///{tmp_path / 'dashboard.db'}"
    monkeypatch.setenv("SMELEND_DATABASE_URL", url)
    engine = open_store(url)
    seeded = Seeded(create_app(engine, provider=SimulatedProvider(seed=0)), engine)
    make_staff(engine, seeded.tokens)
    seed_book(seeded, applicants)
    from smelend.store.marketing import replace_data

    with engine.begin() as conn:
        replace_data(conn, marketing_data)
    from smelend.cli import main

    with pytest.raises(SystemExit) as recorded:  # a segmentation run, as staff record one
        main(["marketing", "segments", "--customers", "300", "--clusters", "3", "--record", "november book", "--json"])
    assert recorded.value.code in (0, None)
    with pytest.raises(SystemExit) as compared:  # a small strategy-lab comparison, recorded for the strategy-runs page
        main(["compare", "--baseline", str(Path(__file__).resolve().parents[2] / "strategies" / "baseline.yaml"), "--strategy",
              str(Path(__file__).resolve().parents[2] / "strategies" / "optimized.yaml"), "--smes", "300", "--months", "3", "--seeds", "1",
              "--workers", "1", "--out", str(tmp_path / "lab"), "--json"])
    assert compared.value.code in (0, None)
    port = _free_port()
    log = (tmp_path / "serve.log").open("wb")
    smelend = [sys.executable, "-m", "smelend"]
    process = subprocess.Popen([*smelend, "serve", "--port", str(port)], stdout=log, stderr=subprocess.STDOUT, env=dict(os.environ))
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + START_SECONDS
        while True:
            try:
                if httpx.get(f"{base}/healthz", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert process.poll() is None, (tmp_path / "serve.log").read_text()
            assert time.monotonic() < deadline, "smelend serve did not start"
            time.sleep(0.3)
        yield base, seeded
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
        log.close()
        engine.dispose()


def _api(base: str, seeded: Seeded, who: str, path: str) -> Any:
    answer = httpx.get(f"{base}{path}", headers={"authorization": f"Bearer {seeded.tokens[who]}"}, timeout=30)
    assert answer.status_code == 200, answer.text
    return answer.json()


def test_dashboard_in_chromium(server: tuple[str, Seeded], tmp_path: Path) -> None:
    from playwright.sync_api import expect, sync_playwright

    base, seeded = server
    shots = [tmp_path / "screenshots"]
    if os.environ.get("SMELEND_SCREENSHOTS"):
        shots.append(Path(os.environ["SMELEND_SCREENSHOTS"]))
    for folder in shots:
        folder.mkdir(parents=True, exist_ok=True)

    def snap(page: Any, name: str) -> None:
        page.screenshot(path=str(shots[0] / f"{name}.png"), full_page=True)
        for folder in shots[1:]:
            shutil.copy(shots[0] / f"{name}.png", folder / f"{name}.png")

    errors: list[str] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"])
        page = browser.new_context(viewport={"width": 1366, "height": 900}).new_page()
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: errors.append(str(e)))

        # sign in (a wrong password first)
        page.goto(f"{base}/dashboard/portfolio")
        assert page.url.startswith(f"{base}/dashboard/login")
        page.fill("input[name=name]", "staff admin")
        page.fill("input[name=password]", "not the right password")
        page.click("button[type=submit]")
        expect(page.locator("p.alert")).to_contain_text("wrong name or password")
        snap(page, "01-login-refused")
        page.fill("input[name=password]", PASSWORD)
        page.click("button[type=submit]")
        page.wait_for_url(f"{base}/dashboard/portfolio")

        # portfolio: the figures of the store; the three charts drawn by the served plotly.js
        expect(page.locator("#chart-vintages[data-drawn=true]")).to_have_count(1, timeout=20_000)
        expect(page.locator(".chart[data-drawn=true]")).to_have_count(3)
        snap(page, "02-portfolio")
        html = page.content()
        from smelend.operations.cob import book_buckets
        from smelend.store.lending import book_totals

        buckets = book_buckets(seeded.app.state.service.book)["buckets"]
        assert {r[0]: (int(r[1]), fen(r[2])) for r in table_rows(html, "buckets")} == {k: (v["loans"], v["principal_fen"]) for k, v in buckets.items()}
        with seeded.engine.connect() as conn:
            assert fen(page.inner_text("#principal-total")) == book_totals(conn)["principal"]

        # decisions: search, one decision against GET /v1/decisions/{id}, replay
        page.click("nav >> text=Decisions")
        page.select_option("select[name=outcome]", "decline")
        page.click("form.search button")
        page.wait_for_url("**/dashboard/decisions?*outcome=decline*")
        assert [r[0] for r in table_rows(page.content(), "decisions")] == seeded.decisions["decline"]
        snap(page, "03-decisions-search")
        decision = seeded.decisions["approve"][0]
        page.goto(f"{base}/dashboard/decisions/{decision}")
        api = _api(base, seeded, "admin", f"/v1/decisions/{decision}")
        assert [r[1] for r in table_rows(page.content(), "reasons")] == [r["code"] for r in api["reasons"]]
        assert page.inner_text("#limit") == api["limit"] and page.inner_text("#pd") == str(api["pd"])
        snap(page, "04-decision")
        page.click("#replay")
        expect(page.locator("#replay-result")).to_contain_text("Matches")
        snap(page, "05-replay")

        # referrals: the queue of GET /v1/reviews; approve one from the page
        page.click("nav >> text=Referrals")
        queue = [i["decision"] for i in _api(base, seeded, "admin", "/v1/reviews")["items"]]
        assert [r[0] for r in table_rows(page.content(), "reviews")] == queue and len(queue) == 2
        snap(page, "06-referrals")
        row = page.locator(f"tr[data-id='{queue[0]}']")
        row.locator("input[name=comment]").fill("turnover confirmed with the tax bureau")
        row.locator("button[value=approve]").click()
        expect(page.locator("p.notice")).to_contain_text("referral approved")
        assert [i["decision"] for i in _api(base, seeded, "admin", "/v1/reviews")["items"]] == queue[1:]

        # audit log: the newest entries of GET /v1/audit, the replay and the review among them
        page.click("nav >> text=Audit log")
        items = _api(base, seeded, "admin", "/v1/audit?limit=1000")["items"]
        shown = table_rows(page.content(), "audit")
        assert [int(r[0]) for r in shown] == sorted((i["id"] for i in items), reverse=True)[: len(shown)]
        assert shown[0][3] == "decision.review.approve" and "decision.replay" in [r[3] for r in shown]
        snap(page, "07-audit")

        # sign out; then a marketing user sees no page that is not theirs
        page.click("form.who button")
        page.wait_for_url(f"{base}/dashboard/login")
        page.goto(f"{base}/dashboard/audit")
        assert "/dashboard/login" in page.url
        page.fill("input[name=name]", "staff marketing")
        page.fill("input[name=password]", PASSWORD)
        page.click("button[type=submit]")
        page.wait_for_url(f"{base}/dashboard/audit")
        expect(page.locator("p.alert")).to_contain_text("not available to the marketing role")
        assert page.locator("nav a").all_inner_texts() == ["Funnel and channels", "Segments", "Strategy runs"]

        # funnel and channels: smelend.marketing's figures over the stored data set
        page.click("nav >> text=Funnel and channels")
        expect(page.locator(".chart[data-drawn=true]")).to_have_count(2, timeout=20_000)
        from smelend.marketing.channel_figures import channel_figures
        from smelend.marketing.funnel import funnel
        from smelend.store.marketing import load_data

        with seeded.engine.connect() as conn:
            stored = load_data(conn)
        assert [(r[0], int(r[1])) for r in table_rows(page.content(), "funnel")] == [(s.step, s.count) for s in funnel(stored)[0].steps]
        assert [r[0] for r in table_rows(page.content(), "channels")] == [c.name for c in channel_figures(stored)]
        snap(page, "08-funnel-channels")

        # segments: the recorded run, counted as the store holds it
        page.click("nav >> text=Segments")
        expect(page.locator(".chart[data-drawn=true]")).to_have_count(1, timeout=20_000)
        from sqlalchemy import func, select

        from smelend.store.tables import segment_assignments

        stored: dict[str, int] = {}
        with seeded.engine.connect() as conn:
            for segment, n in conn.execute(select(segment_assignments.c.segment, func.count()).group_by(segment_assignments.c.segment)):
                stored[segment.split("/")[0]] = stored.get(segment.split("/")[0], 0) + n
        assert {r[0]: int(r[1]) for r in table_rows(page.content(), "stages") if int(r[1])} == stored
        snap(page, "09-segments")

        # strategy runs: the recorded comparison, as its metrics.json says
        page.click("nav >> text=Strategy runs")
        expect(page.locator(".chart[data-drawn=true]")).to_have_count(2, timeout=20_000)
        import json

        lab = json.loads((tmp_path / "lab" / "metrics.json").read_text(encoding="utf-8"))
        shown = {r[0]: r[1:] for r in table_rows(page.content(), "figures")}
        assert [fen(v) for v in shown["Profit (yuan)"]] == [lab["strategies"][n]["profit"] for n in ("baseline", "optimized")]
        assert [int(v.replace(",", "")) for v in shown["Applications"]] == [lab["strategies"][n]["applications"] for n in ("baseline", "optimized")]
        snap(page, "10-strategy-runs")
        browser.close()
    on_purpose = ("status of 401", "status of 403")  # the wrong password, and the marketing user at the audit log
    assert [e for e in errors if not any(p in e for p in on_purpose)] == [], errors  # no script error, no CSP violation, no missing file
    assert sorted(path.name for path in shots[0].iterdir()) == [
        "01-login-refused.png", "02-portfolio.png", "03-decisions-search.png", "04-decision.png", "05-replay.png", "06-referrals.png", "07-audit.png", "08-funnel-channels.png", "09-segments.png",
        "10-strategy-runs.png"]
