"""`smelend ledger`: the trial balance and the daily reconciliation."""

from __future__ import annotations

import typer
from rich.table import Table

from smelend.cli.common import JSON_OPTION, emit_json, ledger_app, stdout
from smelend.ledger import TrialBalance
from smelend.money import format_yuan
from smelend.operations.context import open_book
from smelend.operations.reconcile import reconcile, trial_balance
from smelend.store import open_store


@ledger_app.command("trial-balance")
def trial_balance_command(json_out: bool = JSON_OPTION) -> None:
    """Every account's balance (debit positive); balanced when they sum to zero and match the postings."""
    kept, recomputed = trial_balance(open_book(open_store()))
    document = {
        "balanced": kept.balanced and kept == recomputed,
        "accounts": {account.value: format_yuan(balance) for account, balance in kept.balances_fen.items()},
    }
    if json_out:
        emit_json(document)
        return
    stdout.print(trial_balance_table(kept, kept == recomputed))


def trial_balance_table(kept: TrialBalance, matches_postings: bool) -> Table:
    table = Table(title=f"ledger trial balance: {'balanced' if kept.balanced and matches_postings else 'NOT BALANCED'}")
    table.add_column("account")
    table.add_column("debit", justify="right")
    table.add_column("credit", justify="right")
    for account, balance in kept.balances_fen.items():
        table.add_row(account.value, format_yuan(balance) if balance > 0 else "", format_yuan(-balance) if balance < 0 else "")
    table.add_row("total", format_yuan(sum(v for v in kept.balances_fen.values() if v > 0)), format_yuan(-sum(v for v in kept.balances_fen.values() if v < 0)), style="bold")
    return table


@ledger_app.command("reconcile")
def reconcile_command(json_out: bool = JSON_OPTION) -> None:
    """Compare the ledger with the loan book, the lines and the bank core's settlements; report differences."""
    differences = [d.as_dict() for d in reconcile(open_book(open_store()))]
    if json_out:
        emit_json({"differences": differences})
        return
    stdout.print(f"{len(differences)} differences")
    for d in differences:
        stdout.print(d)
