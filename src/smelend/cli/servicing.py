"""`smelend lines`, `draw`, `repay`, `payoff` and `loans`: servicing the book from the command line (`cob` is in cli/cob.py)."""

from __future__ import annotations

from datetime import date
from typing import Any, Optional

import typer
from rich.progress import Progress
from rich.table import Table

from smelend.cli.common import JSON_OPTION, app, emit_json, lines_app, loans_app, parse_date, stderr, stdout
from smelend.errors import InvalidInput
from smelend.ledger.rules import Receipt
from smelend.money import format_yuan, parse_rate, parse_yuan
from smelend.operations import cob as cob_ops
from smelend.operations import lines as line_ops
from smelend.operations import repayments as repayment_ops
from smelend.operations.context import Book, open_book
from smelend.operations.reconcile import trial_balance
from smelend.servicing.conventions import Method
from smelend.servicing.credit_line import CreditLine
from smelend.servicing.documents import installment_document
from smelend.servicing.loan import LoanState
from smelend.servicing.schedule import Installment
from smelend.store import open_store


def book() -> Book:
    return open_book(open_store())


def line_document(line: CreditLine) -> dict[str, Any]:
    return {
        "id": line.id,
        "enterprise_id": line.enterprise_id,
        "product": line.product_id,
        "limit": format_yuan(line.limit_fen),
        "used": format_yuan(line.used_fen),
        "available": format_yuan(line.available_fen),
        "annual_rate": str(line.annual_rate),
        "start": line.start.isoformat(),
        "end": line.end.isoformat(),
        "status": line.status.value,
    }


def loan_document(state: LoanState) -> dict[str, Any]:
    decimals = state.terms.conventions.rounding.decimals
    return {
        "id": state.id,
        "line": state.line_id,
        "status": state.status.value,
        "method": state.method.value,
        "principal": format_yuan(state.terms.principal_fen),
        "principal_outstanding": format_yuan(state.principal_outstanding_fen),
        "interest_receivable": format_yuan(state.interest_receivable_fen + state.suspended_interest_fen),
        "penalty_receivable": format_yuan(state.penalty_receivable_fen + state.suspended_penalty_fen),
        "days_past_due": state.days_past_due,
        "classification": state.category,
        "flags": sorted(state.flags),
        "non_accrual": state.non_accrual,
        "provision": format_yuan(state.provision_fen),
        "credit_balance": format_yuan(state.credit_balance_fen),
        "closed_through": state.closed_through.isoformat() if state.closed_through else None,
        "schedule": [
            installment_document(Installment(i.number, i.due_date, i.principal_fen, i.interest_fen, i.fee_fen, i.principal_fen + i.interest_fen + i.fee_fen, 0), decimals)
            | {"balance": format_yuan(sum(r.principal_fen for r in state.installments[k + 1 :]), decimals), "paid": format_yuan(i.paid_principal_fen + i.paid_interest_fen + i.paid_fee_fen, decimals)}
            for k, i in enumerate(state.installments)
        ],
    }


def print_line(line: CreditLine) -> None:
    table = Table(title=f"credit line {line.id}", show_header=False)
    for key, value in line_document(line).items():
        table.add_row(key, str(value))
    stdout.print(table)


@lines_app.command("open")
def lines_open(
    uscc: str = typer.Option(..., help="The enterprise's unified social credit code (registered if new)."),
    product: str = typer.Option(..., help="Product id, as `products list` shows it."),
    limit: str = typer.Option(..., help="Credit limit in yuan."),
    annual_rate: str = typer.Option(..., help="Annual rate for draws on the line, as a fraction (0.072)."),
    start: str = typer.Option(..., help="First day of the line, YYYY-MM-DD."),
    end: Optional[str] = typer.Option(None, help="Last day a draw may be made (default: start + 12 months)."),
    name: Optional[str] = typer.Option(None, help="Enterprise name, when it is new."),
    json_out: bool = JSON_OPTION,
) -> None:
    """Open a credit line for an enterprise (the operator's path, without a decision)."""
    limit_fen = parse_yuan(limit, "limit")
    rate = parse_rate(annual_rate, "annual_rate")
    start_day = parse_date(start, "start")
    end_day = parse_date(end, "end") if end else None
    line = line_ops.open_line(book(), uscc, product, limit_fen, rate, start_day, end_day, name)
    emit_json(line_document(line)) if json_out else print_line(line)


@lines_app.command("show")
def lines_show(line_id: int = typer.Argument(..., help="Line id."), json_out: bool = JSON_OPTION) -> None:
    """Show a credit line: limit, used, available, validity, status."""
    line = line_ops.show_line(book(), line_id)
    emit_json(line_document(line)) if json_out else print_line(line)


@lines_app.command("freeze")
def lines_freeze(line_id: int = typer.Argument(..., help="Line id."), json_out: bool = JSON_OPTION) -> None:
    """Freeze a line: no new draws until it is unfrozen."""
    line = line_ops.freeze(book(), line_id, True)
    emit_json(line_document(line)) if json_out else print_line(line)


@lines_app.command("unfreeze")
def lines_unfreeze(line_id: int = typer.Argument(..., help="Line id."), json_out: bool = JSON_OPTION) -> None:
    """Unfreeze a frozen line."""
    line = line_ops.freeze(book(), line_id, False)
    emit_json(line_document(line)) if json_out else print_line(line)


