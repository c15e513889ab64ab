"""The vectorised batch path: every loan's schedule equals the Decimal path's, to the fen.

Random books cover every method, both rounding modes, decimals 0/1/2 and multiples, grace,
installment multiples, fees (with and without more than 6 decimals), period and daily interest,
days in year 360/365/actual, 30-day months, several frequencies, and start dates on month ends
and leap days. The reference is ``build_schedule(...).installments``.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import date
from decimal import Decimal

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from smelend.errors import InvalidInput
from smelend.money import MAX_AMOUNT_FEN, Rounding, RoundingMode
from smelend.servicing import Conventions, DaysInMonth, DaysInYear, Frequency, InterestCalc, Installment, LoanTerms, Method, build_schedule
from smelend.servicing.batch import ScheduleBatch, _due_dates, _year_fraction, build_schedules_batch
from smelend.servicing.schedule import build_installments
from smelend.servicing.apr import annualised_rates
from smelend.servicing.daycount import due_date, periods_per_year, year_fraction

MONTH_ENDS = [date(2024, 1, 31), date(2024, 2, 29), date(2027, 1, 31), date(2027, 2, 28), date(2026, 8, 31), date(2027, 12, 31), date(2028, 12, 31), date(2100, 1, 31)]
FREQUENCIES = [Frequency("month", 1), Frequency("month", 3), Frequency("day", 7), Frequency("day", 14), Frequency("day", 10), Frequency("day", 30)]
BOOK = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def reference(terms: LoanTerms) -> tuple[Installment, ...]:
    """The Decimal path's installments (build_schedule without the APR, which absurd costs can lack)."""
    return build_installments(terms)


def assert_equals_decimal_path(batch: ScheduleBatch) -> None:
    for i in range(len(batch)):
        assert batch.schedule(i) == reference(batch.terms(i)), (i, batch.terms(i))


# --- strategies -----------------------------------------------------------------------------------


@st.composite
def rates(draw: st.DrawFn, high: Decimal = Decimal("0.36")) -> Decimal:
    """A rate in 0..high with 0 to 6 decimals."""
    decimals = draw(st.integers(0, 6))
    return Decimal(draw(st.integers(0, int(high.scaleb(decimals))))).scaleb(-decimals)


starts = st.one_of(st.sampled_from(MONTH_ENDS), st.dates(date(2000, 1, 1), date(2100, 12, 31)))
principals = st.one_of(st.integers(1, 10**4), st.integers(10**4, 10**10), st.integers(1, MAX_AMOUNT_FEN))


@st.composite
def conventions_for(draw: st.DrawFn, method: Method, periods: int) -> Conventions:
    """Any valid Conventions for ``method`` over (at least) ``periods`` periods."""
    interest_calc = InterestCalc.DAILY if method is Method.REVOLVING else draw(st.sampled_from(InterestCalc))
    frequency = draw(st.sampled_from(FREQUENCIES))
    days_in_month = draw(st.sampled_from(DaysInMonth))
    if interest_calc is InterestCalc.DAILY and frequency.unit == "day":
        days_in_month = DaysInMonth.ACTUAL
    days_in_year = draw(st.sampled_from([DaysInYear.D360, DaysInYear.D365] if days_in_month is DaysInMonth.D30 else list(DaysInYear)))
    rounding = Rounding(draw(st.sampled_from(RoundingMode)), draw(st.sampled_from([0, 1, 2])), draw(st.sampled_from([1, 1, 1, 5, 100])))
    multiple = None
    if method is Method.EQUAL_INSTALLMENT and draw(st.booleans()):
        multiple = rounding.unit_fen * draw(st.sampled_from([1, 10, 100]))
    grace = draw(st.integers(0, min(3, periods - 1))) if method.allows_grace else 0
    fee = draw(st.sampled_from([Decimal(0), Decimal(0), Decimal("0.003"), Decimal("0.0012345678")]))
    conventions = Conventions(interest_calc, days_in_year, days_in_month, frequency, rounding, multiple, grace, fee)
    assert not conventions.errors(method, periods).errors
    return conventions


@st.composite
def books(draw: st.DrawFn, method: Method, max_loans: int = 10) -> tuple[list[int], list[Decimal], list[int], list[date], Conventions]:
    loans = draw(st.integers(1, max_loans))
    terms = draw(st.lists(st.integers(1, 36), min_size=loans, max_size=loans))
    conventions = draw(conventions_for(method, min(terms)))
    amounts = draw(st.lists(principals, min_size=loans, max_size=loans))
    annual = draw(st.lists(rates(), min_size=loans, max_size=loans))
    dates = draw(st.lists(starts, min_size=loans, max_size=loans))
    return amounts, annual, terms, dates, conventions


