"""`smelend rationing`: the Stiglitz-Weiss return curve of a population; credit limits under a budget."""

from __future__ import annotations

import csv
import io
import json
from decimal import Decimal
from pathlib import Path
from typing import Any, Optional

import typer
from rich.table import Table

from smelend.cli.common import JSON_OPTION, emit_json, rationing_app, stdout
from smelend.datafiles import read_bounded_text
from smelend.errors import InvalidInput
from smelend.money import format_yuan, parse_rate, parse_yuan
from smelend.pricing.allocation import (
    DEFAULT_UNIT_FEN,
    MAX_APPLICANTS,
    STANDARDISED_CAPITAL_PER_UNIT,
    Allocation,
    Budget,
    Costs,
    allocate,
    applicants_from_rows,
    capital_in_yuan,
)
from smelend.pricing.rationing import Curve, CurvePoint, Rationing, Supply, load_population, ration, return_curve

MAX_APPLICANTS_FILE_BYTES = 64 * 1024 * 1024


@rationing_app.command("curve")
def curve_command(
    population: str = typer.Option(
        ...,
        help="JSON file: {types: [{share, success_prob, payoff, name?, risky?: {success_prob, payoff}}], outside_option, "
        "collateral?, continuum?: {share, project_value, median_pd, sigma}}. Shares are relative weights.",
    ),
    max_rate: Optional[str] = typer.Option(None, help="Highest rate on the curve, a fraction (default: 0.36, or past the last exit)."),
    points: Optional[int] = typer.Option(None, help="Evenly spaced grid points from 0 to the max rate (default: a 0.001 step)."),
    market_size: str = typer.Option("1", help="Potential borrowers (loans of 1) for rationing: demand = applicant share x market size."),
    funds: Optional[str] = typer.Option(None, help="Loanable funds (loans of 1) at a gross return of 1; gives the rationing at the peak."),
    supply_elasticity: str = typer.Option("0", help="Supply = funds x gross return ^ elasticity (0: a fixed amount)."),
    json_out: bool = JSON_OPTION,
) -> None:
    """The bank's expected gross return per unit lent at each rate, each type's exit, and the peak."""
    top = float(parse_rate(max_rate, "max_rate")) if max_rate is not None else None
    if top is not None and top <= 0:
        raise InvalidInput.one("max_rate", "must be greater than zero")
    curve = return_curve(load_population(population, "population"), top, points)
    rationing = None
    if funds is not None:
        supply = Supply(_number(funds, "funds", 0, 1e15), _number(supply_elasticity, "supply_elasticity", 0, 100))
        rationing = ration(curve, _number(market_size, "market_size", 1e-12, 1e15), supply)
    if json_out:
        emit_json(curve_document(curve, rationing))
    else:
        stdout.print(curve_table(curve))
        if rationing is not None:
            stdout.print(_rationing_line(rationing))


def curve_document(curve: Curve, rationing: Rationing | None = None) -> dict[str, Any]:
    """The JSON contract: peak_rate, peak_return, curve [{rate, return, applicant_share}]; rationing if asked."""
    document: dict[str, Any] = {
        "peak_rate": curve.peak.rate,
        "peak_return": curve.peak.gross_return,
        "curve": [{"rate": p.rate, "return": p.gross_return, "applicant_share": p.applicant_share} for p in curve.points],
    }
    if rationing is not None:
        document["rationing"] = {
            "rate": rationing.rate,
            "return": rationing.gross_return,
            "demand": rationing.demand,
            "supply": rationing.supply,
            "lent": rationing.lent,
            "rationed": rationing.rationed,
            "rationed_share": rationing.rationed_share,
            "is_rationed": rationing.is_rationed,
        }
    return document