@app.command()
def draw(
    line: int = typer.Option(..., help="Line id to draw on."),
    amount: str = typer.Option(..., help="Amount in yuan."),
    method: Method = typer.Option(..., help="Repayment method the product allows."),
    term: int = typer.Option(..., help="Number of periods."),
    date_: str = typer.Option(..., "--date", help="Disbursement date, YYYY-MM-DD."),
    auto_debit: bool = typer.Option(False, "--auto-debit", help="Collect installments by auto-debit on their due dates."),
    json_out: bool = JSON_OPTION,
) -> None:
    """Draw on a credit line: disbursed through the bank core, active once confirmed."""
    request = line_ops.DrawRequest(line, parse_yuan(amount, "amount"), method, term, parse_date(date_, "date"), auto_debit)
    try:
        state = line_ops.draw(book(), request)
    except line_ops.DisbursementFailed as failure:
        stderr.print(f"smelend: {failure}")
        raise SystemExit(1) from None
    document = loan_document(state)
    if json_out:
        schedule = [{k: v for k, v in row.items() if k != "paid"} for row in document["schedule"]]
        emit_json({"id": state.id, "status": state.status.value, "schedule": schedule})
    else:
        print_loan(state)


@app.command()
def repay(
    loan: int = typer.Option(..., help="Loan id."),
    amount: str = typer.Option(..., help="Amount paid in, in yuan."),
    date_: str = typer.Option(..., "--date", help="Date the money was received, YYYY-MM-DD."),
    json_out: bool = JSON_OPTION,
) -> None:
    """Apply money paid in: penalty, interest and principal in the allocation order; any excess is held."""
    state, applied = repayment_ops.repay(book(), loan, parse_yuan(amount, "amount"), parse_date(date_, "date"))
    document = {
        "allocation": allocation_document(applied),
        "loan": {
            "principal_outstanding": format_yuan(state.principal_outstanding_fen),
            "days_past_due": state.days_past_due,
            "classification": state.category,
            "status": state.status.value,
        },
    }
    if json_out:
        emit_json(document)
    else:
        stdout.print(document)


def allocation_document(applied: Receipt) -> dict[str, str]:
    return {
        "penalty": format_yuan(applied.penalty_fen + applied.suspended_penalty_fen),
        "interest": format_yuan(applied.interest_fen + applied.suspended_interest_fen),
        "fee": format_yuan(applied.fee_fen),
        "principal": format_yuan(applied.principal_fen),
        "credit_balance": format_yuan(applied.credit_balance_fen),
        "recovery": format_yuan(applied.recovery_fen),
    }


@app.command()
def payoff(
    loan: int = typer.Option(..., help="Loan id."),
    date_: str = typer.Option(..., "--date", help="Payoff date, YYYY-MM-DD."),
    json_out: bool = JSON_OPTION,
) -> None:
    """Quote the amount that pays the loan off on a date (changes nothing)."""
    quote = repayment_ops.quote(book(), loan, parse_date(date_, "date"))
    document = {
        "date": quote.as_of.isoformat(),
        "total": format_yuan(quote.total_fen),
        "principal": format_yuan(quote.principal_fen),
        "interest": format_yuan(quote.interest_fen),
        "penalty": format_yuan(quote.penalty_fen),
        "fee": format_yuan(quote.fee_fen),
    }
    emit_json(document) if json_out else stdout.print(document)


@loans_app.command("show")
def loans_show(loan_id: int = typer.Argument(..., help="Loan id."), json_out: bool = JSON_OPTION) -> None:
    """Show a loan: balances, days past due, classification and its installments."""
    from smelend.store.lending import load_loan

    with book().engine.connect() as conn:
        state = load_loan(conn, loan_id).state
    emit_json(loan_document(state)) if json_out else print_loan(state)


@loans_app.command("write-off")
def loans_write_off(
    loan_id: int = typer.Argument(..., help="Loan id."),
    date_: str = typer.Option(..., "--date", help="Write-off date, YYYY-MM-DD."),
    json_out: bool = JSON_OPTION,
) -> None:
    """Write a loan off against its provisions; it is still pursued, and recoveries are income."""
    state = repayment_ops.write_off(book(), loan_id, parse_date(date_, "date"))
    emit_json(loan_document(state)) if json_out else print_loan(state)


def print_loan(state: LoanState) -> None:
    document = loan_document(state)
    table = Table(title=f"loan {state.id}: {document['method']} {document['principal']} — {document['status']}, {document['days_past_due']} days past due, {document['classification']}")
    for column in ("#", "due date", "principal", "interest", "fee", "paid", "balance after"):
        table.add_column(column, justify="right")
    for row in document["schedule"]:
        table.add_row(str(row["number"]), row["due_date"], row["principal"], row["interest"], row["fee"], row["paid"], row["balance"])
    stdout.print(table)


@loans_app.command("refund")
def loans_refund(
    loan_id: int = typer.Argument(..., help="Loan id."),
    date_: str = typer.Option(..., "--date", help="Refund date, YYYY-MM-DD."),
    json_out: bool = JSON_OPTION,
) -> None:
    """Pay a loan's credit balance (an overpayment) back to the borrower."""
    state, amount = repayment_ops.refund(book(), loan_id, parse_date(date_, "date"))
    document = {"refunded": format_yuan(amount), "loan": loan_document(state)}
    emit_json(document) if json_out else stdout.print(f"refunded {document['refunded']} to the borrower of loan {loan_id}")


@loans_app.command("flag")
def loans_flag(
    loan_id: int = typer.Argument(..., help="Loan id."),
    flag: str = typer.Argument(..., help="restructured, fraud, bankruptcy, deceased or court_judgement (see delinquency.yaml)."),
    clear: bool = typer.Option(False, "--clear", help="Remove the flag instead of setting it."),
    json_out: bool = JSON_OPTION,
) -> None:
    """Set or clear a flag that puts a floor under the loan's classification (applied at the next close of business)."""
    state = repayment_ops.set_flag(book(), loan_id, flag, not clear)
    emit_json(loan_document(state)) if json_out else print_loan(state)
