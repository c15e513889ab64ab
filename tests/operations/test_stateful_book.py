"""The book as a state machine: random lines, draws, repayments, payoffs, refunds, closes of
business (both paths), freezes, write-offs, bank-core failures and back-dated operations, on each
backend, with the ledger's invariants checked after every step.

Each hypothesis example gets a database of its own (a fresh SQLite file, or a fresh PostgreSQL schema
on the server of the ``db_url`` fixture), opened with :func:`open_store` the way the CLI opens it.

What is checked after every step (``BookMachine.book_is_consistent``):

- every journal entry has postings and they sum to zero; each idempotency key appears once;
- the kept trial balance equals the one recomputed from the postings, and sums to zero;
- postings are append-only: their count and highest id never decrease, and a sample of earlier
  postings (and journal entries) reads back unchanged;
- no loan has negative principal outstanding, and a live loan's outstanding principal is the unpaid
  principal of its installments;
- every line has used + available == limit, available >= 0, and used == the principal outstanding
  of its active and pending loans;
- :func:`reconcile` reports no differences;
- closing the last closed day again changes nothing (no entries, nothing accrued, same business day).

A refused operation (``InvalidInput``) must change nothing at all: every table's row count, the
business day, each line's used amount, status and version, each loan's status and version, and the
account balances are compared before and after.

At the end of the file, the bugs found while writing the machine, each as a minimal test.

``pytest -s`` prints what the rules did over the run; ``SMELEND_STATEFUL_EXAMPLES=300`` explores for
longer, ``SMELEND_STATEFUL_NO_SHRINK=1`` reports a failure as found rather than minimised (each example
opens a database, so shrinking is slow).
"""

from __future__ import annotations

import dataclasses
import itertools
import os
import random
import secrets
import shutil
import tempfile
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, Phase, event, settings
from hypothesis import strategies as st
from hypothesis.stateful import Bundle, RuleBasedStateMachine, initialize, invariant, multiple, precondition, rule, run_state_machine_as_test
from sqlalchemy import create_engine, func, make_url, select, text
from sqlalchemy.engine import Connection, Engine
from stdnum.cn import uscc as stdnum_uscc

from smelend.errors import InvalidInput
from smelend.operations.cob import close_business
from smelend.operations.context import Book, open_book
from smelend.operations.lines import DisbursementFailed, DrawRequest, draw, freeze, open_line
from smelend.operations.reconcile import reconcile, trial_balance
from smelend.operations.repayments import quote, refund, repay, write_off
from smelend.servicing.conventions import Method
from smelend.servicing.credit_line import LineStatus
from smelend.servicing.loan import LoanStatus
from smelend.servicing.payments import PaymentFailed
from smelend.store import open_store
from smelend.store.bank_core import SimulatedBankCore
from smelend.store.lending import BusinessDay, get_business_day, get_line
from smelend.store.tables import (
    account_balances,
    bank_core_transfers,
    credit_lines,
    installments,
    journal_entries,
    line_changes,
    loans,
    metadata,
    postings,
    repayments,
)

START = date(2026, 1, 30)  # near a month end, so due dates clamp (30 Jan -> 28 Feb -> 30 Mar)
MAX_EXAMPLES = int(os.environ.get("SMELEND_STATEFUL_EXAMPLES", "16"))  # raise it to explore for longer
NO_SHRINK = bool(os.environ.get("SMELEND_STATEFUL_NO_SHRINK"))  # report a failure as found, unshrunk (faster)
STEPS = 30
MAX_LINES = 4  # lines per example
AFTER_DUE = -1  # a payment dated the day after the loan's next due date
AHEAD = st.sampled_from([0, 0, 1, 2, 3, AFTER_DUE, AFTER_DUE])  # how many days after the business date a payment is dated
MAX_DAYS_TO_DUE = 62
POSTING_SAMPLE_EVERY = 5  # every 5th posting (and journal entry) is kept, and read back after each step
POSTING_SAMPLE_MAX = 400
PRODUCTS = ["invoice-loan", "owner-credit-loan", "settlement-flow-loan", "tax-data-loan"]

OUTCOMES: Counter[str] = Counter()  # what the rules did, over the whole run: printed at the end (pytest -s)


def outcome(label: str) -> None:
    event(label)
    OUTCOMES[label] += 1


NewDatabase = Callable[[], tuple[str, Callable[[], None]]]


# --- a fresh database per example ---------------------------------------------------------------------


