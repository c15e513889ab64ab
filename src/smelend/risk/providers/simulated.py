"""A simulated market of Chinese micro and small enterprises and their owners, for tests, demos and training.

One sampling function, :func:`sample_facts`, draws the flat facts of ``n`` applications at once (numpy,
vectorised) from three random streams: the **owner** stream (age, credit report, identity, AML, exposure),
the **enterprise** stream (registration, tax, invoices, flows, relationship) and the **noise** stream
(the unobserved part of risk, the default draw, the requested amount). Its users:

* :func:`simulate_table` — ``n`` rows at once (100,000 in about a second) for training and back-tests:
  the flat record (:data:`~smelend.risk.features.FLAT_COLUMNS`), ``latent_pd`` and a sampled ``defaulted``;
* :class:`SimulatedProvider` — the ``n = 1`` case for one application, its streams derived from the seed
  and a SHA-256 of the owner's resident ID (owner stream), the enterprise's USCC (enterprise stream) or
  both (noise stream), so the same application always gets the same records, and an owner with several
  enterprises has one credit report across them;
* :func:`simulate_applications` — valid applications (resident IDs, USCCs and mobiles with correct check
  characters from python-stdnum and phonenumbers), some owners with several enterprises.

Parameters (:class:`SimParams`; money in fen, "LN(m, s)" a lognormal with median m and log-sd s). Two
latent factors make the sources agree with each other: owner frailty ``z_o ~ N(0, 1)`` and enterprise
frailty ``z_e = 0.5 z_o + 0.87 N(0, 1)`` (higher is riskier).

==========================  ===========================================================================
owner age                   N(40, 9) rounded, clipped to 22-65
credit report               missing (thin file) for 5% (15% under 28); history: a Beta(2, 2) share of
                            the adult months; inquiries in 6 months Poisson(e^(0.55 + 0.45 z_o)) (mean
                            about 1.9), the last 3 and 1 months binomial thinnings (0.55, 0.45);
                            lenders Poisson(e^(0.6 + 0.35 z_o)); loans LN(200,000 CNY, 1.0) when any
                            lender; monthly debt service 1.5-4.5% of the balance; cards for 85%, limit
                            LN(50,000 CNY, 0.7), utilisation logistic(-1 + 0.8 z_o + 0.8 N); overdue
                            records Poisson(e^(-1.6 + 0.8 z_o)), worst DPD exponential (mean 12 e^(0.5
                            z_o)) up to 360 days; overdue today for logistic(-4.3 + 1.1 z_o) (about
                            2%), LN(3,000 CNY, 1.0); declared income for 70%, LN(12,000 CNY/month, 0.6)
identity, AML               mismatch 1% (unknown 0.3%), AML hit 0.2% (settings of the provider)
bank exposure               12% are existing borrowers: limits LN(300,000 CNY, 0.8), outstanding a
                            uniform share; 10% of those have one or two other enterprises at the bank
years in business           LN(4.5, 0.8) e^(-0.15 z_e), 0.1-30 years, no older than the owner's adult life
industry (GB/T 4754)        F 34%, C 14%, L 10%, H 9%, E 8%, O 7%, I 5%, G 5%, M 3%, A 3%, R 2%;
                            division uniform within the section
annual sales (true)         LN(3 million CNY, 1.1) x industry factor x e^(0.2 ln(years/4.5) - 0.1 z_e)
registration                capital LN(1 million CNY, 1.0); legal representative is the applicant
                            93%; shareholder changes Poisson(0.15 e^(0.3 z_e)); penalties Poisson(e^(-2.8
                            + 0.6 z_e)); judgements Poisson(e^(-2.6 + 0.8 z_e)); dishonest debtor
                            logistic(-5.2 + 1.3 z_e) (about 1%); revoked / deregistered
                            logistic(-5.5 + z_e) (about 0.7%)
tax                         missing for 4% (25% in the first year); declared sales 70-100% of true
                            sales; tax burden LN(2%, 0.35) e^(-0.1 z_e), 0.3-8%; growth LN(6% - 8% z_e,
                            0.25); months filed 12 - Binomial(12, logistic(-4 + z_e)); grade from -z_e +
                            0.7 N: A 10%, B 46%, M 33% (and every enterprise under one year), C 7%, D 4%;
                            arrears for logistic(-3.6 + z_e) (about 4%)
VAT invoices                for 85% (70% in catering, resident services, retail-like sections H, O);
                            50-100% of true sales invoiced; growth LN(5% - 10% z_e, 0.3); buyers LN(25,
                            1.0) at least 1; top buyer share max(1/buyers, Beta(1.5, 3.5)); monthly CV
                            LN(0.35, 0.4) e^(0.2 z_e); cancelled share Beta(1, 40) e^(0.3 z_e)
settlement flows            for 60%: monthly inflow 30-110% of true sales / 12; stability 1 - LN(0.35,
                            0.4) e^(0.25 z_e); 6, 12 or 24 months observed (no more than its age)
bank relationship           35% are customers: deposits LN(100,000 CNY, 1.2), payroll 30%, settlement
                            account 50%, tenure a uniform share of its age (up to 10 years)
==========================  ===========================================================================

The latent probability of default (12 months) is ``logistic(index + N(0, 0.6))`` where ``index`` rises
with what a lender sees as risk, monotone in each fact: tax grade (A -0.8 ... D +1.6, no tax record
+0.5), overdue today (+1.5), worst DPD (+0.25 ln(1 + dpd)), overdue records, inquiries, card utilisation,
debt over revenue, invoice volatility, buyer concentration, shrinking invoices, a young business, filing
gaps, arrears, public-record events (judgements, penalties, dishonest-debtor listing +2.0, registration
not active +1.5), a thin credit file, an identity mismatch or AML hit; a settlement account and payroll at
the bank lower it. The intercept puts the portfolio mean near 3% (2-5%); the N(0, 0.6) noise is risk no
data shows. The latent PD is never part of the evidence: ask :meth:`SimulatedProvider.latent_pd`.
"""