# --- the batch equals the Decimal path ------------------------------------------------------------


@pytest.mark.parametrize("method", list(Method), ids=[m.value for m in Method])
@BOOK
@given(data=st.data())
def test_batch_equals_decimal_path(method: Method, data: st.DataObject) -> None:
    amounts, annual, terms, dates, conventions = data.draw(books(method))
    batch = build_schedules_batch(np.array(amounts), annual, np.array(terms), method, dates, conventions)
    assert_equals_decimal_path(batch)


@settings(max_examples=60, deadline=None)
@given(data=st.data(), method=st.sampled_from(Method))
def test_batch_equals_decimal_path_on_one_start_and_term(data: st.DataObject, method: Method) -> None:
    """Scalar ``start`` and ``periods`` apply to every loan."""
    amounts, annual, terms, dates, conventions = data.draw(books(method))
    batch = build_schedules_batch(np.array(amounts), annual, terms[0], method, dates[0], conventions)
    assert (batch.periods == terms[0]).all()
    assert_equals_decimal_path(batch)


@settings(max_examples=80, deadline=None)
@given(data=st.data(), method=st.sampled_from(Method))
def test_long_terms_and_full_rate_range_equal_decimal_path(data: st.DataObject, method: Method) -> None:
    """Up to MAX_PERIODS-scale terms and rates up to 1: the integer limits and the float annuity at their widest."""
    periods = data.draw(st.integers(1, 360))
    conventions = data.draw(conventions_for(method, periods))
    loans = data.draw(st.integers(1, 4))
    amounts = data.draw(st.lists(principals, min_size=loans, max_size=loans))
    annual = data.draw(st.lists(rates(Decimal(1)), min_size=loans, max_size=loans))
    batch = build_schedules_batch(np.array(amounts), annual, periods, method, data.draw(starts), conventions)
    assert_equals_decimal_path(batch)


# --- properties of the batch output ----------------------------------------------------------------


@pytest.mark.parametrize("method", list(Method), ids=[m.value for m in Method])
@settings(max_examples=40, deadline=None)
@given(data=st.data())
def test_batch_invariants(method: Method, data: st.DataObject) -> None:
    amounts, annual, terms, dates, conventions = data.draw(books(method, max_loans=20))
    batch = build_schedules_batch(np.array(amounts), annual, np.array(terms), method, dates, conventions)
    mask = batch.mask
    assert (batch.principal_fen.sum(axis=1) == np.array(amounts)).all()
    assert (batch.balance_fen >= 0).all() and (batch.principal_fen >= 0).all() and (batch.interest_fen >= 0).all()
    last = batch.installment_count - 1
    assert (batch.balance_fen[np.arange(len(batch)), last] == 0).all()
    assert (batch.payment_fen == batch.principal_fen + batch.interest_fen + batch.fee_fen).all()
    for cells in (batch.principal_fen, batch.interest_fen, batch.fee_fen, batch.payment_fen, batch.balance_fen):
        assert cells.dtype == np.int64 and (cells[~mask] == 0).all()
    assert np.isnat(batch.due_date[~mask]).all() and not np.isnat(batch.due_date[mask]).any()
    expected_count = np.ones(len(batch)) if method is Method.BULLET else np.array(terms)
    assert (batch.installment_count == expected_count).all()
    steps = np.diff(batch.due_date, axis=1)[mask[:, 1:]]
    assert (steps > np.timedelta64(0, "D")).all()  # due dates strictly increase


@settings(max_examples=60, deadline=None)
@given(
    amounts=st.lists(st.integers(10**6, 10**12), min_size=1, max_size=20),
    data=st.data(),
    mode=st.sampled_from(RoundingMode),
)
def test_equal_installments_are_level_except_the_last(amounts: list[int], data: st.DataObject, mode: RoundingMode) -> None:
    """No grace, interest per period, units of at most 1 yuan: every payment but the last is the same."""
    loans = len(amounts)
    periods = data.draw(st.integers(2, 36))
    annual = data.draw(st.lists(rates(), min_size=loans, max_size=loans))
    rounding = Rounding(mode, data.draw(st.sampled_from([0, 1, 2])))
    multiple = data.draw(st.sampled_from([None, rounding.unit_fen]))
    conventions = Conventions(InterestCalc.PERIOD, frequency=data.draw(st.sampled_from(FREQUENCIES)), rounding=rounding, installment_multiple_fen=multiple)
    batch = build_schedules_batch(np.array(amounts), annual, periods, Method.EQUAL_INSTALLMENT, data.draw(starts), conventions)
    level = batch.payment_fen[:, :-1]
    assert (level == level[:, :1]).all()
    assert (level % conventions.installment_unit_fen == 0).all()


