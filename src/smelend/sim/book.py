"""The lab's loan book, serviced by the servicing engine itself: daily close of business on its arrays,
payments through its allocation, write-offs through its lifecycle.

Why: the issue asks for repayments "through the real servicing engine and ledger", not a model of them. So
the live loans are held as :class:`~smelend.servicing.cob_batch.BookArrays` and every business day is closed
by :func:`~smelend.servicing.cob_batch.close_day_batch` (accrual, penalties, days past due, five-category
classification, provisions, exactly the per-loan ``close_day``); its journal entries are the engine's
:func:`~smelend.servicing.cob_batch.posting_rows_from_batch` rows, kept as arrays (one
:class:`~smelend.servicing.cob_batch.PostingRows` per day: a run has hundreds of thousands of them) and
turned into :class:`~smelend.ledger.JournalEntry` records by ``entries_from_rows`` when stored.

Money received goes through :func:`smelend.servicing.repayment.apply_payment`, loan by loan (the servicing
engine has no batch allocation; payments are a few per loan a month, so this is not the bottleneck): the
loans paid on a day are taken out of the arrays as :class:`~smelend.servicing.loan.LoanState` records
(:func:`~smelend.servicing.cob_batch.to_states`), paid, and written back
(:meth:`BookArrays.from_states`). Loans are opened by :func:`smelend.servicing.lifecycle.activate` and
written off by :func:`smelend.servicing.lifecycle.write_off`; a recovery after write-off is again
``apply_payment`` (it books recovery income).

The book keeps, per loan, a *template* state (contract, flags and installment count) that ``to_states``
needs; the arrays hold everything that moves.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, fields, replace
from datetime import date
from decimal import Decimal

import numpy as np

from smelend.ledger import JournalEntry
from smelend.ledger.rules import Receipt
from smelend.servicing import delinquency, lifecycle
from smelend.servicing.batch import ScheduleBatch
from smelend.servicing.cob_batch import STATUS_CODES, BookArrays, PostingRows, close_day_batch, posting_rows_from_batch, to_states
from smelend.servicing.loan import LoanInstallment, LoanState, LoanStatus, LoanTermsOnFile, PrepaymentEffect
from smelend.servicing.repayment import apply_payment, payoff_quote

ACTIVE = STATUS_CODES.index(LoanStatus.ACTIVE)
NON_PERFORMING_CODE = delinquency.Category.SUBSTANDARD.code  # substandard, doubtful, loss (不良贷款)
_NAT = np.datetime64("NaT", "D")


@dataclass(frozen=True)
class Penalty:
    """A product's penalty and prepayment settings, as ``operations.lines.contract_for`` reads them."""

    rate_multiplier: Decimal
    compound_overdue_interest: bool
    grace_days: int
    prepayment: PrepaymentEffect


def contract_of(batch: ScheduleBatch, k: int, penalty: Penalty) -> LoanTermsOnFile:
    """Loan ``k``'s contract, as ``operations.lines.contract_for`` makes it for a draw."""
    terms = batch.terms(k)
    return LoanTermsOnFile(terms, terms.annual_rate * penalty.rate_multiplier, penalty.compound_overdue_interest, penalty.grace_days, penalty.prepayment)


def pending_from_batch(batch: ScheduleBatch, loan_ids: Sequence[int], line_ids: Sequence[int], penalty: Penalty) -> list[LoanState]:
    """Pending loans whose installments are the batch's schedules, as ``servicing.loan.new_loan`` lays
    them out (period start = the previous due date; revolving interest accrues from zero)."""
    from smelend.servicing.conventions import Method

    revolving = batch.method is Method.REVOLVING
    out = []
    counts = batch.installment_count.tolist()
    starts = batch.start.tolist()
    for k, (loan_id, line_id) in enumerate(zip(loan_ids, line_ids)):
        count = counts[k]
        dues = batch.due_date[k, :count].tolist()
        principal = batch.principal_fen[k, :count].tolist()
        interest = batch.interest_fen[k, :count].tolist()
        fee = batch.fee_fen[k, :count].tolist()
        previous = starts[k]
        rows = []
        for j in range(count):
            rows.append(LoanInstallment(j + 1, previous, dues[j], principal[j], 0 if revolving else interest[j], fee[j]))
            previous = dues[j]
        out.append(LoanState(loan_id, line_id, contract_of(batch, k, penalty), tuple(rows)))
    return out