from __future__ import annotations

import dataclasses
import hashlib
import threading
from collections import OrderedDict
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from typing import Any

import numpy as np
import polars as pl
from stdnum.cn import ric as _stdnum_ric
from stdnum.cn import uscc as _stdnum_uscc

from smelend.ids import mobile as _mobile
from smelend.risk.features import FLAT_COLUMNS, FLAT_NAMES
from smelend.risk.providers.base import ProviderUnavailable, SourceMissing
from smelend.risk.schemas import INDUSTRY_SECTIONS, SOURCES, Application, age_on

CST = timezone(timedelta(hours=8))
YUAN = 100  # fen per yuan

SECTION_WEIGHTS: dict[str, float] = {"F": 0.34, "C": 0.14, "L": 0.10, "H": 0.09, "E": 0.08, "O": 0.07, "I": 0.05, "G": 0.05, "M": 0.03, "A": 0.03, "R": 0.02}
"""Share of applicants by GB/T 4754 section (wholesale and retail dominate micro enterprises)."""
SECTION_SALES_FACTOR: dict[str, float] = {"F": 1.3, "C": 1.2, "E": 1.2, "G": 1.0, "L": 0.8, "M": 0.8, "I": 0.9, "H": 0.6, "O": 0.5, "A": 0.7, "R": 0.7}
"""Multiplier on median annual sales by section."""
GRADE_CUTS = (1.55, -0.2, -1.5, -2.2)
"""Cut-offs on the tax-grade score (-z_e + 0.7 N): above 1.55 A, above -0.2 B, above -1.5 M, above -2.2 C, else D."""
GRADE_EFFECT = {"A": -0.8, "B": -0.2, "M": 0.2, "C": 0.9, "D": 1.6}
"""Effect of the tax grade on the risk index."""


@dataclass(frozen=True)
class SimParams:
    """The settings of the simulated market that a user may want to change (the rest is in the module doc)."""

    mismatch_share: float = 0.01
    """Share of applicants whose name, resident ID and mobile do not belong together."""
    identity_unknown_share: float = 0.003
    """Share of identity checks that do not conclude."""
    aml_hit_share: float = 0.002
    """Share of AML screenings with a possible match."""
    unavailable_share: float = 0.0
    """Share of provider calls that fail (ProviderUnavailable), per application and source (provider only)."""
    noise_sd: float = 0.6
    """Standard deviation of the unobserved part of the risk index."""
    intercept: float = -5.87
    """Intercept of the risk index (sets the portfolio's mean PD, about 3%)."""


Values = np.ndarray | np.generic | float | int | str
"""A fact: an array of ``n`` rows, or one application's value (a Python or numpy scalar) when ``n`` is None."""


def _cdf(p: list[float] | np.ndarray) -> np.ndarray:
    """The cumulative distribution ``Generator.choice(k, size=n, p=p)`` builds: ``cdf.searchsorted(rng.random(n),
    side="right")`` is its draw, from the same uniforms, without re-checking ``p`` on every call (10 us on one row)."""
    cdf = np.asarray(p, dtype=np.float64).cumsum()
    cdf /= cdf[-1]
    return cdf


# The sections as arrays indexed by the drawn section (one application is drawn per decision: a dictionary
# look-up through np.vectorize cost more than the draws themselves).
_SECTIONS = np.array(list(SECTION_WEIGHTS))
_SECTION_CDF = _cdf(np.array(list(SECTION_WEIGHTS.values())) / sum(SECTION_WEIGHTS.values()))
_DIVISIONS = np.array([INDUSTRY_SECTIONS[s][1] - INDUSTRY_SECTIONS[s][0] + 1 for s in SECTION_WEIGHTS], dtype=np.int64)
_INDUSTRY_CODES = np.array([[f"{s}{INDUSTRY_SECTIONS[s][0] + k:02d}" if k < count else "" for k in range(_DIVISIONS.max())] for s, count in zip(SECTION_WEIGHTS, _DIVISIONS)])
"""Industry code (section letter, two-digit division) by drawn section and division within it: a look-up, where numpy's
string functions cost more than all the draws on one row."""
_SALES_FACTOR = np.array([SECTION_SALES_FACTOR[s] for s in SECTION_WEIGHTS], dtype=np.float64)
_WINDOW_MONTHS = np.array([6, 12, 24])
_WINDOW_CDF = _cdf([0.2, 0.5, 0.3])


# One application (n is None) runs the same formulas on scalars. numpy's functions accept scalars but cost a microsecond
# or more a call on them (np.ones needs an n), so these dispatch: numpy on n rows, plain Python on one value, which gives
# the same value (a conditional for np.where; max / min for np.maximum / np.minimum, alike on numbers that are not NaN,
# and nothing here is NaN; int() truncates as astype does). Negation is np.logical_not: ~ is -2 on a Python bool.


def _where(condition: Values, a: Values, b: Values) -> Values:
    if isinstance(condition, np.ndarray):
        return np.where(condition, a, b)
    return a if condition else b