@pytest.fixture
def new_database(db_url: str, db_backend: str, tmp_path: Path) -> Iterator[NewDatabase]:
    """A factory of empty databases on the backend of ``db_url``: ``() -> (url, drop)``."""
    counter = itertools.count(1)
    if db_backend == "sqlite":

        def new_sqlite() -> tuple[str, Callable[[], None]]:
            path = tmp_path / f"book-{next(counter)}.db"

            def drop() -> None:
                for suffix in ("", "-wal", "-shm"):
                    Path(f"{path}{suffix}").unlink(missing_ok=True)

            return f"sqlite:///{path}", drop

        yield new_sqlite
        return

    url = make_url(db_url)
    options = dict(url.query).get("options", "")
    assert isinstance(options, str) and options.startswith("-csearch_path="), options
    base_schema = options.split("=", 1)[1]
    from smelend.store.db import normalise_url

    admin = create_engine(normalise_url(url.difference_update_query(["options"])), isolation_level="AUTOCOMMIT")
    made: list[str] = []

    def new_schema() -> tuple[str, Callable[[], None]]:
        schema = f"{base_schema}_{next(counter)}_{secrets.token_hex(2)}"
        with admin.connect() as conn:
            conn.execute(text(f'CREATE SCHEMA "{schema}"'))
        made.append(schema)

        def drop() -> None:
            with admin.connect() as conn:
                conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))

        return url.update_query_dict({"options": f"-csearch_path={schema}"}).render_as_string(hide_password=False), drop

    try:
        yield new_schema
    finally:
        with admin.connect() as conn:
            for schema in made:
                conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        admin.dispose()


# --- helpers ------------------------------------------------------------------------------------------


def valid_uscc(sequence: int) -> str:
    body = f"91310000{sequence:09d}"
    return body + stdnum_uscc.calc_check_digit(body + "0")


def count(conn: Connection, table: Any) -> int:
    return int(conn.scalar(select(func.count()).select_from(table)) or 0)


def snapshot(engine: Engine) -> dict[str, object]:
    """Everything a refused operation must leave as it was."""
    with engine.connect() as conn:
        return {
            "counts": {table.name: count(conn, table) for table in metadata.sorted_tables},
            "business_day": get_business_day(conn),
            "lines": conn.execute(select(credit_lines.c.id, credit_lines.c.used_fen, credit_lines.c.status, credit_lines.c.version).order_by(credit_lines.c.id)).all(),
            "loans": conn.execute(select(loans.c.id, loans.c.status, loans.c.version).order_by(loans.c.id)).all(),
            "balances": conn.execute(select(account_balances).order_by(account_balances.c.account)).all(),
        }


class RepeatableBankCore(SimulatedBankCore):
    """The simulated bank core, with its timeouts drawn from the seed in call order.

    The stock draw hashes the instruction id, and a paid-in instruction id carries random hex, so the
    same example would fail differently when hypothesis replays it. Everything else (the records, the
    settle-once rule) is the simulated bank core's own.
    """

    def __init__(self, engine: Engine, failure_rate: float, seed: int) -> None:
        super().__init__(engine, failure_rate, seed)
        self._draws = random.Random(seed)

    def times_out(self, instruction_id: str, attempt: int) -> bool:
        return self._draws.random() < self.failure_rate


