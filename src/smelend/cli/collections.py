"""`smelend collections`: what collections decide for a business date, and rescheduling a late loan (issue 7)."""

from __future__ import annotations

from collections import Counter

import typer

from smelend.cli.common import JSON_OPTION, app, emit_json, parse_date, stdout
from smelend.errors import InvalidInput
from smelend.money import format_yuan
from smelend.servicing import delinquency
from smelend.store import open_store
from smelend.store.lending import get_business_day

collections_app = typer.Typer(help="Collections by bucket: reminders, dunning, extension and restructuring.", no_args_is_help=True)
app.add_typer(collections_app, name="collections")
KINDS = ("extension", "restructuring")


@collections_app.command("actions")
def actions_command(
    date_: str = typer.Option(None, "--date", help="Business date, YYYY-MM-DD (default: the open business date)."),
    json_out: bool = JSON_OPTION,
) -> None:
    """The reminders, dunning steps and offers the rules (lines/collections.yaml) give for a date; writes nothing."""
    day = parse_date(date_, "date") if date_ is not None else None
    from smelend.lines.collections import collection_actions, load_rules  # polars: loaded by this command only
    from smelend.store.collections import collections_frame

    rules = load_rules()
    engine = open_store()
    with engine.connect() as conn:
        day = day or get_business_day(conn).business_date
        actions = collection_actions(collections_frame(conn, day), day, rules)
    counts = Counter(actions["step"].to_list())
    document = {
        "date": day.isoformat(),
        "actions": actions.height,
        "by_step": dict(sorted(counts.items())),
        "items": [
            {"loan": r["loan_id"], "line": r["line_id"], "kind": r["kind"], "step": r["step"], "channel": r["channel"],
             "amount_due": format_yuan(r["amount_due_fen"]), "days_past_due": r["days_past_due"]}
            for r in actions.to_dicts()
        ],
    }
    if json_out:
        emit_json(document)
        return
    stdout.print(f"{day}: {actions.height} actions")
    for step, count in sorted(counts.items()):
        stdout.print(f"  {step}: {count}")


@collections_app.command("restructure")
def restructure_command(
    loan: int = typer.Option(..., "--loan", help="The late loan to reschedule."),
    kind: str = typer.Option(..., "--kind", help="extension or restructuring (rules in lines/collections.yaml)."),
    grade: str = typer.Option(None, "--grade", help="Behaviour grade to judge eligibility by (default: the line's latest stored grade)."),
    date_: str = typer.Option(None, "--date", help="Business date, YYYY-MM-DD (default: the open business date)."),
    json_out: bool = JSON_OPTION,
) -> None:
    """Give a late loan a new schedule for what it owes (same principal; flagged restructured: at least substandard)."""
    if kind not in KINDS:
        raise InvalidInput.one("kind", f"must be one of {', '.join(KINDS)}, got {kind!r}")
    if loan < 1:
        raise InvalidInput.one("loan", f"must be a loan id (a positive integer), got {loan}")
    day = parse_date(date_, "date") if date_ is not None else None
    engine = open_store()
    if day is None:
        with engine.connect() as conn:
            day = get_business_day(conn).business_date
    from smelend.lines.collections import RESTRUCTURED_FLAG
    from smelend.store.collections import apply_restructuring

    record = apply_restructuring(engine, loan, day, kind, grade)
    document = {
        "loan": record.loan_id, "date": record.business_date.isoformat(), "kind": record.kind, "old_term": record.old_term,
        "new_term": record.new_term, "method": record.new_method.value, "principal": format_yuan(record.principal_fen),
        "days_past_due": record.days_past_due, "behaviour_grade": record.behaviour_grade, "rule": record.rule,
        "classification_floor": delinquency.load_policy().classification.flag_floors[RESTRUCTURED_FLAG].value,
    }
    emit_json(document) if json_out else stdout.print(document)