def _clip(x: Values, low: float, high: float) -> Values:
    return np.clip(x, low, high) if isinstance(x, np.ndarray) else min(max(x, low), high)


def _int64(x: Values) -> Values:
    return x.astype(np.int64) if isinstance(x, np.ndarray) else int(x)


def _max(a: Values, b: Values) -> Values:
    return np.maximum(a, b) if isinstance(a, np.ndarray) or isinstance(b, np.ndarray) else max(a, b)


def _min(a: Values, b: Values) -> Values:
    return np.minimum(a, b) if isinstance(a, np.ndarray) or isinstance(b, np.ndarray) else min(a, b)


def _always(n: int | None) -> Values:
    return True if n is None else np.ones(n, dtype=bool)


def _grade_effect(grade: Values) -> Values:
    if isinstance(grade, np.ndarray):
        return np.select([grade == g for g in GRADE_EFFECT], list(GRADE_EFFECT.values()), 0.0)
    return GRADE_EFFECT.get(grade, 0.0)


def _round4(x: Values) -> Values:
    """``np.round(x, 4)`` as numpy computes it (rint(x * 10^4) / 10^4), without its cost on a scalar."""
    return np.rint(x * 10_000.0) / 10_000.0


def _sigmoid(x: Values) -> Values:
    return 1.0 / (1.0 + np.exp(-x))


def _lognormal(rng: np.random.Generator, median: Values, sd: float, n: int | None) -> Values:
    return median * np.exp(rng.normal(0.0, sd, n))


def _fen(x: Values, unit: int = 1) -> Values:
    """Amounts rounded to a multiple of ``unit`` fen, as int64 (a Python int for one application)."""
    return _int64(np.rint(x / unit) * unit)


def sample_age(rng: np.random.Generator, n: int | None) -> Values:
    """Owner ages: N(40, 9) rounded and clipped to 22-65 (shared by the table and the applications)."""
    return _int64(_clip(np.rint(rng.normal(40.0, 9.0, n)), 22, 65))


