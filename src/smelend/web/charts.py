"""Plotly figures for the dashboard, as JSON that ``static/charts.js`` draws with the served plotly.js.

Figures travel in ``<script type="application/json">`` blocks rather than inline scripts, so the
pages' Content-Security-Policy can forbid inline script altogether. Money is shown in yuan (floats
are fine on a chart; the tables beside them show the exact amounts).
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import plotly
import plotly.graph_objects as go

from smelend.web.portfolio import Portfolio

PLOTLY_JS = Path(plotly.__file__).parent / "package_data" / "plotly.min.js"
LAYOUT = {"template": "plotly_white", "margin": {"l": 60, "r": 20, "t": 40, "b": 50}, "height": 320}


def _yuan(fen: int) -> float:
    return float(Decimal(fen) / 100)


def buckets_chart(p: Portfolio) -> str:
    fig = go.Figure(go.Bar(x=[r.name for r in p.buckets], y=[_yuan(r.principal_fen) for r in p.buckets],
                           text=[f"{r.loans} loans" for r in p.buckets], marker_color="#2f6f9f"))
    fig.update_layout(title="Outstanding principal by days past due (yuan)", **LAYOUT)
    return fig.to_json()


def classification_chart(p: Portfolio) -> str:
    fig = go.Figure(go.Bar(x=[r.name for r in p.classification], y=[_yuan(r.principal_fen) for r in p.classification],
                           text=[f"{r.loans} loans" for r in p.classification], marker_color="#7a5c9e"))
    fig.update_layout(title="Five-category classification: principal (yuan)", **LAYOUT)
    return fig.to_json()


def vintages_chart(p: Portfolio) -> str:
    months = [v.month for v in p.vintages]
    fig = go.Figure()
    fig.add_bar(x=months, y=[_yuan(v.lent_fen) for v in p.vintages], name="lent (yuan)", marker_color="#9fc5e8")
    fig.add_scatter(x=months, y=[float(v.bad_share) for v in p.vintages], name="31+ DPD or written off, share of lent",
                    yaxis="y2", mode="lines+markers", line={"color": "#c0392b"})
    fig.update_layout(title="Vintages by month drawn", xaxis={"type": "category"}, yaxis2={"overlaying": "y", "side": "right", "tickformat": ".1%", "rangemode": "tozero"},
                      legend={"orientation": "h", "y": -0.2}, **LAYOUT)
    return fig.to_json()


def funnel_chart(steps: list[tuple[str, int]]) -> str:
    fig = go.Figure(go.Funnel(y=[name for name, _ in steps], x=[count for _, count in steps], textinfo="value+percent initial", marker={"color": "#2f6f9f"}))
    fig.update_layout(title="Prospects reaching each step", **LAYOUT)
    return fig.to_json()


def channels_chart(names: list[str], spend_fen: list[int], margin_fen: list[int]) -> str:
    fig = go.Figure()
    fig.add_bar(x=names, y=[_yuan(v) for v in spend_fen], name="spend (yuan)", marker_color="#c0392b")
    fig.add_bar(x=names, y=[_yuan(v) for v in margin_fen], name="lending margin (yuan)", marker_color="#2e7d32")
    fig.update_layout(title="Channels: spend against the margin of their lending", barmode="group", legend={"orientation": "h", "y": -0.25}, **LAYOUT)
    return fig.to_json()


def segment_grid_chart(value_bands: tuple[str, ...], risk_bands: tuple[str, ...], cells: dict[str, int]) -> str:
    z = [[cells.get(f"{v}-{r}", 0) for r in risk_bands] for v in value_bands]
    fig = go.Figure(go.Heatmap(z=z, x=[f"risk {r}" for r in risk_bands], y=[f"value {v}" for v in value_bands], colorscale="Blues",
                               text=z, texttemplate="%{text}", hovertemplate="%{y}, %{x}: %{z} customers<extra></extra>"))
    fig.update_layout(title="Customers by value and risk", **LAYOUT)
    return fig.to_json()
