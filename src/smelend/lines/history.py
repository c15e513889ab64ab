"""Latent-behaviour histories for a synthetic book: who each account is, what it drew, how it paid.

Why: tests, benchmarks, the behaviour-score training and trials of the close of business need a book
with realistic repayment histories *and* the truth behind them (each account's latent risk and the day
it would stop paying), at up to a million accounts. Replaying a year of business day by day through
the per-loan engine would take hours, so the history is drawn directly as arrays (numpy), the way
``benchmarks/cob_book.py`` builds its book, and only the parts that must be exact are taken from the
servicing engine:

* schedules come from :func:`smelend.servicing.batch.build_schedules_batch` under each product's
  conventions (:meth:`Product.conventions_for`), so every installment is the engine's own;
* accrued interest through the night before the business date is exactly what close of business would
  have accrued (scheduled interest spread by integer floor division from the period start; revolving
  interest by the closed form of the daily carry chain);
* days past due, the five-category classification and provisions come from the vectorised
  :mod:`smelend.servicing.delinquency` functions.

Approximations (a valid state, not a replayed history): penalties of the current delinquency are
``base x penalty rate x days past grace`` with a random carry; the part of interest and penalty
accrued at non-accrual is suspended pro rata; installments paid late and then cured carry no penalty
(waived, as a grace policy would); there are no prepayments.

The latent behaviour, per account (see :func:`simulate_book`): the enterprise and its owner are drawn
by the risk engine's :func:`~smelend.risk.providers.simulated.simulate_table`, whose ``latent_pd`` (12
months) is the account's risk. From it: a default day (the account stops paying) drawn from a constant
hazard ``-ln(1 - pd) / 365`` per day from the line's start; a chance of paying an installment a few days
late ``0.02 + 1.5 pd`` (0.5 in the 90 days before the default day: borrowers slip before they stop); and
enterprise data trends that fall as the default day nears. The label the behaviour score is trained on
(:attr:`GeneratedBook.bad_next_12m`) is read off the same latent path: the account reaches 90 days past
due within 12 months after the business date.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal

import numpy as np
import polars as pl

from smelend.products.loader import Catalogue
from smelend.risk.providers.simulated import simulate_table
from smelend.servicing import delinquency
from smelend.servicing.batch import build_schedules_batch
from smelend.servicing.cob_batch import METHOD_CODES, STATUS_CODES
from smelend.servicing.conventions import Conventions, DaysInYear, Method
from smelend.servicing.loan import RATE_SCALE, LoanStatus

TERM_CHOICES = (1, 3, 6, 12)  # monthly periods drawn (within each product's allowed range)
LINE_AGE_MAX_DAYS = 420  # lines started up to ~14 months before the business date (some expired)
RENEWED_SHARE, RENEWED_AGE_MAX_DAYS = 0.1, 800  # and a tenth, renewed once, up to ~26 months before
MIN_RATE_BP, MAX_RATE_BP = 500, 1_800  # 5% .. 18% a year, 4-decimal rates
LATE_BASE, LATE_PER_PD, LATE_BEFORE_DEFAULT = 0.02, 1.5, 0.5
SLIP_WINDOW_DAYS = 90
BAD_DPD = 90
HORIZON_DAYS = 365
FROZEN_AT_DPD = 60  # lines with a loan this late are frozen (the reassessment rules would have done it)
USCC_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
USCC_WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)
STRESS_MAX = 0.12  # trends fall by up to 12 points as the default day nears (within a year)
TREND_MIN, TREND_MAX = -0.9, 2.0  # growth reported by a provider, clipped (tiny bases make wild ratios)
EVENT_KINDS = ("tax_record", "invoice_record", "settlement_record", "external_alert")


@dataclass(frozen=True, eq=False)
class GeneratedBook:
    """A synthetic book as arrays: accounts (= enterprises = lines), loans, installments, payments, events.

    Row ``k`` of every account array is account ``k`` (0-based); loans name their account by
    ``loan_account``; installment cells are ``(loans, width)`` grids with the validity mask ``valid``.
    Money is int64 fen; dates are ``datetime64[D]``.
    """

    as_of: date
    # accounts
    latent_pd: np.ndarray
    default_day: np.ndarray  # the day the account stops paying (may be far in the future)
    bad_next_12m: np.ndarray  # bool: reaches 90 DPD within 12 months after as_of (training label)
    product_id: np.ndarray  # object array of product ids
    limit_fen: np.ndarray
    rate_bp: np.ndarray
    line_start: np.ndarray
    line_end: np.ndarray
    line_status: np.ndarray  # object: active / frozen / expired
    used_fen: np.ndarray
    # loans
    loan_account: np.ndarray
    method: np.ndarray  # code into METHOD_CODES
    periods: np.ndarray
    principal_fen: np.ndarray
    loan_start: np.ndarray
    penalty_rate: list[Decimal]
    compound: np.ndarray
    grace_days: np.ndarray
    prepayment: list[str]
    conventions: list[Conventions]
    loan_status: np.ndarray  # code into STATUS_CODES
    closed_through: np.ndarray
    interest_carry: np.ndarray
    penalty_carry: np.ndarray
    interest_receivable_fen: np.ndarray
    suspended_interest_fen: np.ndarray
    penalty_receivable_fen: np.ndarray
    suspended_penalty_fen: np.ndarray
    days_past_due: np.ndarray
    category: np.ndarray  # Category code
    provision_fen: np.ndarray
    # installments (loans, width)
    valid: np.ndarray
    period_start: np.ndarray
    due_date: np.ndarray
    inst_principal_fen: np.ndarray
    inst_interest_fen: np.ndarray
    inst_fee_fen: np.ndarray
    accrued_interest_fen: np.ndarray
    paid_principal_fen: np.ndarray
    paid_interest_fen: np.ndarray
    paid_fee_fen: np.ndarray
    paid_on: np.ndarray  # the day each paid installment was paid (NaT: unpaid)
    written_off_fen: np.ndarray  # memo of a written-off loan: everything it owed, pursued off the books
    before_write_off: dict[str, np.ndarray]  # a written-off loan's balances the day it was written off (0 for others)
    # enterprise data (one frame, one row per event)
    events: pl.DataFrame

    @property
    def accounts(self) -> int:
        return int(self.latent_pd.size)

    @property
    def loans(self) -> int:
        return int(self.loan_account.size)


def uscc_codes(numbers: np.ndarray) -> list[str]:
    """Valid unified social credit codes (GB 32100 check character), one per non-negative integer.

    Layout: "91" (enterprise, company) + "440300" (Shenzhen) + 9 characters encoding the number in the
    USCC alphabet + the check character; distinct numbers give distinct codes.
    """
    numbers = np.asarray(numbers, dtype=np.int64)
    digits = np.zeros((numbers.size, 9), np.int64)
    rest = numbers.copy()
    for position in range(8, -1, -1):
        rest, digits[:, position] = np.divmod(rest, 31)
    assert not rest.any(), "too many codes for 9 characters"
    prefix = [int(c) for c in "91440300"]
    weights = np.array(USCC_WEIGHTS, np.int64)
    total = sum(d * w for d, w in zip(prefix, USCC_WEIGHTS[:8])) + digits @ weights[8:]
    check = (31 - total % 31) % 31
    alphabet = np.array(list(USCC_ALPHABET))
    body = alphabet[np.concatenate([digits, check[:, None]], axis=1)]
    return ["91440300" + "".join(row) for row in body.tolist()]


def _days(values: np.ndarray) -> np.ndarray:
    return values.astype("timedelta64[D]")


def _logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(p, 1e-6, 1 - 1e-6)
    return np.log(p / (1 - p))


def simulate_book(accounts: int, seed: int, as_of: date, catalogue: Catalogue, policy: delinquency.DelinquencyPolicy, chunk: int = 0) -> GeneratedBook:
    """``accounts`` credit lines with their loans and histories as they stand at the end of ``as_of - 1``.

    Deterministic for ``(accounts, seed, as_of)`` and the catalogue. Every product of the catalogue and
    every repayment method it offers occurs; loans are performing, late (1 day to over a year past due,
    so every bucket and category occurs), written off (loss and past the policy's write-off age: their
    lines frozen), or closed (repaid); about 15% of lines are undrawn, 65% have
    one loan and 20% two. A large book is drawn in chunks of accounts, ``chunk`` numbering them (each its
    own random streams), so memory stays bounded.
    """
    assert accounts >= 1
    rng = np.random.default_rng([seed, chunk, 7])
    day = np.datetime64(as_of, "D")
    d_prev = day - np.timedelta64(1, "D")
    facts = simulate_table(accounts, seed * 1_000_003 + chunk)
    latent_pd = np.clip(facts["latent_pd"].to_numpy().astype(np.float64), 0.002, 0.6)

    # --- the line: product by the data the enterprise has, limit by its size --------------------------
    products = sorted(catalogue)
    has = {
        "tax-data-loan": facts["tax_grade"].is_not_null().to_numpy(),
        "invoice-loan": (facts["invoice_sales_12m_fen"].fill_null(0) > 0).to_numpy(),
        "settlement-flow-loan": (facts["cashflow_inflow_monthly_avg_fen"].fill_null(0) > 0).to_numpy(),
    }
    weights = np.stack([np.where(has.get(p, np.ones(accounts, bool)), 1.0, 0.05) for p in products], axis=1)
    weights *= rng.random((accounts, len(products))) + 0.2
    product_index = weights.argmax(axis=1)
    product_id = np.array(products, dtype=object)[product_index]
    sales = facts["tax_declared_sales_12m_fen"].fill_null(0).to_numpy().astype(np.float64)
    sales = np.where(sales > 0, sales, facts["invoice_sales_12m_fen"].fill_null(0).to_numpy().astype(np.float64))
    sales = np.where(sales > 0, sales, 150_000_000.0)
    limit_min = np.array([catalogue[p].limit.min_fen for p in products], np.int64)[product_index]
    limit_max = np.array([catalogue[p].limit.max_fen for p in products], np.int64)[product_index]
    raw_limit = sales * 0.1 * np.exp(rng.normal(0, 0.3, accounts) - 0.5 * _logit(latent_pd) / 4)
    unit = 100_000  # lines in whole thousands of yuan
    limit_fen = np.clip((raw_limit // unit).astype(np.int64) * unit, np.maximum(limit_min, unit), limit_max)
    rate_bp = np.clip((600 + 3_000 * latent_pd + rng.normal(0, 150, accounts)).round(), MIN_RATE_BP, MAX_RATE_BP).astype(np.int64)  # risk-based
    renewed = rng.random(accounts) < RENEWED_SHARE  # long-standing customers: the line was renewed once (24 months of validity)
    line_age = np.where(renewed, rng.integers(LINE_AGE_MAX_DAYS, RENEWED_AGE_MAX_DAYS, accounts), rng.integers(1, LINE_AGE_MAX_DAYS, accounts))
    line_start = day - _days(line_age)
    line_end = _add_months(line_start, np.where(renewed, 24, 12))

    # --- the latent path: default day, lateness --------------------------------------------------------
    hazard = -np.log1p(-latent_pd) / 365.0
    default_day = line_start + _days(np.minimum(rng.exponential(1.0 / hazard), 36_500).astype(np.int64))
    bad_next_12m = (default_day > d_prev - np.timedelta64(BAD_DPD, "D")) & (default_day <= day + np.timedelta64(HORIZON_DAYS - BAD_DPD, "D"))

    # --- loans: 0, 1 or 2 draws per line ---------------------------------------------------------------
    draws = rng.choice([0, 1, 2], size=accounts, p=[0.15, 0.65, 0.20])
    loan_account = np.repeat(np.arange(accounts), draws)
    second = np.zeros(loan_account.size, bool)
    second[1:] = loan_account[1:] == loan_account[:-1]
    loans = loan_account.size
    share = np.where(second, rng.uniform(0.1, 0.4, loans), rng.uniform(0.2, 0.6, loans))
    principal = np.maximum((limit_fen[loan_account] * share) // 10_000 * 10_000, 100_000).astype(np.int64)
    window_end = np.minimum(line_end[loan_account], d_prev)
    window = np.maximum((window_end - line_start[loan_account]).astype(np.int64), 0)
    loan_start = line_start[loan_account] + _days((rng.random(loans) * (window + 1)).astype(np.int64))
    method = np.zeros(loans, np.int8)
    periods = np.zeros(loans, np.int64)
    conventions: list[Conventions | None] = [None] * loans
    penalty_rate: list[Decimal] = [Decimal(0)] * loans
    prepayment: list[str] = [""] * loans
    compound = np.zeros(loans, bool)
    grace = np.zeros(loans, np.int64)
    pick = rng.random(loans)
    pick_term = rng.random(loans)
    loan_product = product_index[loan_account]
    rate_text = {bp: Decimal(int(bp)).scaleb(-4) for bp in range(MIN_RATE_BP, MAX_RATE_BP + 1)}
    for p, pid in enumerate(products):
        product = catalogue[pid]
        rows = np.flatnonzero(loan_product == p)
        offered = list(product.repayment_methods.items())
        choice = (pick[rows] * len(offered)).astype(np.int64)
        compound[rows] = product.penalty.compound_overdue_interest
        grace[rows] = product.penalty.grace_days
        for m, (meth, allowed) in enumerate(offered):
            sub = rows[choice == m]
            terms = [t for t in TERM_CHOICES if allowed.allows(t)] or [min(allowed.max_term, 12)]
            method[sub] = METHOD_CODES.index(meth)
            periods[sub] = np.array(terms)[(pick_term[sub] * len(terms)).astype(np.int64)]
            conv = product.conventions_for(meth)
            for k in sub.tolist():
                conventions[k] = conv
                penalty_rate[k] = rate_text[int(rate_bp[loan_account[k]])] * product.penalty.rate_multiplier
                prepayment[k] = product.prepayment.value

    # --- schedules from the engine, one batch per (product, method) ------------------------------------
    width = int(periods.max()) if loans else 1
    due = np.full((loans, width), np.datetime64("NaT"), dtype="datetime64[D]")
    sched_principal = np.zeros((loans, width), np.int64)
    sched_interest = np.zeros((loans, width), np.int64)
    fee = np.zeros((loans, width), np.int64)
    group = loan_product.astype(np.int64) * 16 + method
    loan_rate_bp = rate_bp[loan_account]
    for key in np.unique(group).tolist():
        rows = np.flatnonzero(group == key)
        batch = build_schedules_batch(
            principal[rows], [rate_text[int(b)] for b in loan_rate_bp[rows].tolist()], periods[rows],
            METHOD_CODES[key % 16], loan_start[rows], conventions[int(rows[0])],
        )
        cols = batch.due_date.shape[1]
        due[rows, :cols] = batch.due_date
        sched_principal[rows, :cols] = batch.principal_fen
        sched_interest[rows, :cols] = batch.interest_fen
        fee[rows, :cols] = batch.fee_fen
    valid = ~np.isnat(due)
    period_start = np.concatenate([loan_start[:, None], due[:, :-1]], axis=1)
    period_start[~valid] = np.datetime64("NaT")

    revolving = method == METHOD_CODES.index(Method.REVOLVING)
    d360 = np.array([c is not None and c.days_in_year is DaysInYear.D360 for c in conventions], bool)
    denominator = np.where(d360, 360, 365).astype(np.int64) * RATE_SCALE
    rate_scaled = loan_rate_bp.astype(np.int64) * (RATE_SCALE // 10_000)
    penalty_scaled = np.array([int(r * RATE_SCALE) for r in penalty_rate], np.int64) if loans else np.zeros(0, np.int64)
    d_int = int(d_prev.astype(np.int64))
    due_i = due.astype(np.int64)
    ps_i = period_start.astype(np.int64)
    start_i = loan_start.astype(np.int64)

    # accrued interest through the night of as_of - 1
    past = valid & (due_i <= d_int)
    current = valid & (ps_i <= d_int) & (due_i > d_int)
    span = np.where(valid, due_i - ps_i, 1)
    elapsed = d_int - ps_i + 1
    accrued = np.where(past, sched_interest, np.where(current, sched_interest * elapsed // np.maximum(span, 1), 0))
    interest = sched_interest.copy()
    interest[revolving] = 0
    accrued[revolving] = 0
    interest_carry = np.zeros(loans, np.int64)
    if revolving.any():
        r = np.flatnonzero(revolving)
        whole, part = np.divmod(principal[r] * rate_scaled[r], denominator[r])

        def chain(nights: np.ndarray) -> np.ndarray:
            return nights * whole[:, None] + nights * part[:, None] // denominator[r][:, None]

        lo = np.clip(ps_i[r] - start_i[r][:, None], 0, None)
        hi = np.clip(np.minimum(due_i[r], d_int + 1) - start_i[r][:, None], 0, None)
        hi = np.maximum(hi, lo)
        accrued_r = np.where(valid[r], chain(hi) - chain(lo), 0)
        accrued[r] = accrued_r
        interest[r] = accrued_r
        last_due = np.where(valid[r], due_i[r], np.iinfo(np.int64).min).max(axis=1)
        nights = np.minimum(d_int + 1, last_due) - start_i[r]
        interest_carry[r] = nights * part % denominator[r]

    # --- payments: a prefix of the installments due, some paid late; none from the default day on ------
    acct_default = default_day[loan_account].astype(np.int64)
    slipping = (due_i >= acct_default[:, None] - SLIP_WINDOW_DAYS) & (due_i < acct_default[:, None])
    p_late = np.where(slipping, LATE_BEFORE_DEFAULT, np.minimum(LATE_BASE + LATE_PER_PD * latent_pd[loan_account], 0.6)[:, None])
    late = rng.random((loans, width)) < p_late
    late_days = np.where(late, np.minimum(rng.geometric(0.2, (loans, width)), 45), 0)
    pays = valid & (due_i < acct_default[:, None]) & (due_i + late_days <= d_int)
    paid = np.cumprod(pays & past, axis=1).astype(bool)
    paid_on_i = np.maximum.accumulate(np.where(paid, due_i + late_days, np.iinfo(np.int64).min), axis=1)
    paid_on = np.where(paid, paid_on_i, np.datetime64("NaT").astype(np.int64)).astype("datetime64[D]")
    paid_principal = np.where(paid, sched_principal, 0)
    paid_interest = np.where(paid, interest, 0)
    paid_fee = np.where(paid, fee, 0)

    # --- standing at the end of as_of - 1 (as make_book in benchmarks/cob_book.py) ---------------------
    rows_ix = np.arange(loans)
    unsettled = valid & ((sched_principal != paid_principal) | (paid_interest != interest) | (fee != paid_fee))
    closed = ~unsettled.any(axis=1) if loans else np.zeros(0, bool)
    first = unsettled.argmax(axis=1) if loans else np.zeros(0, np.int64)
    oldest = due_i[rows_ix, first] if loans else np.zeros(0, np.int64)
    dpd = np.where(~closed & unsettled[rows_ix, first] & (oldest <= d_int), d_int - oldest + 1, 0) if loans else np.zeros(0, np.int64)
    owed = (accrued - paid_interest).sum(axis=1)
    suspended_share = np.where(dpd >= policy.non_accrual_dpd, dpd - policy.non_accrual_dpd + 1, 0)
    suspended_interest = owed * suspended_share // np.maximum(dpd, 1)
    interest_receivable = owed - suspended_interest
    overdue_cells = past & ~paid
    base = np.where(overdue_cells, sched_principal, 0).sum(axis=1)
    base += np.where(compound, np.where(overdue_cells, accrued - paid_interest, 0).sum(axis=1), 0)
    penalty_days = np.maximum(dpd - grace, 0)
    penalty = base * penalty_scaled // denominator * penalty_days
    suspended_penalty = penalty * suspended_share // np.maximum(dpd, 1)
    penalty_receivable = penalty - suspended_penalty
    penalty_carry = np.where(penalty_days > 0, rng.integers(0, denominator), 0) if loans else np.zeros(0, np.int64)
    category = delinquency.category_codes(dpd, np.zeros(loans, np.int8), policy)
    outstanding = (sched_principal - paid_principal).sum(axis=1)
    provision = delinquency.provisions_fen(outstanding + interest_receivable + penalty_receivable, category, dpd, policy)
    # Loss-classified loans past the policy's write-off age were written off (as lifecycle.write_off does it):
    # receivables and allowance leave the balance sheet, the whole claim stays pursued as a memo.
    written_off = ~closed & (category == delinquency.Category.LOSS.code) & (dpd >= policy.write_off_dpd)
    written_off_fen = np.where(written_off, outstanding + interest_receivable + penalty_receivable + suspended_interest + suspended_penalty, 0)
    before_write_off = {
        "interest_receivable_fen": np.where(written_off, interest_receivable, 0), "penalty_receivable_fen": np.where(written_off, penalty_receivable, 0),
        "suspended_interest_fen": np.where(written_off, suspended_interest, 0), "suspended_penalty_fen": np.where(written_off, suspended_penalty, 0),
        "provision_fen": np.where(written_off, provision, 0), "principal_fen": np.where(written_off, outstanding, 0),
    }
    status = np.where(closed, STATUS_CODES.index(LoanStatus.CLOSED), STATUS_CODES.index(LoanStatus.ACTIVE)).astype(np.int8)
    status[written_off] = STATUS_CODES.index(LoanStatus.WRITTEN_OFF)
    zero_closed = lambda a: np.where(closed, 0, a)  # noqa: E731 - a repaid loan holds nothing
    zero_off = lambda a: np.where(closed | written_off, 0, a)  # noqa: E731 - nor does one written off, on the balance sheet

    used = np.bincount(loan_account, weights=np.where(closed | written_off, 0, outstanding), minlength=accounts).astype(np.int64)
    worst = np.zeros(accounts, np.int64)
    np.maximum.at(worst, loan_account, np.where(closed | written_off, 0, dpd))
    has_write_off = np.bincount(loan_account, weights=written_off, minlength=accounts) > 0
    line_status = np.where(line_end < day, "expired", np.where((worst >= FROZEN_AT_DPD) | has_write_off, "frozen", "active")).astype(object)

    events = _events(facts, rng, latent_pd, default_day, day)
    return GeneratedBook(
        as_of=as_of, latent_pd=latent_pd, default_day=default_day, bad_next_12m=bad_next_12m, product_id=product_id,
        limit_fen=limit_fen, rate_bp=rate_bp, line_start=line_start, line_end=line_end, line_status=line_status, used_fen=used,
        loan_account=loan_account, method=method, periods=periods, principal_fen=principal, loan_start=loan_start,
        penalty_rate=penalty_rate, compound=compound, grace_days=grace, prepayment=prepayment, conventions=conventions,  # type: ignore[arg-type]
        loan_status=status, closed_through=np.full(loans, d_prev, dtype="datetime64[D]"),
        interest_carry=zero_closed(interest_carry), penalty_carry=zero_closed(penalty_carry),
        interest_receivable_fen=zero_off(interest_receivable), suspended_interest_fen=zero_off(suspended_interest),
        penalty_receivable_fen=zero_off(penalty_receivable), suspended_penalty_fen=zero_off(suspended_penalty),
        days_past_due=zero_closed(dpd), category=np.where(closed, 0, category).astype(np.int8), provision_fen=zero_off(provision),
        written_off_fen=written_off_fen, before_write_off=before_write_off,
        valid=valid, period_start=period_start, due_date=due, inst_principal_fen=sched_principal, inst_interest_fen=interest,
        inst_fee_fen=fee, accrued_interest_fen=accrued, paid_principal_fen=paid_principal, paid_interest_fen=paid_interest,
        paid_fee_fen=paid_fee, paid_on=paid_on, events=events,
    )


def _add_months(days: np.ndarray, months: np.ndarray) -> np.ndarray:
    """Each day plus whole months, clamped at month end (31 Jan + 1 month = 28/29 Feb), vectorised."""
    first = days.astype("datetime64[M]")
    day_of_month = (days - first.astype("datetime64[D]")).astype(np.int64)
    target = first + months.astype("timedelta64[M]")
    month_days = ((target + np.timedelta64(1, "M")).astype("datetime64[D]") - target.astype("datetime64[D]")).astype(np.int64)
    return target.astype("datetime64[D]") + _days(np.minimum(day_of_month, month_days - 1))


def _events(facts: pl.DataFrame, rng: np.random.Generator, latent_pd: np.ndarray, default_day: np.ndarray, day: np.datetime64) -> pl.DataFrame:
    """The enterprises' latest provider refreshes and external alerts, one row per event.

    Monthly refreshes of tax, invoice and settlement data dated within the last 30 days (so about one
    in thirty is dated ``as_of`` itself: a new record that day); trends are the provider's growth,
    lowered by up to 12 points (``STRESS_MAX``) as the account's default day nears (within a year), so refreshed data
    agree with the latent behaviour. External alerts: court judgements the provider reports, and a
    judgement in the 60 days before a default for a third of defaulters, dated when it was filed.
    """
    n = facts.height
    days_to_default = (default_day - day).astype(np.int64)
    stress = np.clip(1 - days_to_default / 365.0, 0, 1) * STRESS_MAX
    tax_12 = facts["tax_paid_12m_fen"].to_numpy().astype(np.float64)
    tax_24 = facts["tax_paid_24m_fen"].to_numpy().astype(np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        tax_trend = tax_12 / (tax_24 - tax_12) - 1
        inv_trend = facts["invoice_sales_12m_fen"].to_numpy().astype(np.float64) / facts["invoice_sales_prev_12m_fen"].to_numpy().astype(np.float64) - 1
    settle_trend = rng.normal(0.04, 0.25, n) - 0.05 * _logit(latent_pd) / 4
    inflow = facts["cashflow_inflow_monthly_avg_fen"].to_numpy().astype(np.float64)
    frames = []
    ids = np.arange(n)

    def refresh(kind: str, present: np.ndarray, revenue: np.ndarray, trend: np.ndarray, grade: np.ndarray | None) -> None:
        rows = np.flatnonzero(present)
        dated = day - _days(rng.integers(0, 30, n))
        frames.append(pl.DataFrame({
            "account": ids[rows],
            "kind": [kind] * rows.size,
            "event_date": dated[rows],
            "revenue_12m_fen": np.where(np.isfinite(revenue[rows]), revenue[rows], 0).round().astype(np.int64),
            "trend": np.clip(np.where(np.isfinite(trend[rows]), trend[rows], 0.0), TREND_MIN, TREND_MAX) - stress[rows],
            "tax_grade": grade[rows] if grade is not None else [None] * rows.size,
            "detail": [None] * rows.size,
        }, schema=EVENT_SCHEMA))

    grades = facts["tax_grade"].to_numpy()
    refresh("tax_record", facts["tax_grade"].is_not_null().to_numpy() & np.isfinite(tax_trend), facts["tax_declared_sales_12m_fen"].fill_null(0).to_numpy().astype(np.float64), tax_trend, grades)
    refresh("invoice_record", (facts["invoice_sales_12m_fen"].fill_null(0) > 0).to_numpy() & np.isfinite(inv_trend), facts["invoice_sales_12m_fen"].fill_null(0).to_numpy().astype(np.float64), inv_trend, None)
    refresh("settlement_record", np.isfinite(inflow) & (inflow > 0), inflow * 12, settle_trend, None)
    judged = facts["court_judgements_24m"].fill_null(0).to_numpy() > 0
    before_default = (days_to_default > -60) & (days_to_default <= 60) & (rng.random(n) < 0.33)
    alert_day = np.where(before_default, np.minimum(default_day - _days(rng.integers(0, 60, n)), day), day - _days(rng.integers(0, 720, n)))
    rows = np.flatnonzero(judged | before_default)
    frames.append(pl.DataFrame({
        "account": ids[rows],
        "kind": ["external_alert"] * rows.size,
        "event_date": alert_day[rows],
        "revenue_12m_fen": [None] * rows.size,
        "trend": [None] * rows.size,
        "tax_grade": [None] * rows.size,
        "detail": ["court judgement"] * rows.size,
    }, schema=EVENT_SCHEMA))
    return pl.concat(frames).sort("account", "kind")


EVENT_SCHEMA = {
    "account": pl.Int64,
    "kind": pl.Utf8,
    "event_date": pl.Date,
    "revenue_12m_fen": pl.Int64,
    "trend": pl.Float64,
    "tax_grade": pl.Utf8,
    "detail": pl.Utf8,
}
