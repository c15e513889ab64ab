"""The Decimal schedule path: reference figures, a Fineract schedule, conventions, and invariants."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, timedelta
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from smelend.errors import InvalidInput
from smelend.money import Rounding, RoundingMode
from smelend.servicing import Conventions, DaysInMonth, DaysInYear, Frequency, InterestCalc, LoanTerms, Method, build_schedule

START = date(2026, 1, 15)


def schedule(principal_fen: int = 10_000_000, rate: str = "0.072", periods: int = 12, method: Method = Method.EQUAL_INSTALLMENT, start: date = START, **conventions):
    return build_schedule(LoanTerms(principal_fen, Decimal(rate), periods, method, start, Conventions(**conventions)))


def test_design_reference_equal_installment():
    s = schedule()
    assert {i.payment_fen for i in s.installments[:-1]} == {866_190}
    assert s.total_interest_fen == 394_275
    assert s.installments[0].interest_fen == 60_000
    assert s.installments[0].principal_fen == 806_190


def test_design_reference_equal_principal():
    s = schedule(method=Method.EQUAL_PRINCIPAL)
    assert s.total_interest_fen == 390_000
    assert [i.principal_fen for i in s.installments[:3]] == [833_333, 833_333, 833_333]
    assert s.installments[-1].principal_fen == 10_000_000 - 11 * 833_333


def test_design_reference_fee_apr():
    s = schedule(1_200_000, "0", 12, Method.FLAT, monthly_fee_rate=Decimal("0.006"))
    assert [i.payment_fen for i in s.installments] == [107_200] * 12
    assert round(s.apr, 4) == Decimal("0.1303")
    assert round(s.effective_annual_rate, 4) == Decimal("0.1384")
    assert s.total_interest_fen == 0 and s.total_fee_fen == 86_400


def test_reproduces_fineract_emi_360_30_schedule():
    """Apache Fineract e2e feature (LoanReAgingEqualAmortization, product LP2_ADV_PYMNT_INTEREST_DAILY_EMI_360_30):
    100 at 7%, 6 monthly equal installments from 1 Jan 2024, daily interest, 360 days a year, 30-day months."""
    s = schedule(10_000, "0.07", 6, start=date(2024, 1, 1), interest_calc=InterestCalc.DAILY, days_in_year=DaysInYear.D360, days_in_month=DaysInMonth.D30)
    rows = [(i.due_date, i.principal_fen, i.interest_fen, i.payment_fen, i.balance_fen) for i in s.installments]
    assert rows == [
        (date(2024, 2, 1), 1643, 58, 1701, 8357),
        (date(2024, 3, 1), 1652, 49, 1701, 6705),
        (date(2024, 4, 1), 1662, 39, 1701, 5043),
        (date(2024, 5, 1), 1672, 29, 1701, 3371),
        (date(2024, 6, 1), 1681, 20, 1701, 1690),
        (date(2024, 7, 1), 1690, 10, 1700, 0),
    ]
    assert s.total_interest_fen == 205


def test_daily_interest_uses_actual_days():
    s = schedule(3_600_000, "0.10", 2, Method.INTEREST_FIRST, start=date(2026, 1, 31), interest_calc=InterestCalc.DAILY, days_in_year=DaysInYear.D360)
    # 31 Jan -> 28 Feb is 28 days, 28 Feb -> 31 Mar is 31 days: 36,000 x 10% x days / 360
    assert [i.interest_fen for i in s.installments] == [28_000, 31_000]
    assert [i.due_date for i in s.installments] == [date(2026, 2, 28), date(2026, 3, 31)]


def test_actual_days_in_year_splits_leap_years():
    s = schedule(36_600_000, "0.10", 1, Method.BULLET, start=date(2027, 12, 1), interest_calc=InterestCalc.DAILY, days_in_year=DaysInYear.ACTUAL)
    # 31 days in 2027 over 365, 0 in 2028
    assert s.installments[0].interest_fen == round(366_000_00 * Decimal("0.10") * 31 / 365)
    s = schedule(36_600_000, "0.10", 1, Method.BULLET, start=date(2027, 12, 16), interest_calc=InterestCalc.DAILY, days_in_year=DaysInYear.ACTUAL)
    exact = Decimal(36_600_000) * Decimal("0.10") * (Decimal(16) / 365 + Decimal(15) / 366)
    assert s.installments[0].interest_fen == int(exact.quantize(Decimal(1), rounding="ROUND_HALF_UP"))


def test_due_dates_keep_the_contract_day_and_clamp_at_month_end():
    s = schedule(periods=4, start=date(2024, 1, 31))
    assert [i.due_date for i in s.installments] == [date(2024, 2, 29), date(2024, 3, 31), date(2024, 4, 30), date(2024, 5, 31)]


@pytest.mark.parametrize(("frequency", "step_days"), [("weekly", 7), ("biweekly", 14), ("days:10", 10)])
def test_day_frequencies(frequency, step_days):
    s = schedule(periods=5, frequency=Frequency.parse(frequency))
    assert [i.due_date for i in s.installments] == [START + timedelta(days=step_days * k) for k in range(1, 6)]


def test_weekly_period_rate_is_annual_over_52():
    s = schedule(5_200_000, "0.052", 4, Method.INTEREST_FIRST, frequency=Frequency.parse("weekly"))
    assert s.installments[0].interest_fen == 5_200


def test_installment_multiple_rounds_the_payment_to_whole_yuan():
    s = schedule(installment_multiple_fen=100)
    assert {i.payment_fen for i in s.installments[:-1]} == {866_200}
    assert s.total_principal_fen == 10_000_000


def test_amount_multiple_with_zero_decimals():
    s = schedule(method=Method.EQUAL_PRINCIPAL, rounding=Rounding(decimals=0, multiple=100))
    for i in s.installments[:-1]:
        assert i.principal_fen % 10_000 == 0 and i.interest_fen % 10_000 == 0
    assert s.installments[0].principal_fen == 830_000  # 8,333.33 to the nearest hundred yuan


def test_half_even_differs_from_half_up_on_a_tie():
    # 1,000.00 at 1.8%/12 = 1.50 per month exactly; 25 fen at 0.15%... pick a tie in fen: 0.5 fen
    up = schedule(10_000, "0.006", 1, Method.INTEREST_FIRST)
    even = schedule(10_000, "0.006", 1, Method.INTEREST_FIRST, rounding=Rounding(mode=RoundingMode.HALF_EVEN))
    assert (up.installments[0].interest_fen, even.installments[0].interest_fen) == (5, 5)
    up = schedule(2_500, "0.06", 1, Method.INTEREST_FIRST)  # 25.00 x 0.5% = 12.5 fen
    even = schedule(2_500, "0.06", 1, Method.INTEREST_FIRST, rounding=Rounding(mode=RoundingMode.HALF_EVEN))
    assert (up.installments[0].interest_fen, even.installments[0].interest_fen) == (13, 12)


def test_grace_on_principal_pays_interest_first_then_amortises_over_the_rest():
    s = schedule(grace_principal=3)
    assert [i.principal_fen for i in s.installments[:3]] == [0, 0, 0]
    assert [i.interest_fen for i in s.installments[:3]] == [60_000] * 3
    level = schedule(periods=9).installments[0].payment_fen
    assert {i.payment_fen for i in s.installments[3:-1]} == {level}


def test_interest_first_and_bullet_and_revolving():
    first = schedule(method=Method.INTEREST_FIRST)
    assert [i.principal_fen for i in first.installments] == [0] * 11 + [10_000_000]
    assert first.total_interest_fen == 720_000
    bullet = schedule(method=Method.BULLET)
    assert len(bullet.installments) == 1
    assert bullet.installments[0].due_date == date(2027, 1, 15)
    assert bullet.installments[0].payment_fen == 10_720_000
    assert bullet.apr < Decimal("0.072")  # one payment at the end: the compound rate is lower than simple
    revolving = schedule(method=Method.REVOLVING, interest_calc=InterestCalc.DAILY, days_in_year=DaysInYear.D360)
    assert revolving.installments[0].interest_fen == 10_000_000 * 72 * 31 // 360_000


def test_flat_interest_is_on_the_original_principal():
    s = schedule(method=Method.FLAT)
    assert {i.interest_fen for i in s.installments} == {60_000}
    assert s.apr > Decimal("0.13")


def test_zero_rate_equal_installment_divides_the_principal():
    s = schedule(rate="0")
    assert s.total_interest_fen == 0
    assert {i.payment_fen for i in s.installments[:-1]} == {833_333}
    assert abs(s.apr) < Decimal("1e-12")  # the IRR of flows that sum to the principal, to float precision


@pytest.mark.parametrize(
    ("terms", "field"),
    [
        (dict(principal_fen=0), "principal"),
        (dict(principal_fen=-100), "principal"),
        (dict(periods=0), "periods"),
        (dict(annual_rate=Decimal("1.5")), "annual_rate"),
        (dict(annual_rate=Decimal("-0.01")), "annual_rate"),
    ],
)
def test_invalid_terms_name_the_field(terms, field):
    base = LoanTerms(10_000_000, Decimal("0.072"), 12, Method.EQUAL_INSTALLMENT, START)
    with pytest.raises(InvalidInput) as caught:
        build_schedule(replace(base, **terms))
    assert caught.value.first.field == field


@pytest.mark.parametrize(
    ("method", "conventions", "field"),
    [
        (Method.BULLET, dict(grace_principal=1), "grace_principal"),
        (Method.EQUAL_INSTALLMENT, dict(grace_principal=12), "grace_principal"),
        (Method.EQUAL_PRINCIPAL, dict(installment_multiple_fen=100), "installment_multiple"),
        (Method.EQUAL_INSTALLMENT, dict(days_in_month=DaysInMonth.D30, days_in_year=DaysInYear.ACTUAL), "days_in_month"),
        (Method.REVOLVING, dict(), "interest_calc"),
    ],
)
def test_conflicting_conventions_are_refused(method, conventions, field):
    with pytest.raises(InvalidInput) as caught:
        schedule(method=method, **conventions)
    assert field in [e.field for e in caught.value.errors]


def test_every_error_is_reported_at_once():
    with pytest.raises(InvalidInput) as caught:
        build_schedule(LoanTerms(0, Decimal(2), 0, Method.EQUAL_INSTALLMENT, START))
    assert [e.field for e in caught.value.errors] == ["principal", "annual_rate", "periods"]


# --- properties -------------------------------------------------------------------------------

methods = st.sampled_from([m for m in Method])
rates = st.integers(0, 360_000).map(lambda n: Decimal(n).scaleb(-6))


@st.composite
def loan_terms(draw):
    method = draw(methods)
    periods = draw(st.integers(1, 60))
    calc = InterestCalc.DAILY if method is Method.REVOLVING else draw(st.sampled_from(list(InterestCalc)))
    days_in_year = draw(st.sampled_from(list(DaysInYear)))
    days_in_month = DaysInMonth.ACTUAL if days_in_year is DaysInYear.ACTUAL else draw(st.sampled_from(list(DaysInMonth)))
    decimals = draw(st.sampled_from([0, 1, 2]))
    multiple = draw(st.sampled_from([1, 1, 5, 100])) if decimals == 0 else 1
    rounding = Rounding(draw(st.sampled_from(list(RoundingMode))), decimals, multiple)
    grace = draw(st.integers(0, periods - 1)) if method.allows_grace else 0
    installment_multiple = draw(st.sampled_from([None, rounding.unit_fen * 10])) if method is Method.EQUAL_INSTALLMENT else None
    conventions = Conventions(
        interest_calc=calc,
        days_in_year=days_in_year,
        days_in_month=days_in_month,
        frequency=draw(st.sampled_from([Frequency.parse(f) for f in ("monthly", "weekly", "biweekly", "days:30")])),
        rounding=rounding,
        installment_multiple_fen=installment_multiple,
        grace_principal=grace,
        monthly_fee_rate=draw(st.sampled_from([Decimal(0), Decimal("0.003")])),
    )
    start = draw(st.dates(date(2020, 1, 1), date(2035, 12, 31)))
    return LoanTerms(draw(st.integers(1, 5_000_000_000)), draw(rates), periods, method, start, conventions)


@settings(max_examples=300, deadline=None)
@given(loan_terms())
def test_schedule_invariants(terms):
    s = build_schedule(terms)
    assert sum(i.principal_fen for i in s.installments) == terms.principal_fen
    assert all(i.balance_fen >= 0 for i in s.installments)
    assert s.installments[-1].balance_fen == 0
    assert all(i.payment_fen == i.principal_fen + i.interest_fen + i.fee_fen for i in s.installments)
    balances = [terms.principal_fen] + [i.balance_fen for i in s.installments]
    assert all(b1 - b2 == i.principal_fen for b1, b2, i in zip(balances, balances[1:], s.installments))
    assert [i.number for i in s.installments] == list(range(1, len(s.installments) + 1))
    assert all(a.due_date < b.due_date for a, b in zip(s.installments, s.installments[1:]))


@settings(max_examples=200, deadline=None)
@given(st.integers(100_000, 1_000_000_000), rates, st.integers(2, 36), st.sampled_from(list(RoundingMode)))
def test_equal_installments_are_equal_except_the_last(principal_fen, rate, periods, mode):
    s = build_schedule(LoanTerms(principal_fen, rate, periods, Method.EQUAL_INSTALLMENT, START, Conventions(rounding=Rounding(mode))))
    assert len({i.payment_fen for i in s.installments[:-1]}) == 1
    assert abs(s.installments[-1].payment_fen - s.installments[0].payment_fen) <= periods