def sample_facts(
    owner_rng: np.random.Generator,
    enterprise_rng: np.random.Generator,
    noise_rng: np.random.Generator,
    n: int | None,
    params: SimParams = SimParams(),
    *,
    age: Values | None = None,
    requested_amount_fen: Values | None = None,
) -> tuple[dict[str, Values], dict[str, Values], Values]:
    """Draw ``n`` applications' facts: (flat columns, presence per source, latent PD).

    Every draw is made for every row, whatever is missing, so each stream is consumed the same way for any
    data (``age`` and ``requested_amount_fen`` given for real applications replace the drawn ones).
    ``n=None`` draws one application as scalars: the values ``n=1`` gives, without numpy's per-call overhead on
    1-element arrays (which made it four times as costly).
    """
    o, e, z = owner_rng, enterprise_rng, noise_rng
    f: dict[str, Values] = {}
    present: dict[str, Values] = {}

    # --- owner stream ---
    z_o = o.standard_normal(n)
    drawn_age = sample_age(o, n)
    owner_age = drawn_age if age is None else _int64(age)
    f["owner_age"] = owner_age
    present["bureau"] = o.random(n) >= _where(owner_age < 28, 0.15, 0.05)
    adult_months = _max(owner_age - 18, 0) * 12
    f["bureau_credit_history_months"] = _int64(_max(1, np.floor(adult_months * o.beta(2.0, 2.0, n))))
    inq6 = o.poisson(np.exp(0.55 + 0.45 * z_o))
    inq3 = o.binomial(inq6, 0.55)
    inq1 = o.binomial(inq3, 0.45)
    f["bureau_inquiries_1m"], f["bureau_inquiries_3m"], f["bureau_inquiries_6m"] = _int64(inq1), _int64(inq3), _int64(inq6)
    lenders = _int64(o.poisson(np.exp(0.6 + 0.35 * z_o)))
    f["bureau_lenders_count"] = lenders
    loans = _lognormal(o, 200_000 * YUAN * np.exp(0.25 * z_o) * np.sqrt(_max(lenders, 1)), 1.0, n)
    outstanding = _where(lenders > 0, _fen(loans, YUAN), 0)
    f["bureau_outstanding_loans_fen"] = outstanding
    f["bureau_monthly_debt_service_fen"] = _fen(outstanding * o.uniform(0.015, 0.045, n))
    has_card = o.random(n) < 0.85
    limit = _where(has_card, _fen(_lognormal(o, 50_000 * YUAN, 0.7, n), 100 * YUAN), 0)
    utilisation = _sigmoid(-1.0 + 0.8 * z_o + 0.8 * o.standard_normal(n))
    f["bureau_card_limit_fen"] = limit
    f["bureau_card_balance_fen"] = _fen(limit * _min(utilisation * 1.05, 1.1))
    overdue_count = _int64(o.poisson(np.exp(-1.6 + 0.8 * z_o)))
    dpd = _int64(_clip(np.ceil(o.exponential(12.0 * np.exp(0.5 * z_o))), 1, 360))
    f["bureau_overdue_count_24m"] = overdue_count
    f["bureau_max_dpd_24m"] = _where(overdue_count > 0, dpd, 0)
    overdue_now = o.random(n) < _sigmoid(-4.3 + 1.1 * z_o)
    f["bureau_current_overdue_fen"] = _where(overdue_now, _fen(_lognormal(o, 3_000 * YUAN, 1.0, n)), 0)
    has_income = o.random(n) < 0.7
    income = _fen(_lognormal(o, 12_000 * YUAN, 0.6, n), YUAN)
    f["bureau_declared_income_monthly_fen"] = income
    u_id = o.random(n)
    f["identity_result"] = _where(u_id < params.mismatch_share, "mismatch", _where(u_id < params.mismatch_share + params.identity_unknown_share, "unknown", "match"))
    f["aml_result"] = _where(o.random(n) < params.aml_hit_share, "hit", "clear")
    borrower = o.random(n) < 0.12
    bank_limits = _where(borrower, _fen(_lognormal(o, 300_000 * YUAN, 0.8, n), 100 * YUAN), 0)
    f["exposure_bank_limits_fen"] = bank_limits
    f["exposure_bank_outstanding_fen"] = _fen(bank_limits * o.random(n), YUAN)
    f["exposure_other_enterprises"] = _int64(_where(borrower & (o.random(n) < 0.10), 1 + (o.random(n) < 0.3), 0))
    present["identity"] = present["aml"] = present["exposure"] = _always(n)

    # --- enterprise stream ---
    z_e = 0.5 * z_o + np.sqrt(0.75) * e.standard_normal(n)
    years = _clip(_lognormal(e, 4.5 * np.exp(-0.15 * z_e), 0.8, n), 0.1, 30.0)
    years = _min(years, _max(owner_age - 18, 0.1))
    reg_days = _int64(_max(30, np.rint(years * 365.25)))
    years = reg_days / 365.25
    f["registration_age_days"] = reg_days
    drawn = _SECTION_CDF.searchsorted(e.random(n), side="right")
    section = _SECTIONS[drawn]
    f["industry_section"] = section
    f["industry_code"] = _INDUSTRY_CODES[drawn, _int64(np.floor(e.random(n) * _DIVISIONS[drawn]))]
    true_sales = _lognormal(e, 3_000_000 * YUAN * _SALES_FACTOR[drawn] * np.exp(0.2 * np.log(years / 4.5) - 0.1 * z_e), 1.1, n)
    f["registered_capital_fen"] = _max(_fen(_lognormal(e, 1_000_000 * YUAN, 1.0, n), 10_000 * YUAN), 10_000 * YUAN)
    f["legal_rep_matches"] = e.random(n) >= 0.07
    f["shareholder_changes_12m"] = _int64(e.poisson(0.15 * np.exp(0.3 * z_e)))
    f["admin_penalties_24m"] = _int64(e.poisson(np.exp(-2.8 + 0.6 * z_e)))
    f["court_judgements_24m"] = _int64(e.poisson(np.exp(-2.6 + 0.8 * z_e)))
    f["dishonest_debtor"] = e.random(n) < _sigmoid(-5.2 + 1.3 * z_e)
    bad_status = e.random(n) < _sigmoid(-5.5 + 1.0 * z_e)
    f["registration_status"] = _where(bad_status, _where(e.random(n) < 0.7, "revoked", "deregistered"), "active")
    present["registration"] = _always(n)
    # tax
    present["tax"] = e.random(n) >= _where(years < 1, 0.25, 0.04)
    declared = _fen(true_sales * e.uniform(0.7, 1.0, n))
    burden = _clip(_lognormal(e, 0.02 * np.exp(-0.1 * z_e), 0.35, n), 0.003, 0.08)
    tax_12m = _fen(declared * burden)
    tax_growth = _lognormal(e, np.exp(0.06 - 0.08 * z_e), 0.25, n)
    tax_prev = _fen(tax_12m / tax_growth * _clip(years - 1, 0, 1))
    f["tax_declared_sales_12m_fen"], f["tax_paid_12m_fen"], f["tax_paid_24m_fen"] = declared, tax_12m, tax_12m + tax_prev
    missed = e.binomial(12, _sigmoid(-4.0 + z_e))
    f["tax_filing_months_12m"] = _int64(_min(12 - missed, np.ceil(years * 12)))
    grade_score = -z_e + 0.7 * e.standard_normal(n)
    a, b, m, c = GRADE_CUTS
    grade = _where(grade_score > a, "A", _where(grade_score > b, "B", _where(grade_score > m, "M", _where(grade_score > c, "C", "D"))))
    f["tax_grade"] = _where((years < 1) & ((grade == "A") | (grade == "B")), "M", grade)
    arrears = e.random(n) < _sigmoid(-3.6 + z_e)
    f["tax_arrears_fen"] = _where(arrears, _fen(tax_12m * e.uniform(0.05, 0.5, n)), 0)
    # invoices
    present["invoices"] = e.random(n) < _where((section == "H") | (section == "O"), 0.70, 0.85)
    invoiced = _fen(true_sales * e.uniform(0.5, 1.0, n))
    inv_growth = _lognormal(e, np.exp(0.05 - 0.10 * z_e), 0.3, n)
    f["invoice_sales_12m_fen"] = invoiced
    f["invoice_sales_prev_12m_fen"] = _fen(invoiced / inv_growth * _clip(years - 1, 0, 1))
    buyers = _int64(_max(1, np.rint(_lognormal(e, 25.0, 1.0, n))))
    f["invoice_buyers_count_12m"] = buyers
    f["invoice_top_buyer_share"] = _round4(_where(buyers == 1, 1.0, _max(1.0 / buyers, e.beta(1.5, 3.5, n))))
    f["invoice_monthly_volatility"] = _round4(_clip(_lognormal(e, 0.35 * np.exp(0.2 * z_e), 0.4, n), 0.02, 3.3))
    f["invoice_cancelled_share"] = _round4(_clip(e.beta(1.0, 40.0, n) * np.exp(0.3 * z_e), 0.0, 1.0))
    # settlement flows
    present["cashflow"] = e.random(n) < 0.60
    f["cashflow_inflow_monthly_avg_fen"] = _fen(true_sales / 12 * e.uniform(0.3, 1.1, n))
    f["cashflow_inflow_stability"] = _round4(_clip(1.0 - _lognormal(e, 0.35 * np.exp(0.25 * z_e), 0.4, n), 0.0, 1.0))
    window = _WINDOW_MONTHS[_WINDOW_CDF.searchsorted(e.random(n), side="right")]
    f["cashflow_months_observed"] = _int64(_max(1, _min(window, np.floor(years * 12))))
    # the bank's own relationship (always answered; a non-customer has zeros)
    customer = e.random(n) < 0.35
    f["relationship_deposits_avg_fen"] = _where(customer, _fen(_lognormal(e, 100_000 * YUAN, 1.2, n)), 0)
    f["relationship_payroll"] = customer & (e.random(n) < 0.3)
    f["relationship_settlement_account"] = customer & (e.random(n) < 0.5)
    tenure = _int64(_max(1, np.rint(e.uniform(0.05, 1.0, n) * _min(reg_days, 3650))))
    f["relationship_days"] = _where(customer, tenure, 0)
    present["relationship"] = _always(n)

    # --- noise stream: the application and the unobserved risk ---
    drawn_amount = _fen(_clip(true_sales * z.uniform(0.03, 0.2, n), 10_000 * YUAN, 3_000_000 * YUAN), 1_000 * YUAN)
    f["requested_amount_fen"] = drawn_amount if requested_amount_fen is None else _int64(requested_amount_fen)
    noise = z.normal(0.0, params.noise_sd, n)

    for source in SOURCES:
        f[f"status_{source}"] = _where(present[source], "ok", "missing")
    latent = _sigmoid(risk_index(f, present, params) + noise)
    return f, present, latent


