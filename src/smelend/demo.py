"""The main job shown end to end on embedded SQLite: a sample enterprise, every repayment method,
and four months of servicing.

It stores the sample enterprise and its owner (PII encrypted), shows for each repayment method the
schedule and its APR, then opens credit lines, draws with each method, posts repayments (on time,
by auto-debit, late, early, a payoff) and closes business day by day, so the loans' balances, days
past due, classification and the ledger's trial balance can be seen. Each later issue extends it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

from smelend.ids import mobile, ric
from smelend.money import format_yuan
from smelend.products import Catalogue, Product, load_catalogue
from smelend.servicing import LoanTerms, Method, Schedule, build_schedule
from smelend.servicing.conventions import Conventions

SAMPLE_OWNER = {"name": "张伟", "resident_id": "11010519491231002X", "mobile": "13800138000", "bank_account": "6222021001112223334"}
SAMPLE_ENTERPRISE = {"uscc": "91310000MA1FL8T5X3", "name": "上海示例商贸有限公司"}
SAMPLE_PRODUCT = "tax-data-loan"
SAMPLE_DRAW_FEN = 10_000_000  # 100,000 yuan
SAMPLE_RATE = Decimal("0.072")
SAMPLE_TERM = 12
SAMPLE_START = date(2026, 1, 15)
COMPARISON_FEE_RATE = Decimal("0.006")  # a "0.6% a month" flat-fee loan, the kind the APR rule exposes


@dataclass(frozen=True)
class DemoDraw:
    """One illustrative draw: which product offers the method, and the schedule it gives."""

    method: Method
    product_id: str
    schedule: Schedule


def product_for(catalogue: Catalogue, method: Method, preferred: str) -> Product:
    """The preferred product if it offers ``method``, else the first product in the catalogue that does."""
    if preferred in catalogue and method in catalogue[preferred].repayment_methods:
        return catalogue[preferred]
    return next(p for p in catalogue.values() if method in p.repayment_methods)


def sample_draws(catalogue: Catalogue, preferred_product: str) -> list[DemoDraw]:
    """A 100,000-yuan draw at 7.2% with every method some product offers, and a flat-fee comparison."""
    draws = []
    for method in Method:
        if method is Method.FLAT:
            continue
        product = product_for(catalogue, method, preferred_product)
        term = min(SAMPLE_TERM, product.repayment_methods[method].max_term)
        terms = LoanTerms(SAMPLE_DRAW_FEN, SAMPLE_RATE, term, method, SAMPLE_START, product.conventions_for(method))
        draws.append(DemoDraw(method, product.id, build_schedule(terms)))
    flat = LoanTerms(SAMPLE_DRAW_FEN, Decimal(0), SAMPLE_TERM, Method.FLAT, SAMPLE_START, Conventions(monthly_fee_rate=COMPARISON_FEE_RATE))
    draws.append(DemoDraw(Method.FLAT, "(comparison: 0.6%/month fee, no product)", build_schedule(flat)))
    return draws


def masked_owner(person_name: str, resident_id: str, mobile_e164: str) -> dict[str, str]:
    return {"name": person_name[:1] + "*" * (len(person_name) - 1), "resident_id": ric.mask(resident_id), "mobile": mobile.mask(mobile_e164)}


# --- four months of servicing ----------------------------------------------------------------------

SERVICING_DAYS = 120
LINE_LIMIT_FEN = 100_000_000  # 1,000,000 yuan


@dataclass(frozen=True)
class PlannedDraw:
    """A draw the demo makes, and how its borrower behaves."""

    method: Method
    product_id: str
    term: int
    behaviour: str  # on-time, auto-debit, late-then-stops, repays-any-day, early-payoff
    amount_fen: int = SAMPLE_DRAW_FEN


PLANNED_DRAWS = (
    PlannedDraw(Method.EQUAL_INSTALLMENT, "tax-data-loan", 12, "on-time"),
    PlannedDraw(Method.EQUAL_PRINCIPAL, "tax-data-loan", 12, "auto-debit"),
    PlannedDraw(Method.INTEREST_FIRST, "tax-data-loan", 6, "late-then-stops"),
    PlannedDraw(Method.REVOLVING, "tax-data-loan", 6, "repays-any-day"),
    PlannedDraw(Method.BULLET, "invoice-loan", 3, "early-payoff"),
)


@dataclass
class DemoRun:
    start: date
    lines: dict[str, int] = field(default_factory=dict)  # product id -> line id
    loans: dict[int, PlannedDraw] = field(default_factory=dict)  # loan id -> plan
    events: list[str] = field(default_factory=list)


def run_servicing(book, uscc: str, start: date, progress: Callable[[int, int], None] | None = None) -> DemoRun:
    """Open lines, draw with every method, then live through :data:`SERVICING_DAYS` business days."""
    from smelend.operations import lines, repayments
    from smelend.store.lending import load_loans

    run = DemoRun(start)
    for product_id in dict.fromkeys(p.product_id for p in PLANNED_DRAWS):
        line = lines.open_line(book, uscc, product_id, LINE_LIMIT_FEN, SAMPLE_RATE, start)
        run.lines[product_id] = line.id
    for plan in PLANNED_DRAWS:
        request = lines.DrawRequest(run.lines[plan.product_id], plan.amount_fen, plan.method, plan.term, start, auto_debit=plan.behaviour == "auto-debit")
        state = lines.draw(book, request)
        run.loans[state.id] = plan
    for offset in range(SERVICING_DAYS):
        day = start + timedelta(days=offset)
        with book.engine.connect() as conn:
            states = {stored.state.id: stored.state for stored in load_loans(conn, list(run.loans))}
        for loan_id, plan in run.loans.items():
            amount = _demo_payment(book, plan, states[loan_id], day)
            if amount:
                repayments.repay(book, loan_id, amount, day)
                run.events.append(f"{day} loan {loan_id} ({plan.method.value}, {plan.behaviour}): paid {format_yuan(amount)}")
        lines.close_through(book, day)  # the full close of business, as `smelend cob` does it
        if progress:
            progress(offset + 1, SERVICING_DAYS)
    return run


def _demo_payment(book, plan: PlannedDraw, state, day: date) -> int:
    """What the demo borrower pays on ``day`` (0: nothing)."""
    from smelend.operations.repayments import amount_due_fen, quote
    from smelend.servicing.loan import LoanStatus

    if state.status is not LoanStatus.ACTIVE:
        return 0
    first_due = state.installments[0].due_date
    if plan.behaviour == "repays-any-day" and day == state.terms.start + timedelta(days=40):
        return 3_000_000 + amount_due_fen(state, day)
    if plan.behaviour in ("on-time", "repays-any-day") and any(i.due_date == day for i in state.installments):
        return amount_due_fen(state, day)
    if plan.behaviour == "late-then-stops" and day == first_due + timedelta(days=20):
        return amount_due_fen(state, day)
    if plan.behaviour == "early-payoff" and day == state.terms.start + timedelta(days=60):
        return quote(book, state.id, day).total_fen
    return 0


DEMO_APPLICATIONS = 12
DEMO_APPLICATIONS_SEED = 2026


def decide_simulated(count: int = DEMO_APPLICATIONS, seed: int = DEMO_APPLICATIONS_SEED) -> list[tuple[Any, Any]]:
    """Simulated applicants decided by the shipped strategy: (application, decision) pairs."""
    from datetime import datetime, timezone

    from smelend.pricing.pricer import Pricer
    from smelend.risk.decision import decide
    from smelend.risk.providers.base import gather
    from smelend.risk.providers.simulated import SimulatedProvider, simulate_applications
    from smelend.risk.strategy import load_strategy

    strategy = load_strategy()
    pricer = Pricer.load()
    catalogue = load_catalogue()
    provider = SimulatedProvider(seed=seed)
    clock = lambda: datetime(SAMPLE_START.year, SAMPLE_START.month, SAMPLE_START.day, tzinfo=timezone.utc)  # noqa: E731
    pairs = []
    for application in simulate_applications(count, seed):
        evidence = gather(application, provider, clock=clock)
        pairs.append((application, decide(application, evidence, strategy, catalogue[application.product_id], pricer)))
    return pairs



# --- the strategy lab in the demo (issue 9, section 3) ---------------------------------------------------
LAB_SMES = 20_000
LAB_MONTHS = 24
LAB_SEEDS = 3
LAB_FOLDER = "strategy-lab"  # under the data folder: metrics.json, report.html, the runs' ledgers


def strategy_files() -> tuple[Path, Path] | None:
    """The shipped ``strategies/baseline.yaml`` and ``strategies/optimized.yaml``: beside the source tree, else
    in the working folder; None when neither holds them (an installed package without the repository)."""
    for root in (Path(__file__).resolve().parents[2], Path.cwd()):
        baseline, optimized = root / "strategies" / "baseline.yaml", root / "strategies" / "optimized.yaml"
        if baseline.is_file() and optimized.is_file():
            return baseline, optimized
    return None