def curve_table(curve: Curve) -> Table:
    """The curve's key points: the start, each breakpoint and the point just above it, the peak, the end."""
    notes: dict[float, str] = {curve.points[0].rate: "start", curve.points[-1].rate: "end"}
    for b in curve.breakpoints:
        notes[b.rate] = "; ".join(filter(None, [notes.get(b.rate, ""), b.describe()]))
    breaks = {b.rate for b in curve.breakpoints}
    keys: list[CurvePoint] = [
        point
        for i, point in enumerate(curve.points)
        if point.rate in notes or point == curve.peak or (i > 0 and curve.points[i - 1].rate in breaks)
    ]
    table = Table(
        title=f"Bank's expected gross return per unit lent, 0 to {curve.max_rate * 100:.2f}%",
        caption=f"peak {curve.peak.gross_return:.4f} at {curve.peak.rate * 100:.4f}%; {len(curve.points)} points on the curve (--json for all)"
        + (f"; nobody applies above {curve.points[-1].rate * 100:.4f}%" if curve.points[-1].rate < curve.max_rate else ""),
    )
    for column in ("rate %", "gross return", "applicant share", "note"):
        table.add_column(column, justify="left" if column == "note" else "right")
    for point in keys:
        note = notes.get(point.rate, "")
        if point == curve.peak:
            note = "; ".join(filter(None, ["PEAK", note]))
        style = "bold" if point == curve.peak else None
        table.add_row(f"{point.rate * 100:.4f}", f"{point.gross_return:.4f}", f"{point.applicant_share:.4f}", note, style=style)
    return table


def _rationing_line(r: Rationing) -> str:
    verdict = f"rationed {r.rationed:.4g} ({r.rationed_share:.2%} of demand)" if r.is_rationed else "no rationing: the market clears"
    return f"at {r.rate * 100:.4f}% (return {r.gross_return:.4f}): demand {r.demand:.4g}, supply {r.supply:.4g}, lent {r.lent:.4g}; {verdict}"


def _number(text: str, field: str, low: float, high: float) -> float:
    try:
        value = float(text)
    except ValueError:
        raise InvalidInput.one(field, f"not a number: {text!r}") from None
    if not low <= value <= high:
        raise InvalidInput.one(field, f"must be between {low:g} and {high:g}, got {text}")
    return value


# -- allocate --------------------------------------------------------------------------------------------


