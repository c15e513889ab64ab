"""One strategy over one population, day by day, on the platform's real engines.

Why the real engines: a comparison is only evidence if the simulated bank decides, prices, schedules,
services and books exactly as the platform does. So every application goes through
:func:`smelend.risk.decision.decide` with the real :class:`~smelend.pricing.pricer.Pricer` (evidence gathered
from the risk engine's simulated provider); every draw is scheduled by
:func:`smelend.servicing.batch.build_schedules_batch` (one call per product, method and term a month) and opened
by :func:`smelend.servicing.lifecycle.activate`; the live loans are the servicing engine's
:class:`~smelend.servicing.cob_batch.BookArrays` and every business day is closed by
:func:`~smelend.servicing.cob_batch.close_day_batch` (accrual, penalties, days past due, classification,
provisions) with its journal rows; money received goes through :func:`smelend.servicing.repayment.apply_payment`
and write-offs through :func:`smelend.servicing.lifecycle.write_off` (see :mod:`smelend.sim.book`); line reviews
are the real reassessment engine's (:mod:`smelend.sim.review` over :func:`smelend.lines.reassess.reassess`). The
run counts those calls (:class:`Counters`) so a test can prove it.

What is simulated is the market, from ``data/market.yaml``: who needs credit and which channel reaches them,
acceptance (take-up falls with the rate, less for riskier businesses), the competitor's offer and attrition,
draws (several on a line, up to the amount still available: revolving use) and utilisation, prepayment,
defaults from the latent PD under a macro factor (with an optional 2020-2022-like shock), late and partial
payments of businesses whose risk makes them miss, recoveries. Each business pays what is due on its due
dates; a business that defaults stops paying, and the engine's days past due, classification (non-performing
= substandard and worse) and provisions follow; its loans are written off ``months_to_write_off`` months after
the default, recovering ``1 - lgd`` of the principal.
"""

from __future__ import annotations

import calendar
import time
from datetime import timedelta
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from decimal import ROUND_HALF_UP, Decimal
from typing import Any, Callable, Iterator

import numpy as np

from smelend.ledger import Account, JournalEntry
from smelend.ledger import rules
from smelend.ledger.entries import TrialBalance, trial_balance
from smelend.ledger.rules import Receipt
from smelend.servicing.cob_batch import PostingRows
from smelend.servicing.loan import PrepaymentEffect
from smelend.sim.book import LiveBook, Penalty, pending_from_batch
from smelend.sim.events import EventRecorder
from smelend.sim.population import MarketSettings, Population, application_for, competitor_rate, price_sensitivity
from smelend.sim.strategy import StrategyFile
from smelend.sim.targeting import campaign_targets, prospect_scores, retention_targets

RATE_STEP = Decimal("0.0001")
LINE_STEP_FEN = 10_000  # lines and draws in whole hundreds of yuan
MIN_DRAW_FEN = 100_000  # 1,000 yuan
DRAW_DAY = 15  # draws of a month are disbursed on its 15th (one schedule batch per product, method and term)
STAGES = ("applications", "decisions", "draws", "schedules", "servicing", "cob", "ledger")

# business status codes
PROSPECT, DECLINED, CUSTOMER, LOST, CLOSED = 0, 1, 2, 3, 4
REAPPLY_MONTHS = 6


@dataclass
class Counters:
    """Calls of the real engines: the proof that the figures come from them."""

    decisions: int = 0
    schedules: int = 0
    schedule_batches: int = 0
    journal_entries: int = 0
    cob_runs: int = 0  # close_day_batch calls: one per business day
    line_reviews: int = 0
    payments: int = 0  # apply_payment calls (instalments, partial and late payments, payoffs, recoveries)


@dataclass(frozen=True)
class RunResult:
    """One strategy, one seed: totals (money in integer fen), by month, by group, counters, ledger check."""

    strategy: str
    seed: int
    businesses: int
    months: int
    totals: dict[str, Any]
    by_month: list[dict[str, Any]]
    by_group: dict[str, dict[str, dict[str, int]]]  # channel / product / segment -> key -> figures
    counters: Counters
    entries: tuple[JournalEntry, ...]  # disbursements, receipts, write-offs, coupons
    cob_rows: tuple[PostingRows, ...]  # the daily closes' entries as the engine's posting rows (one per day)
    stage_seconds: dict[str, float]
    applicant_pds: tuple[float, ...]
    rationing_peak: float | None
    events: Any = None  # smelend.marketing.events.MarketingData when asked for (run_market(..., marketing_events=True))
    ledger_check: Any = None  # smelend.sim.compare.LedgerCheck when run_all wrote the run's ledger

    def all_entries(self) -> Iterator[JournalEntry]:
        """Every journal entry of the run: the entries, then each day's close-of-business entries
        (built from the rows by ``cob_batch.entries_from_rows``, a day at a time)."""
        from smelend.servicing.cob_batch import entries_from_rows

        yield from self.entries
        for rows in self.cob_rows:
            yield from entries_from_rows(rows)

    @property
    def entry_count(self) -> int:
        return len(self.entries) + sum(len(r) for r in self.cob_rows)


