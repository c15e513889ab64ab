"""Close of business for a whole book at once (numpy), equal to :func:`~smelend.servicing.accrual.close_day`
loan by loan, to the fen.

Why: the nightly close runs over every live loan (10^5..10^6 of them); ``close_day`` costs about 50 µs
a loan in Python, before the ledger is written. This path does the same day for the whole book in a
few dozen numpy passes and gives *exactly* what the per-loan path gives: every loan's state, every
:class:`~smelend.ledger.rules.DayClose`, every journal entry (the tests compare them with ``==`` on
random books with real histories). ``accrual.close_day`` is the reference; where the two could ever
disagree, this module is wrong.

Layout
------
:class:`BookArrays` holds the book as arrays: one row per loan (status, method, contract settings,
receivables, carries, standing) and 2-D ``(loans, max installments)`` arrays for the installments,
with a validity mask; cells past a loan's last installment are padding (0, NaT dates) and never read.
Dates are ``datetime64[D]``; ``closed_through`` is NaT for a loan never closed (``None``).
:meth:`BookArrays.from_states` and :func:`to_states` convert from and back to
:class:`~smelend.servicing.loan.LoanState` records.

One day, for every ACTIVE loan (other loans do not move, as in ``close_day``), in close_day's order:

1. days past due at the end of the day, from the first installment not settled (in installment order);
2. non-accrual when ``dpd >= policy.non_accrual_dpd``;
3. interest: the installment whose period holds the night (first ``period_start <= day < due_date``);
   scheduled interest spread from its anchor by integer floor division, revolving interest
   ``carry + principal outstanding x rate_scaled`` divided by the daily denominator with its exact
   remainder carried;
4. penalty once ``dpd > grace_days``: ``carry + base x penalty_rate_scaled`` over the daily denominator,
   base = overdue principal (+ overdue accrued-unpaid interest when compounding);
5. on balance, or off balance (suspended) when non-accrual;
6. category (DPD grid and flag floor) and the provision target by the vectorised
   :mod:`~smelend.servicing.delinquency` functions, which equal the scalar ones to the fen.

Journal entries come from :func:`posting_rows_from_batch` (arrays and plain tuples for a bulk writer)
or :func:`entries_from_batch` (the :class:`~smelend.ledger.JournalEntry` records themselves). The
accounts, signs, order, kind and key of a close-of-business entry are read from
:func:`smelend.ledger.rules.day_close` itself at import (see :data:`DAY_CLOSE_ACCOUNTS`), so the two
cannot drift apart silently.

Integer limits (int64, every one asserted per call, never a silent wrap)
------------------------------------------------------------------------
* Revolving interest: ``carry + principal x rate_scaled`` with carry < 365 x 10^8, principal outstanding
  <= :data:`~smelend.servicing.loan.MAX_LOAN_FEN` (10^10 fen, the most one draw may be) and
  ``rate_scaled <= 10^8`` (an annual rate of at most 1, as ``LoanTerms.validate`` requires): below
  3.65 x 10^10 + 10^18 < 2^63. Both bounds are asserted per accruing loan.
* Scheduled interest: ``(interest - accrued_at_start) x elapsed_days`` with ``elapsed_days <= span``:
  asserted ``|interest - accrued_at_start| <= (2^63 - 1) // span`` per accruing loan (a 10^10 fen loan
  at 100% over a 50-year bullet is 5 x 10^11 x 18,300 days ~ 10^16: far inside).
* Penalty: ``carry + base x penalty_rate_scaled`` must stay below 2^63; asserted per penalised loan as
  ``base <= (2^63 - 1 - carry) // penalty_rate_scaled``. In practice: a base of principal alone
  (<= 10^10 fen) is safe for any penalty rate below 9.2 (920% a year); with compounding the base also
  holds overdue interest, so e.g. a 100-million-yuan loan with as much again overdue is safe below 4.6.
  The per-loan path uses Python integers and has no limit: a loan past this one makes the batch raise
  ``AssertionError`` (run it per loan), it is never computed wrongly.
* Exposure for provisions <= ``MAX_AMOUNT_FEN`` (10^14) and dpd <= ``MAX_DPD``: asserted by
  :func:`~smelend.servicing.delinquency.provisions_fen` and ``category_codes``.

Memory: every 2-D array is ``loans x max_installments`` cells of 8 bytes (11 of them plus the mask): a
million loans of at most 12 installments is about 1.1 GB, and a close needs roughly as much again in
temporaries; split a larger book into chunks (loans are independent).

>>> from datetime import date
>>> from decimal import Decimal
>>> from smelend.servicing import accrual, delinquency, lifecycle
>>> from smelend.servicing.loan import LoanTermsOnFile, new_loan
>>> from smelend.servicing.schedule import LoanTerms
>>> from smelend.servicing.conventions import Method
>>> policy = delinquency.load_policy()
>>> terms = LoanTerms(10_000_000, Decimal("0.072"), 12, Method.EQUAL_INSTALLMENT, date(2026, 1, 15))
>>> state, _ = lifecycle.activate(new_loan(7, 1, LoanTermsOnFile(terms, Decimal("0.108"))), date(2026, 1, 15))
>>> book = BookArrays.from_states([state])
>>> book, moved = close_day_batch(book, date(2026, 1, 15), policy)
>>> one, closed, entry = accrual.close_day(state, date(2026, 1, 15), policy)
>>> to_states(book, [state]) == [one], moved.day_close(0) == closed, entries_from_batch(book, moved, date(2026, 1, 15)) == [entry]
(True, True, True)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, fields, replace
from datetime import date

import numpy as np

from smelend.ledger import Account, JournalEntry, Posting
from smelend.ledger.rules import DayClose, day_close
from smelend.money import MAX_AMOUNT_FEN
from smelend.servicing import delinquency
from smelend.servicing.conventions import Method
from smelend.servicing.loan import MAX_LOAN_FEN, RATE_SCALE, LoanState, LoanStatus

__all__ = [
    "BookArrays",
    "DayCloseArrays",
    "PostingRows",
    "close_day_batch",
    "entries_from_batch",
    "posting_rows_from_batch",
    "entries_from_rows",
    "to_states",
    "STATUS_CODES",
    "METHOD_CODES",
    "DAY_CLOSE_ACCOUNTS",
    "INT64_MAX",
]

INT64_MAX = 2**63 - 1
STATUS_CODES: tuple[LoanStatus, ...] = tuple(LoanStatus)  # status code = index
METHOD_CODES: tuple[Method, ...] = tuple(Method)  # method code = index
ACTIVE = STATUS_CODES.index(LoanStatus.ACTIVE)
REVOLVING = METHOD_CODES.index(Method.REVOLVING)
NAT = np.datetime64("NaT", "D")
_NAT_INT = int(NAT.view(np.int64))
_EPOCH_ORDINAL = date(1970, 1, 1).toordinal()
MAX_DAILY_DENOMINATOR = 365 * RATE_SCALE

# The revolving numerator's bound (see the module docstring), checked once here and per loan below.
assert MAX_DAILY_DENOMINATOR + MAX_LOAN_FEN * RATE_SCALE < INT64_MAX

_DAY_CLOSE_FIELDS = tuple(f.name for f in fields(DayClose))


def _day_close_rule() -> tuple[tuple[Account, ...], np.ndarray, str]:
    """Read rules.day_close as a linear map: accounts in posting order, and account x field coefficients.

    Each DayClose field is posted alone (value 1) to learn which accounts it moves and with what sign;
    one call with distinct powers of two then gives the posting order and confirms the map is linear.
    """
    on = date(2001, 2, 3)
    coefficients: dict[Account, list[int]] = {}
    for column, name in enumerate(_DAY_CLOSE_FIELDS):
        entry = day_close(1, on, DayClose(**{name: 1}))
        assert entry is not None, name
        for posting in entry.postings:
            coefficients.setdefault(posting.account, [0] * len(_DAY_CLOSE_FIELDS))[column] = posting.amount_fen
    values = [2 ** (4 * k) for k in range(len(_DAY_CLOSE_FIELDS))]
    probe = day_close(7, on, DayClose(*values))
    assert probe is not None
    accounts = tuple(p.account for p in probe.postings)
    assert set(accounts) == set(coefficients), (accounts, coefficients)
    matrix = np.array([coefficients[a] for a in accounts], dtype=np.int64)
    assert [p.amount_fen for p in probe.postings] == (matrix @ np.array(values, dtype=np.int64)).tolist(), "day_close is not linear in DayClose"
    assert probe.idempotency_key == f"cob:7:{on.isoformat()}" and probe.loan_id == 7 and probe.line_id is None, probe
    assert probe.business_date == on
    # Balanced by construction, whatever the amounts: every field's postings net to zero, on balance too.
    assert not matrix.sum(axis=0).any(), "day_close does not balance"
    assert not matrix[[not a.off_balance for a in accounts]].sum(axis=0).any(), "day_close moves value across the balance sheet"
    return accounts, matrix, probe.kind


DAY_CLOSE_ACCOUNTS, _DAY_CLOSE_MATRIX, DAY_CLOSE_KIND = _day_close_rule()
"""The accounts of a close-of-business entry, in rules.day_close's posting order (codes of :class:`PostingRows`)."""


