"""The portfolio page's figures, read from the store: lines, the loan book, the ledger, delinquency
buckets, the five-category classification and vintages.

Reuses what the book already defines: the delinquency policy's buckets
(:func:`smelend.servicing.delinquency.bucket`, as :func:`smelend.operations.cob.book_buckets` uses them)
and :func:`smelend.store.ledger.trial_balance` (the balances kept with the postings: interest, penalty,
provisions and customer credit are shown from there; ``ledger reconcile`` proves them equal to the
loans'). Loans are counted and summed in the database in two scans (grouped by days past due and
category, and by day drawn) and only those groups are mapped here, so no loan row reaches Python;
``benchmarks/dashboard_portfolio.py`` compares this with ``book_buckets``, which reads every active
loan, and a test checks both agree. Amounts stay integer fen here; templates format them.

A vintage is the loans drawn in one calendar month, followed to today: how much was lent, how much is
still outstanding, how much of that is 31 days or more past due, and how much was written off. Its
"bad share" is (principal 31+ days past due + principal written off) / principal lent.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from sqlalchemy import case, func, select

from smelend.ledger import Account
from smelend.operations.context import Book
from smelend.servicing.delinquency import bucket
from smelend.store import ledger as ledger_store
from smelend.store.db import reading
from smelend.store.lending import get_business_day
from smelend.store.tables import credit_lines, loans

VINTAGE_BAD_DPD = 31  # "30+ days past due": the usual vintage threshold
DISBURSED = ("active", "closed", "written-off")  # loans whose money went out (not pending or cancelled)
LEDGER_FIGURES = {  # receivables shown from the ledger's kept balances (reconciliation proves them equal to the loans')
    "interest": Account.INTEREST_RECEIVABLE,
    "penalty": Account.PENALTY_RECEIVABLE,
    "provision": Account.LOAN_LOSS_ALLOWANCE,
    "credit": Account.CUSTOMER_CREDIT,
}


@dataclass(frozen=True)
class Row:
    name: str
    loans: int
    principal_fen: int


@dataclass(frozen=True)
class Vintage:
    month: str  # "2026-11"
    loans: int
    lent_fen: int
    outstanding_fen: int
    past_due_fen: int  # outstanding principal of loans VINTAGE_BAD_DPD+ days past due
    written_off_fen: int

    @property
    def bad_share(self) -> Decimal:
        return Decimal(0) if self.lent_fen == 0 else Decimal(self.past_due_fen + self.written_off_fen) / Decimal(self.lent_fen)


@dataclass(frozen=True)
class Portfolio:
    business_date: date | None
    last_closed: date | None
    lines_active: int
    lines_frozen: int
    limit_fen: int  # of active and frozen lines
    used_fen: int
    loans_active: int
    book: dict[str, int]  # principal (active loans), interest, penalty, provision, credit (the ledger's kept balances)
    ledger: tuple[tuple[str, int], ...]  # (account, balance on its normal side)
    ledger_balanced: bool
    buckets: tuple[Row, ...]
    classification: tuple[Row, ...]
    vintages: tuple[Vintage, ...]


def portfolio(book: Book) -> Portfolio:
    with reading(book.engine) as conn:
        day = get_business_day(conn)
        line_rows = conn.execute(
            select(credit_lines.c.status, func.count(), func.coalesce(func.sum(credit_lines.c.limit_fen), 0), func.coalesce(func.sum(credit_lines.c.used_fen), 0))
            .group_by(credit_lines.c.status)
        ).all()
        kept = ledger_store.trial_balance(conn)
        active = conn.execute(  # one scan for buckets and classification: a few hundred (DPD, category) groups
            select(loans.c.days_past_due, loans.c.category, func.count(), func.coalesce(func.sum(loans.c.principal_outstanding_fen), 0))
            .where(loans.c.status == "active").group_by(loans.c.days_past_due, loans.c.category)
        ).all()
        active_left = case((loans.c.status == "active", loans.c.principal_outstanding_fen), else_=0)
        late_left = case(((loans.c.status == "active") & (loans.c.days_past_due >= VINTAGE_BAD_DPD), loans.c.principal_outstanding_fen), else_=0)
        drawn = conn.execute(  # by day in the database (a few thousand rows at most), by month here
            select(loans.c.start_date, func.count(), func.sum(loans.c.principal_fen), func.sum(active_left), func.sum(late_left), func.sum(loans.c.written_off_fen))
            .where(loans.c.status.in_(DISBURSED)).group_by(loans.c.start_date)
        ).all()
    by_status = {status: (int(n), int(limit), int(used)) for status, n, limit, used in line_rows}
    open_lines = [by_status.get(s, (0, 0, 0)) for s in ("active", "frozen")]
    buckets = {name: [0, 0] for name in book.policy.bucket_names}
    by_category: dict[str, list[int]] = {}
    for dpd, category, n, principal in active:
        for sums in (buckets[bucket(int(dpd), book.policy)], by_category.setdefault(str(category), [0, 0])):
            sums[0] += int(n)
            sums[1] += int(principal)
    categories = {category: (n, p) for category, (n, p) in by_category.items()}
    receivables = {name: kept.normal_balance_fen(account) for name, account in LEDGER_FIGURES.items()}
    known = [getattr(c, "value", c) for c in book.policy.classification.min_dpd]
    order = known + sorted(set(categories) - set(known))
    return Portfolio(
        business_date=day.business_date,
        last_closed=day.last_closed,
        lines_active=open_lines[0][0],
        lines_frozen=open_lines[1][0],
        limit_fen=sum(v[1] for v in open_lines),
        used_fen=sum(v[2] for v in open_lines),
        loans_active=sum(n for n, _ in categories.values()),
        book={"principal": sum(p for _, p in categories.values()), **receivables},
        ledger=tuple((a.value, kept.normal_balance_fen(a)) for a in Account if a in kept.balances_fen),
        ledger_balanced=kept.balanced,
        buckets=tuple(Row(name, n, principal) for name, (n, principal) in buckets.items()),
        classification=tuple(Row(c, *categories.get(c, (0, 0))) for c in order),
        vintages=_vintages(drawn),
    )


def _vintages(rows: list) -> tuple[Vintage, ...]:  # type: ignore[type-arg]
    """Rows of (start date, loans, lent, outstanding, 31+ DPD outstanding, written off) summed by month."""
    months: dict[str, list[int]] = {}
    for start, *figures in rows:
        sums = months.setdefault(f"{start.year:04d}-{start.month:02d}", [0, 0, 0, 0, 0])
        for i, value in enumerate(figures):
            sums[i] += int(value or 0)
    return tuple(Vintage(month, *months[month]) for month in sorted(months))