def risk_index(f: dict[str, Values], present: dict[str, Values], params: SimParams = SimParams()) -> Values:
    """The observable part of the latent risk: monotone in every fact, as a lender would expect."""
    b, t, i, c, r = present["bureau"], present["tax"], present["invoices"], present["cashflow"], present["relationship"]
    years = f["registration_age_days"] / 365.25
    # The largest revenue source as a float (the float of the maximum is the maximum of the floats); without any, a
    # small business is assumed. Divisors keep np.maximum, so one application's int / int is numpy's float division
    # (Python's rounds differently beyond 2^53).
    revenue = np.maximum(_max(_max(_where(t, f["tax_declared_sales_12m_fen"], 0), _where(i, f["invoice_sales_12m_fen"], 0)), _where(c, 12 * f["cashflow_inflow_monthly_avg_fen"], 0)), 1_000_000.0 * YUAN)
    debt = _where(b, f["bureau_outstanding_loans_fen"], 0) + f["exposure_bank_outstanding_fen"]
    util = _where(f["bureau_card_limit_fen"] > 0, f["bureau_card_balance_fen"] / np.maximum(f["bureau_card_limit_fen"], 1), 0.0)
    x = params.intercept + _where(t, _grade_effect(f["tax_grade"]), 0.5)
    x += _where(t, 0.15 * (12 - f["tax_filing_months_12m"]) + 0.5 * (f["tax_arrears_fen"] > 0), 0.0)
    x += _where(
        b,
        1.5 * (f["bureau_current_overdue_fen"] > 0)
        + 0.25 * np.log1p(f["bureau_max_dpd_24m"])
        + 0.2 * _min(f["bureau_overdue_count_24m"], 5)
        + 0.12 * f["bureau_inquiries_3m"]
        + 0.05 * f["bureau_inquiries_6m"]
        + 0.6 * _min(util, 1.5),
        0.3,
    )
    x += 0.8 * _min(debt / revenue, 3.0)
    x += _where(i, 0.6 * f["invoice_monthly_volatility"] + 0.5 * f["invoice_top_buyer_share"], 0.2)
    inv_ratio = _where(f["invoice_sales_prev_12m_fen"] > 0, f["invoice_sales_12m_fen"] / np.maximum(f["invoice_sales_prev_12m_fen"], 1), 1.0)
    x += _where(i, -0.3 * _clip(np.log(_max(inv_ratio, 1e-9)), -1.0, 1.0), 0.0)
    x += _where(c, -0.4 * (f["cashflow_inflow_stability"] - 0.5), 0.0)
    x += 0.6 * np.exp(-years / 2.0)
    x += 2.0 * f["dishonest_debtor"] + 0.4 * _min(f["court_judgements_24m"], 3) + 0.2 * _min(f["admin_penalties_24m"], 3)
    x += 1.5 * (f["registration_status"] != "active") + 0.3 * np.logical_not(f["legal_rep_matches"]) + 0.1 * _min(f["shareholder_changes_12m"], 3)
    x += 1.5 * (f["identity_result"] == "mismatch") + 1.0 * (f["aml_result"] == "hit")
    x += _where(r, -0.3 * f["relationship_settlement_account"] - 0.2 * f["relationship_payroll"], 0.0)
    return x


# --- the table ---------------------------------------------------------------------------------------


