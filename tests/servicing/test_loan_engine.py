"""The per-loan servicing engine, pure: accrual, penalties, allocation, prepayment, payoff, write-off."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, timedelta
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from smelend.errors import InvalidInput
from smelend.ledger import Account, trial_balance
from smelend.money import Rounding, RoundingMode
from smelend.servicing import Conventions, DaysInYear, InterestCalc, LoanTerms, Method
from smelend.servicing.accrual import close_day
from smelend.servicing.delinquency import load_policy
from smelend.servicing.lifecycle import activate, write_off
from smelend.servicing.loan import LoanState, LoanStatus, LoanTermsOnFile, PrepaymentEffect, new_loan
from smelend.servicing.repayment import DEFAULT_ORDER, Step, apply_payment, parse_order, payoff_quote, project_to

POLICY = load_policy()
START = date(2026, 1, 15)
DAILY_360 = Conventions(interest_calc=InterestCalc.DAILY, days_in_year=DaysInYear.D360)


def loan(method=Method.EQUAL_INSTALLMENT, principal_fen=10_000_000, rate="0.072", periods=12, conventions=Conventions(), grace_days=0, compound=True, effect=PrepaymentEffect.REDUCE_INSTALLMENT, penalty="0.108"):
    contract = LoanTermsOnFile(LoanTerms(principal_fen, Decimal(rate), periods, method, START, conventions), Decimal(penalty), compound, grace_days, effect)
    state, entry = activate(new_loan(1, 1, contract), START)
    return state, [entry]


def run_days(state, entries, through):
    day = state.closed_through + timedelta(days=1) if state.closed_through else state.terms.start
    while day <= through:
        state, _, entry = close_day(state, day, POLICY)
        if entry:
            entries.append(entry)
        day += timedelta(days=1)
    return state


def pay(state, entries, amount_fen, day, order=DEFAULT_ORDER):
    state = run_days(state, entries, day - timedelta(days=1))
    state, applied, entry = apply_payment(state, amount_fen, day, f"pay:{day}:{amount_fen}:{len(entries)}", order)
    entries.append(entry)
    return state, applied


def ledger_matches(state: LoanState, entries) -> None:
    """The loan's ledger balances equal its own balances: the sub-ledger reconciles."""
    tb = trial_balance(entries)
    assert tb.balanced
    assert tb.normal_balance_fen(Account.PRINCIPAL_RECEIVABLE) == (0 if state.status is LoanStatus.WRITTEN_OFF else state.principal_outstanding_fen)
    assert tb.normal_balance_fen(Account.INTEREST_RECEIVABLE) == state.interest_receivable_fen
    assert tb.normal_balance_fen(Account.PENALTY_RECEIVABLE) == state.penalty_receivable_fen
    assert tb.normal_balance_fen(Account.LOAN_LOSS_ALLOWANCE) == state.provision_fen
    assert tb.normal_balance_fen(Account.CUSTOMER_CREDIT) == state.credit_balance_fen
    assert tb.normal_balance_fen(Account.SUSPENDED_INTEREST) == state.suspended_interest_fen + state.suspended_penalty_fen


def test_accrual_over_each_period_equals_the_scheduled_interest():
    state, entries = loan(conventions=DAILY_360)
    for installment in state.installments[:3]:
        state = run_days(state, entries, installment.due_date - timedelta(days=1))
        accrued = next(i for i in state.installments if i.number == installment.number).accrued_interest_fen
        assert accrued == installment.interest_fen
        state, _ = pay(state, entries, installment.principal_fen + installment.interest_fen, installment.due_date)
    assert trial_balance(entries).normal_balance_fen(Account.INTEREST_INCOME) == sum(i.interest_fen for i in state.installments[:3])
    ledger_matches(state, entries)


def test_revolving_interest_accrues_daily_on_the_outstanding_principal_with_an_exact_carry():
    state, entries = loan(Method.REVOLVING, conventions=DAILY_360)
    state = run_days(state, entries, START + timedelta(days=9))
    # 100,000 x 7.2% / 360 = 20.00 a day
    assert state.interest_receivable_fen == 10 * 2_000 and state.interest_carry == 0
    state, applied = pay(state, entries, 5_000_000 + 20_000, START + timedelta(days=10))
    assert (applied.interest_fen, applied.principal_fen) == (20_000, 5_000_000)
    state = run_days(state, entries, START + timedelta(days=12))
    assert state.interest_receivable_fen == 3 * 1_000  # half the principal, half the interest
    ledger_matches(state, entries)


def test_on_time_payment_allocates_interest_then_principal():
    state, entries = loan()
    first = state.installments[0]
    state, applied = pay(state, entries, first.principal_fen + first.interest_fen, first.due_date)
    assert (applied.interest_fen, applied.principal_fen, applied.penalty_fen, applied.credit_balance_fen) == (60_000, 806_190, 0, 0)
    assert state.installments[0].settled and state.days_past_due == 0
    ledger_matches(state, entries)


