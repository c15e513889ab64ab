"""The strategy-runs page on SQLite and PostgreSQL: a run recorded by the real ``smelend compare`` is listed
and its strategies' figures equal ``DIR/metrics.json``; only marketing, product, risk and admin see it."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from smelend.web.access import PAGES
from smelend.web.strategy_runs import FIGURES

from .conftest import PASSWORD, STAFF, Bare, fen, login, table_counts, table_rows

ROOT = Path(__file__).resolve().parents[2]
PATH = "/dashboard/strategy-runs"


def compare(out: Path) -> dict[str, Any]:
    """A small comparison through the real CLI (it records into $SMELEND_DATABASE_URL, set by ``db_url``)."""
    done = subprocess.run([sys.executable, "-m", "smelend", "compare", "--baseline", str(ROOT / "strategies" / "baseline.yaml"),
                           "--strategy", str(ROOT / "strategies" / "optimized.yaml"), "--smes", "500", "--months", "4", "--seeds", "2",
                           "--workers", "2", "--out", str(out), "--json"], capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    doc: dict[str, Any] = json.loads((out / "metrics.json").read_text(encoding="utf-8"))
    assert json.loads(done.stdout)["run_id"] >= 1
    return doc


def signed_in(bare: Bare, role: str) -> Any:
    client = bare.browser()
    assert login(client, f"staff {role}", PASSWORD).status_code == 303
    return client


def parsed(text: str, kind: str) -> Any:
    """A cell's text back as the metrics.json value it shows (money in whole fen)."""
    if kind == "yuan":
        return fen(text)
    if kind == "pct":
        return Decimal(text.rstrip("%")) / 100
    if kind == "count":
        return Decimal(text.replace(",", ""))
    return {"yes": True, "NO": False}[text]


def same(shown: Any, value: Any, kind: str) -> bool:
    if kind == "yuan":
        return shown == int(Decimal(str(value)).quantize(Decimal(1)))
    if kind == "pct":
        return abs(shown - Decimal(str(value))) <= Decimal("0.00005")  # shown to 0.01 percentage points
    if kind == "count":
        return abs(shown - Decimal(str(value))) <= Decimal("0.05")
    return bool(shown == value)


@pytest.mark.db
def test_page_shows_the_compare_run_as_in_metrics_json(bare: Bare, tmp_path: Path) -> None:
    empty = signed_in(bare, "marketing").get(PATH)
    assert empty.status_code == 200 and "No strategy run is recorded" in empty.text
    doc = compare(tmp_path / "lab")
    client = signed_in(bare, "marketing")
    page = client.get(PATH)
    assert page.status_code == 200, page.text
    runs = table_rows(page.text, "runs")
    assert len(runs) == 1
    run_id, kind, names, smes, months, seeds = runs[0][:6]
    assert (kind, names, smes, months, seeds) == ("compare", "baseline, optimized", "500", "4", "2")
    assert re.search(r'id="run-smes">500<', page.text) and re.search(r'id="run-seeds">2<', page.text)
    header = re.findall(r'<th class="num" data-strategy="([^"]+)">', page.text)
    assert header == ["baseline", "optimized"]
    rows = {row[0]: row[1:] for row in table_rows(page.text, "figures")}
    assert list(rows) == [label for _, label, _ in FIGURES]
    checked = 0
    for key, label, kind in FIGURES:
        cells = rows[label]
        for i, name in enumerate(header):
            s = doc["strategies"][name]
            value, interval = cells[2 * i], cells[2 * i + 1]
            assert same(parsed(value, kind), s[key], kind), (name, key, value, s[key])
            ci = s["ci"].get(key)
            if ci is None:
                assert interval == ""
            else:
                low, high = interval.split(" – ")
                assert same(parsed(low, kind), ci[0], kind) and same(parsed(high, kind), ci[1], kind), (name, key, interval, ci)
            checked += 1
    assert checked == 2 * len(FIGURES)
    assert doc["strategies"]["optimized"]["applications"] > 0 and rows["Ledger balanced"] == ["yes", "", "yes", ""]
    for chart in ("chart-money", "chart-balance"):
        block = re.search(rf'data-chart="{chart}">(.*?)</script>', page.text, re.S)
        assert block is not None
        figure = json.loads(block.group(1).replace("<\\/", "</"))
        assert [trace["name"] for trace in figure["data"]] == ["baseline", "optimized"]
    money = json.loads(re.search(r'data-chart="chart-money">(.*?)</script>', page.text, re.S).group(1))  # type: ignore[union-attr]
    profit_at = money["data"][1]["x"].index("profit")
    assert Decimal(str(money["data"][1]["y"][profit_at])) == Decimal(doc["strategies"]["optimized"]["profit"]) / 100

    # a chosen run; a bad or unknown run id is named and changes nothing
    before = table_counts(bare.engine)
    assert client.get(f"{PATH}?run={run_id}").status_code == 200
    bad = client.get(f"{PATH}?run=abc")
    assert bad.status_code == 422 and "run: must be a run id" in bad.text
    missing = client.get(f"{PATH}?run=999999")
    assert missing.status_code == 404 and "run: no strategy run 999999" in missing.text
    assert table_counts(bare.engine) == before


@pytest.mark.db
def test_only_marketing_product_risk_and_admin_see_the_page(bare: Bare) -> None:
    answer = bare.browser().get(PATH)
    assert answer.status_code == 303 and answer.headers["location"].startswith("/dashboard/login?next=/dashboard/strategy-runs")
    for role in STAFF:
        client = signed_in(bare, role)
        may = role in ("marketing", "product", "risk", "admin")
        assert (role == "admin" or role in PAGES["strategy-runs"]) == may
        assert client.get(PATH).status_code == (200 if may else 403), role
        assert (f'href="{PATH}"' in client.get("/dashboard/").text) == may, role  # the navigation shows only what opens