def month_start(start: date, m: int) -> date:
    y, mo = divmod(start.month - 1 + m, 12)
    return date(start.year + y, mo + 1, 1)


def month_end(start: date, m: int) -> date:
    first = month_start(start, m)
    return date(first.year, first.month, calendar.monthrange(first.year, first.month)[1])


def _uniforms(seed: int, month: int, purpose: int, n: int) -> np.ndarray:
    """The same draws for the same business, month and purpose whatever the strategy (common random numbers)."""
    return np.random.default_rng(np.random.SeedSequence([seed, month, purpose, 0x5EED])).random(n)


def _rate(value: float | Decimal) -> Decimal:
    return Decimal(str(value)).quantize(RATE_STEP, rounding=ROUND_HALF_UP)


def _sigmoid(x: float) -> float:
    return 1.0 / (1.0 + np.exp(-x))


def rationing_peak(pds: list[float], market: MarketSettings) -> tuple[float, Any] | None:
    """The peak of the Stiglitz-Weiss return curve of a lognormal fitted to ``pds``, and the curve."""
    from smelend.pricing.rationing import LognormalRisk, Population as RPopulation, return_curve

    values = np.clip(np.asarray(pds, float), 1e-4, 0.99)
    if values.size < market.rationing.min_applicants:
        return None
    logs = np.log(values)
    risk = LognormalRisk(share=1.0, project_value=market.rationing.project_value, median_pd=float(np.exp(np.median(logs))), sigma=float(min(max(logs.std(), 0.05), 5.0)))
    curve = return_curve(RPopulation(types=(), outside_option=market.rationing.outside_option, continuum=risk), max_rate=0.36, points=181)
    return curve.peak.rate, curve


class _Engines:
    """The real engines, loaded once per process."""

    _loaded: "_Engines | None" = None

    def __init__(self) -> None:
        from smelend.marketing.channels import load_channels
        from smelend.pricing.pricer import Pricer
        from smelend.products.loader import load_catalogue
        from smelend.risk.strategy import load_strategy

        self.risk_strategy = load_strategy()
        self.catalogue = load_catalogue()
        self.pricer = Pricer.load()
        self.channels = load_channels().channels
        from smelend.servicing.delinquency import load_policy

        self.policy = load_policy()

    @classmethod
    def get(cls) -> "_Engines":
        if cls._loaded is None:
            cls._loaded = _Engines()
        return cls._loaded


