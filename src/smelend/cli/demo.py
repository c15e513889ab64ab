"""`smelend demo`: the main job on embedded SQLite, from a sample enterprise to four months of servicing."""

from __future__ import annotations

import os
from datetime import timedelta
from typing import Any

import typer
from rich.progress import Progress
from rich.table import Table
from sqlalchemy.engine import Engine

from smelend import settings
from smelend.cli.common import JSON_OPTION, app, emit_json, stderr, stdout
from smelend.cli.decide import summary
from smelend.cli.ledger import trial_balance_table
from smelend.cli.schedule import schedule_table
from smelend.cli.servicing import line_document, loan_document
from smelend.demo import LAB_FOLDER, LAB_MONTHS, LAB_SEEDS, LAB_SMES, strategy_files
from smelend.money import format_yuan
from smelend.operations.context import open_book
from smelend.operations.reconcile import reconcile, trial_balance
from smelend.products import load_catalogue
from smelend.servicing.delinquency import bucket
from smelend.servicing.documents import schedule_document
from smelend.store import open_store
from smelend.store.lending import get_business_day, get_line, load_loan

DEMO_DATABASE = "demo.db"


def demo_engine() -> tuple[Engine, bool]:
    """SMELEND_DATABASE_URL when set (the demo continues that book); else a fresh SQLite file of its own."""
    if os.environ.get(settings.DATABASE_URL_ENV, "").strip():
        return open_store(), False
    path = settings.data_dir() / DEMO_DATABASE
    for suffix in ("", "-wal", "-shm"):
        path.with_name(path.name + suffix).unlink(missing_ok=True)
    return open_store(f"sqlite:///{path}"), True


@app.command()
def demo(
    lab: bool = typer.Option(True, "--lab/--no-lab", help="Then run the strategy lab: baseline against the optimised strategy."),
    smes: int = typer.Option(LAB_SMES, "--smes", help="Businesses in the strategy lab's simulated market."),
    months: int = typer.Option(LAB_MONTHS, "--months", help="Months the strategy lab simulates."),
    seeds: int = typer.Option(LAB_SEEDS, "--seeds", help="Seeds of the strategy lab."),
    json_out: bool = JSON_OPTION,
) -> None:
    """The main job: risk decisions on simulated applicants, every repayment method with its APR, 120 days of
    servicing; then the strategy lab compares the baseline with the optimised strategy on a simulated market
    (default 20,000 businesses over 24 months) and writes its report."""
    from smelend.cli.simulate import check_sizes, execute, headline, load_strategies, summary_table
    from smelend.errors import Collector

    found = Collector()
    workers = check_sizes(found, smes, months, seeds, None)
    files = strategy_files() if lab else None
    strategies = load_strategies(found, [(files[0], "baseline"), (files[1], "strategy")]) if files else []
    found.raise_if_any()
    document = main_job(json_out)
    lab_doc: dict[str, Any] | None = None
    if lab and not files:
        stderr.print("strategy lab skipped: strategies/baseline.yaml and strategies/optimized.yaml not found")
    elif lab:
        url, _ = demo_engine_url()
        out = settings.data_dir() / LAB_FOLDER
        doc, run_id = execute("compare", strategies, baseline=strategies[0].name, ablation_names=(), smes=smes, months=months, seeds=seeds,
                              shock=True, workers=workers, out=out, database_url=url)
        lab_doc = headline(doc, run_id, out)
        if not json_out:
            stdout.rule(f"4. strategy lab: {strategies[0].name} against {strategies[1].name} on the real engines")
            stdout.print(summary_table(doc))
            stdout.print(f"report: {out / 'report.html'}  metrics: {out / 'metrics.json'}  (run {run_id}, {doc['elapsed_seconds']:.0f} s)")
    if json_out:
        emit_json(document | ({"strategy_lab": lab_doc} if lab_doc is not None else {}))


def demo_engine_url() -> tuple[str, bool]:
    """The database the main job used: SMELEND_DATABASE_URL when set, else the demo's own SQLite file."""
    if os.environ.get(settings.DATABASE_URL_ENV, "").strip():
        return settings.database_url(), False
    return f"sqlite:///{settings.data_dir() / DEMO_DATABASE}", True