def make_machine(new_database: NewDatabase) -> type[RuleBasedStateMachine]:
    class BookMachine(RuleBasedStateMachine):
        lines = Bundle("lines")
        loans = Bundle("loans")

        def __init__(self) -> None:
            super().__init__()
            OUTCOMES["(examples)"] += 1
            # a data folder per example too: the close of business that dated operations run keeps its
            # snapshots there by date, and one example's must not be taken for another database's
            self.data_dir = tempfile.mkdtemp(prefix="smelend-stateful-")
            os.environ["SMELEND_DATA_DIR"] = self.data_dir  # restored by the smelend_env fixture's monkeypatch
            url, self._drop = new_database()
            self.engine = open_store(url)
            self.book = open_book(self.engine, SimulatedBankCore(self.engine, 0.0, seed=0))
            self.failing: RepeatableBankCore | None = None
            self.enterprises = 0
            self.lines_opened = 0
            self.postings_count = 0
            self.postings_max_id = 0
            self.posting_sample: dict[int, tuple[Any, ...]] = {}
            self.entry_sample: dict[int, tuple[Any, ...]] = {}

        def teardown(self) -> None:
            self.engine.dispose()
            self._drop()
            shutil.rmtree(self.data_dir, ignore_errors=True)

        # --- context ---------------------------------------------------------------------------

        def today(self) -> date:
            with self.engine.connect() as conn:
                return get_business_day(conn).business_date or START

        def operation_book(self) -> Book:
            """The book for the next operation: with the failing bank core if one was swapped in."""
            failing, self.failing = self.failing, None
            return self.book if failing is None else dataclasses.replace(self.book, gateway=failing)

        def refused(self, call: Callable[[], object]) -> InvalidInput:
            before = snapshot(self.engine)
            with pytest.raises(InvalidInput) as refusal:
                call()
            assert snapshot(self.engine) == before, f"a refused operation ({refusal.value}) changed the book"
            return refusal.value

        def loan_row(self, loan_id: int) -> Any:
            with self.engine.connect() as conn:
                return conn.execute(select(loans).where(loans.c.id == loan_id)).mappings().one()

        # --- rules -----------------------------------------------------------------------------

        @initialize(target=lines, limit_fen=st.integers(10_000, 500_000_000), product=st.sampled_from(PRODUCTS), rate=st.decimals(Decimal("0.01"), Decimal("0.24"), places=4))
        def first_line(self, limit_fen: int, product: str, rate: Decimal) -> int:
            return self.open_a_line(limit_fen, product, rate, 0, True)

        @rule(
            target=lines,
            limit_fen=st.integers(10_000, 500_000_000),
            product=st.sampled_from(PRODUCTS),
            rate=st.decimals(Decimal("0.01"), Decimal("0.24"), places=4),
            ahead=st.integers(0, 3),
            new_enterprise=st.booleans(),
        )
        @precondition(lambda self: self.lines_opened < MAX_LINES)
        def open_a_line(self, limit_fen: int, product: str, rate: Decimal, ahead: int, new_enterprise: bool) -> int:
            self.lines_opened += 1
            if new_enterprise or self.enterprises == 0:
                self.enterprises += 1
            start = self.today() + timedelta(days=ahead)
            line = open_line(self.operation_book(), valid_uscc(self.enterprises), product, limit_fen, rate, start)
            outcome("open line")
            assert (line.status, line.used_fen, line.available_fen, line.limit_fen, line.annual_rate, line.start) == (LineStatus.ACTIVE, 0, limit_fen, limit_fen, rate, start)
            assert self.today() == start
            return line.id

        @rule(target=loans, line_id=lines, offered=st.sampled_from([True, True, True, False]), ahead=st.integers(0, 3), auto_debit=st.booleans(), data=st.data())
        def draw_on_line(self, line_id: int, offered: bool, ahead: int, auto_debit: bool, data: st.DataObject) -> Any:
            """A draw; ``offered``: with a method and term the product offers (else any, mostly not)."""
            day = self.today() + timedelta(days=ahead)
            with self.engine.connect() as conn:
                line = get_line(conn, line_id)
            product = self.book.catalogue[line.product_id]
            if offered:
                method = data.draw(st.sampled_from(sorted(product.repayment_methods, key=lambda m: m.value)), label="method")
                terms = product.repayment_methods[method]
                term = data.draw(st.integers(terms.min_term, terms.max_term), label="term")
            else:
                method = data.draw(st.sampled_from(list(Method)), label="method")
                term = data.draw(st.integers(0, 30), label="term")
            available = line.available_fen
            kind = data.draw(st.sampled_from(["tiny", "quarter", "quarter", "any", "all", "over", "not positive"]), label="amount kind")
            amount = data.draw(
                {
                    "tiny": st.integers(1, 100),  # schedules of a few fen
                    "quarter": st.integers(1, max(available // 4, 1)),
                    "any": st.integers(1, max(available, 1)),
                    "all": st.just(available),
                    "over": st.integers(available + 1, available + 10**9),  # over the available limit
                    "not positive": st.integers(-1_000, 0),
                }[kind],
                label="amount_fen",
            )
            allowed = product.repayment_methods.get(method)
            valid = (
                line.status is LineStatus.ACTIVE
                and line.start <= day <= line.end
                and 0 < amount <= available
                and allowed is not None
                and allowed.allows(term)
            )
            request = DrawRequest(line_id, amount, method, term, day, auto_debit)
            if not valid:
                outcome("draw: refused")
                self.refused(lambda: draw(self.operation_book(), request))
                return multiple()
            book = self.operation_book()
            with self.engine.connect() as conn:
                entries_before = count(conn, journal_entries)
            try:
                state = draw(book, request)
            except InvalidInput:
                # a draw dated ahead first closes the days before with the full close of business, whose
                # reassessment may have changed the line (a freeze, a decrease capped at used): refused then
                with self.engine.connect() as conn:
                    now = get_line(conn, line_id)
                    reassessed = conn.scalar(select(func.count()).select_from(line_changes).where(line_changes.c.line_id == line_id))
                assert ahead > 0 and reassessed and not (now.status is LineStatus.ACTIVE and amount <= now.available_fen), (line, now)
                outcome("draw: refused, the line reassessed on the days closed before it")
                return multiple()
            except DisbursementFailed:
                outcome("draw: disbursement failed, cancelled")
                assert book.gateway is not self.book.gateway, "the reliable bank core failed a disbursement"
                with self.engine.connect() as conn:
                    row = conn.execute(select(loans).order_by(loans.c.id.desc()).limit(1)).mappings().one()
                    assert row["status"] == LoanStatus.CANCELLED.value and row["principal_fen"] == amount
                    assert conn.scalar(select(func.count()).select_from(journal_entries).where(journal_entries.c.loan_id == row["id"])) == 0
                    settled = conn.scalar(select(func.count()).select_from(bank_core_transfers).where(bank_core_transfers.c.instruction_id == f"disburse:{row['id']}", bank_core_transfers.c.status == "settled"))
                    assert settled == 0
                return row["id"]
            outcome("draw: active")
            assert state.status is LoanStatus.ACTIVE and state.terms.principal_fen == amount and state.terms.start == day
            with self.engine.connect() as conn:
                entry = conn.execute(select(journal_entries.c.id).where(journal_entries.c.idempotency_key == f"disbursement:{state.id}")).scalar_one()
                amounts = sorted(conn.execute(select(postings.c.amount_fen).where(postings.c.entry_id == entry)).scalars())
                assert amounts == [-amount, amount]
                assert count(conn, journal_entries) > entries_before
                assert get_line(conn, line_id).used_fen >= amount
            return state.id

        @rule(target=loans, line_id=lines, offered=st.sampled_from([True, True, True, False]), ahead=st.integers(0, 3), auto_debit=st.booleans(), data=st.data())
        def draw_again(self, line_id: int, offered: bool, ahead: int, auto_debit: bool, data: st.DataObject) -> Any:
            """The same as draw_on_line: a second rule doubles how often draws are chosen."""
            return self.draw_on_line(line_id, offered, ahead, auto_debit, data)

        def pick_loan(self, any_loan: int, active: bool, data: st.DataObject) -> int:
            """Mostly an active loan (when there is one), else any loan drawn so far."""
            if active:
                with self.engine.connect() as conn:
                    ids = list(conn.execute(select(loans.c.id).where(loans.c.status == LoanStatus.ACTIVE.value).order_by(loans.c.id)).scalars())
                if ids:
                    return data.draw(st.sampled_from(ids), label="active loan")
            return any_loan

        def days_ahead(self, row: Any, ahead: int) -> int:
            """``ahead`` days, or for AFTER_DUE the day after the loan's next unpaid due date (when
            it is near), so that the close of business the payment runs first crosses a due date."""
            if ahead != AFTER_DUE:
                return ahead
            today = self.today()
            with self.engine.connect() as conn:
                due = conn.scalar(
                    select(func.min(installments.c.due_date)).where(
                        installments.c.loan_id == row["id"], installments.c.due_date >= today, installments.c.paid_principal_fen < installments.c.principal_fen
                    )
                )
            if due is None or (due - today).days > MAX_DAYS_TO_DUE:
                return 0
            return (due - today).days + 1

        def paid_off_by_auto_debit_first(self, row: Any, ahead: int) -> None:
            """A payment dated after the business date closes the days before it first; if their
            auto-debit paid the loan off, the payment is refused (and must not have taken the money:
            reconcile, after the step, finds any bank-core transfer without its ledger entry)."""
            now = self.loan_row(row["id"])
            assert row["auto_debit"] and ahead > 0 and now["status"] == LoanStatus.CLOSED.value, ("refused", dict(row), dict(now))
            outcome("repay: refused, an auto-debit paid the loan off first")

        @rule(any_loan=loans, active=st.sampled_from([True, True, True, False]), ahead=AHEAD, data=st.data())
        def repay_loan(self, any_loan: int, active: bool, ahead: int, data: st.DataObject) -> None:
            loan_id = self.pick_loan(any_loan, active, data)
            row = self.loan_row(loan_id)
            ahead = self.days_ahead(row, ahead)
            day = self.today() + timedelta(days=ahead)
            status = LoanStatus(row["status"])
            if status in (LoanStatus.PENDING, LoanStatus.CANCELLED, LoanStatus.CLOSED):
                amount = data.draw(st.integers(1, 10**7), label="amount_fen")
                outcome(f"repay: refused ({status.value})")
                self.refused(lambda: repay(self.operation_book(), loan_id, amount, day))
                return
            payoff = quote(self.book, loan_id, day).total_fen if status is LoanStatus.ACTIVE else row["written_off_fen"]
            kind = data.draw(st.sampled_from(["part", "part", "part", "small", "payoff", "over", "not positive"]), label="amount kind")
            amount = data.draw(
                {
                    "part": st.integers(1, max(payoff - 1, 1)),
                    "small": st.integers(1, 100),
                    "payoff": st.just(max(payoff, 1)),
                    "over": st.integers(payoff + 1, payoff + 10**6),  # more than the payoff: a credit balance
                    "not positive": st.integers(-100, 0),
                }[kind],
                label="amount_fen",
            )
            if amount <= 0:
                outcome("repay: refused (amount)")
                self.refused(lambda: repay(self.operation_book(), loan_id, amount, day))
                return
            book = self.operation_book()
            paid_in = select(func.count()).select_from(repayments).where(repayments.c.channel == "paid-in")
            with self.engine.connect() as conn:
                paid_in_before = conn.scalar(paid_in)
            try:
                state, applied = repay(book, loan_id, amount, day)
            except InvalidInput:
                self.paid_off_by_auto_debit_first(row, ahead)
                return
            except PaymentFailed:
                outcome("repay: payment failed")
                assert book.gateway is not self.book.gateway, "the reliable bank core failed a receipt"
                with self.engine.connect() as conn:  # the close of the days before may have auto-debited, through the same bank core
                    assert conn.scalar(paid_in) == paid_in_before
                return
            outcome(f"repay: applied to a {status.value} loan, now {state.status.value}" + (", credit balance" if applied.credit_balance_fen else ""))
            assert applied.total_fen == amount
            with self.engine.connect() as conn:
                paid_in = conn.execute(select(repayments).where(repayments.c.loan_id == loan_id, repayments.c.channel == "paid-in").order_by(repayments.c.id.desc()).limit(1)).mappings().one()
                assert (paid_in["amount_fen"], paid_in["business_date"]) == (amount, day)
                key = f"repayment:{paid_in['instruction_id']}"
                assert conn.scalar(select(func.count()).select_from(journal_entries).where(journal_entries.c.idempotency_key == key)) == 1
            if status is LoanStatus.ACTIVE and (ahead == 0 or not row["auto_debit"]):
                # without an auto-debit in between, the quote was what the loan owed on the day
                if amount >= payoff:
                    assert state.status is LoanStatus.CLOSED, (amount, payoff, state)
                    assert applied.credit_balance_fen == amount - payoff
                else:
                    assert applied.credit_balance_fen == 0

        @rule(any_loan=loans, active=st.sampled_from([True, True, True, False]), ahead=AHEAD, data=st.data())
        def repay_again(self, any_loan: int, active: bool, ahead: int, data: st.DataObject) -> None:
            """The same as repay_loan: a second rule doubles how often repayments are chosen."""
            self.repay_loan(any_loan, active, ahead, data)

        @rule(any_loan=loans, active=st.sampled_from([True, True, True, False]), ahead=AHEAD, data=st.data())
        def pay_off(self, any_loan: int, active: bool, ahead: int, data: st.DataObject) -> None:
            loan_id = self.pick_loan(any_loan, active, data)
            row = self.loan_row(loan_id)
            ahead = self.days_ahead(row, ahead)
            day = self.today() + timedelta(days=ahead)
            if row["status"] != LoanStatus.ACTIVE.value:
                outcome("payoff: refused")
                self.refused(lambda: quote(self.book, loan_id, day))
                return
            before = snapshot(self.engine)
            payoff = quote(self.book, loan_id, day)
            assert snapshot(self.engine) == before, "a quote changed the book"
            assert payoff.total_fen > 0
            book = self.operation_book()
            try:
                state, applied = repay(book, loan_id, payoff.total_fen, day)
            except InvalidInput:
                self.paid_off_by_auto_debit_first(row, ahead)
                return
            except PaymentFailed:
                outcome("payoff: payment failed")
                assert book.gateway is not self.book.gateway
                return
            outcome(f"payoff: loan {state.status.value}")
            assert applied.total_fen == payoff.total_fen
            if ahead == 0 or not row["auto_debit"]:
                assert state.status is LoanStatus.CLOSED, (payoff, applied, state)
                assert applied.credit_balance_fen == 0, (payoff, applied)
                assert applied.principal_fen == payoff.principal_fen, (payoff, applied)

        @rule(any_loan=loans, with_credit=st.sampled_from([True, True, True, False]), ahead=st.integers(0, 2), data=st.data())
        def refund_credit(self, any_loan: int, with_credit: bool, ahead: int, data: st.DataObject) -> None:
            """Pay a credit balance back to the borrower (mostly a loan that has one)."""
            loan_id = any_loan
            if with_credit:
                with self.engine.connect() as conn:
                    ids = list(conn.execute(select(loans.c.id).where(loans.c.credit_balance_fen > 0).order_by(loans.c.id)).scalars())
                if ids:
                    loan_id = data.draw(st.sampled_from(ids), label="loan with credit")
            row = self.loan_row(loan_id)
            day = self.today() + timedelta(days=ahead)
            if row["credit_balance_fen"] == 0:
                outcome("refund: refused")
                self.refused(lambda: refund(self.operation_book(), loan_id, day))
                return
            book = self.operation_book()
            try:
                state, amount = refund(book, loan_id, day)
            except PaymentFailed:
                outcome("refund: payment failed")
                assert book.gateway is not self.book.gateway, "the reliable bank core failed a refund"
                assert self.loan_row(loan_id)["credit_balance_fen"] == row["credit_balance_fen"]
                return
            outcome("refund")
            assert amount == row["credit_balance_fen"] and state.credit_balance_fen == 0

        @rule(days=st.integers(1, 40), batch=st.booleans())
        def advance(self, days: int, batch: bool) -> None:
            """Close business for ``days`` days, by the per-loan path or the vectorised one (``--batch``)."""
            today = self.today()
            through = today + timedelta(days=days - 1)
            totals = close_business(self.operation_book(), through, batch=batch)
            outcome(f"close business: {days} days" if days < 10 else "close business: 10+ days")
            outcome(f"close business: batch {batch}")
            outcome(f"close business: collections: {min(totals.collections, 1)}+")
            assert totals.days == [today + timedelta(days=k) for k in range(days)]
            with self.engine.connect() as conn:
                assert get_business_day(conn) == BusinessDay(through + timedelta(days=1), through)

        @rule(line_id=lines, frozen=st.booleans())
        def freeze_or_unfreeze(self, line_id: int, frozen: bool) -> None:
            with self.engine.connect() as conn:
                status = get_line(conn, line_id).status
            if (frozen and status is LineStatus.ACTIVE) or (not frozen and status is LineStatus.FROZEN):
                line = freeze(self.operation_book(), line_id, frozen)
                outcome("freeze" if frozen else "unfreeze")
                assert line.status is (LineStatus.FROZEN if frozen else LineStatus.ACTIVE)
            else:
                outcome(f"{'freeze' if frozen else 'unfreeze'}: refused ({status.value})")
                self.refused(lambda: freeze(self.operation_book(), line_id, frozen))

        @rule(loan_id=loans)
        def write_off_loan(self, loan_id: int) -> None:
            day = self.today()
            row = self.loan_row(loan_id)
            if row["status"] != LoanStatus.ACTIVE.value:
                outcome("write-off: refused")
                self.refused(lambda: write_off(self.operation_book(), loan_id, day))
                return
            state = write_off(self.operation_book(), loan_id, day)
            outcome("write-off")
            assert state.status is LoanStatus.WRITTEN_OFF
            with self.engine.connect() as conn:
                assert get_line(conn, row["line_id"]).status is not LineStatus.ACTIVE

        @rule(rate=st.sampled_from([0.5, 0.8, 1.0]), seed=st.integers(0, 2**32))
        def bank_core_fails_next(self, rate: float, seed: int) -> None:
            self.failing = RepeatableBankCore(self.engine, rate, seed)
            outcome("bank core fails next")

        @rule(kind=st.sampled_from(["draw", "repay", "quote", "open_line", "write_off", "close_business"]), back=st.integers(1, 60), data=st.data())
        def back_dated(self, kind: str, back: int, data: st.DataObject) -> None:
            today = self.today()
            day = today - timedelta(days=back)
            with self.engine.connect() as conn:
                line_ids = list(conn.execute(select(credit_lines.c.id)).scalars()) or [1]
                loan_ids = list(conn.execute(select(loans.c.id)).scalars()) or [1]
            line_id = data.draw(st.sampled_from(line_ids), label="line_id")
            loan_id = data.draw(st.sampled_from(loan_ids), label="loan_id")
            book = self.operation_book()
            outcome(f"back-dated {kind}")
            if kind == "close_business":  # closing days already closed is a no-op, not an error
                before = snapshot(self.engine)
                totals = close_business(book, day)
                assert totals.days == [] and totals.interest_fen == 0
                assert snapshot(self.engine) == before
                return
            calls: dict[str, Callable[[], object]] = {
                "draw": lambda: draw(book, DrawRequest(line_id, 100_00, Method.REVOLVING, 1, day)),
                "repay": lambda: repay(book, loan_id, 100_00, day),
                "quote": lambda: quote(book, loan_id, day),
                "open_line": lambda: open_line(book, valid_uscc(1), "tax-data-loan", 1_000_000, Decimal("0.072"), day),
                "write_off": lambda: write_off(book, loan_id, day),
            }
            refusal = self.refused(calls[kind])
            assert refusal.first.field in ("date", "start"), refusal

        # --- invariants ------------------------------------------------------------------------

        @invariant()
        def book_is_consistent(self) -> None:
            OUTCOMES["(checks)"] += 1
            with self.engine.connect() as conn:
                unbalanced = conn.execute(select(postings.c.entry_id, func.sum(postings.c.amount_fen)).group_by(postings.c.entry_id).having(func.sum(postings.c.amount_fen) != 0)).all()
                assert unbalanced == [], f"unbalanced journal entries: {unbalanced}"
                empty = conn.execute(select(journal_entries.c.id).outerjoin(postings, postings.c.entry_id == journal_entries.c.id).where(postings.c.id.is_(None))).scalars().all()
                assert empty == [], f"journal entries without postings: {empty}"
                repeated = conn.execute(select(journal_entries.c.idempotency_key).group_by(journal_entries.c.idempotency_key).having(func.count() > 1)).scalars().all()
                assert repeated == [], f"idempotency keys used more than once: {repeated}"

                # append-only postings and entries
                posting_count = count(conn, postings)
                max_id = int(conn.scalar(select(func.coalesce(func.max(postings.c.id), 0))) or 0)
                assert posting_count >= self.postings_count and max_id >= self.postings_max_id, "postings disappeared"
                if self.posting_sample:
                    rows = {r[0]: tuple(r) for r in conn.execute(select(postings).where(postings.c.id.in_(list(self.posting_sample))))}
                    assert rows == self.posting_sample, "earlier postings changed"
                if self.entry_sample:
                    rows = {r[0]: tuple(r) for r in conn.execute(select(journal_entries).where(journal_entries.c.id.in_(list(self.entry_sample))))}
                    assert rows == self.entry_sample, "earlier journal entries changed"
                if len(self.posting_sample) < POSTING_SAMPLE_MAX:
                    fresh = conn.execute(select(postings).where(postings.c.id > self.postings_max_id, postings.c.id % POSTING_SAMPLE_EVERY == 0).order_by(postings.c.id).limit(POSTING_SAMPLE_MAX)).all()
                    self.posting_sample.update({r[0]: tuple(r) for r in fresh})
                    last_entry = max(self.entry_sample, default=0)
                    fresh_entries = conn.execute(select(journal_entries).where(journal_entries.c.id > last_entry, journal_entries.c.id % POSTING_SAMPLE_EVERY == 0).order_by(journal_entries.c.id).limit(POSTING_SAMPLE_MAX)).all()
                    self.entry_sample.update({r[0]: tuple(r) for r in fresh_entries})
                self.postings_count, self.postings_max_id = posting_count, max_id

                # the loan book
                negative = conn.execute(select(loans.c.id).where(loans.c.principal_outstanding_fen < 0)).scalars().all()
                assert negative == [], f"loans with negative principal outstanding: {negative}"
                unpaid = dict(conn.execute(select(installments.c.loan_id, func.sum(installments.c.principal_fen - installments.c.paid_principal_fen)).group_by(installments.c.loan_id)).all())
                for loan_id, status, outstanding, principal in conn.execute(select(loans.c.id, loans.c.status, loans.c.principal_outstanding_fen, loans.c.principal_fen)):
                    assert loan_id in unpaid, f"loan {loan_id} has no installments"
                    if status != LoanStatus.WRITTEN_OFF.value:
                        assert outstanding == unpaid[loan_id], (loan_id, status, outstanding, unpaid[loan_id])
                    assert 0 <= outstanding <= principal
                used_by_loans = dict(
                    conn.execute(select(loans.c.line_id, func.sum(loans.c.principal_outstanding_fen)).where(loans.c.status.in_(["active", "pending"])).group_by(loans.c.line_id)).all()
                )
                for line_id in conn.execute(select(credit_lines.c.id)).scalars():
                    line = get_line(conn, line_id)
                    assert line.used_fen + line.available_fen == line.limit_fen and line.available_fen >= 0, line
                    assert line.used_fen == int(used_by_loans.get(line_id) or 0), (line, used_by_loans.get(line_id))
                last_closed = get_business_day(conn).last_closed

            kept, recomputed = trial_balance(self.book)
            assert kept == recomputed, (kept, recomputed)
            assert kept.balanced and recomputed.balanced, kept
            assert reconcile(self.book) == []

            if last_closed is not None:  # closing the last closed day again changes nothing
                before = snapshot(self.engine)
                totals = close_business(self.book, last_closed)
                assert (totals.days, totals.loan_days, totals.interest_fen, totals.penalty_fen, totals.collections) == ([], 0, 0, 0, 0)
                assert snapshot(self.engine) == before

    return BookMachine


def test_the_book_stays_consistent_under_random_operations(new_database: NewDatabase) -> None:
    OUTCOMES.clear()
    run_state_machine_as_test(
        make_machine(new_database),
        settings=settings(
            max_examples=MAX_EXAMPLES,
            stateful_step_count=STEPS,
            deadline=None,
            phases=[p for p in Phase if p is not Phase.shrink] if NO_SHRINK else list(Phase),
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
        ),
    )
    print("\n" + "\n".join(f"{n:6d}  {label}" for label, n in sorted(OUTCOMES.items())))


# --- bugs found while writing the machine, each as a minimal test ------------------------------------

DAY = date(2026, 3, 2)


@pytest.fixture
def book(db_url: str) -> Iterator[Book]:
    engine = open_store(db_url)
    yield open_book(engine, SimulatedBankCore(engine, 0.0, seed=0))
    engine.dispose()


def test_a_repayment_refused_after_an_auto_debit_paid_the_loan_off_took_the_money(book: Book) -> None:
    """repay() checks the loan, then closes the days before the payment date (bring_to), whose auto-debit
    pays the loan off, then takes the money at the bank core, and only then finds the loan closed: it
    raises InvalidInput and the money received has no ledger entry (nor a credit balance)."""
    line = open_line(book, valid_uscc(1), "invoice-loan", 10_000_000, Decimal("0.072"), DAY)
    loan = draw(book, DrawRequest(line.id, 1_000_000, Method.BULLET, 1, DAY, auto_debit=True))
    after_maturity = loan.installments[-1].due_date + timedelta(days=1)
    try:
        repay(book, loan.id, 5_000, after_maturity)
    except InvalidInput:
        pass  # refusing is fine, if no money was taken; accepting it as a credit balance is fine too
    assert reconcile(book) == []


def test_a_second_line_for_the_same_enterprise_can_be_opened(book: Book) -> None:
    """The operator's path registers the enterprise without an owner; looking it up again failed with
    TypeError in store/repositories.py _enterprise (int(None) for owner_person_id). Fixed meanwhile."""
    first = open_line(book, valid_uscc(1), "tax-data-loan", 1_000_000, Decimal("0.072"), DAY)
    second = open_line(book, valid_uscc(1), "invoice-loan", 2_000_000, Decimal("0.08"), DAY)
    assert second.enterprise_id == first.enterprise_id and second.id != first.id


def test_a_cancelled_draw_leaves_no_reconciliation_difference(book: Book) -> None:
    """A draw whose disbursement fails is cancelled with nothing posted, but its loan row keeps its
    principal outstanding, and reconcile compares every loan row (cancelled ones too) with the ledger."""
    line = open_line(book, valid_uscc(1), "tax-data-loan", 1_000_000, Decimal("0.072"), DAY)
    with pytest.raises(DisbursementFailed):
        draw(dataclasses.replace(book, gateway=SimulatedBankCore(book.engine, 1.0, seed=1)), DrawRequest(line.id, 100_000, Method.REVOLVING, 3, DAY))
    assert reconcile(book) == []


@pytest.mark.parametrize("rate", ["-0.05", "1.5", "0.0720001", "NaN"])
def test_a_line_with_an_impossible_rate_is_refused(book: Book, rate: str) -> None:
    """open_line checks the product, limit and dates but not the rate: a negative rate, one above 1,
    one with more decimals than a loan may have (6) or NaN is stored, and every draw on that line is
    then refused (or, for NaN, fails with TypeError). `smelend lines open` lets 0.0720001 through."""
    before = snapshot(book.engine)
    with pytest.raises(InvalidInput) as refusal:
        open_line(book, valid_uscc(1), "tax-data-loan", 1_000_000, Decimal(rate), DAY)
    assert refusal.value.first.field == "annual_rate"
    assert snapshot(book.engine) == before


def test_a_line_refused_for_its_enterprise_name_changes_nothing(book: Book) -> None:
    """open_line closes business up to its start date (bring_to) before it validates the enterprise
    name, so a refused line has already moved the business date and posted the days' accruals."""
    line = open_line(book, valid_uscc(1), "tax-data-loan", 1_000_000, Decimal("0.072"), DAY)
    draw(book, DrawRequest(line.id, 100_000, Method.REVOLVING, 3, DAY))
    before = snapshot(book.engine)
    with pytest.raises(InvalidInput) as refusal:
        open_line(book, valid_uscc(2), "tax-data-loan", 1_000_000, Decimal("0.072"), DAY + timedelta(days=5), name="   ")
    assert refusal.value.first.field == "name"
    assert snapshot(book.engine) == before


def test_a_second_refund_of_the_same_amount_on_the_same_day_pays_out_and_posts(book: Book) -> None:
    """refund() names its bank-core instruction refund:<loan>:<day>:<amount>, which is not unique: a
    second refund of the same amount for the same loan on the same day gets the first one's settlement
    back from the bank core (nothing is paid out), its ledger entry has the first one's key (nothing is
    posted), and yet the loan's credit balance is set to zero: the borrower's money disappears from
    the loan book while the ledger still owes it. Reached through a written-off loan, whose recoveries
    above what was written off become credit balances."""
    line = open_line(book, valid_uscc(1), "tax-data-loan", 10_000_000, Decimal("0.072"), DAY)
    loan = draw(book, DrawRequest(line.id, 1_000_000, Method.REVOLVING, 3, DAY))
    written = write_off(book, loan.id, DAY)
    repay(book, loan.id, written.written_off_fen + 3_000, DAY)
    assert refund(book, loan.id, DAY)[1] == 3_000
    repay(book, loan.id, 3_000, DAY)
    assert refund(book, loan.id, DAY)[1] == 3_000
    with book.engine.connect() as conn:
        paid_out = conn.scalar(select(func.count()).select_from(bank_core_transfers).where(bank_core_transfers.c.kind == "refund", bank_core_transfers.c.status == "settled"))
    assert paid_out == 2
    assert reconcile(book) == []
