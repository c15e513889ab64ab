"""The strategy-runs page's figures: the runs ``smelend simulate`` / ``smelend compare`` recorded
(:func:`smelend.store.sim_runs.list_runs`) and one run's strategies side by side, read from the run's own
``metrics.json`` as recorded (:func:`smelend.store.sim_runs.run_document`), so the page shows exactly the
figures the lab wrote and never recomputes them.

Money in the document is fen (a mean over seeds, so not always a whole number): whole amounts are shown
as exact yuan with two decimals, means to the nearest fen.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any

import plotly.graph_objects as go
from sqlalchemy.engine import Engine

from smelend.money import format_yuan
from smelend.store.db import reading
from smelend.store.sim_runs import list_runs, run_document
from smelend.web.charts import LAYOUT

# (key in metrics.json, label, kind): the key figures of a comparison, in the order the page shows them.
FIGURES: tuple[tuple[str, str, str], ...] = (
    ("applications", "Applications", "count"),
    ("approvals", "Approvals", "count"),
    ("approval_rate", "Approval rate", "pct"),
    ("customers_drawn", "Customers who drew", "count"),
    ("balance_end", "Balance at the end (yuan)", "yuan"),
    ("npl_ratio", "NPL ratio", "pct"),
    ("interest_income", "Interest income (yuan)", "yuan"),
    ("fee_income", "Fee income (yuan)", "yuan"),
    ("income", "Income (yuan)", "yuan"),
    ("funding_cost", "Funding cost (yuan)", "yuan"),
    ("credit_losses", "Credit losses (yuan)", "yuan"),
    ("operating_cost", "Operating cost (yuan)", "yuan"),
    ("acquisition_cost", "Acquisition cost (yuan)", "yuan"),
    ("profit", "Profit (yuan)", "yuan"),
    ("raroc", "RAROC", "pct"),
    ("ledger_balanced", "Ledger balanced", "flag"),
)
COSTS = ("funding_cost", "credit_losses", "operating_cost", "acquisition_cost")


@dataclass(frozen=True)
class Run:
    id: int
    kind: str
    strategies: tuple[str, ...]
    smes: int
    months: int
    seeds: int
    shock: bool
    baseline: str | None
    created_at: datetime


@dataclass(frozen=True)
class Figure:
    key: str
    label: str
    texts: tuple[str, ...]  # one per strategy
    intervals: tuple[str, ...]  # the 95% interval over seeds, "" where there is none


@dataclass(frozen=True)
class Compared:
    run: Run
    names: tuple[str, ...]
    figures: tuple[Figure, ...]
    elapsed_s: float | None
    money_chart: str
    balance_chart: str


def show(value: Any, kind: str) -> str:
    """One figure as the page prints it (the tests read the same text back)."""
    if value is None:
        return ""
    if kind == "yuan":
        fen = Decimal(str(value)).quantize(Decimal(1), ROUND_HALF_EVEN)
        return f"{Decimal(format_yuan(int(fen))):,.2f}"
    if kind == "pct":
        return f"{Decimal(str(value)) * 100:.2f}%"
    if kind == "count":
        return f"{value:,.0f}" if float(value).is_integer() else f"{value:,.1f}"
    if kind == "flag":
        return "yes" if value else "NO"
    return str(value)


def runs(engine: Engine) -> list[Run]:
    """Every recorded run, newest first."""
    with reading(engine) as conn:
        found = list_runs(conn)
    return [Run(int(r["id"]), str(r["kind"]), tuple(s["name"] for s in r["strategies"] if s["role"] == "strategy"), int(r["smes"]),
                int(r["months"]), int(r["seeds"]), bool(r["shock"]), r["baseline"], r["created_at"]) for r in found]


def compared(engine: Engine, run: Run) -> Compared | None:
    """``run``'s strategies side by side (baseline first), or None when its document is gone."""
    with reading(engine) as conn:
        doc = run_document(conn, run.id)
    if doc is None:
        return None
    strategies: dict[str, dict[str, Any]] = doc["strategies"]
    names = tuple(sorted(strategies, key=lambda n: (n != doc.get("baseline"), list(strategies).index(n))))
    figures = []
    for key, label, kind in FIGURES:
        texts, intervals = [], []
        for name in names:
            s = strategies[name]
            texts.append(show(s.get(key), kind))
            ci = s.get("ci", {}).get(key)
            intervals.append("" if ci is None or doc["seeds"] < 2 else f"{show(ci[0], kind)} – {show(ci[1], kind)}")
        figures.append(Figure(key, label, tuple(texts), tuple(intervals)))
    return Compared(run, names, tuple(figures), doc.get("elapsed_seconds"), money_chart(names, strategies), balance_chart(names, strategies))


def _yuan(fen: Any) -> float | None:
    """Yuan for a chart; None (a gap) where an older document lacks the figure."""
    return None if fen is None else float(Decimal(str(fen)) / 100)


def money_chart(names: tuple[str, ...], strategies: dict[str, dict[str, Any]]) -> str:
    """Income, each cost and profit, one group of bars per strategy."""
    fig = go.Figure()
    for name in names:
        s = strategies[name]
        keys = ("income", *COSTS, "profit")
        fig.add_bar(x=[k.replace("_", " ") for k in keys], y=[_yuan(s.get(k)) for k in keys], name=name)
    fig.update_layout(title="Income, costs and profit (yuan)", barmode="group", legend={"orientation": "h", "y": -0.2}, **LAYOUT)
    return fig.to_json()


def balance_chart(names: tuple[str, ...], strategies: dict[str, dict[str, Any]]) -> str:
    """The balance at each month end, one line per strategy."""
    fig = go.Figure()
    for name in names:
        months = strategies[name].get("by_month", [])
        fig.add_scatter(x=[m["month"] for m in months], y=[_yuan(m.get("balance_fen")) for m in months], mode="lines+markers", name=name)
    fig.update_layout(title="Balance at month end (yuan)", xaxis={"title": "month", "dtick": 1}, legend={"orientation": "h", "y": -0.2}, **LAYOUT)
    return fig.to_json()