def main_job(json_out: bool) -> dict[str, Any]:
    """The main job itself; its JSON document (printed as tables unless ``json_out``)."""
    from smelend import demo as sample
    from smelend.store import add_person, find_person_by_resident_id, get_or_create_enterprise, get_person

    engine, fresh = demo_engine()
    with engine.begin() as conn:
        owner = find_person_by_resident_id(conn, sample.SAMPLE_OWNER["resident_id"])
        owner_id = owner.id if owner else add_person(conn, **sample.SAMPLE_OWNER)
        enterprise, created = get_or_create_enterprise(conn, owner_person_id=owner_id, **sample.SAMPLE_ENTERPRISE)
        person = get_person(conn, owner_id)
        business_date = get_business_day(conn).business_date
    database = engine.url.render_as_string(hide_password=True)
    decided = sample.decide_simulated()
    draws = sample.sample_draws(load_catalogue(), sample.SAMPLE_PRODUCT)
    owner_shown = sample.masked_owner(person.name, person.resident_id, person.mobile)
    book = open_book(engine)
    start = max(sample.SAMPLE_START, business_date or sample.SAMPLE_START)
    with Progress(console=stderr, transient=not stderr.is_terminal) as progress:
        task = progress.add_task("close of business, day by day", total=sample.SERVICING_DAYS)
        run = sample.run_servicing(book, sample.SAMPLE_ENTERPRISE["uscc"], start, lambda done, total: progress.update(task, completed=done))
    with engine.connect() as conn:
        lines = [get_line(conn, line_id) for line_id in run.lines.values()]
        loans = {loan_id: load_loan(conn, loan_id).state for loan_id in run.loans}
    kept, recomputed = trial_balance(book)
    differences = reconcile(book)
    end = start + timedelta(days=sample.SERVICING_DAYS - 1)
    engine.dispose()
    document = {
                "database": database,
                "enterprise": {"id": enterprise.id, **sample.SAMPLE_ENTERPRISE, "owner": owner_shown},
                "decisions": [summary(d) for _, d in decided],
                "draws": [{"product": d.product_id, **schedule_document(d.schedule)} for d in draws],
                "servicing": {
                    "from": start.isoformat(),
                    "through": end.isoformat(),
                    "lines": [line_document(line) for line in lines],
                    "loans": [loan_document(state) | {"behaviour": run.loans[i].behaviour, "bucket": bucket(state.days_past_due, book.policy)} for i, state in loans.items()],
                    "events": run.events,
                },
                "trial_balance": {"balanced": kept.balanced and kept == recomputed, "accounts": {a.value: format_yuan(v) for a, v in kept.balances_fen.items()}},
                "reconciliation": {"differences": [d.as_dict() for d in differences]},
            }
    if json_out:
        return document
    stdout.rule("smelend demo")
    stdout.print(f"database: {database} ({'a fresh demo database' if fresh else 'continuing this book'}; {'created' if created else 'found'} the sample enterprise)")
    stdout.print(
        f"enterprise #{enterprise.id} {sample.SAMPLE_ENTERPRISE['name']}  USCC {sample.SAMPLE_ENTERPRISE['uscc']}\n"
        f"owner {owner_shown['name']}  ID {owner_shown['resident_id']}  mobile {owner_shown['mobile']}  (stored encrypted, shown masked)"
    )
    stdout.rule("1. origination: the risk engine decides simulated applicants")
    stdout.print(decisions_table(decided))
    stdout.rule("2. every repayment method: schedule and APR")
    for draw in draws:
        terms = draw.schedule.terms
        stdout.print(schedule_table(draw.schedule, title=f"{terms.method.value} — {draw.product_id} — {terms.periods} months, {terms.conventions.interest_calc.value} interest"))
    stdout.print(apr_table(draws))
    stdout.rule(f"3. servicing {start} to {end}: draws, repayments, close of business day by day")
    for event in run.events:
        stdout.print(event)
    stdout.print(lines_table(lines))
    stdout.print(loans_table(loans, run, book))
    stdout.print(trial_balance_table(kept, kept == recomputed))
    stdout.print(f"reconciliation (ledger vs loans, lines and bank core): {len(differences)} differences")
    return document


def decisions_table(decided: list[tuple[Any, Any]]) -> Table:
    table = Table(title="Simulated applicants: provider data -> features -> JDM policy rules -> scorecard -> grade -> limit -> price")
    for column in ("application", "product", "requested", "outcome", "grade", "PD", "limit", "rate", "APR (max)", "first reasons"):
        table.add_column(column, justify="right" if column in ("requested", "PD", "limit", "rate", "APR (max)") else "left")
    for application, d in decided:
        rate = f"{float(d.offer['annual_rate']):.2%}" if d.offer else ""
        apr = f"{max(float(m['apr']) for m in d.offer['methods']):.2%}" if d.offer else ""
        table.add_row(d.application_id, application.product_id, format_yuan(d.requested_fen), d.outcome, d.grade, f"{d.pd:.2%}",
                      format_yuan(d.limit_fen), rate, apr, ", ".join(d.reason_codes()[:3]))
    return table


def apr_table(draws: list[Any]) -> Table:
    table = Table(title="The same 100,000 yuan at 7.2% a year, repaid six ways: APR of all borrowing costs (IRR)")
    for column in ("method", "product", "months", "total interest", "total fees", "APR", "effective"):
        table.add_column(column, justify="right" if column not in ("method", "product") else "left")
    for draw in draws:
        s = draw.schedule
        table.add_row(s.terms.method.value, draw.product_id, str(s.terms.periods), format_yuan(s.total_interest_fen), format_yuan(s.total_fee_fen), f"{s.apr * 100:.2f}%", f"{s.effective_annual_rate * 100:.2f}%")
    return table


def lines_table(lines: list[Any]) -> Table:
    table = Table(title="credit lines")
    for column in ("line", "product", "limit", "used", "available", "status"):
        table.add_column(column, justify="right")
    for line in lines:
        table.add_row(str(line.id), line.product_id, format_yuan(line.limit_fen), format_yuan(line.used_fen), format_yuan(line.available_fen), line.status.value)
    return table


def loans_table(loans: dict[int, Any], run: Any, book: Any) -> Table:
    table = Table(title="loans after close of business")
    for column in ("loan", "method", "borrower", "status", "principal", "interest due", "penalty", "days past due", "bucket", "class", "provision"):
        table.add_column(column, justify="right" if column not in ("method", "borrower", "status", "bucket", "class") else "left")
    for loan_id, state in loans.items():
        table.add_row(
            str(loan_id), state.method.value, run.loans[loan_id].behaviour, state.status.value,
            format_yuan(state.principal_outstanding_fen), format_yuan(state.interest_receivable_fen + state.suspended_interest_fen),
            format_yuan(state.penalty_receivable_fen + state.suspended_penalty_fen), str(state.days_past_due),
            bucket(state.days_past_due, book.policy), state.category, format_yuan(state.provision_fen),
        )
    return table