def run_market(
    population: Population,
    strategy: StrategyFile,
    market: MarketSettings,
    *,
    months: int,
    start: date = date(2026, 1, 1),
    shock: bool = True,
    progress: Callable[[int], None] | None = None,
    marketing_events: bool = False,
) -> RunResult:
    """Run ``strategy`` on ``population`` for ``months`` months from ``start``; ``progress(month)`` after each.
    ``marketing_events``: also emit the run's marketing events (:mod:`smelend.sim.events`) as ``RunResult.events``."""
    from smelend.marketing.channels import Activity, spend_fen
    from smelend.marketing.events import profile_of
    from smelend.pricing.optimize import optimal_rates
    from smelend.risk.decision import decide
    from smelend.risk.providers.base import gather
    from smelend.risk.providers.simulated import SimulatedProvider
    from smelend.servicing.conventions import Method

    if months < 1:
        raise ValueError("months must be positive")
    engines = _Engines.get()
    n, seed = len(population), population.seed
    provider = SimulatedProvider(seed=seed)
    counters = Counters()
    stage = dict.fromkeys(STAGES, 0.0)
    offered_methods = tuple(Method(m) for m in strategy.repayment_methods)
    channel_order = [c for c in market.channels if c in strategy.channels]
    channel_index = {c: k for k, c in enumerate(market.channels)}
    campaign_channels = {c.channel for c in strategy.campaigns}
    review_share = strategy.process.review_approve_share if strategy.process.review_approve_share is not None else market.review.approve_share
    repeat_uplift = sum(a.repeat_draw_uplift for a in strategy.maintenance)
    methods_factor = 1 + market.usage.methods_draw_uplift * (len(offered_methods) - 1)

    status = np.zeros(n, np.int8)
    declined_month = np.full(n, -999, np.int64)
    limit_fen = np.zeros(n, np.int64)
    base_limit_fen = np.zeros(n, np.int64)
    rate = np.zeros(n)
    bank_pd = np.zeros(n)  # the PD ``decide`` gave the customer's application (what the bank sees)
    latent = np.zeros(n)
    comp = np.zeros(n)
    frozen = np.zeros(n, bool)
    warned = np.zeros(n, bool)
    drew_before = np.zeros(n, bool)
    paid_count = np.zeros(n, np.int64)
    opened_month = np.full(n, -1, np.int64)
    book = LiveBook(engines.policy)
    defaulted = np.zeros(n, bool)
    defaulted_month = np.full(n, -1, np.int64)
    catch_up = np.full(n, np.datetime64("NaT"), "datetime64[D]")  # when a late payer settles its arrears
    interest_month = np.zeros(n, np.int64)
    interest_by_business = np.zeros(n, np.int64)
    loss_by_business = np.zeros(n, np.int64)
    channel_names = {c: k for k, c in enumerate(market.channels)}
    channel_of = np.full(n, -1, np.int64)
    events = EventRecorder(seed, market.review.hours) if marketing_events else None
    late_loans: set[int] = set()
    by_campaign = np.zeros(n, bool)
    line_terms: dict[int, dict[str, Any]] = {}
    group_of: dict[int, tuple[str, str, str]] = {}
    applicant_pds: list[float] = []
    line_rates: list[float] = []
    line_pds: list[float] = []
    offered_rates: list[float] = []
    peak: float | None = None
    next_loan_id = 1
    by_month: list[dict[str, Any]] = []
    totals: Counter[str] = Counter()
    apps_by_group: dict[str, Counter[str]] = defaultdict(Counter)
    prospects: tuple[np.ndarray, np.ndarray] | None = None

    for m in range(months):
        first, last = month_start(start, m), month_end(start, m)
        default_mult, demand_mult = market.macro_factor(m, shock)
        month: Counter[str] = Counter()
        # --- exposure and applications -------------------------------------------------------------
        began = time.perf_counter()
        eligible = (status == PROSPECT) | ((status == DECLINED) & (m - declined_month >= REAPPLY_MONTHS))
        need = eligible & (_uniforms(seed, m, 1, n) < population.demand * demand_mult)
        via = np.full(n, -1, np.int64)
        for c in channel_order:
            k = channel_index[c]
            hit = need & (via < 0) & population.reached[c] & (_uniforms(seed, m, 100 + k, n) < market.channels[c].conversion)
            via[hit] = k
        contacts = 0
        for j, campaign in enumerate(strategy.campaigns):
            if campaign.months is not None and not campaign.months[0] <= m <= campaign.months[1]:
                continue
            if prospects is None:  # the pre-approved list: every business's own record through the real scorecards
                prospects = prospect_scores(population, provider, engines.risk_strategy, first)
            contacted = campaign_targets(eligible, prospects[0], prospects[1], campaign.share_contacted)
            contacts += int(contacted.sum())
            if events is not None:
                events.contacted(np.flatnonzero(contacted), campaign.channel, first)
            month["campaign_cost"] += int(round(int(contacted.sum()) * campaign.cost_per_contact_yuan * 100))
            hit = contacted & need & (via < 0) & (_uniforms(seed, m, 300 + j, n) < campaign.conversion)
            via[hit] = channel_index[campaign.channel]
            by_campaign[hit] = True
        applicants = np.flatnonzero(via >= 0)
        names = list(market.channels)
        u_review, u_accept = _uniforms(seed, m, 2, n), _uniforms(seed, m, 3, n)
        stage["applications"] += time.perf_counter() - began

        # --- decisions by the real engine, pricing, acceptance -------------------------------------
        began = time.perf_counter()
        channel_apps: Counter[str] = Counter()
        for i in applicants.tolist():
            channel = names[int(via[i])]
            application = application_for(population, i, first, channel)
            if application.product_id not in strategy.products:
                application = application.model_copy(update={"product_id": strategy.products[i % len(strategy.products)]})
            product = engines.catalogue[application.product_id]
            applied_at = datetime(application.applied_on.year, application.applied_on.month, application.applied_on.day, 9, tzinfo=timezone.utc)
            asked = time.perf_counter()
            evidence = gather(application, provider, clock=lambda: applied_at)
            decision = decide(application, evidence, engines.risk_strategy, product, engines.pricer)
            engine_ms = (time.perf_counter() - asked) * 1000
            counters.decisions += 1
            month["applications"] += 1
            channel_apps[channel] += 1
            pd_true = provider.latent_pd(application)
            latent[i] = pd_true
            applicant_pds.append(decision.pd)
            flat = provider.flat(application)
            profile = profile_of(flat)
            segment = profile["size_band"]
            group_of[i] = (channel, product.id, segment)
            channel_of[i] = channel_names[channel]
            for g, key in zip(("channel", "product", "segment"), group_of[i]):
                apps_by_group[g][key] += 1
            outcome = decision.outcome
            if outcome == "refer":
                month["reviews"] += 1
                outcome = "approve" if u_review[i] < review_share and decision.offer is not None else "decline"
            if outcome == "approve" and (decision.offer is None or decision.price is None):
                outcome = "decline"
            if events is not None:
                events.application(i, application, profile, pd_true, decision, engine_ms, outcome, decision.outcome == "refer", bool(by_campaign[i]), first)
            by_campaign[i] = False
            if outcome != "approve" or decision.offer is None or decision.price is None:
                status[i], declined_month[i] = DECLINED, m
                continue
            price, offer = decision.price, decision.offer
            seg = strategy.segments.get(segment)  # type: ignore[call-overload]
            limit = int(decision.limit_fen * (seg.limit_factor if seg else 1.0)) // LINE_STEP_FEN * LINE_STEP_FEN
            limit = max(product.limit.min_fen, min(product.limit.max_fen, limit))
            cap = float(price["cap"])
            floor = float(price["breakeven_rate"])
            if strategy.pricing.mode == "optimised":
                b_est = strategy.pricing.assumed_b * (max(decision.pd, 1e-4) / market.takeup.pd_reference) ** (-market.takeup.adverse_elasticity)
                comps = price["components"]
                best = optimal_rates(
                    pd=decision.pd, lgd=float(price["lgd"]), funds_rate=float(comps["funds"]),
                    cost_rate=float(comps["operating_cost"]) + float(comps["acquisition_cost"]), capital=float(price["capital"]),
                    hurdle=float(price["hurdle_rate"]), a=strategy.pricing.assumed_a, b=b_est, floor=floor, cap=cap,
                )
                offered = float(np.asarray(best.rate).reshape(-1)[0])
            else:
                offered = float(offer["annual_rate"])
            offered = min(cap, offered + (seg.rate_add if seg else 0.0))
            month["approvals"] += 1
            offered_rates.append(offered)
            if events is not None:
                events.offered(offered, None)
            if strategy.rationing.mode == "curve" and peak is not None and offered > peak:
                month["rationed"] += 1
                status[i], declined_month[i] = DECLINED, m
                continue
            comp[i] = competitor_rate(population, i, pd_true, market)
            if offered > comp[i] + market.competitor.tolerance:
                month["lost_to_competitor"] += 1
                status[i] = LOST
                continue
            b = price_sensitivity(population, i, pd_true, market)
            takeup = _sigmoid(market.takeup.a + strategy.process.takeup_uplift - b * offered)
            if events is not None:
                events.offered(offered, float(takeup))
            if u_accept[i] >= takeup:
                month["not_accepted"] += 1
                status[i], declined_month[i] = DECLINED, m
                continue
            status[i], opened_month[i] = CUSTOMER, m
            limit_fen[i] = base_limit_fen[i] = limit
            if events is not None:
                events.line_opened(i, limit)
            rate[i] = offered
            bank_pd[i] = decision.pd
            line_rates.append(offered)
            line_pds.append(pd_true)
            methods = {Method(x["method"]): int(x["sample_term"]) for x in offer["methods"]}
            line_terms[i] = {"product": product, "methods": [mm for mm in offered_methods if mm in methods] or [next(iter(methods))], "terms": methods,
                             "revenue_fen": profile["annual_sales_fen"] or None, "tax_grade": flat.get("tax_grade")}
            month["lines"] += 1
        if strategy.rationing.mode == "curve":
            found = rationing_peak(applicant_pds, market)
            peak = None if found is None else found[0]
        stage["decisions"] += time.perf_counter() - began

        # --- the month's draws, defaults and late payers (decided at the start of the month) -------------
        began = time.perf_counter()
        u_draw, u_method = _uniforms(seed, m, 4, n), _uniforms(seed, m, 5, n)
        u_default, u_prepay, u_attr, u_warn = (_uniforms(seed, m, p, n) for p in (6, 7, 8, 9))
        annual = np.minimum(0.99, latent * market.default.pd_scale * default_mult)
        hazard = 1 - (1 - annual) ** (1 / 12)
        used = _by_business(book.business, book.outstanding_fen(), n)
        live = _by_business(book.business, book.active().astype(np.int64), n) > 0
        defaulting = live & ~defaulted & (u_default < hazard)
        defaulted_month[defaulting] = m
        defaulted |= defaulting
        status[defaulting] = CLOSED
        month["defaults"] += int(defaulting.sum())
        late = live & ~defaulted & (u_warn < market.default.warning_factor * hazard)
        customers = np.flatnonzero((status == CUSTOMER) & ~frozen & (limit_fen - used >= MIN_DRAW_FEN))
        groups: dict[tuple[str, Method, int], list[tuple[int, int, Decimal]]] = defaultdict(list)
        for i in customers.tolist():
            if opened_month[i] == m:
                chance = market.usage.first_month_draw * (1 + strategy.conversion.first_draw_uplift)
            elif live[i]:
                chance = market.usage.draw_monthly_with_loan
            else:
                chance = market.usage.draw_monthly * (1 + (repeat_uplift if drew_before[i] else 0.0))
            if u_draw[i] >= min(1.0, chance * methods_factor):
                continue
            lt = line_terms[i]
            method = lt["methods"][int(u_method[i] * len(lt["methods"]))]
            available = int(limit_fen[i] - used[i]) // LINE_STEP_FEN * LINE_STEP_FEN
            amount = min(available, max(MIN_DRAW_FEN, int(limit_fen[i] * population.utilisation[i]) // LINE_STEP_FEN * LINE_STEP_FEN))
            groups[(lt["product"].id, method, lt["terms"][method])].append((i, amount, _rate(rate[i])))
        attrition_keep = np.ones(n)
        for action in strategy.maintenance:  # retention calls to the customers the bank ranks most at risk
            if action.attrition_reduction > 0:
                called = retention_targets(status == CUSTOMER, rate, bank_pd, market.competitor.pd_loading, action.calls_share)
                attrition_keep[called] *= 1 - action.attrition_reduction
                month["retention_calls"] += int(called.sum())
        leaving = (status == CUSTOMER) & (u_attr < attrition_keep * (market.competitor.attrition_base_monthly + market.competitor.attrition_per_point_monthly * np.maximum(0.0, (rate - comp) * 100)))
        stage["draws"] += time.perf_counter() - began

        # --- every business day: money received, draws, then the engine's close of business ----------------
        draw_day = date(first.year, first.month, DRAW_DAY)
        day = first
        while day <= last:
            began = time.perf_counter()
            if len(book):
                iso = np.datetime64(day, "D")
                paying = ~defaulted[book.business]
                due = np.flatnonzero(book.due_on(day) & paying)
                catching_up = np.flatnonzero(book.overdue_by(day) & paying & (catch_up[book.business] == iso))
                rows_late = [r for r in due.tolist() if late[book.business[r]]]
                rows_on_time = {r for r in due.tolist() if not late[book.business[r]]}
                done = set(catching_up.tolist())
                received = book.pay(sorted(done | rows_on_time), day, "due")
                if market.default.partial_share > 0:
                    received += book.pay([r for r in rows_late if r not in done], day, "due", market.default.partial_share, tag="-partial")
                for r in rows_late:
                    b = int(book.business[r])
                    catch_up[b] = np.datetime64(day + timedelta(days=market.default.late_days), "D")
                    paid_count[b] = 0
                    month["late_payments"] += 1
                for r, _ in received:
                    if r in rows_on_time:
                        paid_count[int(book.business[r])] += 1
                if day == last:  # prepayments and customers leaving for a competitor pay off on the month's last day
                    active = book.active()
                    u_loan = u_prepay[book.business]
                    payoff = np.flatnonzero(active & paying & (leaving[book.business] | (u_loan < market.usage.prepay_monthly)))
                    paid_off = book.pay(payoff.tolist(), day, "payoff")
                    month["prepayments"] += len(paid_off)
                    received += paid_off
                _tally_receipts(received, book.business, month, interest_month, loss_by_business)
            stage["servicing"] += time.perf_counter() - began
            if day == draw_day and groups:
                _open_draws(groups, book, engines, start_day=day, month=month, counters=counters, stage=stage, drew_before=drew_before,
                            group_of=group_of, strategy=strategy, next_loan_id=next_loan_id, events=events, funds_rate=market.costs.funds_rate)
                next_loan_id += sum(len(rows) for rows in groups.values())
            began = time.perf_counter()
            rows, business, moved = book.close(day)
            if rows.size:
                owners = business[rows]
                income = moved[rows, 0] + moved[rows, 2]  # interest and penalty accrued to income
                np.add.at(interest_month, owners, income)
                np.add.at(loss_by_business, owners, moved[rows, 4])
                slipping = book.arrays.days_past_due > 0
                if slipping.any():
                    warned[book.business[slipping]] = True
                    if events is not None:
                        late_loans.update(book.arrays.loan_id[slipping].tolist())
            stage["cob"] += time.perf_counter() - began
            day += timedelta(days=1)

        # --- month end: write-offs, attrition, the line review ------------------------------------------------
        began = time.perf_counter()
        due_write_off = defaulted & (m - defaulted_month >= market.default.months_to_write_off)
        if len(book) and due_write_off.any():
            rows_off = np.flatnonzero(book.active() & due_write_off[book.business])
            for r, shortfall, applied in book.write_off(rows_off.tolist(), last, 1 - market.default.lgd):
                b = int(book.business[r])
                loss_by_business[b] += shortfall - (applied.recovery_fen if applied else 0)
                month["written_off_fen"] += int(book.templates[r].written_off_fen + (applied.recovery_fen if applied else 0))
                month["write_offs"] += 1
        leaving &= status == CUSTOMER  # a business that defaulted this month is not lost to a competitor
        status[leaving] = LOST
        month["attrition"] += int(leaving.sum())
        holders = status == CUSTOMER
        used = _by_business(book.business, book.outstanding_fen(), n)
        if (m + 1) % strategy.reassessment.every_months == 0:  # the line review, by the real reassessment engine
            from smelend.sim.review import LineRow, review

            reviewed = np.flatnonzero(holders).tolist()
            month["reviews_of_lines"] = len(reviewed)
            rows_review = []
            for i in reviewed:
                product = line_terms[i]["product"]
                rows_review.append(LineRow(
                    i + 1, product.id, bool(frozen[i]), int(limit_fen[i]), int(used[i]), month_start(start, int(opened_month[i])),
                    product.line_validity_months, m - int(opened_month[i]), int(paid_count[i]), bool(warned[i]),
                    line_terms[i]["revenue_fen"], line_terms[i]["tax_grade"],
                ))
            changes = review(rows_review, last)
            counters.line_reviews += len(rows_review)
            for line_id, action, after, status_after in changes.select("line_id", "action", "limit_after_fen", "status_after").iter_rows():
                i = int(line_id) - 1
                limit_fen[i] = int(after)
                frozen[i] = status_after == "frozen"
                month[f"review:{action}"] += 1
            warned[:] = False
        book.compact()
        stage["servicing"] += time.perf_counter() - began

        # --- the month's figures --------------------------------------------------------------------
        outstanding = book.outstanding_fen()
        balance = int(outstanding.sum())
        npl = int(outstanding[book.non_performing()].sum())
        open_lines = int((status == CUSTOMER).sum())
        month_interest = int(interest_month.sum())
        month["interest_fen"] += month_interest
        for c, k in channel_names.items():
            month[f"interest:{c}"] += int(interest_month[channel_of == k].sum())
        np.add.at(interest_by_business, np.arange(n), interest_month)
        interest_month[:] = 0
        visits = {c: int(round(channel_apps[c] * market.costs.visits_per_application)) for c in channel_apps}
        acquisition = month["campaign_cost"] + month["coupon_cost"]
        for c in set(channel_order) | campaign_channels:
            spent = spend_fen(engines.channels[c], Activity(visits=visits.get(c, 0), applications=channel_apps[c], first_draws=month[f"first_draw:{c}"], interest_fen=month[f"interest:{c}"]))
            if engines.channels[c].cost.model == "fixed":  # a fixed cost is for a whole market: this market's share of it
                spent = int(round(spent * n / market.costs.fixed_cost_per_businesses))
            acquisition += spent
        factor = strategy.process.operating_cost_factor
        operating = int(round(factor * 100 * (
            month["applications"] * market.costs.per_application_yuan + month["reviews"] * market.costs.per_review_yuan + open_lines * market.costs.per_line_month_yuan
        ))) + int(round(100 * sum(a.cost_per_customer_month_yuan * round(a.calls_share * open_lines) for a in strategy.maintenance)))
        funding = int(round(balance * market.costs.funds_rate / 12))
        row = {
            "month": m + 1, "date": last.isoformat(), "applications": month["applications"], "approvals": month["approvals"],
            "lines": month["lines"], "draws": month["draws"], "drawn_fen": month["drawn_fen"], "open_lines": open_lines,
            "balance_fen": balance, "npl_fen": npl, "defaults": month["defaults"], "written_off_fen": month["written_off_fen"],
            "interest_income_fen": month["interest_fen"], "fee_income_fen": month["fee_fen"], "funding_cost_fen": funding,
            "operating_cost_fen": operating, "acquisition_cost_fen": acquisition, "attrition": month["attrition"],
            "lost_to_competitor": month["lost_to_competitor"], "rationed": month["rationed"], "reviews_of_lines": month["reviews_of_lines"],
            "review_freeze": month["review:freeze"], "review_increase": month["review:increase"], "review_decrease": month["review:decrease"],
            "campaign_contacts": contacts, "retention_calls": month["retention_calls"], "default_multiplier": default_mult, "late_payments": month["late_payments"],
            "prepayments": month["prepayments"], "live_loans": len(book),
        }
        by_month.append(row)
        for key in ("applications", "approvals", "lines", "draws", "reviews", "rationed", "lost_to_competitor", "not_accepted", "attrition", "defaults",
                    "prepayments", "first_draws", "repeat_draws", "late_payments", "write_offs"):
            totals[key] += month[key]
        totals["interest_income"] += month["interest_fen"]
        totals["fee_income"] += month["fee_fen"]
        totals["funding_cost"] += funding
        totals["operating_cost"] += operating
        totals["acquisition_cost"] += acquisition
        totals["balance_month_sum"] += balance
        if progress:
            progress(m + 1)

    began = time.perf_counter()
    counters.cob_runs = book.closes
    counters.payments = book.payments
    outstanding = book.outstanding_fen()
    balance_end = int(outstanding.sum())
    npl_end = by_month[-1]["npl_fen"]
    ledger = ledger_of(book.entries, book.cob_rows)
    provision = ledger.normal_balance_fen(Account.PROVISION_EXPENSE)
    recovered = ledger.normal_balance_fen(Account.RECOVERY_INCOME)
    credit_losses = provision - recovered
    interest_income = ledger.normal_balance_fen(Account.INTEREST_INCOME) + ledger.normal_balance_fen(Account.PENALTY_INCOME)
    fee_income = ledger.normal_balance_fen(Account.FEE_INCOME)
    assert interest_income == totals["interest_income"] and fee_income == totals["fee_income"], (interest_income, totals["interest_income"], fee_income, totals["fee_income"])
    assert credit_losses == int(loss_by_business.sum()), (credit_losses, int(loss_by_business.sum()))
    profit = interest_income + fee_income - totals["funding_cost"] - credit_losses - totals["operating_cost"] - totals["acquisition_cost"]
    average_balance = totals["balance_month_sum"] / months
    capital = average_balance * market.costs.capital_per_exposure
    raroc = (profit * 12 / months) / capital if capital > 0 else 0.0
    counters.journal_entries = len(book.entries) + sum(len(r) for r in book.cob_rows)
    drawn = int(drew_before.sum())
    out: dict[str, Any] = {
        "applications": totals["applications"], "approvals": totals["approvals"], "lines": totals["lines"],
        "customers_drawn": drawn, "draws": totals["draws"], "repeat_draws": totals["repeat_draws"], "balance_end": balance_end, "npl_balance": npl_end,
        "interest_income": interest_income, "penalty_income": ledger.normal_balance_fen(Account.PENALTY_INCOME), "fee_income": fee_income,
        "funding_cost": totals["funding_cost"],
        "credit_losses": credit_losses, "operating_cost": totals["operating_cost"], "acquisition_cost": totals["acquisition_cost"],
        "profit": profit, "average_balance": int(round(average_balance)), "raroc": raroc,
        "ledger_principal_receivable": ledger.normal_balance_fen(Account.PRINCIPAL_RECEIVABLE), "ledger_balanced": ledger.balanced,
        "reviews": totals["reviews"], "rationed": totals["rationed"], "lost_to_competitor": totals["lost_to_competitor"],
        "not_accepted": totals["not_accepted"],
        "line_rate_mean": float(np.mean(line_rates)) if line_rates else None,
        "line_rate_p10": float(np.percentile(line_rates, 10)) if line_rates else None,
        "line_rate_p90": float(np.percentile(line_rates, 90)) if line_rates else None,
        "offered_rate_mean": float(np.mean(offered_rates)) if offered_rates else None,
        "line_latent_pd_mean": float(np.mean(line_pds)) if line_pds else None, "attrition": totals["attrition"], "defaults": totals["defaults"],
        "prepayments": totals["prepayments"], "late_payments": totals["late_payments"], "write_offs": totals["write_offs"],
    }
    open_balance = _by_business(book.business, outstanding, n)
    by_group: dict[str, dict[str, dict[str, int]]] = {g: {} for g in ("channel", "product", "segment")}
    for gi, g in enumerate(("channel", "product", "segment")):
        for i, keys in group_of.items():
            fig = by_group[g].setdefault(keys[gi], Counter())
            fig["lines"] += int(opened_month[i] >= 0)
            fig["customers_drawn"] += int(drew_before[i])
            fig["interest_income"] += int(interest_by_business[i])
            fig["credit_losses"] += int(loss_by_business[i])
            fig["balance_end"] += int(open_balance[i])
        for key, count in apps_by_group[g].items():
            by_group[g].setdefault(key, Counter())["applications"] = count
        by_group[g] = {k: dict(v) for k, v in sorted(by_group[g].items())}
    stage["ledger"] += time.perf_counter() - began
    return RunResult(
        strategy=strategy.name, seed=seed, businesses=n, months=months, totals=out, by_month=by_month, by_group=by_group,
        counters=counters, entries=tuple(book.entries), cob_rows=tuple(book.cob_rows), stage_seconds=stage, applicant_pds=tuple(applicant_pds),
        rationing_peak=peak, events=events.finish(month_end(start, months - 1) + timedelta(days=1), late_loans, defaulted, market.default.lgd) if events is not None else None,
    )


def _by_business(business: np.ndarray, values: np.ndarray, n: int) -> np.ndarray:
    """Per-business sums of a per-loan int64 array (exact: no float weights)."""
    out = np.zeros(n, np.int64)
    if business.size:
        np.add.at(out, business, values.astype(np.int64, copy=False))
    return out


def _tally_receipts(received: list[tuple[int, Receipt]], business: np.ndarray, month: Counter[str], interest_month: np.ndarray,
                    loss_by_business: np.ndarray) -> None:
    """Income and losses of the day's receipts, by business: interest and penalty received from off balance (cash
    basis), fees, and allowances released when a loan closes."""
    for r, applied in received:
        b = int(business[r])
        interest_month[b] += applied.suspended_interest_fen + applied.suspended_penalty_fen
        month["fee_fen"] += applied.fee_fen
        loss_by_business[b] -= applied.provision_release_fen


def _open_draws(groups: dict[tuple[str, Any, int], list[tuple[int, int, Decimal]]], book: LiveBook, engines: "_Engines", *, start_day: date,
                month: Counter[str], counters: Counters, stage: dict[str, float], drew_before: np.ndarray, group_of: dict[int, tuple[str, str, str]],
                strategy: StrategyFile, next_loan_id: int, events: EventRecorder | None, funds_rate: float) -> None:
    """The month's draws: scheduled by ``build_schedules_batch`` (one call per product, method and term), opened
    in the book by ``lifecycle.activate`` (the disbursement entries), and any first-draw coupon booked."""
    from smelend.servicing.batch import build_schedules_batch

    loan_id = next_loan_id
    for (product_id, method, term), rows in groups.items():
        began = time.perf_counter()
        product = engines.catalogue[product_id]
        batch = build_schedules_batch(np.array([r[1] for r in rows], np.int64), [r[2] for r in rows], term, method, start_day, product.conventions_for(method))
        counters.schedules += len(rows)
        counters.schedule_batches += 1
        stage["schedules"] += time.perf_counter() - began
        began = time.perf_counter()
        ids = list(range(loan_id, loan_id + len(rows)))
        loan_id += len(rows)
        penalty = Penalty(product.penalty.rate_multiplier, product.penalty.compound_overdue_interest, product.penalty.grace_days, PrepaymentEffect(product.prepayment.value))
        book.open(pending_from_batch(batch, ids, [r[0] + 1 for r in rows], penalty), [r[0] for r in rows], start_day)
        for k, ((i, amount, _), lid) in enumerate(zip(rows, ids)):
            if events is not None:
                events.drawn(i, lid, start_day, amount, method.value, term, int(batch.interest_fen[k].sum()), funds_rate)
            month["draws"] += 1
            month["drawn_fen"] += amount
            if drew_before[i]:
                month["repeat_draws"] += 1
                continue
            month["first_draws"] += 1
            month[f"first_draw:{group_of[i][0]}"] += 1
            bp = strategy.conversion.first_draw_coupon_bp
            if bp:
                coupon = int(Decimal(amount) * bp * term / (10_000 * 12))
                entry = rules.coupon_cost(f"sim:{lid}", start_day, coupon, lid)
                if entry is not None:
                    book.entries.append(entry)
                    month["coupon_cost"] += coupon
            drew_before[i] = True
        stage["draws"] += time.perf_counter() - began


def ledger_of(entries: list[JournalEntry] | tuple[JournalEntry, ...], cob_rows: list[PostingRows] | tuple[PostingRows, ...]) -> TrialBalance:
    """The trial balance of a run: its entries plus the daily closes' posting rows (summed as arrays)."""
    from smelend.servicing.cob_batch import DAY_CLOSE_ACCOUNTS

    totals = dict(trial_balance(entries).balances_fen)
    sums = np.zeros(len(DAY_CLOSE_ACCOUNTS), np.int64)
    for rows in cob_rows:
        np.add.at(sums, rows.posting_account.astype(np.int64), rows.posting_amount_fen)
    for account, amount in zip(DAY_CLOSE_ACCOUNTS, sums.tolist()):
        totals[account] = totals.get(account, 0) + amount
    return TrialBalance({a: v for a, v in sorted(totals.items(), key=lambda kv: kv[0].value)})
