"""What every sub-command shares: the Typer apps, consoles, JSON output, date parsing."""

from __future__ import annotations

import json
import sys
from datetime import date
from typing import Any, NoReturn

import typer
from rich.console import Console

from smelend.errors import InvalidInput

app = typer.Typer(
    name="smelend",
    help="Internet business loans for small and micro enterprises: products, schedules, servicing.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
products_app = typer.Typer(help="The product family: list products, show one product's settings.", no_args_is_help=True)
app.add_typer(products_app, name="products")
db_app = typer.Typer(help="The database: apply migrations.", no_args_is_help=True)
app.add_typer(db_app, name="db")
pii_app = typer.Typer(help="Encrypted personal data: rotate the encryption key.", no_args_is_help=True)
app.add_typer(pii_app, name="pii")
lines_app = typer.Typer(help="Credit lines: open, show, freeze, unfreeze.", no_args_is_help=True)
app.add_typer(lines_app, name="lines")
loans_app = typer.Typer(help="Loans (draws): show, write off, refund a credit balance, set a classification flag.", no_args_is_help=True)
app.add_typer(loans_app, name="loans")
ledger_app = typer.Typer(help="The double-entry ledger: trial balance and reconciliation.", no_args_is_help=True)
app.add_typer(ledger_app, name="ledger")
risk_app = typer.Typer(help="The risk engine: benchmark, train, score and validate models; decide an application.", no_args_is_help=True)
app.add_typer(risk_app, name="risk")
pricing_app = typer.Typer(help="Risk-based pricing: break-even rate, capital, profit-optimal rate, pricing grids.", no_args_is_help=True)
app.add_typer(pricing_app, name="pricing")
rationing_app = typer.Typer(help="Credit rationing: the Stiglitz-Weiss return curve; limits under a budget.", no_args_is_help=True)
app.add_typer(rationing_app, name="rationing")
admin_app = typer.Typer(help="Who may call the service: create API users (tokens) and partners (signing keys).", no_args_is_help=True)
app.add_typer(admin_app, name="admin")

WIDTH_WHEN_PIPED = 160  # Rich assumes 80 columns off a terminal, which cuts schedule tables


def _console(**kwargs: Any) -> Console:
    console = Console(**kwargs)
    return console if console.is_terminal else Console(width=WIDTH_WHEN_PIPED, **kwargs)


stdout = _console()
stderr = _console(stderr=True)

JSON_OPTION = typer.Option(False, "--json", help="Print exactly one JSON document on stdout.")


def emit_json(document: Any) -> None:
    sys.stdout.write(json.dumps(document, ensure_ascii=False, indent=2) + "\n")


def option_name(field: str) -> str:
    """A core field name as the CLI option that carries it (``annual_rate`` -> ``--annual-rate``)."""
    if "." in field or ":" in field or "/" in field or field.isupper():  # a nested field, a file, an environment variable
        return field
    return "--" + field.replace("_", "-")


def fail(message: str) -> NoReturn:
    sys.stderr.write(f"smelend: error: {message}\n")
    raise SystemExit(2)


def parse_date(text: str, field: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise InvalidInput.one(field, f"not a date in the form YYYY-MM-DD: {text!r}") from None