@dataclass
class LiveBook:
    """The live loans of one run as the engine's arrays, with the entries their servicing posted."""

    policy: delinquency.DelinquencyPolicy
    arrays: BookArrays = field(default_factory=lambda: BookArrays.from_states([]))
    templates: list[LoanState] = field(default_factory=list)
    business: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    entries: list[JournalEntry] = field(default_factory=list)  # disbursements, receipts, write-offs
    cob_rows: list[PostingRows] = field(default_factory=list)  # the daily closes' entries, as the engine's rows
    closes: int = 0  # close_day_batch calls (one per business day)
    payments: int = 0  # apply_payment calls

    def __len__(self) -> int:
        return len(self.arrays)

    # --- opening ---------------------------------------------------------------------------------------
    def open(self, pending: Sequence[LoanState], businesses: Sequence[int], day: date) -> None:
        """Activate ``pending`` loans on ``day`` (their start): the disbursement entries, then into the arrays."""
        active = []
        for state in pending:
            state, entry = lifecycle.activate(state, day)
            self.entries.append(entry)
            active.append(state)
        if not active:
            return
        added = BookArrays.from_states(active, self.policy)
        self.arrays = _concat(self.arrays, added)
        self.templates.extend(active)
        self.business = np.concatenate([self.business, np.asarray(businesses, np.int64)])

    # --- close of business ----------------------------------------------------------------------------
    def close(self, day: date) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Close ``day`` for every active loan (an empty book too: the platform closes every business day);
        (rows, business, DayClose matrix) with the rows of the loans that moved."""
        self.arrays, moved = close_day_batch(self.arrays, day, self.policy, check=False)
        self.closes += 1
        rows = posting_rows_from_batch(self.arrays, moved, day)
        if len(rows):
            self.cob_rows.append(rows)
        matrix = moved.matrix()
        return rows.entry_row, self.business, matrix

    # --- queries --------------------------------------------------------------------------------------
    def outstanding_fen(self) -> np.ndarray:
        """Principal outstanding per loan (0 for loans no longer active)."""
        a = self.arrays
        return np.where(a.status == ACTIVE, (a.principal_fen - a.paid_principal_fen).sum(axis=1), 0)

    def active(self) -> np.ndarray:
        return self.arrays.status == ACTIVE

    def non_performing(self) -> np.ndarray:
        """Active loans the engine classifies substandard or worse."""
        return (self.arrays.status == ACTIVE) & (self.arrays.category >= NON_PERFORMING_CODE)

    def due_on(self, day: date) -> np.ndarray:
        """Active loans with an installment due on ``day``."""
        a = self.arrays
        return (a.status == ACTIVE) & ((a.due_date == np.datetime64(day, "D")) & a.valid).any(axis=1)

    def overdue_by(self, day: date) -> np.ndarray:
        """Active loans with something due on or before ``day`` still unpaid (what a catch-up payment settles)."""
        a = self.arrays
        unsettled = a.valid & ((a.principal_fen != a.paid_principal_fen) | (a.paid_interest_fen != a.interest_fen) | (a.fee_fen != a.paid_fee_fen))
        return (a.status == ACTIVE) & (unsettled & (a.due_date <= np.datetime64(day, "D"))).any(axis=1)

    # --- money received -------------------------------------------------------------------------------
    def pay(self, rows: Sequence[int], day: date, how: str, share: float = 1.0, tag: str = "") -> list[tuple[int, Receipt]]:
        """Payments received on ``day`` (before its close) by the loans at ``rows``, through ``apply_payment``.

        ``how``: ``"due"`` pays ``share`` of everything due on or before ``day`` (with penalties), rounded
        down to the fen; ``"payoff"`` the payoff quote (the loan closes). Returns (row, receipt) per payment.
        """
        assert how in ("due", "payoff"), how
        rows = [int(r) for r in rows]
        if not rows:
            return []
        states = to_states(self.arrays.take(rows), [self.templates[r] for r in rows])
        out: list[tuple[int, Receipt]] = []
        new_states = []
        for r, state in zip(rows, states):
            if how == "payoff":
                amount = payoff_quote(state, day, self.policy).total_fen
            else:
                amount = int(Decimal(due_fen(state, day)) * Decimal(str(share)))
            if amount > 0:
                state, applied, entry = apply_payment(state, amount, day, f"sim-{how}{tag}:{state.id}:{day.isoformat()}")
                self.entries.append(entry)
                self.payments += 1
                out.append((r, applied))
            new_states.append(state)
        self._write_back(rows, new_states)
        return out

    def write_off(self, rows: Sequence[int], day: date, recovery_share: float) -> list[tuple[int, int, Receipt | None]]:
        """Write the loans at ``rows`` off on ``day`` (``lifecycle.write_off``) and receive ``recovery_share``
        of the principal written off (``apply_payment`` on the written-off loan: recovery income).
        Returns (row, shortfall expensed at write-off, recovery receipt) per loan."""
        rows = [int(r) for r in rows]
        if not rows:
            return []
        states = to_states(self.arrays.take(rows), [self.templates[r] for r in rows])
        out = []
        new_states = []
        for r, state in zip(rows, states):
            principal = state.principal_outstanding_fen
            shortfall = state.exposure_fen() - state.provision_fen
            state, entry = lifecycle.write_off(state, day)
            self.entries.append(entry)
            recovered = int(Decimal(principal) * Decimal(str(recovery_share)))
            applied = None
            if recovered > 0:
                state, applied, entry = apply_payment(state, recovered, day, f"sim-recovery:{state.id}")
                self.entries.append(entry)
                self.payments += 1
            out.append((r, shortfall, applied))
            new_states.append(state)
        self._write_back(rows, new_states)
        return out

    def _write_back(self, rows: list[int], states: list[LoanState]) -> None:
        for r, state in zip(rows, states):
            self.templates[r] = state
        self.arrays = _scatter(self.arrays, np.asarray(rows, np.int64), BookArrays.from_states(states, self.policy))

    def compact(self) -> None:
        """Drop loans that are closed or written off (they no longer move)."""
        keep = np.flatnonzero(self.arrays.status == ACTIVE)
        if keep.size == len(self.arrays):
            return
        self.arrays = self.arrays.take(keep)
        self.templates = [self.templates[k] for k in keep.tolist()]
        self.business = self.business[keep]


def due_fen(state: LoanState, day: date) -> int:
    """Everything due on or before ``day`` and unpaid (principal, accrued interest, fees) plus penalties:
    what settles the loan's arrears and the day's installment under any allocation order."""
    owed = state.penalty_receivable_fen + state.suspended_penalty_fen
    for i in state.installments:
        if i.due_date <= day:
            owed += i.unpaid_principal_fen + i.unpaid_interest_fen + i.unpaid_fee_fen
    return owed


def _padded(array: np.ndarray, width: int) -> np.ndarray:
    if array.ndim == 1 or array.shape[1] == width:
        return array
    assert array.shape[1] < width
    fill = _NAT if array.dtype.kind == "M" else (False if array.dtype == np.bool_ else 0)
    out = np.full((array.shape[0], width), fill, dtype=array.dtype)
    out[:, : array.shape[1]] = array
    return out


def _concat(a: BookArrays, b: BookArrays) -> BookArrays:
    width = max(a.max_installments, b.max_installments)
    return BookArrays(**{f.name: np.concatenate([_padded(getattr(a, f.name), width), _padded(getattr(b, f.name), width)]) for f in fields(a)})


def _scatter(book: BookArrays, rows: np.ndarray, part: BookArrays) -> BookArrays:
    """``book`` with the loans at ``rows`` replaced by ``part``'s (same order; a loan never gains installments)."""
    width = book.max_installments
    changes = {}
    for f in fields(book):
        array = getattr(book, f.name).copy()
        array[rows] = _padded(getattr(part, f.name), width)
        changes[f.name] = array
    return replace(book, **changes)