@rationing_app.command("allocate")
def allocate_command(
    applicants: str = typer.Option(
        ...,
        help="CSV (header row) or JSON (a list of objects) of approved applicants: id, requested (yuan), pd, lgd, "
        "annual_rate (fractions), optional capital_per_unit (capital per unit lent, a fraction).",
    ),
    funding_budget: Optional[str] = typer.Option(None, help="Most that may be lent, in yuan."),
    capital_budget: Optional[str] = typer.Option(None, help="Most capital the limits may use, in yuan."),
    funds_rate: str = typer.Option("0.02", help="Cost of funds (FTP), a fraction."),
    cost_rate: str = typer.Option("0.015", help="Operating + acquisition cost per unit lent, a fraction."),
    hurdle: str = typer.Option("0.12", help="Hurdle return on capital, a fraction."),
    capital_per_unit: str = typer.Option(str(STANDARDISED_CAPITAL_PER_UNIT), help="Capital per unit lent for rows without one."),
    unit: str = typer.Option(str(DEFAULT_UNIT_FEN // 100), help="Limits are rounded down to multiples of this many yuan."),
    min_line: Optional[str] = typer.Option(None, help="Each limit is 0 or at least this many yuan (a multiple of the unit)."),
    json_out: bool = JSON_OPTION,
) -> None:
    """Allocate limits that maximise risk-adjusted profit within the funding and capital budgets (HiGHS)."""
    budget = Budget(
        funding_fen=parse_yuan(funding_budget, "funding_budget") if funding_budget is not None else None,
        capital_fen=parse_yuan(capital_budget, "capital_budget") if capital_budget is not None else None,
        unit_fen=parse_yuan(unit, "unit"),
        min_line_fen=parse_yuan(min_line, "min_line") if min_line is not None else None,
    )
    costs = Costs(parse_rate(funds_rate, "funds_rate"), parse_rate(cost_rate, "cost_rate"), parse_rate(hurdle, "hurdle"))
    rows = read_rows(applicants, "applicants")
    result = allocate(applicants_from_rows(rows, "applicants", parse_rate(capital_per_unit, "capital_per_unit")), budget, costs)
    if json_out:
        emit_json(allocation_document(result))
    else:
        stdout.print(allocation_table(result))


def read_rows(path_text: str, field: str) -> list[dict[str, Any]]:
    """Rows of a CSV file with a header, or of a JSON list of objects (or ``{"applicants": [...]}``)."""
    path = Path(path_text)
    text = read_bounded_text(path, field, MAX_APPLICANTS_FILE_BYTES, encoding="utf-8-sig")
    if path.suffix.lower() == ".json":
        try:
            document = json.loads(text)
        except ValueError as exc:
            raise InvalidInput.one(field, f"is not valid JSON: {exc}") from None
        if isinstance(document, dict) and set(document) == {"applicants"}:
            document = document["applicants"]
        if not isinstance(document, list):
            raise InvalidInput.one(field, "a JSON file must hold a list of applicant objects")
        return document
    reader = csv.DictReader(io.StringIO(text))
    if not reader.fieldnames:
        raise InvalidInput.one(field, "the CSV file has no header row")
    rows = []
    for row in reader:
        if None in row:
            raise InvalidInput.one(field, f"row {len(rows) + 1}: more values than header columns")
        rows.append({key.strip(): value for key, value in row.items()})
        if len(rows) > MAX_APPLICANTS:
            raise InvalidInput.one(field, f"at most {MAX_APPLICANTS} applicants")
    return rows


def _share(used: Decimal | int, budget: int | None) -> str | None:
    if budget is None:
        return None
    return str(Decimal(used) / Decimal(budget)) if budget > 0 else "0"


def allocation_document(result: Allocation) -> dict[str, Any]:
    """Per applicant and totals; money as decimal strings of yuan, ratios as fractions at full precision."""
    b = result.budget
    return {
        "applicants": [
            {
                "id": g.id,
                "requested": format_yuan(g.requested_fen),
                "granted": format_yuan(g.granted_fen),
                "rationed": format_yuan(g.rationed_fen),
                "reason": g.reason.value,
                "reasons": [r.value for r in g.reasons],
                "unit_margin": str(g.unit_margin),
                "expected_profit": format_yuan(g.expected_profit_fen),
                "capital": str(capital_in_yuan(g.capital)),
            }
            for g in result.grants
        ],
        "totals": {
            "applicants": len(result.grants),
            "granted_in_full": sum(1 for g in result.grants if g.granted_fen == g.requested_fen),
            "requested": format_yuan(result.requested_fen),
            "granted": format_yuan(result.granted_fen),
            "rationed": format_yuan(result.rationed_fen),
            "declined": format_yuan(result.declined_fen),
            "expected_profit": format_yuan(result.expected_profit_fen),
            "funding_budget": format_yuan(b.funding_fen) if b.funding_fen is not None else None,
            "funding_used": format_yuan(result.granted_fen),
            "funding_use": _share(result.granted_fen, b.funding_fen),
            "capital_budget": format_yuan(b.capital_fen) if b.capital_fen is not None else None,
            "capital_used": str(capital_in_yuan(result.capital_used)),
            "capital_use": _share(result.capital_used, b.capital_fen),
        },
        "solver": result.solver,
        "optimal": result.optimal,
    }


def allocation_table(result: Allocation) -> Table:
    doc = allocation_document(result)
    totals = doc["totals"]
    use = " ".join(
        f"{name} {Decimal(totals[name + '_use']) * 100:.2f}% of {totals[name + '_budget']}"
        for name in ("funding", "capital")
        if totals[name + "_use"] is not None
    )
    table = Table(
        title=f"Limits for {totals['applicants']} applicants ({result.solver})",
        caption=f"granted {totals['granted']} of {totals['requested']}; rationed {totals['rationed']}; declined {totals['declined']}; "
        f"expected profit {totals['expected_profit']}; use: {use}",
    )
    for column in ("id", "requested", "granted", "unit margin", "expected profit", "reasons"):
        table.add_column(column, justify="left" if column in ("id", "reasons") else "right")
    for row in doc["applicants"]:
        table.add_row(row["id"], row["requested"], row["granted"], f"{Decimal(row['unit_margin']):.4%}", row["expected_profit"], ", ".join(row["reasons"]))
    return table

