"""`smelend book generate`: a synthetic book for tests, benchmarks and trials (issue 7)."""

from __future__ import annotations

import time
from datetime import date

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from smelend.cli.common import JSON_OPTION, app, emit_json, parse_date, stderr, stdout
from smelend.errors import InvalidInput
from smelend.operations.context import open_book
from smelend.operations.reconcile import trial_balance
from smelend.store import open_store

book_app = typer.Typer(help="Synthetic books: generate lines, loans and repayment histories for tests and trials.", no_args_is_help=True)
app.add_typer(book_app, name="book")


@book_app.command("generate")
def generate(
    accounts: int = typer.Option(..., "--accounts", help="Credit lines to generate (1 to 10 million: smelend.store.book_generator.MAX_ACCOUNTS)."),
    seed: int = typer.Option(0, "--seed", help="Seed: the same seed, size and date give the same book."),
    as_of: str = typer.Option(None, "--as-of", help="Business date the book stands at, YYYY-MM-DD (default: today)."),
    json_out: bool = JSON_OPTION,
) -> None:
    """Fill the database with enterprises, credit lines and loans across every product, repayment method and
    delinquency state, with repayment histories drawn from a latent behaviour per account, and set the
    business date to --as-of (the day before is closed)."""
    from smelend.store.book_generator import MAX_ACCOUNTS, generate_book  # polars: loaded by this command only

    if not 1 <= accounts <= MAX_ACCOUNTS:
        raise InvalidInput.one("accounts", f"must be between 1 and {MAX_ACCOUNTS:,}, got {accounts}")
    if not 0 <= seed < 2**32:
        raise InvalidInput.one("seed", f"must be between 0 and {2**32 - 1}, got {seed}")
    day = parse_date(as_of, "as_of") if as_of is not None else date.today()
    the_book = open_book(open_store())
    began = time.perf_counter()
    columns = (TextColumn("generating accounts"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=stderr, transient=True) as progress:
        task = progress.add_task("generate", total=accounts)
        result = generate_book(the_book.engine, accounts, seed, day, the_book.catalogue, the_book.policy, lambda done: progress.update(task, completed=done))
    seconds = time.perf_counter() - began
    kept, recomputed = trial_balance(the_book)
    document = {
        "accounts": result.accounts,
        "loans": result.loans,
        "installments": result.installments,
        "repayments": result.repayments,
        "enterprise_events": result.events,
        "journal_entries": result.journal_entries,
        "business_date": result.as_of.isoformat(),
        "lines": {"first_id": result.first_line_id, "last_id": result.last_line_id},
        "seed": seed,
        "ledger_balanced": kept.balanced and kept == recomputed,
        "seconds": seconds,
    }
    if json_out:
        emit_json(document)
        return
    stdout.print(
        f"generated {result.accounts:,} lines, {result.loans:,} loans, {result.installments:,} installments, "
        f"{result.repayments:,} repayments, {result.events:,} enterprise events in {seconds:.1f} s; "
        f"business date {result.as_of}; ledger {'balanced' if document['ledger_balanced'] else 'NOT BALANCED'}"
    )
