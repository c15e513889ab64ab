"""The validation report as one self-contained HTML page: alerts first, then charts and the numbers behind them.

The page works offline and on a locked-down desk: plotly.js is embedded once, there are no external URLs
(no CDN, no web fonts), and every text taken from the report goes through :func:`html.escape` — a model
or feature named ``<script>`` is shown, never run. Input is the dict of
:func:`smelend.risk.validation.validation_report`, as returned or as read back from JSON.

>>> page = render_html({"alerts": [], "models": [], "meta": {"owner": "<risk>"}}, title="Q1 & Q2")
>>> "<title>Q1 &amp; Q2</title>" in page, "&lt;risk&gt;" in page, "<risk>" in page
(True, True, False)
"""

from __future__ import annotations

import html
import json
from collections.abc import Iterable, Mapping, Sequence
from functools import lru_cache
from typing import Any

import plotly.graph_objects as go

TOP_FEATURES = 20  # bars per PSI / IV chart; the tables below them list every feature
CHART_HEIGHT = "420px"
PLOT_CONFIG = {"displaylogo": False, "responsive": True}
STATUS_COLOURS = {"stable": "#2e7d32", "watch": "#f9a825", "shifted": "#c62828"}
STRENGTH_COLOURS = {
    "useless": "#9e9e9e",
    "weak": "#90caf9",
    "medium": "#1e88e5",
    "strong": "#0d47a1",
    "suspicious": "#c62828",
}
LEVEL_ORDER = ("critical", "warning", "info")

STYLE = """
body { font-family: system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; margin: 2rem; color: #212121; }
h1 { margin-bottom: .2rem; } h2 { margin-top: 2.2rem; border-bottom: 1px solid #ddd; padding-bottom: .2rem; }
table { border-collapse: collapse; margin: .6rem 0 1.2rem; font-size: .9rem; }
th, td { border: 1px solid #ddd; padding: .25rem .6rem; text-align: right; }
th { background: #f5f5f5; } td:first-child, th:first-child { text-align: left; }
.alerts { list-style: none; padding: 0; } .alerts li { padding: .4rem .8rem; margin: .3rem 0; border-radius: 4px; }
.critical { background: #ffebee; border-left: 5px solid #c62828; }
.warning { background: #fff8e1; border-left: 5px solid #f9a825; }
.info { background: #e3f2fd; border-left: 5px solid #1e88e5; }
.none { color: #2e7d32; } .chart { margin: 1rem 0; } .muted { color: #757575; }
"""


# --- text and tables --------------------------------------------------------------------------------


def _esc(value: Any) -> str:
    """Text for HTML: every string from the report goes through here."""
    return html.escape(str(value), quote=True)


def _plot_text(value: Any) -> str:
    """Text for a chart: plotly renders a little HTML in labels and decodes entities, so escape there too."""
    return html.escape(str(value), quote=False)


def _num(value: Any, digits: int = 4) -> str:
    """A ratio for reading (the JSON keeps full precision); ``—`` where a number does not apply."""
    if value is None:
        return "—"
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return str(value)
    return str(value) if isinstance(value, int) else f"{value:.{digits}f}"


def _pct(value: Any) -> str:
    return "—" if value is None else f"{100 * float(value):.2f}%"


