"""Collections by bucket: reminders before due dates, dunning steps by days past due, extension and
restructuring — rules as data (``collections.yaml``), decisions as pure functions.

Why pure: the close of business runs :func:`collection_actions` as one stage over the whole book
(in process-pool workers or Ray actors) and writes what it returns with its run id
(:func:`smelend.store.collections.write_collection_actions`, idempotent by run, loan and step).
A new schedule is built by :func:`restructured_state` from the servicing engine's own schedule
calculator; :func:`smelend.store.collections.apply_restructuring` stores it atomically.

The input of :func:`collection_actions` is one row per open loan (:data:`COLLECTIONS_INPUT`; the store
reads it with :func:`smelend.store.collections.collections_frame`): days past due as the day opens,
the next unpaid due date and amount, what is past due, the line's behaviour grade (null: not scored)
and whether the loan was restructured already.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date
from pathlib import Path

import polars as pl
from pydantic import BaseModel, ConfigDict, Field, model_validator

from smelend.datafiles import load_yaml_model
from smelend.errors import InvalidInput
from smelend.servicing import delinquency
from smelend.servicing.conventions import Method
from smelend.servicing.loan import LoanInstallment, LoanState, LoanStatus
from smelend.servicing.schedule import LoanTerms, build_installments

RULES_FILE = Path(__file__).with_name("collections.yaml")
RESTRUCTURED_FLAG = "restructured"

COLLECTIONS_INPUT: dict[str, pl.DataType] = {
    "loan_id": pl.Int64,
    "line_id": pl.Int64,
    "days_past_due": pl.Int32,
    "next_due_date": pl.Date,  # earliest unpaid due date on or after the day (null: none)
    "next_due_fen": pl.Int64,  # unpaid principal + interest + fee due that day
    "past_due_fen": pl.Int64,  # unpaid principal + interest + fee due before the day
    "behaviour_grade": pl.Utf8,
    "restructured": pl.Boolean,
}
ACTIONS_SCHEMA: dict[str, pl.DataType] = {
    "loan_id": pl.Int64,
    "line_id": pl.Int64,
    "business_date": pl.Date,
    "kind": pl.Utf8,  # reminder, dunning, extension, restructuring
    "step": pl.Utf8,
    "channel": pl.Utf8,
    "amount_due_fen": pl.Int64,
    "days_past_due": pl.Int32,
}


class _Strict(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


StepName = Field(pattern=r"^[a-z][a-z0-9-]{0,39}$")


class Reminder(_Strict):
    days_before: int = Field(ge=1, le=60)
    step: str = StepName
    channel: str = Field(pattern=r"^[a-z]{2,16}$")


class Dunning(_Strict):
    dpd: int = Field(ge=1, le=delinquency.MAX_DPD)
    step: str = StepName
    channel: str = Field(pattern=r"^[a-z]{2,16}$")


class ScheduleChange(_Strict):
    kind: str = Field(pattern=r"^(extension|restructuring)$")
    step: str = StepName
    min_dpd: int = Field(ge=0, le=delinquency.MAX_DPD)
    max_dpd: int = Field(ge=0, le=delinquency.MAX_DPD)
    grades: tuple[str, ...] = Field(min_length=1)
    extra_periods: int = Field(ge=1, le=60)
    max_periods: int = Field(ge=1, le=120)

    @model_validator(mode="after")
    def _ordered(self) -> "ScheduleChange":
        if self.max_dpd < self.min_dpd:
            raise ValueError(f"{self.kind}: max_dpd ({self.max_dpd}) is below min_dpd ({self.min_dpd})")
        return self


class CollectionRules(_Strict):
    reminders: tuple[Reminder, ...]
    dunning: tuple[Dunning, ...]
    schedule_changes: tuple[ScheduleChange, ...] = ()

    @model_validator(mode="after")
    def _distinct(self) -> "CollectionRules":
        steps = [r.step for r in self.reminders] + [d.step for d in self.dunning] + [c.step for c in self.schedule_changes]
        if len(set(steps)) != len(steps):
            raise ValueError("step names must be unique")
        dpds = [d.dpd for d in self.dunning]
        if dpds != sorted(set(dpds)):
            raise ValueError("dunning steps must have strictly increasing dpd")
        kinds = [c.kind for c in self.schedule_changes]
        if len(set(kinds)) != len(kinds):
            raise ValueError("one rule per kind of schedule change")
        return self

    def change(self, kind: str) -> ScheduleChange:
        for rule in self.schedule_changes:
            if rule.kind == kind:
                return rule
        raise InvalidInput.one("kind", f"no {kind!r} rule in the collection rules (known: {', '.join(c.kind for c in self.schedule_changes) or 'none'})")


def load_rules(path: Path = RULES_FILE) -> CollectionRules:
    return load_yaml_model(path, CollectionRules, "collection rules")


def collection_actions(frame: pl.DataFrame, as_of: date, rules: CollectionRules | None = None) -> pl.DataFrame:
    """The collection actions of ``as_of`` for loan rows (:data:`COLLECTIONS_INPUT`), typed by :data:`ACTIONS_SCHEMA`.

    Reminders for an unpaid installment due in exactly ``days_before`` days (not while the loan is past
    due: dunning speaks then); each dunning step on the day the loan reaches its days past due; an
    offer of extension or restructuring on the day a not-yet-restructured loan enters the rule's window
    with an eligible grade. Sorted by loan and step; pure: the same rows give the same actions.
    """
    rules = rules or load_rules()
    rows = frame.select(list(COLLECTIONS_INPUT)).cast(COLLECTIONS_INPUT)  # type: ignore[arg-type]
    base = [pl.col("loan_id"), pl.col("line_id"), pl.lit(as_of).alias("business_date")]
    parts: list[pl.DataFrame] = []
    days_to_due = (pl.col("next_due_date") - pl.lit(as_of)).dt.total_days()
    for reminder in rules.reminders:
        hit = rows.filter((pl.col("days_past_due") == 0) & (days_to_due == reminder.days_before) & (pl.col("next_due_fen") > 0))
        parts.append(hit.select(*base, pl.lit("reminder").alias("kind"), pl.lit(reminder.step).alias("step"), pl.lit(reminder.channel).alias("channel"),
                                pl.col("next_due_fen").alias("amount_due_fen"), pl.col("days_past_due")))
    for step in rules.dunning:
        hit = rows.filter(pl.col("days_past_due") == step.dpd)
        parts.append(hit.select(*base, pl.lit("dunning").alias("kind"), pl.lit(step.step).alias("step"), pl.lit(step.channel).alias("channel"),
                                pl.col("past_due_fen").alias("amount_due_fen"), pl.col("days_past_due")))
    for change in rules.schedule_changes:
        entering = pl.col("days_past_due") == max(change.min_dpd, 1)
        hit = rows.filter(entering & pl.col("behaviour_grade").is_in(list(change.grades)) & ~pl.col("restructured").fill_null(False))
        parts.append(hit.select(*base, pl.lit(change.kind).alias("kind"), pl.lit(change.step).alias("step"), pl.lit("app").alias("channel"),
                                pl.col("past_due_fen").alias("amount_due_fen"), pl.col("days_past_due")))
    actions = pl.concat([p.cast(ACTIONS_SCHEMA) for p in parts]) if parts else pl.DataFrame(schema=ACTIONS_SCHEMA)  # type: ignore[arg-type]
    return actions.with_columns(pl.col("amount_due_fen").fill_null(0)).sort("loan_id", "step")


@dataclass(frozen=True)
class Restructuring:
    """What a schedule change did, for the record (``restructurings`` table)."""

    loan_id: int
    business_date: date
    kind: str
    old_term: int
    new_term: int
    new_method: Method
    principal_fen: int
    days_past_due: int
    behaviour_grade: str | None
    rule: str


def restructured_state(state: LoanState, day: date, kind: str, grade: str | None, rules: CollectionRules,
                       policy: delinquency.DelinquencyPolicy) -> tuple[LoanState, Restructuring]:
    """The loan with a new schedule for what it still owes, under the ``kind`` rule; refuses (InvalidInput) otherwise.

    The unpaid principal (past due or not) is rescheduled by the servicing engine from ``day`` over the
    loan's remaining periods plus the rule's extra periods, with the loan's own method, rate and
    conventions. Installments not settled are cut back to what was paid (so they are settled; those with
    nothing paid are removed, so no old period overlaps the new ones), and
    the interest accrued and unpaid is carried into the first new installment as already accrued, so
    the receivables, the ledger and the principal are unchanged: only the timetable moves. The loan is
    flagged ``restructured`` (a floor under its classification) and reclassified at once.
    """
    rule = rules.change(kind)
    if state.status is not LoanStatus.ACTIVE:
        raise InvalidInput.one("loan", f"is {state.status.value}: only an active loan can be rescheduled")
    if RESTRUCTURED_FLAG in state.flags:
        raise InvalidInput.one("loan", "was restructured already")
    if state.closed_through is not None and day <= state.closed_through:
        raise InvalidInput.one("date", f"must be after the last day closed for the loan ({state.closed_through})")
    if not rule.min_dpd <= state.days_past_due <= rule.max_dpd:
        raise InvalidInput.one("loan", f"is {state.days_past_due} days past due: {kind} needs {rule.min_dpd} to {rule.max_dpd}")
    if grade not in rule.grades:
        raise InvalidInput.one("grade", f"behaviour grade {grade!r} is not eligible for {kind} (eligible: {', '.join(rule.grades)})")
    principal = state.principal_outstanding_fen
    if principal <= 0:
        raise InvalidInput.one("loan", "owes no principal: nothing to reschedule")
    remaining = sum(1 for i in state.installments if not i.settled and i.due_date > day)
    new_term = min(max(remaining, 1) + rule.extra_periods, rule.max_periods)
    method = state.method
    terms = LoanTerms(principal, state.terms.annual_rate, new_term, method, day, state.terms.conventions)
    schedule = build_installments(terms)
    owed_interest = sum(i.unpaid_interest_fen for i in state.installments)
    kept = tuple(
        i if i.settled else replace(i, principal_fen=i.paid_principal_fen, interest_fen=i.paid_interest_fen, accrued_interest_fen=i.paid_interest_fen,
                                    fee_fen=i.paid_fee_fen, accrued_at_start_fen=min(i.accrued_at_start_fen, i.paid_interest_fen))
        for i in state.installments
        if i.settled or i.paid_principal_fen or i.paid_interest_fen or i.paid_fee_fen  # unpaid ones are replaced outright
    )
    number = max(i.number for i in state.installments)
    previous = day
    new: list[LoanInstallment] = []
    for k, row in enumerate(schedule):
        interest = 0 if method is Method.REVOLVING else row.interest_fen
        carried = owed_interest if k == 0 else 0
        if method is Method.REVOLVING:
            inst = LoanInstallment(number + k + 1, previous, row.due_date, row.principal_fen, carried, row.fee_fen, accrued_interest_fen=carried)
        else:
            inst = LoanInstallment(number + k + 1, previous, row.due_date, row.principal_fen, interest + carried, row.fee_fen,
                                   accrued_interest_fen=carried, accrual_start=previous if carried else None, accrued_at_start_fen=carried)
        new.append(inst)
        previous = row.due_date
    flags = state.flags | {RESTRUCTURED_FLAG}
    category = delinquency.classify(state.days_past_due, frozenset(flags), policy)
    after = replace(state, installments=kept + tuple(new), flags=frozenset(flags), category=category.value)
    after.check()
    record = Restructuring(state.id, day, kind, state.terms.periods, new_term, method, principal, state.days_past_due, grade, rule.step)
    return after, record
