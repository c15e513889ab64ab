"""``smelend risk decide``: run the risk engine on an application file or on simulated applications."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Optional

import typer

from smelend.cli.common import JSON_OPTION, emit_json, risk_app, stdout
from smelend.errors import InvalidInput
from smelend.money import format_yuan

MAX_SIMULATED = 10_000


def _provider(spec: str, seed: int) -> Any:
    from smelend.risk.providers.files import FileProvider
    from smelend.risk.providers.http import HttpProvider
    from smelend.risk.providers.simulated import SimulatedProvider

    if spec == "simulated":
        return SimulatedProvider(seed=seed)
    if spec.startswith("files:"):
        folder = Path(spec.removeprefix("files:"))
        if not folder.is_dir():
            raise InvalidInput.one("provider", f"no such folder: {folder}")
        return FileProvider(folder)
    if spec.startswith(("http://", "https://")):
        return HttpProvider(spec)
    raise InvalidInput.one("provider", f"must be 'simulated', 'files:DIR' or an http(s) URL, got {spec!r}")


def _applications(application: Optional[Path], simulate: Optional[int], seed: int) -> list[Any]:
    from smelend.risk.schemas import Application, parse

    if (application is None) == (simulate is None):
        raise InvalidInput.one("application", "give either --application FILE or --simulate N")
    if simulate is not None:
        from smelend.risk.providers.simulated import simulate_applications

        if not 1 <= simulate <= MAX_SIMULATED:
            raise InvalidInput.one("simulate", f"must be between 1 and {MAX_SIMULATED}")
        return simulate_applications(simulate, seed)
    assert application is not None
    if not application.is_file():
        raise InvalidInput.one("application", f"no such file: {application}")
    try:
        raw = json.loads(application.read_text(encoding="utf-8"))
    except ValueError as exc:
        raise InvalidInput.one("application", f"not valid JSON: {exc}") from None
    return [parse(Application, raw)]


def summary(decision: Any) -> dict[str, Any]:
    """The decision as the CLI (and later the API) shows it: money as yuan strings, PD at full precision."""
    return {
        "application_id": decision.application_id,
        "outcome": decision.outcome,
        "requested": format_yuan(decision.requested_fen),
        "limit": format_yuan(decision.limit_fen),
        "score": decision.score,
        "pd": decision.pd,
        "grade": decision.grade,
        "group": decision.group,
        "assignment": decision.assignment,
        "annual_rate": None if decision.offer is None else decision.offer["annual_rate"],
        "apr": None if decision.offer is None else {m["method"]: m["apr"] for m in decision.offer["methods"]},
        "reasons": [{"code": r.code, "text": r.text, "source": r.source, "effect": r.effect} for r in decision.reasons],
        "price": decision.price,
        "offer": decision.offer,
        "shadow": None if decision.shadow is None else {"model": decision.shadow.model, "pd": decision.shadow.pd, "grade": decision.shadow.grade},
        "versions": decision.versions,
    }


@risk_app.command("decide")
def decide_command(
    application: Optional[Path] = typer.Option(None, "--application", help="An application as JSON (see docs/risk-data.md)."),
    simulate: Optional[int] = typer.Option(None, "--simulate", help="Decide N simulated applications instead."),
    seed: int = typer.Option(0, "--seed", help="Seed of the simulated applications and provider."),
    provider: str = typer.Option("simulated", "--provider", help="'simulated', 'files:DIR' or an http(s) base URL."),
    strategy: Optional[str] = typer.Option(None, "--strategy", help="A shipped strategy name or a strategy folder (default sme-v1)."),
    as_json: bool = JSON_OPTION,
) -> None:
    """Gather provider data (with the application's consent) and decide: outcome, grade, limit, price, APRs, reasons."""
    from smelend.pricing.pricer import Pricer
    from smelend.products.loader import load_catalogue
    from smelend.risk.decision import decide
    from smelend.risk.providers.base import gather
    from smelend.risk.strategy import load_strategy

    apps = _applications(application, simulate, seed)
    source = _provider(provider, seed)
    loaded = load_strategy(strategy)
    pricer = Pricer.load()
    catalogue = {p.id: p for p in load_catalogue().values()}
    clock = lambda: datetime.now(timezone.utc)  # noqa: E731
    decisions = []
    for app in apps:
        if app.product_id not in catalogue:
            raise InvalidInput.one("product_id", f"no product {app.product_id!r} (known: {', '.join(sorted(catalogue))})")
        decisions.append(decide(app, gather(app, source, clock=clock), loaded, catalogue[app.product_id], pricer))
    shown = [summary(d) for d in decisions]
    if as_json:
        emit_json({"decisions": shown})
        return
    from rich.table import Table

    table = Table(title=f"Decisions — strategy {loaded.name} {loaded.version}")
    for column in ("application", "product", "requested", "outcome", "grade", "PD", "limit", "rate", "reasons"):
        table.add_column(column)
    for app, d in zip(apps, shown, strict=True):
        table.add_row(d["application_id"], app.product_id, d["requested"], d["outcome"], d["grade"], f"{d['pd']:.4f}", d["limit"], d["annual_rate"] or "",
                      ", ".join(r["code"] for r in d["reasons"][:4]))
    stdout.print(table)
