"""The ``smelend`` command: a thin adapter over the core.

Conventions for every sub-command: bad input prints one line on stderr naming the option and the
reason, and exits with status 2; with ``--json`` stdout holds exactly one JSON document and
everything else (progress, warnings) goes to stderr; a command that touches the database applies
pending migrations first.
"""

from __future__ import annotations

import json
import sys
from dataclasses import replace
from datetime import date
from decimal import Decimal
from typing import Any, NoReturn, Optional

import typer
from typer.exceptions import TyperException
from rich.console import Console
from rich.table import Table

from smelend.errors import InvalidInput
from smelend.money import RoundingMode, Rounding, format_yuan, parse_rate, parse_yuan
from smelend.products import Product, load_catalogue
from smelend.servicing import Conventions, DaysInMonth, DaysInYear, Frequency, InterestCalc, LoanTerms, Method, Schedule, build_schedule
from smelend.servicing.documents import schedule_document
from smelend.store import open_store

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

WIDTH_WHEN_PIPED = 140  # Rich assumes 80 columns off a terminal, which cuts schedule tables


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
    if "." in field or ":" in field or "/" in field:
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


# --- schedule -----------------------------------------------------------------------------------


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


# --- products -----------------------------------------------------------------------------------


def product_summary(product: Product) -> dict[str, Any]:
    return {
        "id": product.id,
        "name": product.name,
        "repayment_methods": {m.value: [t.min_term, t.max_term] for m, t in product.repayment_methods.items()},
        "interest_calc": product.conventions.interest_calc.value,
        "penalty_rate_multiplier": str(product.penalty.rate_multiplier),
    }


@products_app.command("list")
def products_list(json_out: bool = JSON_OPTION) -> None:
    """List the products in the catalogue."""
    catalogue = load_catalogue()
    if json_out:
        emit_json([product_summary(p) for p in catalogue.values()])
        return
    table = Table(title="Products")
    for column in ("id", "name", "repayment methods (terms)", "interest", "penalty x rate"):
        table.add_column(column)
    for p in catalogue.values():
        methods = ", ".join(f"{m.value} {t.min_term}-{t.max_term}" for m, t in p.repayment_methods.items())
        table.add_row(p.id, p.name, methods, f"{p.conventions.interest_calc.value}/{p.conventions.days_in_year.value}", str(p.penalty.rate_multiplier))
    stdout.print(table)


@products_app.command("show")
def products_show(name: str = typer.Argument(..., help="Product id, as `products list` shows it."), json_out: bool = JSON_OPTION) -> None:
    """Show every setting of one product."""
    product = load_catalogue().get_or_error(name, "name")
    document = product.model_dump(mode="json")
    if json_out:
        emit_json(document)
        return
    table = Table(title=product.name, show_header=False)
    table.add_column("setting")
    table.add_column("value")
    for key, value in _flatten(document):
        table.add_row(key, value)
    stdout.print(table)


def _flatten(document: dict[str, Any], prefix: str = "") -> list[tuple[str, str]]:
    rows: list[tuple[str, str]] = []
    for key, value in document.items():
        if isinstance(value, dict):
            rows.extend(_flatten(value, f"{prefix}{key}."))
        else:
            rows.append((f"{prefix}{key}", "" if value is None else str(value)))
    return rows


# --- database and PII ---------------------------------------------------------------------------


@db_app.command("upgrade")
def db_upgrade(json_out: bool = JSON_OPTION) -> None:
    """Apply pending migrations to the database named by SMELEND_DATABASE_URL (SQLite by default)."""
    engine = open_store()
    document = {"database": engine.url.render_as_string(hide_password=True), "upgraded": True}
    engine.dispose()
    if json_out:
        emit_json(document)
    else:
        stderr.print(f"database {document['database']} is up to date")


@pii_app.command("rotate-key")
def pii_rotate_key(
    reencrypt_rows: bool = typer.Option(False, "--reencrypt", help="Also rewrite every stored row with the new key."),
    json_out: bool = JSON_OPTION,
) -> None:
    """Add a new PII key to the key file and make it active; old keys stay for reading old rows."""
    from smelend.store import configure, load_keyring, reencrypt, rotate_key

    open_store().dispose()  # makes sure a key file and the schema exist
    key_id = rotate_key()
    configure(load_keyring())
    rows = 0
    if reencrypt_rows:
        engine = open_store()
        rows = reencrypt(engine)
        engine.dispose()
    document = {"active_key_id": key_id, "reencrypted_rows": rows}
    if json_out:
        emit_json(document)
    else:
        stderr.print(f"active PII key is now {key_id}; re-encrypted {rows} rows")


# --- demo ---------------------------------------------------------------------------------------


@app.command()
def demo(json_out: bool = JSON_OPTION) -> None:
    """The main job on embedded SQLite: a sample enterprise, and the schedule and APR of every repayment method."""
    from smelend import demo as sample
    from smelend.store import get_or_create_enterprise, add_person, find_person_by_resident_id, get_person

    engine = open_store()
    with engine.begin() as conn:
        owner = find_person_by_resident_id(conn, sample.SAMPLE_OWNER["resident_id"])
        owner_id = owner.id if owner else add_person(conn, **sample.SAMPLE_OWNER)
        enterprise_id, created = get_or_create_enterprise(conn, owner_person_id=owner_id, **sample.SAMPLE_ENTERPRISE)
        person = get_person(conn, owner_id)
    database = engine.url.render_as_string(hide_password=True)
    engine.dispose()
    draws = sample.sample_draws(load_catalogue(), sample.SAMPLE_PRODUCT)
    owner_shown = sample.masked_owner(person.name, person.resident_id, person.mobile)
    if json_out:
        emit_json(
            {
                "database": database,
                "enterprise": {"id": enterprise_id, **sample.SAMPLE_ENTERPRISE, "owner": owner_shown},
                "draws": [{"product": d.product_id, **schedule_document(d.schedule)} for d in draws],
            }
        )
        return
    stdout.rule("smelend demo")
    stdout.print(f"database: {database} ({'created' if created else 'found'} the sample enterprise)")
    stdout.print(
        f"enterprise #{enterprise_id} {sample.SAMPLE_ENTERPRISE['name']}  USCC {sample.SAMPLE_ENTERPRISE['uscc']}\n"
        f"owner {owner_shown['name']}  ID {owner_shown['resident_id']}  mobile {owner_shown['mobile']}  (stored encrypted, shown masked)"
    )
    for draw in draws:
        terms = draw.schedule.terms
        stdout.print(schedule_table(draw.schedule, title=f"{terms.method.value} — {draw.product_id} — {terms.periods} months, {terms.conventions.interest_calc.value} interest"))
    summary = Table(title="The same 100,000 yuan at 7.2% a year, repaid six ways: APR of all borrowing costs (IRR)")
    for column in ("method", "product", "months", "total interest", "total fees", "APR", "effective"):
        summary.add_column(column, justify="right" if column not in ("method", "product") else "left")
    for draw in draws:
        s = draw.schedule
        summary.add_row(
            s.terms.method.value, draw.product_id, str(s.terms.periods), format_yuan(s.total_interest_fen), format_yuan(s.total_fee_fen),
            f"{s.apr * 100:.2f}%", f"{s.effective_annual_rate * 100:.2f}%",
        )
    stdout.print(summary)


# --- entry point --------------------------------------------------------------------------------


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