def _day_number(day: date) -> int:
    return day.toordinal() - _EPOCH_ORDINAL


# --- the book as arrays ----------------------------------------------------------------------------

_LOAN_INT_FIELDS = (
    "loan_id",
    "grace_days",
    "daily_denominator",
    "rate_scaled",
    "penalty_rate_scaled",
    "interest_carry",
    "penalty_carry",
    "interest_receivable_fen",
    "suspended_interest_fen",
    "penalty_receivable_fen",
    "suspended_penalty_fen",
    "provision_fen",
    "days_past_due",
)
_LOAN_CODE_FIELDS = ("status", "method", "category", "flag_floor")
_LOAN_DATE_FIELDS = ("start", "closed_through")
_INSTALLMENT_DATE_FIELDS = ("period_start", "due_date", "anchor")
_INSTALLMENT_INT_FIELDS = (
    "accrued_at_start_fen",
    "interest_fen",
    "accrued_interest_fen",
    "paid_interest_fen",
    "principal_fen",
    "paid_principal_fen",
    "fee_fen",
    "paid_fee_fen",
)


@dataclass(frozen=True, eq=False)
class BookArrays:
    """A book of loans as arrays: ``(loans,)`` per loan, ``(loans, max_installments)`` per installment.

    Codes: ``status`` indexes :data:`STATUS_CODES`, ``method`` :data:`METHOD_CODES`, ``category`` and
    ``flag_floor`` are :attr:`~smelend.servicing.delinquency.Category.code` (the flag floor is the worst
    category the loan's flags force under the policy given to :meth:`from_states`). ``anchor`` is an
    installment's ``accrual_start or period_start``. Arrays are read-only; a close returns a new book
    sharing the arrays it did not change.
    """

    # per loan
    loan_id: np.ndarray  # int64
    status: np.ndarray  # int8 code
    method: np.ndarray  # int8 code
    grace_days: np.ndarray  # int64
    compound: np.ndarray  # bool: penalty also on overdue interest
    daily_denominator: np.ndarray  # int64: days in year x RATE_SCALE
    rate_scaled: np.ndarray  # int64: annual rate x RATE_SCALE
    penalty_rate_scaled: np.ndarray  # int64
    start: np.ndarray  # datetime64[D]: the loan's start (terms.start)
    closed_through: np.ndarray  # datetime64[D], NaT = None (never closed)
    interest_carry: np.ndarray  # int64, in fen / daily_denominator
    penalty_carry: np.ndarray
    interest_receivable_fen: np.ndarray
    suspended_interest_fen: np.ndarray
    penalty_receivable_fen: np.ndarray
    suspended_penalty_fen: np.ndarray
    provision_fen: np.ndarray
    days_past_due: np.ndarray  # int64
    category: np.ndarray  # int8 code
    flag_floor: np.ndarray  # int8 code
    # per installment (loans, max_installments)
    valid: np.ndarray  # bool
    period_start: np.ndarray  # datetime64[D], NaT padded
    due_date: np.ndarray
    anchor: np.ndarray
    accrued_at_start_fen: np.ndarray  # int64, 0 padded
    interest_fen: np.ndarray
    accrued_interest_fen: np.ndarray
    paid_interest_fen: np.ndarray
    principal_fen: np.ndarray
    paid_principal_fen: np.ndarray
    fee_fen: np.ndarray
    paid_fee_fen: np.ndarray

    def __post_init__(self) -> None:
        loans = self.loan_id.shape[0]
        for f in fields(self):
            value = getattr(self, f.name)
            assert isinstance(value, np.ndarray), f.name
            value.setflags(write=False)
        for name in _LOAN_INT_FIELDS:
            array = getattr(self, name)
            assert array.dtype == np.int64 and array.shape == (loans,), name
        for name in _LOAN_CODE_FIELDS:
            array = getattr(self, name)
            assert array.dtype == np.int8 and array.shape == (loans,), name
        for name in _LOAN_DATE_FIELDS:
            array = getattr(self, name)
            assert array.dtype == np.dtype("datetime64[D]") and array.shape == (loans,), name
        assert self.compound.dtype == np.bool_ and self.compound.shape == (loans,)
        assert self.valid.dtype == np.bool_ and self.valid.ndim == 2 and self.valid.shape[0] == loans
        shape = self.valid.shape
        for name in _INSTALLMENT_DATE_FIELDS:
            array = getattr(self, name)
            assert array.dtype == np.dtype("datetime64[D]") and array.shape == shape, name
        for name in _INSTALLMENT_INT_FIELDS:
            array = getattr(self, name)
            assert array.dtype == np.int64 and array.shape == shape, name

    def __len__(self) -> int:
        return int(self.loan_id.shape[0])

    @property
    def max_installments(self) -> int:
        return int(self.valid.shape[1])

    def take(self, rows: np.ndarray | Sequence[int]) -> "BookArrays":
        """The loans at ``rows`` (positions), as a new book."""
        index = np.asarray(rows, dtype=np.int64)
        return BookArrays(**{f.name: getattr(self, f.name)[index] for f in fields(self)})

    @classmethod
    def from_states(cls, states: Sequence[LoanState], policy: delinquency.DelinquencyPolicy | None = None) -> "BookArrays":
        """The book of ``states`` (in order). ``policy`` gives the flag floors; it is needed (the default
        policy file is loaded when omitted) only if some loan has flags."""
        loans = len(states)
        width = max((len(s.installments) for s in states), default=1)
        if policy is None and any(s.flags for s in states):
            policy = delinquency.load_policy()
        per_loan: dict[str, list[object]] = {name: [] for name in (*_LOAN_INT_FIELDS, *_LOAN_CODE_FIELDS, *_LOAN_DATE_FIELDS, "compound")}
        cells: dict[str, list[object]] = {name: [] for name in (*_INSTALLMENT_DATE_FIELDS, *_INSTALLMENT_INT_FIELDS)}
        counts: list[int] = []
        status_code = {s: i for i, s in enumerate(STATUS_CODES)}
        method_code = {m: i for i, m in enumerate(METHOD_CODES)}
        for state in states:
            contract = state.contract
            rate_scaled = contract.rate_scaled
            penalty_rate_scaled = contract.penalty_rate_scaled
            assert 0 <= rate_scaled <= RATE_SCALE, (state.id, rate_scaled)
            assert penalty_rate_scaled >= 0, (state.id, penalty_rate_scaled)
            row = {
                "loan_id": state.id,
                "grace_days": contract.grace_days,
                "daily_denominator": contract.daily_denominator,
                "rate_scaled": rate_scaled,
                "penalty_rate_scaled": penalty_rate_scaled,
                "interest_carry": state.interest_carry,
                "penalty_carry": state.penalty_carry,
                "interest_receivable_fen": state.interest_receivable_fen,
                "suspended_interest_fen": state.suspended_interest_fen,
                "penalty_receivable_fen": state.penalty_receivable_fen,
                "suspended_penalty_fen": state.suspended_penalty_fen,
                "provision_fen": state.provision_fen,
                "days_past_due": state.days_past_due,
                "status": status_code[state.status],
                "method": method_code[state.method],
                "category": delinquency.Category(state.category).code,
                "flag_floor": delinquency.flag_floor(state.flags, policy).code if state.flags else 0,  # type: ignore[arg-type]
                "start": state.terms.start,
                "closed_through": state.closed_through,
                "compound": contract.compound_overdue_interest,
            }
            for name, value in row.items():
                per_loan[name].append(value)
            counts.append(len(state.installments))
            for i in state.installments:
                cells["period_start"].append(i.period_start)
                cells["due_date"].append(i.due_date)
                cells["anchor"].append(i.anchor)
                cells["accrued_at_start_fen"].append(i.accrued_at_start_fen)
                cells["interest_fen"].append(i.interest_fen)
                cells["accrued_interest_fen"].append(i.accrued_interest_fen)
                cells["paid_interest_fen"].append(i.paid_interest_fen)
                cells["principal_fen"].append(i.principal_fen)
                cells["paid_principal_fen"].append(i.paid_principal_fen)
                cells["fee_fen"].append(i.fee_fen)
                cells["paid_fee_fen"].append(i.paid_fee_fen)
        arrays: dict[str, np.ndarray] = {}
        for name in _LOAN_INT_FIELDS:
            arrays[name] = np.array(per_loan[name], dtype=np.int64).reshape(loans)
        for name in _LOAN_CODE_FIELDS:
            arrays[name] = np.array(per_loan[name], dtype=np.int8).reshape(loans)
        for name in _LOAN_DATE_FIELDS:
            arrays[name] = np.array([NAT if v is None else np.datetime64(v, "D") for v in per_loan[name]], dtype="datetime64[D]").reshape(loans)
        arrays["compound"] = np.array(per_loan["compound"], dtype=np.bool_).reshape(loans)
        count = np.array(counts, dtype=np.int64).reshape(loans)
        valid = np.arange(width)[None, :] < count[:, None]
        arrays["valid"] = valid
        for name in _INSTALLMENT_DATE_FIELDS:
            grid = np.full((loans, width), NAT, dtype="datetime64[D]")
            grid[valid] = np.array(cells[name], dtype="datetime64[D]")
            arrays[name] = grid
        for name in _INSTALLMENT_INT_FIELDS:
            grid = np.zeros((loans, width), dtype=np.int64)
            grid[valid] = np.array(cells[name], dtype=np.int64)
            arrays[name] = grid
        for name in _INSTALLMENT_INT_FIELDS:  # every amount is a non-negative int64 (checked once more here)
            assert not arrays[name].size or arrays[name].min() >= 0, name
        principal = arrays["principal_fen"].sum(axis=1) if loans else np.zeros(0, np.int64)
        assert not loans or principal.max() <= MAX_LOAN_FEN, "a loan's principal exceeds MAX_LOAN_FEN"
        return cls(**arrays)


