"""`smelend demo`: the main job on embedded SQLite."""

from __future__ import annotations

from rich.table import Table

from smelend.cli.common import JSON_OPTION, app, emit_json, stdout
from smelend.cli.schedule import schedule_table
from smelend.money import format_yuan
from smelend.products import load_catalogue
from smelend.servicing.documents import schedule_document
from smelend.store import open_store



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