def simulate_table(n: int, seed: int, params: SimParams = SimParams()) -> pl.DataFrame:
    """``n`` simulated applications: the flat record (same columns and types as ``flatten``), ``latent_pd``
    and ``defaulted`` (0/1, drawn from the latent PD). Columns of a missing source are null."""
    if n < 0 or seed < 0:
        raise ValueError("n and seed must be non-negative")
    owner, enterprise, noise = (np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(3))
    facts, present, latent = sample_facts(owner, enterprise, noise, n, params)
    defaulted = (noise.random(n) < latent).astype(np.int8)
    masks = {f"_present_{s}": present[s] for s in SOURCES}
    raw = pl.DataFrame(
        [pl.Series(c.name, facts[c.name], dtype=c.polars_dtype) for c in FLAT_COLUMNS]
        + [pl.Series(k, v, dtype=pl.Boolean) for k, v in masks.items()]
        + [pl.Series("latent_pd", latent, dtype=pl.Float64), pl.Series("defaulted", defaulted, dtype=pl.Int8)]
    )
    return raw.select(
        *(pl.col(c.name) if c.source not in present else pl.when(pl.col(f"_present_{c.source}")).then(pl.col(c.name)).otherwise(None).alias(c.name) for c in FLAT_COLUMNS),
        "latent_pd",
        "defaulted",
    )


# --- the provider ------------------------------------------------------------------------------------


def _key_ints(*parts: str) -> list[int]:
    digest = hashlib.sha256("\x1f".join(parts).encode()).digest()
    return [int.from_bytes(digest[i : i + 4], "big") for i in range(0, 32, 4)]


def _rng(seed: int, *parts: str) -> np.random.Generator:
    entropy = [seed, *_key_ints(*parts)]
    # SeedSequence reads each int below 2^32 as one uint32 word: a uint32 array is the same entropy, taken in half the time
    return np.random.default_rng(np.array(entropy, dtype=np.uint32) if seed < 2**32 else entropy)


_PYTHON_TYPES: dict[str, type] = {c.name: {"int": int, "float": float, "bool": bool, "str": str}[c.dtype] for c in FLAT_COLUMNS}


def _row(facts: dict[str, Values]) -> dict[str, Any]:
    """One application's facts as plain Python values of the flat record's types (what ``.item()`` gives on the table's arrays)."""
    return {k: _PYTHON_TYPES[k](v) for k, v in facts.items()}


class SimulatedProvider:
    """Consistent, realistic provider answers for any application (see the module doc for the market).

    The same application key (owner's resident ID, enterprise's USCC, application date, requested amount)
    always gives the same records. A missing source raises :class:`SourceMissing`; with
    ``params.unavailable_share`` > 0 some calls raise :class:`ProviderUnavailable` (deterministically).
    """

    name = "simulated"

    def __init__(self, seed: int, params: SimParams = SimParams(), *, mismatch_share: float | None = None, aml_hit_share: float | None = None):
        if seed < 0:
            raise ValueError("seed must be non-negative")
        changes = {k: v for k, v in (("mismatch_share", mismatch_share), ("aml_hit_share", aml_hit_share)) if v is not None}
        self.seed = seed
        self.params = dataclasses.replace(params, **changes)
        self._cache: OrderedDict[tuple[Any, ...], tuple[dict[str, Any], float]] = OrderedDict()
        self._lock = threading.Lock()

    def _facts(self, application: Application) -> tuple[dict[str, Any], float]:
        id_number, uscc = application.applicant.id_number, application.enterprise.uscc
        key = (id_number, uscc, application.applied_on, application.requested_amount_fen)
        with self._lock:
            if key in self._cache:
                self._cache.move_to_end(key)
                return self._cache[key]
        facts, present, latent = sample_facts(
            _rng(self.seed, "owner", id_number),
            _rng(self.seed, "enterprise", uscc),
            _rng(self.seed, "noise", id_number, uscc),
            None,
            self.params,
            age=age_on(id_number, application.applied_on),
            requested_amount_fen=application.requested_amount_fen,
        )
        row = _row(facts)
        row["_present"] = {s: bool(present[s]) for s in SOURCES}
        value = (row, float(latent))
        with self._lock:
            self._cache[key] = value
            while len(self._cache) > 4096:
                self._cache.popitem(last=False)
        return value

    def latent_pd(self, application: Application) -> float:
        """The application's true 12-month probability of default (never part of the evidence)."""
        return self._facts(application)[1]

    def flat(self, application: Application) -> dict[str, Any]:
        """The simulated flat record (what ``flatten`` gives when every source answers as simulated)."""
        row, _ = self._facts(application)
        present = row["_present"]
        by_source = {c.name: c.source for c in FLAT_COLUMNS}
        return {n: (row[n] if by_source[n] not in present or present[by_source[n]] else None) for n in FLAT_NAMES}

    def fetch(self, source: str, application: Application) -> dict[str, Any]:
        if source not in SOURCES:
            raise SourceMissing(f"{source}: not a source the simulated provider knows")
        if self.params.unavailable_share > 0:
            u = _rng(self.seed, "unavailable", source, application.applicant.id_number, application.enterprise.uscc).random()
            if u < self.params.unavailable_share:
                raise ProviderUnavailable(f"{source}: simulated outage")
        row, _ = self._facts(application)
        if not row["_present"][source]:
            raise SourceMissing(f"{source}: no record for this {'applicant' if source in ('identity', 'aml', 'bureau', 'exposure') else 'enterprise'}")
        return _records(source, row, application, self.seed)