def test_late_payment_pays_penalty_first_and_days_past_due_count_from_the_due_date():
    state, entries = loan(grace_days=0)
    first = state.installments[0]
    state = run_days(state, entries, first.due_date + timedelta(days=9))
    assert state.days_past_due == 10
    # penalty: 806,190 fen overdue principal + 60,000 overdue interest (compound) x 10.8% / 365 per day, 10 days
    exact = Decimal(866_190) * Decimal("0.108") / 365 * 10
    assert state.penalty_receivable_fen == int(exact)  # floored with the remainder carried
    assert state.category == "special-mention"
    state, applied = pay(state, entries, 100_000, first.due_date + timedelta(days=10))
    assert applied.penalty_fen == int(exact)
    assert (applied.interest_fen, applied.principal_fen) == (60_000, 100_000 - int(exact) - 60_000)
    ledger_matches(state, entries)


def test_grace_days_waive_the_penalty_but_not_the_days_past_due():
    state, entries = loan(grace_days=3)
    state = run_days(state, entries, state.installments[0].due_date + timedelta(days=2))
    assert state.days_past_due == 3 and state.penalty_receivable_fen == 0
    state = run_days(state, entries, state.installments[0].due_date + timedelta(days=3))
    assert state.penalty_receivable_fen > 0


def test_custom_allocation_order():
    order = parse_order(["past-due-principal", "past-due-interest", "penalty", "current-interest", "current-principal"])
    state, entries = loan()
    first = state.installments[0]
    state = run_days(state, entries, first.due_date + timedelta(days=4))
    state, applied = pay(state, entries, 806_190, first.due_date + timedelta(days=5), order)
    assert applied.principal_fen == 806_190 and applied.interest_fen == 0 and applied.penalty_fen == 0


def test_allocation_order_must_name_each_step_once():
    with pytest.raises(InvalidInput):
        parse_order(["penalty", "penalty", "past-due-principal", "current-interest", "current-principal"])
    with pytest.raises(InvalidInput):
        parse_order(["penalty"])


@pytest.mark.parametrize("effect", list(PrepaymentEffect))
@pytest.mark.parametrize("method", [Method.EQUAL_INSTALLMENT, Method.EQUAL_PRINCIPAL])
def test_prepayment_pays_accrued_interest_then_principal_and_reamortises(method, effect):
    state, entries = loan(method, effect=effect, conventions=DAILY_360)
    before = state.installments
    day = START + timedelta(days=10)
    state, applied = pay(state, entries, 3_000_000, day)
    assert applied.interest_fen == 10 * 2_000  # ten days at 20.00
    assert applied.principal_fen == 3_000_000 - 20_000
    assert state.principal_outstanding_fen == 10_000_000 - applied.principal_fen
    assert sum(i.principal_fen for i in state.installments) == 10_000_000
    if effect is PrepaymentEffect.REDUCE_TERM:
        assert len(state.installments) < len(before)
    else:
        assert len(state.installments) == len(before)
        assert state.installments[3].principal_fen + state.installments[3].interest_fen < before[3].principal_fen + before[3].interest_fen
    state = run_days(state, entries, state.installments[0].due_date - timedelta(days=1))
    assert state.installments[0].accrued_interest_fen == state.installments[0].interest_fen
    ledger_matches(state, entries)


@pytest.mark.parametrize("method", [Method.EQUAL_INSTALLMENT, Method.EQUAL_PRINCIPAL, Method.INTEREST_FIRST, Method.BULLET, Method.REVOLVING])
def test_payoff_quote_closes_the_loan_and_an_excess_is_held_as_credit(method):
    state, entries = loan(method, periods=6, conventions=DAILY_360)
    day = START + timedelta(days=75)
    quote = payoff_quote(state, day, POLICY)
    assert quote.principal_fen == state.principal_outstanding_fen == 10_000_000
    state, applied = pay(state, entries, quote.total_fen + 1_234, day)
    assert state.status is LoanStatus.CLOSED
    assert applied.credit_balance_fen == 1_234 and state.credit_balance_fen == 1_234
    assert applied.total_fen == quote.total_fen + 1_234
    ledger_matches(state, entries)
    with pytest.raises(InvalidInput):
        apply_payment(state, 100, day, "again")


def test_quote_is_pure_and_matches_what_cob_would_accrue():
    state, entries = loan(conventions=DAILY_360)
    day = START + timedelta(days=20)
    quote = payoff_quote(state, day, POLICY)
    assert state.closed_through is None  # the quote projected a copy; the loan itself is untouched
    projected = project_to(state, day - timedelta(days=1), POLICY)
    assert quote.interest_fen == projected.interest_receivable_fen == 20 * 2_000


