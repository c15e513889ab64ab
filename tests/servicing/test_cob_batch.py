"""The vectorised close of business equals accrual.close_day loan by loan: states, DayCloses, entries.

Books are built with the real per-loan functions: ``new_loan`` + ``lifecycle.activate``, then a history
of days closed with ``close_day`` and payments applied with ``repayment.apply_payment`` (amounts due,
late, partial, prepayments, payoffs, overpayments, random amounts), write-offs, and loans left unpaid
long enough to pass 90, 180 and 360 days past due. Then, for a stretch of days, ``close_day`` per loan
and ``close_day_batch`` on the whole book run side by side (payments and write-offs keep happening
on the per-loan side, and the book is rebuilt from the states on those days) and every loan's state,
every DayClose and every journal entry must be equal.
"""

from __future__ import annotations

import functools
import random
from dataclasses import dataclass, replace
from datetime import date, timedelta
from decimal import Decimal

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from smelend.ledger import JournalEntry
from smelend.money import Rounding, RoundingMode
from smelend.servicing import accrual, delinquency, lifecycle, repayment
from smelend.servicing.cob_batch import (
    DAY_CLOSE_ACCOUNTS,
    BookArrays,
    close_day_batch,
    entries_from_batch,
    posting_rows_from_batch,
    to_states,
)
from smelend.servicing.conventions import Conventions, DaysInMonth, DaysInYear, Frequency, InterestCalc, Method
from smelend.servicing.loan import LoanState, LoanStatus, LoanTermsOnFile, PrepaymentEffect, new_loan
from smelend.servicing.schedule import LoanTerms

POLICY = delinquency.load_policy()
PD_LGD_POLICY = delinquency.DelinquencyPolicy.model_validate(
    POLICY.model_dump() | {"provisions": POLICY.provisions.model_dump() | {"method": "pd-lgd"}}
)
EARLY_NON_ACCRUAL_POLICY = delinquency.DelinquencyPolicy.model_validate(POLICY.model_dump() | {"non_accrual_dpd": 30})
POLICIES = [POLICY, PD_LGD_POLICY, EARLY_NON_ACCRUAL_POLICY]

METHODS = [Method.EQUAL_INSTALLMENT, Method.EQUAL_PRINCIPAL, Method.INTEREST_FIRST, Method.BULLET, Method.REVOLVING]
FREQUENCIES = [Frequency("month", 1), Frequency("month", 1), Frequency("day", 7), Frequency("day", 14), Frequency("day", 30), Frequency("month", 3)]
BOOK_DAYS = [date(2027, 3, 1), date(2028, 2, 29), date(2026, 12, 31), date(2027, 7, 15)]
BEHAVIOURS = ["pays", "late", "stops", "partial", "prepays", "payoff", "written-off", "never", "random"]
BOOK = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


# --- building loans and histories with the real per-loan functions -----------------------------------------------


@dataclass(frozen=True)
class Plan:
    """How a borrower behaves; the details (amounts, days) come from a seeded random.Random."""

    behaviour: str
    seed: int
    delay: int  # late: days after each due date
    stop_after: int  # stops: installments paid before stopping
    write_off_dpd: int  # written-off: days past due at which the bank writes the loan off
    payoff_after: int  # payoff: days after start


def due_fen(state: LoanState, day: date) -> int:
    """Everything due on or before ``day`` and unpaid, penalties included."""
    total = state.penalty_receivable_fen + state.suspended_penalty_fen
    for i in state.installments:
        if i.due_date <= day:
            total += i.unpaid_principal_fen + i.unpaid_interest_fen + i.unpaid_fee_fen
    return total