# --- fallbacks and edges ---------------------------------------------------------------------------


@pytest.mark.parametrize("method", list(Method), ids=[m.value for m in Method])
def test_rates_with_seven_or_more_decimals_fall_back_and_still_match(method: Method) -> None:
    conventions = Conventions(InterestCalc.DAILY, DaysInYear.ACTUAL)
    annual = [Decimal("0.0712345"), Decimal("0.1234567891"), Decimal(1) / 128, Decimal("0.072"), Decimal("0.0720000")]
    batch = build_schedules_batch(np.array([10_000_000, 123_456_789, 5_000_01, 10_000_000, 10_000_000]), annual, 12, method, date(2027, 11, 30), conventions)
    assert batch.fallback.tolist() == [True, True, True, False, False]
    assert batch.fallback_count == 3
    assert_equals_decimal_path(batch)
    assert batch.schedule(3) == batch.schedule(4)  # trailing zeros are not extra decimals


def test_products_past_the_integer_limit_fall_back_and_still_match() -> None:
    """Actual/actual across a year end with a 6-decimal rate makes M and D large: 10^11 fen falls back, 10^10 does not."""
    conventions = Conventions(InterestCalc.DAILY, DaysInYear.ACTUAL)
    amounts = np.array([MAX_AMOUNT_FEN, 10**11, 10**10])
    batch = build_schedules_batch(amounts, [Decimal("0.123457")] * 3, 3, Method.EQUAL_PRINCIPAL, date(2027, 12, 15), conventions)
    assert batch.fallback.tolist() == [True, True, False]
    assert_equals_decimal_path(batch)


@pytest.mark.parametrize("mode, payment_fen", [(RoundingMode.HALF_UP, 5101), (RoundingMode.HALF_EVEN, 5100)])
def test_annuity_on_an_exact_tie_is_recomputed_in_decimal(mode: RoundingMode, payment_fen: int) -> None:
    """10,050 fen at 1% a month over 2 months pays 10050 x 1.01^2 / 2.01 = 5,100.5 fen exactly: float cannot decide."""
    conventions = Conventions(rounding=Rounding(mode))
    batch = build_schedules_batch(np.array([10_050, 10_050 * 3]), [Decimal("0.12")] * 2, 2, Method.EQUAL_INSTALLMENT, date(2026, 1, 15), conventions)
    assert batch.payment_recomputed.tolist() == [True, True]
    assert int(batch.payment_fen[0, 0]) == payment_fen
    assert_equals_decimal_path(batch)


def test_huge_principals_recompute_the_payment_where_float_cannot_resolve_a_fen() -> None:
    batch = build_schedules_batch(np.array([MAX_AMOUNT_FEN, 10_000_000]), [Decimal("0.0725")] * 2, 24, Method.EQUAL_INSTALLMENT, date(2026, 1, 31), Conventions())
    assert batch.payment_recomputed.tolist() == [True, False]
    assert_equals_decimal_path(batch)


def test_monthly_fee_rate_with_more_decimals_is_computed_per_loan() -> None:
    conventions = Conventions(monthly_fee_rate=Decimal("0.00123456789"), rounding=Rounding(RoundingMode.HALF_EVEN))
    batch = build_schedules_batch(np.array([10_000_000, 999_999, 1]), [Decimal("0.1")] * 3, 6, Method.FLAT, date(2026, 3, 31), conventions)
    assert batch.fallback_count == 0
    assert_equals_decimal_path(batch)


def test_design_reference_figures() -> None:
    batch = build_schedules_batch(np.array([10_000_000]), [Decimal("0.072")], np.array([12]), Method.EQUAL_INSTALLMENT, date(2026, 1, 15), Conventions())
    assert set(batch.payment_fen[0, :-1].tolist()) == {866_190}
    assert int(batch.interest_fen.sum()) == 394_275
    row = batch.schedule(0)[0]
    assert type(row.principal_fen) is int and type(row.due_date) is date


def test_float_rates_are_read_by_their_shortest_repr() -> None:
    by_float = build_schedules_batch(np.array([10_000_000, 20_000_000]), np.array([0.072, 0.1]), 12, Method.EQUAL_PRINCIPAL, date(2026, 1, 15))
    by_decimal = build_schedules_batch(np.array([10_000_000, 20_000_000]), [Decimal("0.072"), Decimal("0.1")], 12, Method.EQUAL_PRINCIPAL, date(2026, 1, 15))
    assert [by_float.schedule(i) for i in range(2)] == [by_decimal.schedule(i) for i in range(2)]
    assert by_float.fallback_count == 0