def to_states(book: BookArrays, states: Sequence[LoanState]) -> list[LoanState]:
    """Write the book back into ``states`` (same loans, same order, same installment counts), so the
    result can be compared with the per-loan path's states with ``==``.

    Everything the book holds is written (standing, receivables, carries, provision, status, and every
    installment's amounts and dates); what it does not hold (contract, flags, credit balance,
    written-off memo, line) is kept from ``states``. An installment whose anchor is its period start
    keeps its ``accrual_start`` (None and the period start mean the same).
    """
    assert len(states) == len(book), (len(states), len(book))
    per_loan = {name: getattr(book, name).tolist() for name in (*_LOAN_INT_FIELDS, *_LOAN_CODE_FIELDS, *_LOAN_DATE_FIELDS)}
    counts = book.valid.sum(axis=1).tolist()
    out: list[LoanState] = []
    for k, state in enumerate(states):
        assert per_loan["loan_id"][k] == state.id, (per_loan["loan_id"][k], state.id)
        contract = state.contract
        assert (
            METHOD_CODES[per_loan["method"][k]] is state.method
            and per_loan["start"][k] == state.terms.start
            and per_loan["rate_scaled"][k] == contract.rate_scaled
            and per_loan["penalty_rate_scaled"][k] == contract.penalty_rate_scaled
            and per_loan["daily_denominator"][k] == contract.daily_denominator
            and per_loan["grace_days"][k] == contract.grace_days
            and bool(book.compound[k]) == contract.compound_overdue_interest
        ), f"loan {state.id}: the book's contract settings differ from the state's"
        count = counts[k]
        assert count == len(state.installments), (state.id, count, len(state.installments))
        assert bool(book.valid[k, :count].all()), state.id
        columns = {name: getattr(book, name)[k, :count].tolist() for name in (*_INSTALLMENT_DATE_FIELDS, *_INSTALLMENT_INT_FIELDS)}
        installments = []
        for j, old in enumerate(state.installments):
            period_start = columns["period_start"][j]
            anchor = columns["anchor"][j]
            accrual_start = old.accrual_start if anchor == (old.accrual_start or period_start) else anchor
            installments.append(
                replace(
                    old,
                    period_start=period_start,
                    due_date=columns["due_date"][j],
                    principal_fen=columns["principal_fen"][j],
                    interest_fen=columns["interest_fen"][j],
                    fee_fen=columns["fee_fen"][j],
                    accrued_interest_fen=columns["accrued_interest_fen"][j],
                    paid_principal_fen=columns["paid_principal_fen"][j],
                    paid_interest_fen=columns["paid_interest_fen"][j],
                    paid_fee_fen=columns["paid_fee_fen"][j],
                    accrual_start=accrual_start,
                    accrued_at_start_fen=columns["accrued_at_start_fen"][j],
                )
            )
        out.append(
            replace(
                state,
                installments=tuple(installments),
                status=STATUS_CODES[per_loan["status"][k]],
                closed_through=per_loan["closed_through"][k],
                interest_receivable_fen=per_loan["interest_receivable_fen"][k],
                suspended_interest_fen=per_loan["suspended_interest_fen"][k],
                penalty_receivable_fen=per_loan["penalty_receivable_fen"][k],
                suspended_penalty_fen=per_loan["suspended_penalty_fen"][k],
                interest_carry=per_loan["interest_carry"][k],
                penalty_carry=per_loan["penalty_carry"][k],
                days_past_due=per_loan["days_past_due"][k],
                category=delinquency.Category.from_code(per_loan["category"][k]).value,
                provision_fen=per_loan["provision_fen"][k],
            )
        )
    return out