def test_non_accrual_from_90_days_past_due_moves_interest_off_balance():
    state, entries = loan(Method.INTEREST_FIRST, periods=12)
    first_due = state.installments[0].due_date
    state = run_days(state, entries, first_due + timedelta(days=88))
    assert state.days_past_due == 89 and state.suspended_interest_fen == 0
    income_before = trial_balance(entries).normal_balance_fen(Account.INTEREST_INCOME)
    state = run_days(state, entries, first_due + timedelta(days=95))
    assert state.days_past_due == 96 and state.category == "substandard"
    assert state.suspended_interest_fen > 0 and state.suspended_penalty_fen > 0
    assert trial_balance(entries).normal_balance_fen(Account.INTEREST_INCOME) == income_before  # nothing more to income
    ledger_matches(state, entries)
    # paying suspended interest is income on a cash basis
    state, applied = pay(state, entries, state.interest_receivable_fen + state.suspended_interest_fen + state.penalty_receivable_fen + state.suspended_penalty_fen, first_due + timedelta(days=96))
    assert applied.suspended_interest_fen > 0
    ledger_matches(state, entries)


def test_provisions_follow_the_classification():
    state, entries = loan()
    state = run_days(state, entries, START)
    assert state.provision_fen == state.exposure_fen() // 100  # pass: 1%
    state = run_days(state, entries, state.installments[0].due_date + timedelta(days=100))
    assert state.category == "substandard" and state.provision_fen == Rounding().to_fen(Decimal(state.exposure_fen()) * Decimal("0.25"))
    ledger_matches(state, entries)


def test_write_off_and_recovery():
    state, entries = loan()
    state = run_days(state, entries, state.installments[0].due_date + timedelta(days=400))
    assert state.category == "loss"
    on_balance = state.exposure_fen()
    state, entry = write_off(state, state.closed_through + timedelta(days=1))
    entries.append(entry)
    assert state.status is LoanStatus.WRITTEN_OFF and state.written_off_fen >= on_balance
    ledger_matches(state, entries)
    tb = trial_balance(entries)
    assert tb.normal_balance_fen(Account.PRINCIPAL_RECEIVABLE) == 0
    state, applied, entry = apply_payment(state, 1_000_000, state.closed_through + timedelta(days=1), "recovery")
    entries.append(entry)
    assert applied.recovery_fen == 1_000_000
    assert trial_balance(entries).normal_balance_fen(Account.RECOVERY_INCOME) == 1_000_000


def test_bad_payments_are_refused():
    state, entries = loan()
    with pytest.raises(InvalidInput):
        apply_payment(state, 0, START, "zero")
    with pytest.raises(InvalidInput):
        new_loan(2, 1, replace(state.contract, terms=replace(state.terms, annual_rate=Decimal("0.0712345"))))
    with pytest.raises(InvalidInput):
        new_loan(2, 1, replace(state.contract, terms=replace(state.terms, method=Method.FLAT)))


# --- properties over random histories ---------------------------------------------------------------

methods = st.sampled_from([Method.EQUAL_INSTALLMENT, Method.EQUAL_PRINCIPAL, Method.INTEREST_FIRST, Method.BULLET, Method.REVOLVING])


@st.composite
def histories(draw):
    method = draw(methods)
    calc = InterestCalc.DAILY if method is Method.REVOLVING else draw(st.sampled_from(list(InterestCalc)))
    conventions = Conventions(
        interest_calc=calc,
        days_in_year=draw(st.sampled_from([DaysInYear.D360, DaysInYear.D365])),
        rounding=Rounding(draw(st.sampled_from(list(RoundingMode)))),
    )
    periods = draw(st.integers(1, 12))
    state, entries = loan(
        method,
        principal_fen=draw(st.integers(100_000, 500_000_000)),
        rate=str(Decimal(draw(st.integers(10_000, 240_000))).scaleb(-6)),
        periods=periods,
        conventions=conventions,
        grace_days=draw(st.integers(0, 3)),
        compound=draw(st.booleans()),
        effect=draw(st.sampled_from(list(PrepaymentEffect))),
    )
    steps = draw(st.lists(st.tuples(st.integers(1, 60), st.integers(0, 3_000_000)), min_size=1, max_size=8))
    return state, entries, steps


@settings(max_examples=120, deadline=None)
@given(histories())
def test_random_histories_keep_every_invariant(history):
    state, entries, steps = history
    day = START
    for gap_days, amount_fen in steps:
        day += timedelta(days=gap_days)
        if state.status is not LoanStatus.ACTIVE:
            break
        state = run_days(state, entries, day - timedelta(days=1))
        if amount_fen:
            before = state.principal_outstanding_fen
            state, applied = pay(state, entries, amount_fen, day)
            assert applied.total_fen == amount_fen
            assert state.principal_outstanding_fen == before - applied.principal_fen >= 0
        state.check()
        ledger_matches(state, entries)
    assert len({e.idempotency_key for e in entries}) == len(entries)
    for entry in entries:
        assert sum(p.amount_fen for p in entry.postings) == 0