def test_payments_by_period_give_the_decimal_path_apr() -> None:
    """APR is not computed in batch; pyxirr on payments_by_period gives the Decimal path's figure."""
    for method in (Method.EQUAL_INSTALLMENT, Method.BULLET):
        conventions = Conventions(monthly_fee_rate=Decimal("0.002"))
        batch = build_schedules_batch(np.array([1_200_000, 5_000_000]), [Decimal("0.0725"), Decimal("0.18")], 12, method, date(2026, 1, 15), conventions)
        for i in range(len(batch)):
            apr, effective = annualised_rates(int(batch.amount_fen[i]), batch.payments_by_period(i), periods_per_year(conventions.frequency))
            reference_schedule = build_schedule(batch.terms(i))
            assert (apr, effective) == (reference_schedule.apr, reference_schedule.effective_annual_rate)


def test_the_callers_arrays_stay_writable() -> None:
    amounts, starts = np.array([100_000, 200_000]), np.array(["2026-01-31", "2026-02-28"], "datetime64[D]")
    build_schedules_batch(amounts, [Decimal("0.1")] * 2, np.array([3, 4]), Method.EQUAL_INSTALLMENT, starts)
    assert amounts.flags.writeable and starts.flags.writeable


def test_empty_book() -> None:
    batch = build_schedules_batch(np.array([], np.int64), [], np.array([], np.int64), Method.EQUAL_INSTALLMENT, date(2026, 1, 15))
    assert len(batch) == 0 and batch.principal_fen.shape == (0, 0) and batch.fallback_count == 0


def test_arrays_are_read_only() -> None:
    batch = build_schedules_batch(np.array([100_000]), [Decimal("0.1")], 3, Method.BULLET, date(2026, 1, 15))
    with pytest.raises(ValueError):
        batch.payment_fen[0, 0] = 1


def test_invalid_loans_are_all_named() -> None:
    with pytest.raises(InvalidInput) as raised:
        build_schedules_batch(np.array([0, 100, MAX_AMOUNT_FEN + 1]), [Decimal("0.1"), Decimal("1.5"), Decimal("-0.1")], np.array([12, 0, 601]), Method.EQUAL_INSTALLMENT, date(2026, 1, 15))
    fields = {error.field for error in raised.value.errors}
    assert fields == {"principal[0]", "principal[2]", "annual_rate[1]", "annual_rate[2]", "periods[1]", "periods[2]"}


def test_invalid_conventions_are_reported_like_the_decimal_path() -> None:
    conventions = Conventions(grace_principal=3)
    with pytest.raises(InvalidInput) as raised:
        build_schedules_batch(np.array([100_000, 100_000]), [Decimal("0.1")] * 2, np.array([12, 3]), Method.EQUAL_INSTALLMENT, date(2026, 1, 15), conventions)
    with pytest.raises(InvalidInput) as single:
        build_schedule(LoanTerms(100_000, Decimal("0.1"), 3, Method.EQUAL_INSTALLMENT, date(2026, 1, 15), conventions))
    assert raised.value.errors == single.value.errors
    with pytest.raises(InvalidInput):
        build_schedules_batch(np.array([100_000]), [Decimal("0.1")], 6, Method.BULLET, date(2026, 1, 15), replace(conventions, grace_principal=1))
    with pytest.raises(InvalidInput):
        build_schedules_batch(np.array([100_000]), [Decimal("NaN")], 6, Method.BULLET, date(2026, 1, 15))
    with pytest.raises(InvalidInput):
        build_schedules_batch(np.array([100.0]), [Decimal("0.1")], 6, Method.BULLET, date(2026, 1, 15))


# --- the vectorised calendar equals daycount -------------------------------------------------------


@settings(max_examples=200, deadline=None)
@given(
    start=st.one_of(st.sampled_from(MONTH_ENDS), st.dates(date(1890, 1, 1), date(2420, 12, 31))),
    frequency=st.sampled_from([*FREQUENCIES, Frequency("month", 12), Frequency("day", 366)]),
    number=st.integers(1, 120),
    days_in_year=st.sampled_from(DaysInYear),
    interest_calc=st.sampled_from(InterestCalc),
)
def test_vectorised_due_dates_and_year_fractions_equal_daycount(
    start: date, frequency: Frequency, number: int, days_in_year: DaysInYear, interest_calc: InterestCalc
) -> None:
    conventions = Conventions(interest_calc, days_in_year, frequency=frequency)
    due = _due_dates(np.array([start], "datetime64[D]"), frequency, np.array([[number]]))
    assert due[0, 0].item() == due_date(start, frequency, number)
    num, den = _year_fraction(np.array([[start]], "datetime64[D]"), due, conventions, np.array([[number]]))
    expected = year_fraction(start, due_date(start, frequency, number), conventions, periods=number)
    assert (int(num[0, 0]), int(den[0, 0])) == expected