# --- one day for the whole book --------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class DayCloseArrays:
    """What close of business moved, per loan (int64, 0 for loans that did not move): the numbers
    :class:`~smelend.ledger.rules.DayClose` carries, field for field."""

    interest_fen: np.ndarray
    suspended_interest_fen: np.ndarray
    penalty_fen: np.ndarray
    suspended_penalty_fen: np.ndarray
    provision_change_fen: np.ndarray

    def __post_init__(self) -> None:
        assert tuple(f.name for f in fields(self)) == _DAY_CLOSE_FIELDS
        shape = self.interest_fen.shape
        for f in fields(self):
            value = getattr(self, f.name)
            assert isinstance(value, np.ndarray) and value.dtype == np.int64 and value.shape == shape, f.name
            value.setflags(write=False)

    def __len__(self) -> int:
        return int(self.interest_fen.shape[0])

    def take(self, rows: np.ndarray | Sequence[int]) -> "DayCloseArrays":
        """The loans at ``rows`` (positions), matching :meth:`BookArrays.take`."""
        index = np.asarray(rows, dtype=np.int64)
        return DayCloseArrays(*(getattr(self, name)[index] for name in _DAY_CLOSE_FIELDS))

    def day_close(self, k: int) -> DayClose:
        """Loan ``k``'s DayClose (compare with the per-loan path's with ``==``)."""
        return DayClose(*(int(getattr(self, name)[k]) for name in _DAY_CLOSE_FIELDS))

    def day_closes(self) -> list[DayClose]:
        columns = [getattr(self, name).tolist() for name in _DAY_CLOSE_FIELDS]
        return [DayClose(*row) for row in zip(*columns)]

    def matrix(self) -> np.ndarray:
        """(loans, 5) int64, columns in DayClose field order."""
        return np.stack([getattr(self, name) for name in _DAY_CLOSE_FIELDS], axis=1)


