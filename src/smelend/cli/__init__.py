"""The ``smelend`` command: a thin adapter over the core.

Conventions for every sub-command: bad input prints one line on stderr naming the option and the
reason, and exits with status 2; with ``--json`` stdout holds exactly one JSON document and
everything else (progress, warnings) goes to stderr; a command that touches the database applies
pending migrations first. Each sub-command group lives in its own module, registered on import.
"""

from __future__ import annotations

import sys

import typer
from typer.exceptions import TyperException

from smelend.cli import admin, book, cob, collections, decide, demo, ledger, marketing, pricing, products, rationing, risk, schedule, serve, servicing, simulate  # noqa: F401  (registers the commands)
from smelend.cli.common import app, fail, option_name
from smelend.errors import InvalidInput


def main(argv: list[str] | None = None) -> None:
    """Run the command; turn every kind of bad input into one line on stderr and status 2."""
    command = typer.main.get_command(app)
    try:
        code = command.main(args=argv, prog_name="smelend", standalone_mode=False)
    except TyperException as exc:  # click's usage errors, as vendored by typer
        sys.stderr.write(f"smelend: error: {exc.format_message()}".replace("\n", " ") + "\n")
        raise SystemExit(exc.exit_code) from None
    except InvalidInput as exc:
        fail("; ".join(f"{option_name(e.field)}: {e.reason}" for e in exc.errors))
    except typer.Abort:
        sys.stderr.write("smelend: aborted\n")
        raise SystemExit(1) from None
    raise SystemExit(code if isinstance(code, int) else 0)


if __name__ == "__main__":
    main()
