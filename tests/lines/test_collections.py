"""Collections: reminders, dunning and offers decided from data; a restructured schedule keeps principal,
receivables and ledger and floors the classification; stored atomically; actions written once per run."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

import polars as pl
import pytest
from hypothesis import given, settings, strategies as st
from sqlalchemy import func, select

from smelend.errors import InvalidInput
from smelend.lines.collections import ACTIONS_SCHEMA, COLLECTIONS_INPUT, RESTRUCTURED_FLAG, collection_actions, load_rules, restructured_state
from smelend.operations.cob import close_business
from smelend.operations.context import open_book
from smelend.operations.lines import DrawRequest, draw, open_line
from smelend.operations.reconcile import reconcile, trial_balance
from smelend.servicing import accrual, delinquency, lifecycle
from smelend.servicing.conventions import Method
from smelend.servicing.loan import LoanTermsOnFile, new_loan
from smelend.servicing.schedule import LoanTerms
from smelend.store import open_store
from smelend.store.collections import apply_restructuring, collections_frame, write_collection_actions
from smelend.store.lending import load_loan
from smelend.store.tables import collection_actions as actions_table, installments, loans, restructurings

from .conftest import GeneratedBook

RULES = load_rules()
POLICY = delinquency.load_policy()
DAY = date(2026, 7, 1)


def loan_row(loan_id: int, **overrides: object) -> dict[str, object]:
    row: dict[str, object] = {"loan_id": loan_id, "line_id": loan_id * 10, "days_past_due": 0, "next_due_date": None, "next_due_fen": None,
                              "past_due_fen": 0, "behaviour_grade": "B", "restructured": False}
    row.update(overrides)
    return row


def test_actions_by_bucket_are_exact() -> None:
    rows = [
        loan_row(1, next_due_date=DAY + timedelta(days=3), next_due_fen=105_400),  # reminder 3 days before
        loan_row(2, next_due_date=DAY + timedelta(days=1), next_due_fen=20_000),  # reminder 1 day before
        loan_row(3, next_due_date=DAY + timedelta(days=2), next_due_fen=20_000),  # nothing: 2 days
        loan_row(4, days_past_due=1, past_due_fen=77_000, next_due_date=DAY + timedelta(days=3), next_due_fen=1),  # dunning + extension offer, no reminder
        loan_row(5, days_past_due=31, past_due_fen=500_000, behaviour_grade="D"),  # letter + restructuring offer (D eligible)
        loan_row(6, days_past_due=31, past_due_fen=500_000, restructured=True),  # letter only: restructured once already
        loan_row(7, days_past_due=1, behaviour_grade="E", past_due_fen=10),  # dunning only: E not eligible for extension
        loan_row(8, days_past_due=91, past_due_fen=9_000_000, behaviour_grade=None),  # legal
        loan_row(9, days_past_due=45, past_due_fen=1),  # between steps: nothing
    ]
    actions = collection_actions(pl.DataFrame(rows, schema=COLLECTIONS_INPUT), DAY, RULES)
    assert actions.schema == pl.Schema(ACTIONS_SCHEMA)
    got = [(r["loan_id"], r["kind"], r["step"], r["channel"], r["amount_due_fen"], r["days_past_due"]) for r in actions.to_dicts()]
    assert got == [
        (1, "reminder", "reminder-3d", "app", 105_400, 0),
        (2, "reminder", "reminder-1d", "sms", 20_000, 0),
        (4, "dunning", "dunning-1-sms", "sms", 77_000, 1),
        (4, "extension", "offer-extension", "app", 77_000, 1),
        (5, "dunning", "dunning-31-letter", "letter", 500_000, 31),
        (5, "restructuring", "offer-restructuring", "app", 500_000, 31),
        (6, "dunning", "dunning-31-letter", "letter", 500_000, 31),
        (7, "dunning", "dunning-1-sms", "sms", 10, 1),
        (8, "dunning", "dunning-91-legal", "legal", 9_000_000, 91),
    ]
    assert set(actions["business_date"].to_list()) == {DAY} and set(actions["line_id"].to_list()) == {10, 20, 40, 50, 60, 70, 80}
    assert collection_actions(pl.DataFrame(schema=COLLECTIONS_INPUT), DAY, RULES).is_empty()


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 400), st.integers(0, 10), st.sampled_from(["A", "C", "E", None]), st.booleans()), min_size=1, max_size=30))
def test_each_loan_gets_each_step_at_most_once_and_only_on_its_day(loans_: list[tuple[int, int, str | None, bool]]) -> None:
    rows = [loan_row(k + 1, days_past_due=dpd, next_due_date=DAY + timedelta(days=due_in), next_due_fen=100, past_due_fen=dpd, behaviour_grade=g, restructured=r)
            for k, (dpd, due_in, g, r) in enumerate(loans_)]
    actions = collection_actions(pl.DataFrame(rows, schema=COLLECTIONS_INPUT), DAY, RULES)
    assert actions.select("loan_id", "step").is_unique().all()
    dunning_days = {d.step: d.dpd for d in RULES.dunning}
    for action in actions.to_dicts():
        row = rows[action["loan_id"] - 1]
        if action["kind"] == "dunning":
            assert row["days_past_due"] == dunning_days[action["step"]]
        elif action["kind"] == "reminder":
            assert row["days_past_due"] == 0
        else:
            assert not row["restructured"] and row["behaviour_grade"] in RULES.change(action["kind"]).grades


def test_rules_are_validated_on_load(tmp_path: Path) -> None:
    bad = tmp_path / "collections.yaml"
    bad.write_text("reminders: []\ndunning:\n  - {dpd: 5, step: a, channel: sms}\n  - {dpd: 3, step: b, channel: sms}\n")
    with pytest.raises(InvalidInput, match="collections.yaml"):
        load_rules(bad)
    bad.write_text("reminders: [{days_before: 0, step: r, channel: sms}]\ndunning: []\n")
    with pytest.raises(InvalidInput, match="days_before"):
        load_rules(bad)


def late_loan(days_late: int):  # type: ignore[no-untyped-def]
    """A 120,000-yuan equal-installment loan from 15 January, nothing paid, closed per loan until ``days_late`` past due."""
    terms = LoanTerms(12_000_000, Decimal("0.072"), 12, Method.EQUAL_INSTALLMENT, date(2026, 1, 15))
    state, _ = lifecycle.activate(new_loan(7, 3, LoanTermsOnFile(terms, Decimal("0.108"), grace_days=3)), date(2026, 1, 15))
    day = date(2026, 1, 15)
    while state.days_past_due < days_late:
        state, _, _ = accrual.close_day(state, day, POLICY)
        day += timedelta(days=1)
    return state, day


def test_extension_reschedules_what_is_owed_and_floors_the_classification() -> None:
    before, day = late_loan(15)
    after, record = restructured_state(before, day, "extension", "B", RULES, POLICY)
    after.check()
    assert after.principal_outstanding_fen == before.principal_outstanding_fen == 12_000_000
    assert sum(i.principal_fen for i in after.installments) == 12_000_000
    assert sum(i.unpaid_interest_fen for i in after.installments) == sum(i.unpaid_interest_fen for i in before.installments) > 0
    assert (after.interest_receivable_fen, after.penalty_receivable_fen) == (before.interest_receivable_fen, before.penalty_receivable_fen)
    assert RESTRUCTURED_FLAG in after.flags and after.category == "substandard"
    new = [i for i in after.installments if i.number > 12]
    assert len(new) == record.new_term == 11 + 3 and record.old_term == 12 and record.principal_fen == 12_000_000
    assert new[0].period_start == day and new[0].due_date == date(2026, 3, 30 if day.day == 30 else day.day).replace(month=day.month + 1)
    assert all(i.settled for i in after.installments if i.number <= 12)
    # It lives on: until the first new due date nothing is past due, interest keeps accruing, the floor holds.
    state = after
    for k in range(25):
        state, _, _ = accrual.close_day(state, day + timedelta(days=k), POLICY)
    state.check()
    assert state.days_past_due == 0 and state.category == "substandard"
    assert sum(i.accrued_interest_fen for i in state.installments) > sum(i.accrued_interest_fen for i in after.installments)


@pytest.mark.parametrize(
    ("kind", "grade", "days_late", "field"),
    [("extension", "E", 15, "grade"), ("extension", None, 15, "grade"), ("extension", "B", 45, "loan"), ("restructuring", "B", 15, "loan"), ("refinance", "B", 15, "kind")],
)
def test_refusals_name_the_field(kind: str, grade: str | None, days_late: int, field: str) -> None:
    state, day = late_loan(days_late)
    with pytest.raises(InvalidInput) as refused:
        restructured_state(state, day, kind, grade, RULES, POLICY)
    assert refused.value.errors[0].field == field


def test_restructured_once_only() -> None:
    state, day = late_loan(10)
    after, _ = restructured_state(state, day, "extension", "A", RULES, POLICY)
    with pytest.raises(InvalidInput, match="restructured already"):
        restructured_state(replace(after, days_past_due=10), day, "extension", "A", RULES, POLICY)


# --- the store --------------------------------------------------------------------------------------


def _late_book(db_url: str):  # type: ignore[no-untyped-def]
    engine = open_store(db_url)
    book = open_book(engine)
    line = open_line(book, "91310000MA1FL8T5X3", "owner-credit-loan", 50_000_000, Decimal("0.072"), date(2026, 1, 15))
    loan = draw(book, DrawRequest(line.id, 12_000_000, Method.EQUAL_PRINCIPAL, 12, date(2026, 1, 15)))
    close_business(book, date(2026, 2, 24))  # first installment (15 Feb) unpaid: 10 days past due
    return engine, book, loan.id


def _rows(engine) -> dict[str, int]:  # type: ignore[no-untyped-def]
    with engine.connect() as conn:
        return {t.name: int(conn.scalar(select(func.count()).select_from(t))) for t in (loans, installments, restructurings, actions_table)}


def test_apply_restructuring_is_atomic_and_leaves_the_ledger(db_url: str) -> None:
    engine, book, loan_id = _late_book(db_url)
    day = date(2026, 2, 25)
    ledger_before = trial_balance(book)
    with engine.connect() as conn:
        frame = collections_frame(conn, day)
        before_state = load_loan(conn, loan_id).state
    assert frame.to_dicts() == [{"loan_id": loan_id, "line_id": before_state.line_id, "days_past_due": 10, "next_due_date": date(2026, 3, 15),
                                 "next_due_fen": 1_000_000 + 66_000, "past_due_fen": 1_000_000 + 72_000, "behaviour_grade": None, "restructured": False}]
    counts = _rows(engine)
    for kind, grade, when in (("extension", "E", day), ("extension", "B", day - timedelta(days=1)), ("restructuring", "B", day), ("extension", None, day)):
        with pytest.raises(InvalidInput):
            apply_restructuring(engine, loan_id, when, kind, grade)
        assert _rows(engine) == counts
        with engine.connect() as conn:
            assert load_loan(conn, loan_id).state == before_state
    record = apply_restructuring(engine, loan_id, day, "extension", "B")
    assert (record.kind, record.old_term, record.new_term, record.principal_fen, record.days_past_due) == ("extension", 12, 11 + 3, 12_000_000, 10)
    assert trial_balance(book) == ledger_before and reconcile(book) == []
    with engine.connect() as conn:
        stored = load_loan(conn, loan_id).state
        assert conn.scalar(select(func.count()).select_from(restructurings)) == 1
    assert RESTRUCTURED_FLAG in stored.flags and stored.category == "substandard" and stored.principal_outstanding_fen == 12_000_000
    close_business(book, day + timedelta(days=25))  # before the first new due date (25 March)
    assert reconcile(book) == []
    with engine.connect() as conn:
        after = load_loan(conn, loan_id).state
        assert after.days_past_due == 0 and after.category == "substandard"
        assert collections_frame(conn, day + timedelta(days=26))["restructured"].to_list() == [True]
    with pytest.raises(InvalidInput, match="restructured already"):
        apply_restructuring(engine, loan_id, day + timedelta(days=26), "extension", "B")
    engine.dispose()


def test_actions_of_a_run_are_written_once(generated_book: GeneratedBook) -> None:
    engine = generated_book.engine
    with engine.connect() as conn:
        frame = collections_frame(conn, generated_book.as_of)
    assert frame.height == int(frame["loan_id"].n_unique()) > 0
    actions = collection_actions(frame.with_columns(pl.lit("C").alias("behaviour_grade")), generated_book.as_of, RULES)
    assert actions.height > 0
    with engine.begin() as conn:
        assert write_collection_actions(conn, "run-1", actions) == actions.height
    with engine.begin() as conn:
        assert write_collection_actions(conn, "run-1", actions) == 0  # resumed: nothing twice
        assert write_collection_actions(conn, "run-1", actions.head(3)) == 0
        assert write_collection_actions(conn, "run-2", actions.head(3)) == 3
    with engine.connect() as conn:
        assert conn.scalar(select(func.count()).select_from(actions_table)) == actions.height + 3
    with engine.begin() as conn, pytest.raises(InvalidInput, match="run_id"):
        write_collection_actions(conn, "", actions)


def _cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    from smelend.cli import main

    with pytest.raises(SystemExit) as exited:
        main(["collections", *args])
    out, err = capsys.readouterr()
    return int(exited.value.code or 0), out, err


def test_cli_restructures_with_the_stored_grade_and_refuses_bad_input(db_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    import json

    from smelend.store.tables import behaviour_scores

    engine, _, loan_id = _late_book(db_url)
    with engine.begin() as conn:
        line_id = load_loan(conn, loan_id).state.line_id
        conn.execute(behaviour_scores.insert().values(line_id=line_id, business_date=date(2026, 2, 24), score=610, pd=0.01, grade="B", model_version="behaviour-v1", reasons=""))
    code, out, err = _cli(capsys, "actions", "--json")
    assert code == 0, err
    assert json.loads(out) == {"date": "2026-02-25", "actions": 0, "by_step": {}, "items": []}  # 10 days past due: between steps
    counts = _rows(engine)
    for args, option in ((("--loan", str(loan_id), "--kind", "refinance"), "--kind"), (("--loan", "99", "--kind", "extension"), "--loan"),
                         (("--loan", str(loan_id), "--kind", "extension", "--grade", "E"), "--grade"),
                         (("--loan", str(loan_id), "--kind", "extension", "--date", "2026-02-26"), "--date")):
        code, out, err = _cli(capsys, "restructure", *args, "--json")
        assert code == 2 and out == "" and err.strip().startswith(f"smelend: error: {option}:"), (args, err)
        assert _rows(engine) == counts
    code, out, err = _cli(capsys, "restructure", "--loan", str(loan_id), "--kind", "extension", "--json")
    assert code == 0, err
    document = json.loads(out)
    assert document == {"loan": loan_id, "date": "2026-02-25", "kind": "extension", "old_term": 12, "new_term": 14, "method": "equal-principal",
                        "principal": "120000.00", "days_past_due": 10, "behaviour_grade": "B", "rule": "offer-extension", "classification_floor": "substandard"}
    engine.dispose()
