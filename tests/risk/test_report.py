"""The HTML report: self-contained, one chart per expected chart, every text from data escaped."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest
from plotly.offline import get_plotlyjs

from smelend.risk.report import render_html
from smelend.risk.validation import validation_report

EVIL_MODEL = "<script>alert('model')</script>"
EVIL_FEATURE = '<img src=x onerror="alert(1)">'


def _inputs(*, outcomes: bool = True, n: int = 1500, features: int = 3) -> dict:
    rng = np.random.default_rng(11)
    pd = np.round(rng.beta(1.5, 8.0, n), 3)
    y = (rng.random(n) < pd).astype(np.int8)
    feature_psi = {
        f"feature_{i}": {"expected_counts": [40, 60], "actual_counts": [40 + i, 60 - i], "labels": ["lo", "hi"]}
        for i in range(features)
    }
    feature_psi[EVIL_FEATURE] = {"expected_counts": [1, 1], "actual_counts": [1, 1], "labels": ["<b>a</b>", "b"]}
    return {
        "models": {"champion": {"pd": pd, "score": 600 - 100 * pd}, EVIL_MODEL: {"pd": rng.random(n), "score": None}},
        "y_bad": y if outcomes else None,
        "feature_psi": feature_psi,
        "score_psi": {"expected_counts": [3, 4, 3], "actual_counts": [2, 4, 4], "labels": ["≤ 550", "", "> 650"]},
        "information_values": {f"feature_{i}": 0.1 * i for i in range(features)} | {EVIL_FEATURE: 0.7},
        "meta": {"portfolio": "SME <online>", "windows": {"dev": "2024", "oot": "2025"}},
    }


@pytest.fixture(scope="module")
def report() -> dict:
    return validation_report(**_inputs())


@pytest.fixture(scope="module")
def page(report: dict) -> str:
    return render_html(report, title="Q1 <review> & sign-off")


def _without_library(page: str) -> str:
    """The page minus the embedded plotly.js bundle: everything we wrote ourselves."""
    library = get_plotlyjs()
    assert page.count(library) == 1
    return page.replace(library, "")


def _chart_kinds(page: str) -> list[str]:
    return re.findall(r'<div class="chart" data-kind="([a-z_]+)">', page)


def test_page_embeds_plotly_once_and_loads_nothing_from_outside(page: str) -> None:
    assert page.startswith("<!DOCTYPE html>")
    ours = _without_library(page)
    assert "http://" not in ours and "https://" not in ours and "//cdn" not in ours
    assert not re.search(r"<(script|link|img|iframe)\b[^>]*\b(src|href)\s*=", page, flags=re.IGNORECASE)
    assert "@import" not in ours and "@font-face" not in ours and "url(" not in ours


def test_one_chart_div_per_expected_chart(page: str) -> None:
    kinds = _chart_kinds(page)
    # ROC for both models on one chart; KS and calibration per model; score PSI, feature PSI and IV once each
    assert sorted(kinds) == sorted(["roc", "ks", "ks", "calibration", "calibration", "score_psi", "feature_psi", "iv"])
    ids = re.findall(r'<div id="(chart-\d+)" class="plotly-graph-div"', page)
    assert len(ids) == len(kinds) == len(set(ids))
    assert all(f'Plotly.newPlot(                        "{i}"' in page for i in ids)


def test_alerts_come_first(page: str, report: dict) -> None:
    assert report["alerts"]
    alerts_at = page.index("<h2>Alerts</h2>")
    assert alerts_at < page.index('<div class="chart"')
    assert page.index("CRITICAL") < page.index("WARNING")


def test_text_from_data_is_escaped_and_never_runs(page: str) -> None:
    ours = _without_library(page)
    for raw in (EVIL_MODEL, EVIL_FEATURE, "<b>a</b>", "<online>", "<review>"):
        assert raw not in ours
    assert "<title>Q1 &lt;review&gt; &amp; sign-off</title>" in ours
    assert "&lt;script&gt;alert(&#x27;model&#x27;)&lt;/script&gt;" in ours  # in the models table
    assert "&lt;img src=x onerror=&quot;alert(1)&quot;&gt;" in ours  # in the feature tables
    assert "SME &lt;online&gt;" in ours
    # script tags: the plotly config, the library, and one per chart — none from data
    assert ours.count("<script") == 2 + len(_chart_kinds(page))


def test_chart_data_keeps_names_readable_but_inert(page: str) -> None:
    figure_json = re.findall(r"Plotly\.newPlot\(\s*\"chart-\d+\",\s*(\[.*?\]),\s*\{", page, flags=re.S)
    names = [trace.get("name") for block in figure_json for trace in json.loads(block)]
    assert "&lt;script&gt;alert('model')&lt;/script&gt; (AUC " in " ".join(n for n in names if n)


def test_numbers_are_in_the_tables(page: str, report: dict) -> None:
    champion = report["models"][0]
    assert f"{champion['discrimination']['auc']:.4f}" in page
    assert f"{champion['calibration']['ece']:.4f}" in page
    assert f"{report['score_psi']['psi']:.4f}" in page
    assert "<td>suspicious</td>" in page and "<td>stable</td>" in page


def test_monitoring_only_report_shows_stability_charts_only() -> None:
    page = render_html(validation_report(**_inputs(outcomes=False)))
    assert sorted(_chart_kinds(page)) == ["feature_psi", "iv", "score_psi"]
    assert "No outcomes with both goods and bads" in page


def test_renders_the_report_read_back_from_json(report: dict, page: str) -> None:
    again = render_html(json.loads(json.dumps(report)), title="Q1 <review> & sign-off")
    assert again == page


def test_feature_charts_are_capped_but_tables_list_every_feature() -> None:
    report = validation_report(**_inputs(features=30))
    page = render_html(report, top_features=5)
    blocks = re.findall(r"Plotly\.newPlot\(\s*\"chart-\d+\",\s*(\[.*?\]),\s*\{", page, flags=re.S)
    horizontal = [t for b in blocks for t in json.loads(b) if t.get("orientation") == "h"]
    assert [len(t["y"]) for t in horizontal] == [5, 5]
    assert all(f"<td>feature_{i}</td>" in page for i in range(30))


def test_empty_report_still_renders() -> None:
    page = render_html({})
    assert "No alerts." in page and _chart_kinds(page) == []