def act(state: LoanState, day: date, plan: Plan, rng: random.Random) -> LoanState:
    """The borrower's (and the bank's) doings on ``day``, before that day's close of business."""
    if state.status is LoanStatus.WRITTEN_OFF and rng.random() < 0.02:  # a recovery: the loan stays inactive
        state, _, _ = repayment.apply_payment(state, rng.randint(1, 50_000), day, f"pay:{state.id}:{day}")
        return state
    if state.status is not LoanStatus.ACTIVE:
        return state
    due_today = any(i.due_date == day for i in state.installments)
    amount = 0
    behaviour = plan.behaviour
    if behaviour == "pays" and due_today:
        amount = due_fen(state, day)
    elif behaviour == "late" and any(i.due_date == day - timedelta(days=plan.delay) for i in state.installments):
        amount = due_fen(state, day)
    elif behaviour == "stops" and due_today and sum(i.due_date < day for i in state.installments) < plan.stop_after:
        amount = due_fen(state, day)
    elif behaviour == "partial" and due_today:
        amount = due_fen(state, day) * rng.randint(1, 9) // 10
    elif behaviour == "prepays":
        if due_today:
            amount = due_fen(state, day)
        if rng.random() < 0.04:
            amount += rng.randint(1, max(1, state.principal_outstanding_fen // 2))
    elif behaviour == "payoff":
        if day >= state.terms.start + timedelta(days=plan.payoff_after):
            amount = repayment.payoff_quote(state, day, POLICY).total_fen + rng.choice([0, 0, 1, 99])
        elif due_today:
            amount = due_fen(state, day)
    elif behaviour == "written-off":
        if state.days_past_due >= plan.write_off_dpd:
            state, _ = lifecycle.write_off(state, day)
            return state
    elif behaviour == "random" and rng.random() < 0.06:
        amount = rng.choice([rng.randint(1, 100), rng.randint(1, max(1, due_fen(state, day) * 2)), rng.randint(1, state.terms.principal_fen)])
    if amount <= 0 and rng.random() < 0.01:
        amount = rng.randint(1, max(1, state.terms.principal_fen // 3))  # anyone may pay something now and then
    if amount > 0:
        state, _, _ = repayment.apply_payment(state, amount, day, f"pay:{state.id}:{day}")
    return state


@st.composite
def rates(draw: st.DrawFn, high: int, decimals: int) -> Decimal:
    places = draw(st.integers(0, decimals))
    return Decimal(draw(st.integers(0, high * 10**places // 100))).scaleb(-places)


@st.composite
def contracts(draw: st.DrawFn, start: date) -> LoanTermsOnFile:
    method = draw(st.sampled_from(METHODS))
    frequency = draw(st.sampled_from(FREQUENCIES))
    periods = draw(st.integers(1, 6))
    interest_calc = InterestCalc.DAILY if method is Method.REVOLVING else draw(st.sampled_from(InterestCalc))
    days_in_year = draw(st.sampled_from(DaysInYear))
    days_in_month = DaysInMonth.ACTUAL if days_in_year is DaysInYear.ACTUAL else draw(st.sampled_from(DaysInMonth))
    rounding = Rounding(mode=draw(st.sampled_from(RoundingMode)), decimals=draw(st.sampled_from([2, 2, 2, 1, 0])))
    grace = draw(st.integers(0, periods - 1)) if method.allows_grace and draw(st.booleans()) else 0
    fee_rate = draw(st.sampled_from([Decimal(0), Decimal(0), Decimal("0.001"), Decimal("0.0035")]))
    conventions = Conventions(interest_calc, days_in_year, days_in_month, frequency, rounding, None, grace, fee_rate)
    principal = draw(st.one_of(st.integers(100, 10**6), st.integers(10**6, 10**10)))
    terms = LoanTerms(principal, draw(rates(36, 6)), periods, method, start, conventions)
    penalty_rate = draw(st.one_of(st.just(Decimal(0)), rates(100, 8), st.just(terms.annual_rate * Decimal("1.5"))))
    return LoanTermsOnFile(
        terms,
        penalty_rate,
        compound_overdue_interest=draw(st.booleans()),
        grace_days=draw(st.sampled_from([0, 0, 1, 3, 10])),
        prepayment=draw(st.sampled_from(PrepaymentEffect)),
    )


@st.composite
def loans(draw: st.DrawFn, loan_id: int, book_day: date) -> tuple[LoanState, Plan]:
    """A loan with its history up to the end of book_day - 1 (or starting on book_day)."""
    age = draw(st.one_of(st.integers(0, 60), st.integers(0, 520)))
    start = book_day - timedelta(days=age)
    contract = draw(contracts(start))
    plan = Plan(
        behaviour=draw(st.sampled_from(BEHAVIOURS)),
        seed=draw(st.integers(0, 2**32 - 1)),
        delay=draw(st.integers(1, 40)),
        stop_after=draw(st.integers(0, 4)),
        write_off_dpd=draw(st.integers(1, 200)),
        payoff_after=draw(st.integers(0, 200)),
    )
    flags = draw(st.sampled_from([frozenset(), frozenset(), frozenset(), frozenset({"restructured"}), frozenset({"court_judgement", "bankruptcy"})]))
    state = replace(new_loan(loan_id, 1, contract), flags=flags)
    state, _ = lifecycle.activate(state, start)
    rng = random.Random(plan.seed)
    day = start
    while day < book_day:
        state = act(state, day, plan, rng)
        state, _, _ = accrual.close_day(state, day, POLICY)
        day += timedelta(days=1)
    return state, plan


@st.composite
def books(draw: st.DrawFn) -> tuple[date, list[LoanState], list[Plan]]:
    book_day = draw(st.sampled_from(BOOK_DAYS))
    count = draw(st.integers(1, 8))
    pairs = [draw(loans(k + 1, book_day)) for k in range(count)]
    return book_day, [s for s, _ in pairs], [p for _, p in pairs]


# --- comparing the two paths --------------------------------------------------------------------------------------


def assert_rows_match_entries(book: BookArrays, moved: object, day: date, entries: list[JournalEntry]) -> None:
    rows = posting_rows_from_batch(book, moved, day)  # type: ignore[arg-type]
    assert rows.entry_rows() == [(e.idempotency_key, e.business_date, e.kind, e.loan_id) for e in entries]
    assert rows.posting_rows() == [(k, p.account.value, p.amount_fen, e.loan_id) for k, e in enumerate(entries) for p in e.postings]
    assert [DAY_CLOSE_ACCOUNTS[a] for a in rows.posting_account.tolist()] == [p.account for e in entries for p in e.postings]


def assert_books_equal(a: BookArrays, b: BookArrays) -> None:
    for name in a.__dataclass_fields__:
        x, y = getattr(a, name), getattr(b, name)
        assert x.dtype == y.dtype and x.shape == y.shape and np.array_equal(x, y, equal_nan=x.dtype.kind == "M"), name


def run_side_by_side(book_day: date, states: list[LoanState], plans: list[Plan], days: int, policy: delinquency.DelinquencyPolicy) -> dict[str, int]:
    """Close ``days`` days both ways, asserting equality every day; returns counts of what was exercised."""
    seen = {"entries": 0, "suspended": 0, "penalty": 0, "revolving": 0, "rebuilt": 0}
    rngs = [random.Random(p.seed + 1) for p in plans]
    book = BookArrays.from_states(states, policy)
    assert to_states(book, states) == states
    day = book_day
    for _ in range(days):
        acted = [act(s, day, p, r) for s, p, r in zip(states, plans, rngs)]
        if any(a is not s for a, s in zip(acted, states)):
            states = acted
            book = BookArrays.from_states(states, policy)
            seen["rebuilt"] += 1
        else:
            assert_books_equal(book, BookArrays.from_states(states, policy))
        reference = [accrual.close_day(s, day, policy) for s in states]
        book, moved = close_day_batch(book, day, policy)
        expected_states = [r[0] for r in reference]
        assert to_states(book, states) == expected_states
        assert moved.day_closes() == [r[1] for r in reference]
        expected_entries = [r[2] for r in reference if r[2] is not None]
        entries = entries_from_batch(book, moved, day)
        assert entries == expected_entries
        assert_rows_match_entries(book, moved, day, entries)
        seen["entries"] += len(entries)
        seen["suspended"] += int((moved.suspended_interest_fen + moved.suspended_penalty_fen > 0).sum())
        seen["penalty"] += int((moved.penalty_fen + moved.suspended_penalty_fen > 0).sum())
        seen["revolving"] += sum(s.method is Method.REVOLVING and s.status is LoanStatus.ACTIVE for s in states)
        states = expected_states
        day += timedelta(days=1)
    return seen


@BOOK
@given(books(), st.integers(1, 25), st.sampled_from(POLICIES))
def test_batch_equals_per_loan_on_random_books(book: tuple[date, list[LoanState], list[Plan]], days: int, policy: delinquency.DelinquencyPolicy) -> None:
    book_day, states, plans = book
    run_side_by_side(book_day, states, plans, days, policy)


# --- chosen cases: thresholds crossed during the stretch -----------------------------------------------------------


@functools.lru_cache(maxsize=None)
def unpaid_loan(loan_id: int, method: Method, first_due_days_ago: int, book_day: date, grace_days: int = 0, compound: bool = True) -> LoanState:
    """A loan never paid whose first installment fell due ``first_due_days_ago`` days before book_day, closed day by day."""
    frequency = Frequency("day", 30)
    start = book_day - timedelta(days=30 + first_due_days_ago)
    conventions = Conventions(interest_calc=InterestCalc.DAILY, frequency=frequency)
    terms = LoanTerms(12_345_678, Decimal("0.1234"), 3, method, start, conventions)
    contract = LoanTermsOnFile(terms, Decimal("0.1851"), compound_overdue_interest=compound, grace_days=grace_days)
    state, _ = lifecycle.activate(new_loan(loan_id, 1, contract), start)
    state = repayment.project_to(state, book_day - timedelta(days=1), POLICY)
    return state


@pytest.mark.parametrize("policy", POLICIES, ids=["category", "pd-lgd", "non-accrual-30"])
def test_crossing_grace_90_180_and_360_days(policy: delinquency.DelinquencyPolicy) -> None:
    book_day = date(2027, 5, 10)
    states = []
    for offset in (-20, -2, 0, 2, 27, 85, 175, 355, 600):  # first due date relative to book_day
        for method in METHODS:
            states.append(unpaid_loan(len(states) + 1, method, offset, book_day, grace_days=3, compound=len(states) % 2 == 0))
    plans = [Plan("never", k, 1, 0, 1, 0) for k in range(len(states))]
    seen = run_side_by_side(book_day, states, plans, 12, policy)
    assert seen["suspended"] and seen["penalty"] and seen["revolving"]
    final = to_states(*_closed(book_day, states, 12, policy))
    assert {s.category for s in final} == {"pass", "special-mention", "substandard", "doubtful", "loss"}


def _closed(book_day: date, states: list[LoanState], days: int, policy: delinquency.DelinquencyPolicy) -> tuple[BookArrays, list[LoanState]]:
    book = BookArrays.from_states(states)
    for k in range(days):
        book, _ = close_day_batch(book, book_day + timedelta(days=k), policy)
    return book, states


def test_round_trip_and_inactive_loans_do_not_move() -> None:
    book_day = date(2027, 3, 1)
    active = unpaid_loan(1, Method.EQUAL_INSTALLMENT, 10, book_day)
    written_off, _ = lifecycle.write_off(unpaid_loan(2, Method.BULLET, 400, book_day), book_day - timedelta(days=1))
    pending = new_loan(3, 1, active.contract)
    closed = replace(unpaid_loan(4, Method.REVOLVING, -20, book_day), status=LoanStatus.CLOSED, closed_through=date(2020, 1, 1))
    states = [active, written_off, pending, closed]
    book = BookArrays.from_states(states)
    assert to_states(book, states) == states
    after, moved = close_day_batch(book, book_day, POLICY)
    reference = [accrual.close_day(s, book_day, POLICY) for s in states]
    assert to_states(after, states) == [r[0] for r in reference]
    assert to_states(after, states)[1:] == states[1:]
    assert moved.day_closes() == [r[1] for r in reference]
    assert moved.matrix()[1:].tolist() == [[0] * 5] * 3
    assert [e.loan_id for e in entries_from_batch(after, moved, book_day)] == [1]


def test_a_loan_starting_today_is_closed_from_never_closed() -> None:
    day = date(2026, 1, 31)
    terms = LoanTerms(10_000_000, Decimal("0.072"), 12, Method.EQUAL_INSTALLMENT, day)
    state, _ = lifecycle.activate(new_loan(9, 1, LoanTermsOnFile(terms, Decimal("0.108"))), day)
    book = BookArrays.from_states([state])
    assert np.isnat(book.closed_through[0])
    after, moved = close_day_batch(book, day, POLICY)
    one, closed, entry = accrual.close_day(state, day, POLICY)
    assert to_states(after, [state]) == [one] and moved.day_closes() == [closed] and entries_from_batch(after, moved, day) == [entry]
    with pytest.raises(AssertionError, match="closed through"):
        close_day_batch(book, day + timedelta(days=1), POLICY)  # never closed, and not its start day


def test_days_must_come_one_at_a_time() -> None:
    book_day = date(2027, 3, 1)
    book = BookArrays.from_states([unpaid_loan(1, Method.INTEREST_FIRST, 5, book_day)])
    with pytest.raises(AssertionError, match="closed through"):
        close_day_batch(book, book_day + timedelta(days=1), POLICY)  # a day skipped
    after, _ = close_day_batch(book, book_day, POLICY)
    with pytest.raises(AssertionError, match="closed through"):
        close_day_batch(after, book_day, POLICY)  # the same day again


def test_penalty_past_the_int64_limit_is_refused_not_wrapped() -> None:
    """base x penalty_rate_scaled >= 2^63: the per-loan path (Python ints) computes it; the batch asserts."""
    book_day = date(2027, 3, 1)
    start = book_day - timedelta(days=60)
    terms = LoanTerms(10**10, Decimal("0.2"), 1, Method.BULLET, start, Conventions(frequency=Frequency("day", 30)))
    contract = LoanTermsOnFile(terms, Decimal("1000"))  # 100,000% a year: penalty_rate_scaled 10^11
    state, _ = lifecycle.activate(new_loan(1, 1, contract), start)
    state = repayment.project_to(state, book_day - timedelta(days=1), POLICY)
    accrual.close_day(state, book_day, POLICY)  # fine per loan
    with pytest.raises(AssertionError, match="int64 limit"):
        close_day_batch(BookArrays.from_states([state]), book_day, POLICY)


def test_empty_book() -> None:
    book = BookArrays.from_states([])
    after, moved = close_day_batch(book, date(2027, 1, 1), POLICY)
    assert len(after) == 0 and len(moved) == 0
    assert entries_from_batch(after, moved, date(2027, 1, 1)) == []
    rows = posting_rows_from_batch(after, moved, date(2027, 1, 1))
    assert rows.entry_rows() == [] and rows.posting_rows() == []