def _records(source: str, r: dict[str, Any], app: Application, seed: int) -> dict[str, Any]:
    """One source's JSON answer built from a simulated flat row (the inverse of ``flatten``)."""
    on = app.applied_on
    reference = hashlib.sha256(f"{seed}|{source}|{app.applicant.id_number}|{app.enterprise.uscc}".encode()).hexdigest()[:16].upper()
    if source == "identity":
        return {"result": r["identity_result"], "checked_at": datetime.combine(on, time(9, 0), CST).isoformat(), "reference": f"SIM-ID-{reference}"}
    if source == "aml":
        return {"result": r["aml_result"], "lists_checked": ["UN Security Council consolidated list", "PBOC AML watch list", "OFAC SDN"], "reference": f"SIM-AML-{reference}"}
    if source == "bureau":
        return {
            "credit_history_months": r["bureau_credit_history_months"],
            "current_overdue_fen": r["bureau_current_overdue_fen"],
            "max_dpd_24m": r["bureau_max_dpd_24m"],
            "overdue_count_24m": r["bureau_overdue_count_24m"],
            "inquiries_1m": r["bureau_inquiries_1m"],
            "inquiries_3m": r["bureau_inquiries_3m"],
            "inquiries_6m": r["bureau_inquiries_6m"],
            "lenders_count": r["bureau_lenders_count"],
            "outstanding_loans_fen": r["bureau_outstanding_loans_fen"],
            "monthly_debt_service_fen": r["bureau_monthly_debt_service_fen"],
            "card_limit_fen": r["bureau_card_limit_fen"],
            "card_balance_fen": r["bureau_card_balance_fen"],
            "declared_income_monthly_fen": r["bureau_declared_income_monthly_fen"],
        }
    if source == "registration":
        rep = app.applicant.id_number if r["legal_rep_matches"] else _other_id(app.applicant.id_number, seed)
        return {
            "established_on": (on - timedelta(days=r["registration_age_days"])).isoformat(),
            "registered_capital_fen": r["registered_capital_fen"],
            "industry_code": r["industry_code"],
            "legal_representative_id_number": rep,
            "shareholder_changes_12m": r["shareholder_changes_12m"],
            "administrative_penalties_24m": r["admin_penalties_24m"],
            "court_judgements_24m": r["court_judgements_24m"],
            "dishonest_debtor": r["dishonest_debtor"],
            "status": r["registration_status"],
        }
    if source == "tax":
        return {
            "credit_grade": r["tax_grade"],
            "tax_paid_12m_fen": r["tax_paid_12m_fen"],
            "tax_paid_24m_fen": r["tax_paid_24m_fen"],
            "filing_months_12m": r["tax_filing_months_12m"],
            "declared_sales_12m_fen": r["tax_declared_sales_12m_fen"],
            "arrears_fen": r["tax_arrears_fen"],
        }
    if source == "invoices":
        return {
            "sales_invoiced_12m_fen": r["invoice_sales_12m_fen"],
            "sales_invoiced_prev_12m_fen": r["invoice_sales_prev_12m_fen"],
            "buyers_count_12m": r["invoice_buyers_count_12m"],
            "top_buyer_share": r["invoice_top_buyer_share"],
            "monthly_volatility": r["invoice_monthly_volatility"],
            "cancelled_share": r["invoice_cancelled_share"],
        }
    if source == "cashflow":
        return {"monthly_inflow_avg_fen": r["cashflow_inflow_monthly_avg_fen"], "inflow_stability": r["cashflow_inflow_stability"], "months_observed": r["cashflow_months_observed"]}
    if source == "relationship":
        days = r["relationship_days"]
        return {
            "deposits_avg_fen": r["relationship_deposits_avg_fen"],
            "payroll": r["relationship_payroll"],
            "settlement_account": r["relationship_settlement_account"],
            "customer_since": (on - timedelta(days=days)).isoformat() if days > 0 else None,
        }
    if source == "exposure":
        rng = _rng(seed, "exposure", app.applicant.id_number)
        others = [_make_uscc(rng, _region(app.applicant.id_number)) for _ in range(r["exposure_other_enterprises"])]
        return {"other_enterprises": others, "bank_limits_fen": r["exposure_bank_limits_fen"], "bank_outstanding_fen": r["exposure_bank_outstanding_fen"]}
    raise AssertionError(source)


# --- valid identifiers and applications --------------------------------------------------------------

REGIONS: tuple[tuple[str, str], ...] = (
    ("110105", "北京"), ("110108", "北京"), ("310104", "上海"), ("310115", "上海"), ("440106", "广州"), ("440305", "深圳"),
    ("330106", "杭州"), ("320102", "南京"), ("510107", "成都"), ("420106", "武汉"), ("500103", "重庆"), ("610113", "西安"),
    ("370202", "青岛"), ("350203", "厦门"), ("430103", "长沙"), ("410105", "郑州"),
)
"""Administrative division codes (long-standing urban districts) used for simulated IDs and USCCs."""
_USCC_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
_MOBILE_PREFIXES = ("130", "131", "132", "133", "135", "136", "137", "138", "139", "150", "151", "152", "155", "156", "158", "159", "177", "180", "181", "186", "187", "188", "189", "199")
_SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹"
_GIVEN = "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华建国志红文斌海燕辉鹏飞玲"
_BRANDS = "恒达鑫盛源泰丰瑞宏兴隆嘉信诚安和顺通汇康润博联创新华宇"
_TRADES = ("商贸", "贸易", "建材", "食品", "餐饮管理", "信息技术", "物流", "电子科技", "机械设备", "装饰工程", "服装", "农业发展", "文化传媒", "汽车维修")
PRODUCTS = ("tax-data-loan", "invoice-loan", "settlement-flow-loan", "owner-credit-loan")
CHANNELS = ("own-app", "partner-tax", "partner-einvoice", "partner-acquiring", "partner-erp")  # ids of the channel catalogue (pricing/data/pricing.yaml)


