"""`smelend schedule`: a repayment schedule and its APR."""

from __future__ import annotations

from dataclasses import replace
from datetime import date
from typing import Any, Optional

import typer
from rich.table import Table

from smelend.cli.common import JSON_OPTION, app, emit_json, parse_date, stdout
from smelend.errors import InvalidInput
from smelend.money import Rounding, RoundingMode, format_yuan, parse_rate, parse_yuan
from smelend.products import load_catalogue
from smelend.servicing import Conventions, DaysInMonth, DaysInYear, Frequency, InterestCalc, LoanTerms, Method, Schedule, build_schedule
from smelend.servicing.documents import schedule_document



@app.command()
def schedule(
    principal: str = typer.Option(..., help="Amount drawn, in yuan (e.g. 100000 or 100000.50)."),
    annual_rate: str = typer.Option(..., help="Nominal annual rate as a fraction: 0.072 for 7.2%."),
    periods: int = typer.Option(..., help="Number of repayment periods."),
    method: Method = typer.Option(Method.EQUAL_INSTALLMENT, help="Repayment method."),
    start: Optional[str] = typer.Option(None, help="Disbursement date, YYYY-MM-DD (default: today)."),
    product: Optional[str] = typer.Option(None, help="Take the conventions from this product; flags override."),
    interest_calc: Optional[InterestCalc] = typer.Option(None, help="period: rate / periods per year; daily: rate x days / days in year."),
    days_in_year: Optional[DaysInYear] = typer.Option(None, help="Days in year for daily interest."),
    days_in_month: Optional[DaysInMonth] = typer.Option(None, help="30 treats every month as 30 days (30/360)."),
    frequency: Optional[str] = typer.Option(None, help="monthly, weekly, biweekly or days:N."),
    rounding: Optional[RoundingMode] = typer.Option(None, help="Rounding mode for every amount."),
    decimals: Optional[int] = typer.Option(None, help="Currency decimals amounts are rounded to: 0, 1 or 2."),
    amount_multiple: Optional[int] = typer.Option(None, help="Round principal and interest to multiples of M (in units of the decimals)."),
    installment_multiple: Optional[str] = typer.Option(None, help="Round the equal installment to multiples of this many yuan."),
    grace_principal: Optional[int] = typer.Option(None, help="The first N periods pay interest only."),
    monthly_fee_rate: Optional[str] = typer.Option(None, help="Fee per installment as a fraction of the original principal."),
    json_out: bool = JSON_OPTION,
) -> None:
    """Compute a repayment schedule and its APR (the IRR of all borrowing costs)."""
    base = _product_conventions(product, method)
    conventions = _override_conventions(
        base,
        interest_calc=interest_calc,
        days_in_year=days_in_year,
        days_in_month=days_in_month,
        frequency=frequency,
        rounding=rounding,
        decimals=decimals,
        amount_multiple=amount_multiple,
        installment_multiple=installment_multiple,
        grace_principal=grace_principal,
        monthly_fee_rate=monthly_fee_rate,
        method=method,
    )
    terms = LoanTerms(
        principal_fen=parse_yuan(principal, "principal"),
        annual_rate=parse_rate(annual_rate, "annual_rate"),
        periods=periods,
        method=method,
        start=parse_date(start, "start") if start else date.today(),
        conventions=conventions,
    )
    result = build_schedule(terms)
    if json_out:
        emit_json(schedule_document(result))
    else:
        stdout.print(schedule_table(result))


def _product_conventions(product_id: str | None, method: Method) -> Conventions:
    if product_id is None:
        return Conventions()
    return load_catalogue().get_or_error(product_id).conventions_for(method)


def _override_conventions(base: Conventions, *, method: Method, **flags: Any) -> Conventions:
    """The base conventions with every flag that was given put over them."""
    changes: dict[str, Any] = {}
    for name in ("interest_calc", "days_in_year", "days_in_month", "grace_principal"):
        if flags[name] is not None:
            changes[name] = flags[name]
    if method is Method.REVOLVING and flags["interest_calc"] is None:
        changes["interest_calc"] = InterestCalc.DAILY
    if flags["frequency"] is not None:
        changes["frequency"] = Frequency.parse(flags["frequency"])
    if flags["decimals"] is not None and flags["decimals"] not in (0, 1, 2):
        raise InvalidInput.one("decimals", f"must be 0, 1 or 2, got {flags['decimals']}")
    if flags["amount_multiple"] is not None and not 1 <= flags["amount_multiple"] <= 1_000_000:
        raise InvalidInput.one("amount_multiple", "must be between 1 and 1000000")
    rounding = base.rounding
    changes["rounding"] = Rounding(
        flags["rounding"] or rounding.mode,
        rounding.decimals if flags["decimals"] is None else flags["decimals"],
        flags["amount_multiple"] or rounding.multiple,
    )
    if flags["installment_multiple"] is not None:
        multiple_fen = parse_yuan(flags["installment_multiple"], "installment_multiple")
        if multiple_fen <= 0:
            raise InvalidInput.one("installment_multiple", "must be greater than zero")
        changes["installment_multiple_fen"] = multiple_fen
    if flags["monthly_fee_rate"] is not None:
        changes["monthly_fee_rate"] = parse_rate(flags["monthly_fee_rate"], "monthly_fee_rate")
    return replace(base, **changes)


def schedule_table(result: Schedule, title: str | None = None) -> Table:
    terms = result.terms
    decimals = terms.conventions.rounding.decimals
    money = lambda fen: format_yuan(fen, decimals)  # noqa: E731
    table = Table(
        title=title or f"{terms.method.value}: {money(terms.principal_fen)} at {terms.annual_rate * 100}% over {terms.periods} periods",
        caption=f"APR {result.apr * 100:.4f}%  effective {result.effective_annual_rate * 100:.4f}%  "
        f"total interest {money(result.total_interest_fen)}  total fees {money(result.total_fee_fen)}",
    )
    for column in ("#", "due date", "principal", "interest", "fee", "payment", "balance"):
        table.add_column(column, justify="right")
    for i in result.installments:
        table.add_row(str(i.number), i.due_date.isoformat(), money(i.principal_fen), money(i.interest_fen), money(i.fee_fen), money(i.payment_fen), money(i.balance_fen))
    table.add_row("", "total", money(result.total_principal_fen), money(result.total_interest_fen), money(result.total_fee_fen), money(result.total_payment_fen), "", style="bold")
    return table


