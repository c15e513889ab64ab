"""Marketing reports as one offline HTML page each: funnel, channel return, segment map, Qini curve.

Same rules as the risk report (:mod:`smelend.risk.report`, whose plotly.js bundle and style it reuses):
plotly.js embedded once, no external URLs, every text from data escaped.
"""

from __future__ import annotations

import html
from collections.abc import Iterable, Sequence
from typing import Any

import plotly.graph_objects as go

from smelend.risk.report import PLOT_CONFIG, STYLE, plotly_js

CHART_HEIGHT = "440px"


def _esc(value: Any) -> str:
    return html.escape(str(value), quote=True)


def _cell(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return "" if value is None else str(value)


def table(headers: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    head = "".join(f"<th>{_esc(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{_esc(_cell(v))}</td>" for v in row) + "</tr>" for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


class Page:
    """Sections in order; chart ids are numbered, never taken from data."""

    def __init__(self, title: str) -> None:
        self.title = title
        self.parts: list[str] = [f"<h1>{_esc(title)}</h1>"]
        self.charts = 0

    def heading(self, text: str) -> None:
        self.parts.append(f"<h2>{_esc(text)}</h2>")

    def text(self, text: str) -> None:
        self.parts.append(f"<p class=\"muted\">{_esc(text)}</p>")

    def html(self, fragment: str) -> None:
        self.parts.append(fragment)

    def chart(self, fig: go.Figure, kind: str) -> None:
        self.charts += 1
        fig.update_layout(template="plotly_white", margin={"l": 60, "r": 20, "t": 50, "b": 60})
        inner = fig.to_html(full_html=False, include_plotlyjs=False, include_mathjax=False, div_id=f"chart-{self.charts}", config=PLOT_CONFIG, default_height=CHART_HEIGHT)
        self.parts.append(f'<div class="chart" data-kind="{_esc(kind)}">{inner}</div>')

    def render(self) -> str:
        return (
            "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"><title>{_esc(self.title)}</title>"
            f"<style>{STYLE}</style><script>window.PlotlyConfig = {{MathJaxConfig: 'local'}};</script>"
            f"<script>{plotly_js()}</script></head><body>{''.join(self.parts)}</body></html>\n"
        )


def _label(text: Any) -> str:
    return html.escape(str(text))


def funnel_chart(funnels: Sequence[dict[str, Any]]) -> go.Figure:
    fig = go.Figure()
    for f in funnels:
        fig.add_trace(go.Funnel(name=_label(f["value"]), y=[_label(s["step"]) for s in f["steps"]], x=[s["count"] for s in f["steps"]], textinfo="value+percent previous"))
    fig.update_layout(title="Funnel: exposure to repeat draw")
    return fig


def channel_return_chart(figures: Sequence[dict[str, Any]]) -> go.Figure:
    names = [_label(f["channel"]) for f in figures]
    fig = go.Figure()
    fig.add_trace(go.Bar(name="spend (yuan)", x=names, y=[float(f["spend"]) for f in figures]))
    fig.add_trace(go.Bar(name="margin (yuan)", x=names, y=[float(f["margin"]) for f in figures]))
    fig.update_layout(title="Channel spend and margin", barmode="group")
    return fig


def qini_chart(curves: dict[str, tuple[Sequence[float], Sequence[float]]]) -> go.Figure:
    fig = go.Figure()
    for name, (x, y) in curves.items():
        fig.add_trace(go.Scatter(name=_label(name), x=list(x), y=list(y), mode="lines"))
    fig.update_layout(title="Qini curve (validation): incremental responders by share targeted", xaxis_title="share targeted", yaxis_title="incremental responders")
    return fig


def segment_map_chart(cells: Sequence[dict[str, Any]], value_order: Sequence[str] = (), risk_order: Sequence[str] = ()) -> go.Figure:
    """Customers per value x risk cell; bands in the settings' order (low to high), others after them."""
    def ordered(found: set[str], order: Sequence[str]) -> list[str]:
        return [b for b in order if b in found] + sorted(found - set(order))

    values = ordered({c["value_band"] for c in cells}, value_order)
    risks = ordered({c["risk_band"] for c in cells}, risk_order)
    z = [[next((c["customers"] for c in cells if c["value_band"] == v and c["risk_band"] == r), 0) for v in values] for r in risks]
    fig = go.Figure(go.Heatmap(z=z, x=[_label(v) for v in values], y=[_label(r) for r in risks], colorscale="Blues"))
    fig.update_layout(title="Segment map: customers by value x risk", xaxis_title="value band", yaxis_title="risk band")
    return fig


def cohort_chart(cohorts: Sequence[dict[str, Any]]) -> go.Figure:
    fig = go.Figure()
    for c in cohorts:
        days = sorted(int(d) for d in c["drawn_within"])
        fig.add_trace(go.Scatter(name=_label(c["month"]), x=days, y=[c["drawn_within"][str(d)] if str(d) in c["drawn_within"] else c["drawn_within"][d] for d in days], mode="lines+markers"))
    fig.update_layout(title="Activation: share of approved lines drawn within N days, by month of approval", xaxis_title="days", yaxis_title="share drawn")
    return fig