def _region(id_number: str) -> str:
    return id_number[:6]


def _make_id(rng: np.random.Generator, born: date, region: str | None = None) -> str:
    for _ in range(100):
        code = region or REGIONS[int(rng.integers(len(REGIONS)))][0]
        body = f"{code}{born:%Y%m%d}{int(rng.integers(0, 1000)):03d}"
        number = body + _stdnum_ric.calc_check_digit(body + "0")
        if _stdnum_ric.is_valid(number):
            return number
        region = None
    raise AssertionError("no valid resident ID found")  # pragma: no cover


def _other_id(id_number: str, seed: int) -> str:
    """A deterministic different resident ID (a legal representative who is not the applicant)."""
    rng = _rng(seed, "legal-rep", id_number)
    born = date(1960, 1, 1) + timedelta(days=int(rng.integers(0, 365 * 40)))
    while True:
        other = _make_id(rng, born)
        if other != id_number:
            return other


def _make_uscc(rng: np.random.Generator, region: str) -> str:
    org = "".join(_USCC_ALPHABET[int(i)] for i in rng.integers(0, len(_USCC_ALPHABET), 9))
    body = f"91{region}{org}"
    return body + _stdnum_uscc.calc_check_digit(body)


def _make_mobile(rng: np.random.Generator) -> str:
    while True:
        number = _MOBILE_PREFIXES[int(rng.integers(len(_MOBILE_PREFIXES)))] + f"{int(rng.integers(0, 10**8)):08d}"
        if _mobile.is_valid(number):
            return number


def simulate_applications(n: int, seed: int, *, shared_owner_share: float = 0.08, start: date = date(2025, 1, 2), days: int = 360) -> list[Application]:
    """``n`` valid applications over ``days`` days from ``start``; about ``shared_owner_share`` of them come
    from an owner who already applied for another enterprise (so owner-level exposure can be tested).

    Owner ages follow the same distribution as :func:`simulate_table`; 3% give no bureau authorisation.
    """
    if n < 0 or seed < 0:
        raise ValueError("n and seed must be non-negative")
    rng = np.random.default_rng(np.random.SeedSequence([seed, 0x5E1E]))
    owners: list[dict[str, str]] = []
    seen_usccs: set[str] = set()
    apps: list[Application] = []
    for i in range(n):
        applied_on = start + timedelta(days=int(rng.integers(0, max(days, 1))))
        if owners and rng.random() < shared_owner_share:
            owner = owners[int(rng.integers(len(owners)))]
        else:
            age = int(sample_age(rng, 1)[0])
            born = _birth_date(applied_on, age, int(rng.integers(1, 365)))
            region, city = REGIONS[int(rng.integers(len(REGIONS)))]
            owner = {
                "name": _SURNAMES[int(rng.integers(len(_SURNAMES)))] + "".join(_GIVEN[int(j)] for j in rng.integers(0, len(_GIVEN), int(rng.integers(1, 3)))),
                "id_number": _make_id(rng, born, region),
                "mobile": _make_mobile(rng),
                "city": city,
            }
            owners.append(owner)
        uscc = _make_uscc(rng, _region(owner["id_number"]))
        while uscc in seen_usccs:
            uscc = _make_uscc(rng, _region(owner["id_number"]))
        seen_usccs.add(uscc)
        name = owner["city"] + "".join(_BRANDS[int(j)] for j in rng.integers(0, len(_BRANDS), 2)) + _TRADES[int(rng.integers(len(_TRADES)))] + "有限公司"
        amount = int(np.clip(np.rint(200_000 * np.exp(rng.normal(0, 0.9)) / 1000) * 1000, 10_000, 3_000_000)) * YUAN
        channel = CHANNELS[int(rng.choice(len(CHANNELS), p=[0.5, 0.15, 0.15, 0.1, 0.1]))]
        granted = datetime.combine(applied_on, time(8, 0), CST) + timedelta(seconds=int(rng.integers(0, 13 * 3600)))
        apps.append(
            Application.model_validate(
                {
                    "id": f"SIM-{seed}-{i + 1:06d}",
                    "applicant": {k: owner[k] for k in ("name", "id_number", "mobile")},
                    "enterprise": {"name": name, "uscc": uscc},
                    "product_id": PRODUCTS[int(rng.integers(len(PRODUCTS)))],
                    "requested_amount_fen": amount,
                    "channel": channel,
                    "consent": {"data_use": True, "bureau_query": bool(rng.random() >= 0.03), "granted_at": granted, "channel": channel, "text_version": "consent-2025-01"},
                    "applied_on": applied_on,
                }
            )
        )
    return apps


def _birth_date(on: date, age: int, days_before: int) -> date:
    """A birth date at which a person is exactly ``age`` on ``on`` (``days_before`` in 1..364)."""
    try:
        anniversary = on.replace(year=on.year - age)
    except ValueError:  # 29 February
        anniversary = on.replace(year=on.year - age, day=28)
    return anniversary - timedelta(days=days_before)


__all__ = ["CST", "SimParams", "SimulatedProvider", "risk_index", "sample_age", "sample_facts", "simulate_applications", "simulate_table"]