def _table(headers: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    """An HTML table; cells are escaped here, so no caller can forget."""
    head = "".join(f"<th>{_esc(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{_esc(c)}</td>" for c in row) + "</tr>" for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _section(title: str, *parts: str) -> str:
    return f"<section><h2>{_esc(title)}</h2>{''.join(parts)}</section>"


# --- charts -----------------------------------------------------------------------------------------


class _Charts:
    """Numbers chart divs in page order so ids are unique and never come from data."""

    def __init__(self) -> None:
        self.count = 0

    def div(self, fig: go.Figure, kind: str) -> str:
        self.count += 1
        fig.update_layout(template="plotly_white", margin={"l": 60, "r": 20, "t": 50, "b": 50})
        inner = fig.to_html(
            full_html=False,
            include_plotlyjs=False,
            include_mathjax=False,
            div_id=f"chart-{self.count}",
            config=PLOT_CONFIG,
            default_height=CHART_HEIGHT,
        )
        return f'<div class="chart" data-kind="{_esc(kind)}">{inner}</div>'


def roc_figure(models: Sequence[Mapping[str, Any]]) -> go.Figure:
    """ROC curves of every model with outcomes on one chart, so they compare at a glance."""
    fig = go.Figure()
    for model in models:
        auc = model["discrimination"]["auc"]
        points = model["roc_points"]
        name = _plot_text(f"{model['name']} (AUC {auc:.3f})")
        fig.add_trace(go.Scatter(x=points["fpr"], y=points["tpr"], mode="lines", name=name))
    diagonal = {"dash": "dash", "color": "#9e9e9e"}
    fig.add_trace(go.Scatter(x=[0, 1], y=[0, 1], mode="lines", name="random", line=diagonal))
    fig.update_layout(
        title="ROC", xaxis_title="False-positive rate (goods flagged)", yaxis_title="True-positive rate (bads caught)"
    )
    fig.update_xaxes(range=[0, 1])
    fig.update_yaxes(range=[0, 1])
    return fig


def ks_figure(name: str, curve: Mapping[str, Any]) -> go.Figure:
    """Cumulative bads and goods by riskiest share of the population, with the KS gap drawn."""
    fig = go.Figure()
    fig.add_trace(go.Scatter(x=curve["population"], y=curve["cum_bad"], mode="lines", name="bads"))
    fig.add_trace(go.Scatter(x=curve["population"], y=curve["cum_good"], mode="lines", name="goods"))
    if curve["ks_population"] in curve["population"]:  # validation keeps the peak when it thins the curve
        at = curve["population"].index(curve["ks_population"])
        gap = go.Scatter(
            x=[curve["ks_population"]] * 2,
            y=[curve["cum_good"][at], curve["cum_bad"][at]],
            mode="lines+markers",
            name=f"KS {curve['ks']:.3f}",
            line={"color": "#c62828", "width": 3},
        )
        fig.add_trace(gap)
    fig.update_layout(
        title=_plot_text(f"KS — {name}"),
        xaxis_title="Share of population, riskiest first",
        yaxis_title="Cumulative share",
    )
    fig.update_xaxes(range=[0, 1], tickformat=".0%")
    fig.update_yaxes(range=[0, 1], tickformat=".0%")
    return fig


def calibration_figure(name: str, calibration: Mapping[str, Any]) -> go.Figure:
    """Predicted PD against observed bad rate in each decile of predicted PD."""
    deciles = calibration["deciles"]
    x = [str(d["decile"]) for d in deciles]
    fig = go.Figure()
    fig.add_trace(go.Bar(x=x, y=[d["mean_pd"] for d in deciles], name="predicted (mean PD)"))
    fig.add_trace(go.Bar(x=x, y=[d["bad_rate"] for d in deciles], name="observed (bad rate)"))
    fig.update_layout(
        title=_plot_text(f"Calibration — {name} (ECE {calibration['ece']:.3f})"),
        barmode="group",
        xaxis_title="Decile of predicted PD (1 = safest)",
        yaxis_title="Rate",
    )
    fig.update_xaxes(type="category")
    fig.update_yaxes(tickformat=".1%")
    return fig


def score_psi_figure(table: Mapping[str, Any]) -> go.Figure:
    """Reference and current shares per score bin: where the population moved."""
    labels = [_plot_text(b["label"]) for b in table["bins"]]
    fig = go.Figure()
    fig.add_trace(go.Bar(x=labels, y=[b["expected_share"] for b in table["bins"]], name="reference"))
    fig.add_trace(go.Bar(x=labels, y=[b["actual_share"] for b in table["bins"]], name="current"))
    title = _plot_text(f"Score stability — PSI {table['psi']:.3f} ({table['status']})")
    fig.update_layout(title=title, barmode="group")
    fig.update_xaxes(type="category", title="Score bin")
    fig.update_yaxes(tickformat=".0%", title="Share")
    return fig


def _thresholds(fig: go.Figure, values: Iterable[float]) -> None:
    for value in values:
        fig.add_vline(x=value, line_dash="dot", line_color="#616161")


def feature_psi_figure(tables: Sequence[Mapping[str, Any]], thresholds: Mapping[str, float], top: int) -> go.Figure:
    """The ``top`` least stable features, coloured by status, with the watch / shifted lines."""
    shown = list(tables[:top])
    fig = go.Figure(
        go.Bar(
            x=[t["psi"] for t in shown],
            y=[_plot_text(t["feature"]) for t in shown],
            orientation="h",
            marker_color=[STATUS_COLOURS.get(t["status"], "#616161") for t in shown],
            name="PSI",
        )
    )
    _thresholds(fig, [thresholds.get("psi_watch", 0.1), thresholds.get("psi_shifted", 0.25)])
    fig.update_layout(title=f"Feature stability — top {len(shown)} by PSI", xaxis_title="PSI")
    fig.update_yaxes(autorange="reversed", type="category")
    return fig


def iv_figure(rows: Sequence[Mapping[str, Any]], top: int) -> go.Figure:
    """The ``top`` features by information value, coloured by strength."""
    shown = list(rows[:top])
    fig = go.Figure(
        go.Bar(
            x=[r["iv"] for r in shown],
            y=[_plot_text(r["feature"]) for r in shown],
            orientation="h",
            marker_color=[STRENGTH_COLOURS.get(r["strength"], "#616161") for r in shown],
            name="IV",
        )
    )
    _thresholds(fig, [0.02, 0.1, 0.3, 0.5])
    fig.update_layout(title=f"Information value — top {len(shown)}", xaxis_title="IV")
    fig.update_yaxes(autorange="reversed", type="category")
    return fig


# --- sections ---------------------------------------------------------------------------------------


def _alerts(alerts: Sequence[Mapping[str, Any]]) -> str:
    if not alerts:
        return _section("Alerts", '<p class="none">No alerts.</p>')
    ordered = sorted(alerts, key=lambda a: LEVEL_ORDER.index(a["level"]) if a.get("level") in LEVEL_ORDER else 9)
    items = "".join(
        f'<li class="{_esc(a.get("level", "info"))}"><strong>{_esc(a.get("level", "info")).upper()}</strong> '
        f"{_esc(a.get('subject', ''))}: {_esc(a.get('message', ''))}</li>"
        for a in ordered
    )
    return _section("Alerts", f'<ul class="alerts">{items}</ul>')


def _overview(report: Mapping[str, Any], title: str) -> str:
    sample = report.get("sample") or {}
    bad_rate = _pct(sample.get("bad_rate"))
    facts = [("sample size", sample.get("n")), ("bads", sample.get("n_bad")), ("bad rate", bad_rate)]
    meta = [(k, _meta_value(v)) for k, v in (report.get("meta") or {}).items()]
    return f"<h1>{_esc(title)}</h1>" + _table(["about", "value"], [(k, _num(v)) for k, v in meta + facts])


def _meta_value(value: Any) -> Any:
    """Scalars as they are, anything nested as compact JSON (escaped later with the rest of the table)."""
    return value if value is None or isinstance(value, (str, int, float)) else json.dumps(value, default=str)


def _models_table(models: Sequence[Mapping[str, Any]]) -> str:
    rows = []
    for m in models:
        disc, cal, pd_ = m.get("discrimination") or {}, m.get("calibration") or {}, m.get("pd_summary") or {}
        numbers = [_num(disc.get(k)) for k in ("auc", "gini", "ks")] + [_num(cal.get(k)) for k in ("brier", "ece")]
        rows.append([m["name"], *numbers, _pct(pd_.get("mean")), _num(pd_.get("count"))])
    return _table(["model", "AUC", "Gini", "KS", "Brier", "ECE", "mean PD", "n"], rows)


def _deciles_table(calibration: Mapping[str, Any]) -> str:
    rows = [
        [d["decile"], d["count"], _pct(d["pd_min"]), _pct(d["pd_max"]), _pct(d["mean_pd"]), _pct(d["bad_rate"])]
        for d in calibration["deciles"]
    ]
    return _table(["decile", "count", "PD from", "PD to", "mean PD", "bad rate"], rows)


def _psi_bins_table(table: Mapping[str, Any]) -> str:
    rows = [
        [b["label"], _pct(b["expected_share"]), _pct(b["actual_share"]), _num(b["contribution"])] for b in table["bins"]
    ]
    return _table(["bin", "reference", "current", "PSI contribution"], rows)


def _performance(models: Sequence[Mapping[str, Any]], charts: _Charts) -> str:
    parts = [_models_table(models)]
    ranked = [m for m in models if m.get("roc_points") and m.get("discrimination")]
    if ranked:
        parts.append(charts.div(roc_figure(ranked), "roc"))
    for m in models:
        if m.get("ks_curve"):
            parts.append(charts.div(ks_figure(m["name"], m["ks_curve"]), "ks"))
    if not ranked:
        parts.append('<p class="muted">No outcomes with both goods and bads: no ROC or KS.</p>')
    return _section("Model performance", *parts)


def _calibration(models: Sequence[Mapping[str, Any]], charts: _Charts) -> str:
    parts = []
    for m in models:
        if m.get("calibration"):
            parts.append(f"<h3>{_esc(m['name'])}</h3>")
            parts.append(charts.div(calibration_figure(m["name"], m["calibration"]), "calibration"))
            parts.append(_deciles_table(m["calibration"]))
    return _section("Calibration", *parts) if parts else ""


def _score_psi(table: Mapping[str, Any] | None, charts: _Charts) -> str:
    if not table:
        return ""
    verdict = f"<p>PSI <strong>{_esc(_num(table['psi']))}</strong>: {_esc(table['status'])}</p>"
    chart = charts.div(score_psi_figure(table), "score_psi")
    return _section("Score stability", verdict, chart, _psi_bins_table(table))


def _feature_psi(
    tables: Sequence[Mapping[str, Any]], thresholds: Mapping[str, float], charts: _Charts, top: int
) -> str:
    if not tables:
        return ""
    chart = charts.div(feature_psi_figure(tables, thresholds, top), "feature_psi")
    summary = _table(["feature", "PSI", "status"], [[t["feature"], _num(t["psi"]), t["status"]] for t in tables])
    details = "".join(f"<details><summary>{_esc(t['feature'])}</summary>{_psi_bins_table(t)}</details>" for t in tables)
    return _section("Feature stability", chart, summary, details)


def _information_values(rows: Sequence[Mapping[str, Any]], charts: _Charts, top: int) -> str:
    if not rows:
        return ""
    chart = charts.div(iv_figure(rows, top), "iv")
    table = _table(["feature", "IV", "strength"], [[r["feature"], _num(r["iv"]), r["strength"]] for r in rows])
    return _section("Information value", chart, table)


# --- the page ---------------------------------------------------------------------------------------


@lru_cache(maxsize=1)
def plotly_js() -> str:
    """The plotly.js bundle shipped with the Python package (about 5 MB), read once per process."""
    from plotly.offline import get_plotlyjs

    js = get_plotlyjs()
    assert "</script" not in js.lower(), "the bundle must not close its own script tag"
    return js


def render_html(report: dict, title: str = "Model validation report", *, top_features: int = TOP_FEATURES) -> str:
    """One HTML page for the report: alerts at the top, then performance, calibration and stability.

    Charts appear only for the parts the report holds (no ROC without outcomes); PSI and IV charts show at
    most ``top_features`` bars, the tables every feature.
    """
    assert top_features >= 1
    charts = _Charts()
    models = report.get("models") or []
    body = [
        _overview(report, title),
        _alerts(report.get("alerts") or []),
        _performance(models, charts) if models else "",
        _calibration(models, charts),
        _score_psi(report.get("score_psi"), charts),
        _feature_psi(report.get("feature_psi") or [], report.get("thresholds") or {}, charts, top_features),
        _information_values(report.get("information_values") or [], charts, top_features),
    ]
    return (
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
        f"<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"><title>{_esc(title)}</title>"
        f"<style>{STYLE}</style>"
        "<script>window.PlotlyConfig = {MathJaxConfig: 'local'};</script>"
        f"<script>{plotly_js()}</script>"
        f"</head><body>{''.join(body)}</body></html>\n"
    )