def close_day_batch(book: BookArrays, day: date, policy: delinquency.DelinquencyPolicy, check: bool = True) -> tuple[BookArrays, DayCloseArrays]:
    """Close ``day`` for every loan of ``book``: what :func:`~smelend.servicing.accrual.close_day` does loan by loan.

    Only ACTIVE loans move. Every active loan must be closed through the day before, or start on
    ``day`` and never have been closed (``closed_through`` NaT); anything else raises AssertionError,
    as do the integer limits of the module docstring. ``check`` re-asserts the invariants
    ``LoanState.check`` asserts after a close (one more pass over the installments).
    """
    d = _day_number(day)
    loans = len(book)
    rows = np.arange(loans)
    active = book.status == ACTIVE
    closed = book.closed_through.view(np.int64)
    start = book.start.view(np.int64)
    never = closed == _NAT_INT
    in_step = np.where(never, start == d, closed == d - 1)
    assert bool(in_step[active].all()), f"every active loan must be closed through {day} - 1 day, or start on {day} never closed"

    valid = book.valid
    period_start = book.period_start.view(np.int64)
    due = book.due_date.view(np.int64)
    interest = book.interest_fen
    accrued = book.accrued_interest_fen
    paid_interest = book.paid_interest_fen
    unpaid_principal = book.principal_fen - book.paid_principal_fen

    # 1. days past due at the end of the day, before today's accrual (accrual.days_past_due)
    unsettled = (unpaid_principal != 0) | (paid_interest != interest) | (book.fee_fen != book.paid_fee_fen)
    unsettled &= valid
    first = unsettled.argmax(axis=1)
    oldest = due[rows, first]
    late = active & unsettled[rows, first] & (oldest <= d)
    dpd = np.where(late, d - oldest + 1, 0)
    suspend = dpd >= policy.non_accrual_dpd

    # 2. interest for the night of `day` (accrual._accrue_interest)
    current_mask = valid & (period_start <= d) & (due > d)
    current = current_mask.argmax(axis=1)
    accruing = active & current_mask[rows, current]
    revolving = book.method == REVOLVING
    outstanding = unpaid_principal.sum(axis=1)
    denominator = book.daily_denominator

    on_revolving = accruing & revolving
    interest_today = np.zeros(loans, dtype=np.int64)
    interest_carry = book.interest_carry
    if on_revolving.any():
        r = np.flatnonzero(on_revolving)
        assert bool((outstanding[r] <= MAX_LOAN_FEN).all()), "revolving principal outstanding above MAX_LOAN_FEN"
        assert bool(((book.rate_scaled[r] >= 0) & (book.rate_scaled[r] <= RATE_SCALE)).all()), "annual rate outside 0..1"
        assert bool(((interest_carry[r] >= 0) & (interest_carry[r] < denominator[r])).all()), "interest carry out of range"
        amount, carry = np.divmod(interest_carry[r] + outstanding[r] * book.rate_scaled[r], denominator[r])
        interest_today[r] = amount
        interest_carry = interest_carry.copy()
        interest_carry[r] = carry

    on_schedule = accruing & ~revolving
    if on_schedule.any():
        s = np.flatnonzero(on_schedule)
        column = current[s]
        anchor = book.anchor.view(np.int64)[s, column]
        at_start = book.accrued_at_start_fen[s, column]
        to_spread = interest[s, column] - at_start
        elapsed = d - anchor + 1
        span = due[s, column] - anchor
        assert bool((span > 0).all()), "an installment's anchor is not before its due date"
        assert bool((np.abs(to_spread) <= INT64_MAX // span).all()), "interest x days past the int64 limit"
        target = at_start + to_spread * elapsed // span
        amount = target - accrued[s, column]
        assert bool((amount >= 0).all()), "scheduled accrual went backwards"
        interest_today[s] = amount

    new_accrued = accrued
    new_interest = interest
    if accruing.any():
        a = np.flatnonzero(accruing)
        new_accrued = accrued.copy()
        new_accrued[a, current[a]] += interest_today[a]
        if on_revolving.any():
            r = np.flatnonzero(on_revolving)
            new_interest = interest.copy()
            new_interest[r, current[r]] += interest_today[r]

    # 3. penalty on what is overdue, once past the grace days (accrual._accrue_penalty)
    penalty_today = np.zeros(loans, dtype=np.int64)
    penalty_carry = book.penalty_carry
    penalised = active & (dpd > book.grace_days)
    if penalised.any():
        p = np.flatnonzero(penalised)
        overdue = valid[p] & (due[p] <= d)
        base = np.where(overdue, unpaid_principal[p], 0).sum(axis=1)
        interest_base = np.where(overdue, new_accrued[p] - paid_interest[p], 0).sum(axis=1)
        base += np.where(book.compound[p], interest_base, 0)
        rate = book.penalty_rate_scaled[p]
        carry_in = penalty_carry[p]
        assert bool(((carry_in >= 0) & (carry_in < denominator[p])).all()), "penalty carry out of range"
        assert bool(((base >= 0) & (rate >= 0)).all()), "negative penalty base or rate"
        assert bool((base <= (INT64_MAX - carry_in) // np.maximum(rate, 1)).all()), "penalty base x rate past the int64 limit"
        amount, carry = np.divmod(carry_in + base * rate, denominator[p])
        penalty_today[p] = amount
        penalty_carry = penalty_carry.copy()
        penalty_carry[p] = carry

    # 4. on balance or suspended (non-accrual)
    interest_on = np.where(suspend, 0, interest_today)
    interest_off = interest_today - interest_on
    penalty_on = np.where(suspend, 0, penalty_today)
    penalty_off = penalty_today - penalty_on
    interest_receivable = book.interest_receivable_fen + interest_on
    suspended_interest = book.suspended_interest_fen + interest_off
    penalty_receivable = book.penalty_receivable_fen + penalty_on
    suspended_penalty = book.suspended_penalty_fen + penalty_off

    # 5. classification and provisions (delinquency's vectorised functions equal the scalar ones)
    categories = delinquency.category_codes(dpd, book.flag_floor, policy)
    exposure = np.where(active, outstanding + interest_receivable + penalty_receivable, 0)
    target = delinquency.provisions_fen(exposure, categories, dpd, policy)
    provision_change = np.where(active, target - book.provision_fen, 0)

    if check:
        assert bool((interest_receivable >= 0).all() and (suspended_interest >= 0).all()), "negative interest receivable"
        assert bool((penalty_receivable >= 0).all() and (suspended_penalty >= 0).all()), "negative penalty receivable"
        assert bool(((interest_carry >= 0) & (interest_carry < denominator)).all()), "interest carry out of range"
        assert bool(((penalty_carry >= 0) & (penalty_carry < denominator)).all()), "penalty carry out of range"
        owed = (new_accrued - paid_interest).sum(axis=1)
        assert bool((owed == interest_receivable + suspended_interest)[active].all()), "owed interest != receivable + suspended"
        assert bool((new_accrued <= new_interest).all(axis=1)[active].all()), "accrued past scheduled interest"

    after = replace(
        book,
        closed_through=np.where(active, np.datetime64(day, "D"), book.closed_through),
        interest_carry=interest_carry,
        penalty_carry=penalty_carry,
        interest_receivable_fen=interest_receivable,
        suspended_interest_fen=suspended_interest,
        penalty_receivable_fen=penalty_receivable,
        suspended_penalty_fen=suspended_penalty,
        provision_fen=np.where(active, target, book.provision_fen),
        days_past_due=np.where(active, dpd, book.days_past_due),
        category=np.where(active, categories, book.category).astype(np.int8, copy=False),
        interest_fen=new_interest,
        accrued_interest_fen=new_accrued,
    )
    moved = DayCloseArrays(interest_on, interest_off, penalty_on, penalty_off, provision_change)
    return after, moved


# --- ledger entries --------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class PostingRows:
    """The close-of-business entries of one day as flat rows, ready for a bulk insert.

    Entries (``E``, in loan order, only loans whose close moved something): :attr:`keys`,
    :attr:`entry_loan_id`, one :attr:`business_date` and :attr:`kind`. Postings (``P``, grouped by
    entry in rules.day_close's order): :attr:`posting_entry` (index into the entries),
    :attr:`posting_account` (index into :data:`DAY_CLOSE_ACCOUNTS`), :attr:`posting_amount_fen`
    (signed: debit > 0), :attr:`posting_loan_id`.

    As plain tuples: :meth:`entry_rows` gives ``(idempotency_key, business_date, kind, loan_id)`` and
    :meth:`posting_rows` gives ``(entry index, account, amount_fen, loan_id)`` with the account as its
    string value (what the ``postings.account`` column holds). Every entry balances, on balance and
    off balance separately, exactly as JournalEntry asserts.
    """

    business_date: date
    kind: str
    keys: list[str]
    entry_loan_id: np.ndarray  # int64 (E,)
    entry_row: np.ndarray  # int64 (E,): the loan's position in the book
    posting_entry: np.ndarray  # int64 (P,)
    posting_account: np.ndarray  # int8 (P,)
    posting_amount_fen: np.ndarray  # int64 (P,)
    posting_loan_id: np.ndarray  # int64 (P,)

    def __len__(self) -> int:
        return len(self.keys)

    @property
    def posting_count(self) -> int:
        return int(self.posting_entry.shape[0])

    def entry_rows(self) -> list[tuple[str, date, str, int]]:
        on, kind = self.business_date, self.kind
        return [(key, on, kind, loan_id) for key, loan_id in zip(self.keys, self.entry_loan_id.tolist())]

    def posting_rows(self) -> list[tuple[int, str, int, int]]:
        names = [a.value for a in DAY_CLOSE_ACCOUNTS]
        return [
            (entry, names[account], amount, loan_id)
            for entry, account, amount, loan_id in zip(
                self.posting_entry.tolist(), self.posting_account.tolist(), self.posting_amount_fen.tolist(), self.posting_loan_id.tolist()
            )
        ]

    def entry_bounds(self) -> np.ndarray:
        """(E + 1,) offsets: entry ``e``'s postings are ``posting_*[bounds[e]:bounds[e + 1]]``."""
        counts = np.bincount(self.posting_entry, minlength=len(self.keys))
        return np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)


def posting_rows_from_batch(book: BookArrays, moved: DayCloseArrays, day: date) -> PostingRows:
    """The entries rules.day_close would give for each loan of ``book`` on ``day``, as flat rows."""
    assert len(moved) == len(book), (len(moved), len(book))
    by_account = moved.matrix() @ _DAY_CLOSE_MATRIX.T  # (loans, accounts): signed amount per account
    nonzero = by_account != 0
    entry_row = np.flatnonzero(nonzero.any(axis=1))
    entry_nonzero = nonzero[entry_row]
    posting_entry, posting_column = np.nonzero(entry_nonzero)  # row-major: entry by entry, in posting order
    amounts = by_account[entry_row][entry_nonzero]
    assert not amounts.size or int(np.abs(amounts).max()) <= MAX_AMOUNT_FEN, "posting amount too large"
    entry_loan_id = book.loan_id[entry_row]
    iso = day.isoformat()
    keys = [f"cob:{loan_id}:{iso}" for loan_id in entry_loan_id.tolist()]
    return PostingRows(
        business_date=day,
        kind=DAY_CLOSE_KIND,
        keys=keys,
        entry_loan_id=entry_loan_id,
        entry_row=entry_row,
        posting_entry=posting_entry.astype(np.int64),
        posting_account=posting_column.astype(np.int8),
        posting_amount_fen=amounts,
        posting_loan_id=entry_loan_id[posting_entry],
    )


def entries_from_rows(rows: PostingRows) -> list[JournalEntry]:
    """The :class:`~smelend.ledger.JournalEntry` records of ``rows`` (each asserts it balances).

    Postings are immutable, so equal ones are built once and shared (a book's daily amounts repeat:
    about 1 distinct posting in 15 on a synthetic million-loan book), which saves most of the cost
    of constructing them; the entries themselves are built one by one, with their own checks.
    """
    made: dict[tuple[int, int], Posting] = {}

    def posting(account: int, amount: int) -> Posting:
        found = made.get((account, amount))
        if found is None:
            found = made[(account, amount)] = Posting(DAY_CLOSE_ACCOUNTS[account], amount)
        return found

    postings = [posting(a, amount) for a, amount in zip(rows.posting_account.tolist(), rows.posting_amount_fen.tolist())]
    bounds = rows.entry_bounds().tolist()
    on, kind = rows.business_date, rows.kind
    return [
        JournalEntry(key, on, kind, tuple(postings[bounds[e] : bounds[e + 1]]), loan_id)
        for e, (key, loan_id) in enumerate(zip(rows.keys, rows.entry_loan_id.tolist()))
    ]


def entries_from_batch(book: BookArrays, moved: DayCloseArrays, day: date) -> list[JournalEntry]:
    """Exactly the entries rules.day_close gives loan by loan (same keys, postings, order), skipping
    the loans for which it gives None; in book order."""
    return entries_from_rows(posting_rows_from_batch(book, moved, day))
