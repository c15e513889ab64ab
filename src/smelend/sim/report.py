"""The strategy lab's report: one offline HTML page with plotly charts, drawn from ``metrics.json`` alone.

Reuses the marketing report's page (plotly.js embedded once, no external URLs, every text escaped), so the
report needs no network and shows exactly the figures the JSON holds.
"""

from __future__ import annotations

from typing import Any

import plotly.graph_objects as go

from smelend.marketing.report import Page, table

SUMMARY_ROWS = (
    ("applications", "Applications", "count"), ("approvals", "Approvals", "count"), ("approval_rate", "Approval rate", "pct"),
    ("lines", "Lines opened", "count"), ("line_rate", "Lines / applications", "pct"), ("customers_drawn", "Customers who drew", "count"),
    ("draw_rate", "Drew / lines", "pct"), ("balance_end", "Balance at the end (yuan)", "yuan"), ("npl_ratio", "NPL ratio", "pct"),
    ("interest_income", "Interest income (yuan)", "yuan"), ("fee_income", "Fee income (yuan)", "yuan"), ("funding_cost", "Funding cost (yuan)", "yuan"),
    ("credit_losses", "Credit losses (yuan)", "yuan"), ("operating_cost", "Operating cost (yuan)", "yuan"),
    ("acquisition_cost", "Acquisition cost (yuan)", "yuan"), ("profit", "Profit (yuan)", "yuan"), ("raroc", "RAROC", "pct"),
    ("yield", "Yield", "pct"), ("decisions", "Risk-engine decisions", "count"), ("schedules", "Schedules", "count"),
    ("journal_entries", "Journal entries", "count"), ("cob_runs", "Daily closes (cob_batch)", "count"), ("ledger_balanced", "Ledger balanced", "raw"),
)


def format_value(value: Any, kind: str) -> str:
    if value is None:
        return ""
    if kind == "pct":
        return f"{value * 100:.2f}%"
    if kind == "yuan":
        return f"{value / 100:,.0f}"
    if kind == "count":
        return f"{value:,.0f}" if float(value).is_integer() else f"{value:,.1f}"
    return str(value)


def summary_rows(strategies: dict[str, dict[str, Any]]) -> list[list[str]]:
    """One row per figure, one column per strategy, with the 95% interval over seeds where there is one."""
    rows = []
    for key, label, kind in SUMMARY_ROWS:
        row = [label]
        for s in strategies.values():
            text = format_value(s.get(key), kind)
            ci = s.get("ci", {}).get(key)
            if ci is not None and ci[0] != ci[1]:
                text += f" [{format_value(ci[0], kind)}, {format_value(ci[1], kind)}]"
            row.append(text)
        rows.append(row)
    return rows


def render(doc: dict[str, Any]) -> str:
    page = Page("Strategy lab: simulated SME market")
    strategies = doc["strategies"]
    page.text(
        f"{doc['smes']:,} businesses, {doc['months']} months, {doc['seeds']} seed(s), shock {'on' if doc['shock'] else 'off'}; "
        "every decision by the real risk engine and pricer, every schedule by the servicing engine, every entry by the ledger's posting rules. "
        "Money in yuan; intervals are 95% over seeds."
    )
    page.heading("Summary")
    page.html(table(["figure", *strategies], summary_rows(strategies)))

    for title, key, scale in (("Balance (yuan)", "balance_fen", 0.01), ("Applications a month", "applications", 1), ("NPL ratio", "npl_ratio", 1), ("Interest income a month (yuan)", "interest_income_fen", 0.01)):
        fig = go.Figure()
        for name, s in strategies.items():
            fig.add_trace(go.Scatter(x=[m["month"] for m in s["by_month"]], y=[m[key] * scale for m in s["by_month"]], mode="lines+markers", name=name))
        fig.update_layout(title=title, xaxis_title="month")
        page.chart(fig, f"month-{key}")

    fig = go.Figure()
    parts = ("interest_income", "fee_income", "funding_cost", "credit_losses", "operating_cost", "acquisition_cost", "profit")
    for name, s in strategies.items():
        sign = {"funding_cost": -1, "credit_losses": -1, "operating_cost": -1, "acquisition_cost": -1}
        fig.add_trace(go.Bar(x=list(parts), y=[sign.get(p, 1) * s[p] / 100 for p in parts], name=name))
    fig.update_layout(title="Profit and its parts (yuan; costs negative)", barmode="group")
    page.chart(fig, "profit")

    for group in ("channel", "product", "segment"):
        fig = go.Figure()
        for name, s in strategies.items():
            keys = list(s[f"by_{group}"])
            fig.add_trace(go.Bar(x=keys, y=[s[f"by_{group}"][k]["lines"] for k in keys], name=name))
        fig.update_layout(title=f"Lines opened by {group}", barmode="group")
        page.chart(fig, f"by-{group}")

    if doc.get("ablation"):
        page.heading("Ablation: each lever alone, and all but one")
        names = list(doc["ablation"])
        profits = [doc["ablation"][n]["profit"] / 100 for n in names]
        fig = go.Figure(go.Bar(x=names, y=profits))
        fig.update_layout(title="Profit (yuan) by variant")
        page.chart(fig, "ablation")
        page.html(table(["variant", "profit (yuan)", "lines", "balance (yuan)", "NPL"], [
            [n, format_value(doc["ablation"][n]["profit"], "yuan"), format_value(doc["ablation"][n]["lines"], "count"),
             format_value(doc["ablation"][n]["balance_end"], "yuan"), format_value(doc["ablation"][n]["npl_ratio"], "pct")] for n in names
        ]))

    curve = doc.get("rationing_curve")
    if curve:
        page.heading("Credit rationing: the return curve of the simulated applicants")
        fig = go.Figure(go.Scatter(x=[p["rate"] for p in curve["points"]], y=[p["gross_return"] for p in curve["points"]], mode="lines", name="gross return"))
        fig.add_vline(x=curve["peak_rate"], line_dash="dash")
        fig.update_layout(title=f"Expected gross return per unit lent; peak at {curve['peak_rate'] * 100:.2f}%", xaxis_title="annual rate", yaxis_title="gross return")
        page.chart(fig, "rationing")

    if doc.get("calibration"):
        page.heading("Calibration of the baseline market")
        page.html(table(["figure", "value", "band", "inside"], [
            [k, format_value(v["value"], "pct"), f"{v['band'][0] * 100:.0f}-{v['band'][1] * 100:.0f}%", v["inside"]] for k, v in doc["calibration"].items()
        ]))
    return page.render()
