"""Kill -9 in the middle of the book's work, on each backend, and check that nothing is half-written.

``crash_worker.py`` runs in a subprocess: it opens a line, then posts a stream of draws, repayments and
closes of business, printing ``ACK <kind> <id>`` after each operation's transaction committed. The
test kills it with SIGKILL at a random moment once it has acknowledged some events, then, in the test
process: runs :func:`recover_pending`, and checks that

- every acknowledged draw is a disbursed loan (active, or closed by a later repayment) with its
  disbursement entry, every acknowledged repayment is in the repayments table with its journal entry,
  every acknowledged close of business is closed;
- nothing is half-written: every journal entry has postings that balance, every loan row has its
  installments, every disbursed loan has its disbursement entry, every repayment row has its entry
  and every repayment entry its row, no loan is left pending, a closed day has every live loan closed;
- the kept trial balance equals the recomputed one and is balanced, and each line's used amount is
  its live loans' principal;
- :func:`reconcile` reports no differences, except (possibly) the one bank-core transfer that was in
  flight at the kill: money the bank core settled (a paid-in receipt or an auto-debit) whose ledger
  entry had not been committed yet. That is a reported difference, not lost data: the bank core's
  record of it is there. An auto-debit is finished by the next close of business of that day (it
  re-sends the same instruction id and applies what the bank core returns); a paid-in receipt is
  not finished by anything, :func:`recover_pending` only looks at pending draws (see the report).

Then the book is used again (a draw and a close of business) and checked once more.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import threading
import time
from dataclasses import replace as dataclass_replace
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path
from typing import IO

import pytest
from sqlalchemy import func, select
from sqlalchemy.engine import Connection

from smelend.operations.cob import close_business
from smelend.operations.context import Book, open_book
from smelend.operations.lines import DrawRequest, draw, open_line, recover_pending
from smelend.operations.reconcile import Difference, reconcile, trial_balance
from smelend.operations.repayments import repay
from smelend.servicing.conventions import Method
from smelend.servicing.loan import LoanStatus
from smelend.servicing.payments import Transfer, TransferResult
from smelend.store import open_store
from smelend.store.bank_core import SimulatedBankCore
from smelend.store.lending import get_business_day, get_line, load_loan
from smelend.store.tables import bank_core_transfers, credit_lines, installments, journal_entries, loans, postings, repayments

WORKER = Path(__file__).with_name("crash_worker.py")
RUNS = int(os.environ.get("SMELEND_CRASH_RUNS", "3"))  # kills at a random moment, per backend
DIE_POINTS = ("before-disburse", "after-disburse", "after-receive", "after-collect", "mid-cob")  # as crash_worker.py names them
MOMENTS = [f"random-{k}" for k in range(1, RUNS + 1)] + list(DIE_POINTS)
ACK_TIMEOUT_S = 40.0
NO_LEDGER_ENTRY = " has no ledger entry"


def start_worker(db_url: str, data_dir: Path, seed: int, log: IO[str], die_at: str | None) -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SMELEND_")}  # the worker sets its own
    return subprocess.Popen(
        [sys.executable, str(WORKER), db_url, str(data_dir), str(seed)] + ([die_at] if die_at else []),
        stdout=subprocess.PIPE, stderr=log, text=True, env=env,
    )


def run_and_kill(process: subprocess.Popen[str], acks_before_kill: int | None, delay_s: float) -> list[tuple[str, str]]:
    """Read ACK lines until ``acks_before_kill`` of them, wait ``delay_s``, SIGKILL; every ACK read.

    With ``acks_before_kill`` None the worker kills itself (at its DIE_AT point): wait for that."""
    acks: list[tuple[str, str]] = []
    enough = threading.Event()

    def read() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            if not line.startswith("ACK "):
                continue
            kind, ident = line.split()[1:3]
            acks.append((kind, ident))
            if acks_before_kill is not None and len(acks) >= acks_before_kill:
                enough.set()
        enough.set()  # EOF: the worker ended (or was killed)

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        if acks_before_kill is None:
            try:
                process.wait(ACK_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                pytest.fail(f"the worker did not reach its point to die at within {ACK_TIMEOUT_S} s ({len(acks)} acks)")
        else:
            enough.wait(ACK_TIMEOUT_S)
            assert process.poll() is None, f"the worker ended by itself (status {process.returncode}) after {len(acks)} acks"
            assert len(acks) >= acks_before_kill, f"only {len(acks)} acks in {ACK_TIMEOUT_S} s"
            time.sleep(delay_s)
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait(10)
        reader.join(10)
        assert process.stdout is not None
        process.stdout.close()
    assert process.returncode == -signal.SIGKILL, process.returncode
    return acks


def unrecorded_transfers(differences: list[Difference]) -> dict[str, int]:
    """Bank-core transfers that have no ledger entry: instruction id -> amount."""
    prefix = "bank core transfer "
    return {
        d.what[len(prefix) : -len(NO_LEDGER_ENTRY)]: d.book_fen
        for d in differences
        if d.what.startswith(prefix) and d.what.endswith(NO_LEDGER_ENTRY)
    }


def check_in_flight_only(book: Book, acked_repayments: set[str], kinds: tuple[str, ...]) -> dict[str, int]:
    """Reconcile: the only differences allowed are at most one transfer in flight at the kill, of
    ``kinds``, not acknowledged, and the settlement account short by exactly its amount (money the
    bank core settled, with no ledger entry yet)."""
    differences = reconcile(book)
    unrecorded = unrecorded_transfers(differences)
    assert len(unrecorded) <= 1, differences
    for instruction_id in unrecorded:
        assert instruction_id.split(":", 1)[0] in kinds, differences
        assert instruction_id not in acked_repayments, f"an acknowledged repayment's money has no ledger entry: {instruction_id}"
    rest = [d for d in differences if not d.what.endswith(NO_LEDGER_ENTRY)]
    if unrecorded:
        (amount,) = unrecorded.values()
        assert [(d.what, d.book_fen - d.ledger_fen) for d in rest] == [("settlement account vs bank core settled transfers", amount)], differences
    else:
        assert rest == [], differences
    return unrecorded


def check_nothing_half_written(conn: Connection) -> None:
    unbalanced = conn.execute(select(postings.c.entry_id).group_by(postings.c.entry_id).having(func.sum(postings.c.amount_fen) != 0)).scalars().all()
    assert unbalanced == [], f"unbalanced entries {unbalanced}"
    bare = conn.execute(select(journal_entries.c.idempotency_key).outerjoin(postings, postings.c.entry_id == journal_entries.c.id).where(postings.c.id.is_(None))).scalars().all()
    assert bare == [], f"entries without postings {bare}"
    keys = set(conn.execute(select(journal_entries.c.idempotency_key)).scalars())
    with_installments = set(conn.execute(select(installments.c.loan_id).distinct()).scalars())
    used: dict[int, int] = {}
    for row in conn.execute(select(loans)).mappings():
        assert row["id"] in with_installments, f"loan {row['id']} has no installments"
        assert row["status"] != LoanStatus.PENDING.value, f"loan {row['id']} is still pending after recovery"
        disbursed = f"disbursement:{row['id']}" in keys
        if row["status"] == LoanStatus.CANCELLED.value:
            assert not disbursed, f"cancelled loan {row['id']} has a disbursement entry"
        else:
            assert disbursed, f"{row['status']} loan {row['id']} has no disbursement entry"
        if row["status"] in (LoanStatus.ACTIVE.value, LoanStatus.PENDING.value):
            used[row["line_id"]] = used.get(row["line_id"], 0) + row["principal_outstanding_fen"]
    repayment_keys = {f"repayment:{i}" for i in conn.execute(select(repayments.c.instruction_id)).scalars()}
    entry_keys = set(conn.execute(select(journal_entries.c.idempotency_key).where(journal_entries.c.kind == "repayment")).scalars())
    assert repayment_keys == entry_keys, f"repayments without entries {repayment_keys - entry_keys}, entries without repayments {entry_keys - repayment_keys}"
    for line_id in conn.execute(select(credit_lines.c.id)).scalars():
        line = get_line(conn, line_id)
        assert line.used_fen == used.get(line_id, 0) and line.used_fen + line.available_fen == line.limit_fen, line
    last_closed = get_business_day(conn).last_closed
    if last_closed is not None:
        behind = conn.execute(
            select(loans.c.id, loans.c.closed_through).where(
                loans.c.status == LoanStatus.ACTIVE.value,
                loans.c.start_date <= last_closed,
                (loans.c.closed_through.is_(None)) | (loans.c.closed_through < last_closed),
            )
        ).all()
        assert behind == [], f"day {last_closed} is closed but these active loans are not: {behind}"


def check_ledger(book: Book) -> None:
    kept, recomputed = trial_balance(book)
    assert kept == recomputed, (kept, recomputed)
    assert kept.balanced, kept


@pytest.mark.parametrize("moment", MOMENTS)
def test_a_killed_worker_leaves_no_half_written_work(db_url: str, smelend_env: Path, tmp_path: Path, moment: str) -> None:
    engine = open_store(db_url)  # migrates, and writes the PII key file the worker shares
    try:
        seed = random.randrange(2**32)
        rng = random.Random(seed)
        die_at = None if moment.startswith("random") else moment
        acks_before_kill = None if die_at else rng.randint(20, 50)
        delay_s = rng.uniform(0, 0.2)
        log = tmp_path / "worker.log"
        with log.open("w") as stderr:
            acks = run_and_kill(start_worker(db_url, smelend_env, seed, stderr, die_at), acks_before_kill, delay_s)
        context = f"seed {seed}, {moment}, {f'killed {delay_s:.3f} s after ack {acks_before_kill}' if acks_before_kill else 'died'} ({len(acks)} acks); worker stderr: {log.read_text()[-2000:]}"

        book = open_book(engine, SimulatedBankCore(engine, 0.0, seed))
        recovered = recover_pending(book)

        drawn = {int(i) for kind, i in acks if kind == "draw"}
        repaid = {i for kind, i in acks if kind == "repay"}
        closed = [date.fromisoformat(i) for kind, i in acks if kind == "cob"]
        with engine.connect() as conn:
            status = dict(conn.execute(select(loans.c.id, loans.c.status).where(loans.c.id.in_(drawn))).all())
            keys = set(conn.execute(select(journal_entries.c.idempotency_key)).scalars())
            recorded = set(conn.execute(select(repayments.c.instruction_id)).scalars())
            last_closed = get_business_day(conn).last_closed
            for loan_id in sorted(drawn):
                assert status.get(loan_id) in (LoanStatus.ACTIVE.value, LoanStatus.CLOSED.value), f"acknowledged draw {loan_id} is {status.get(loan_id)}; {context}"
                assert f"disbursement:{loan_id}" in keys, f"acknowledged draw {loan_id} has no disbursement entry; {context}"
            for instruction_id in sorted(repaid):
                assert instruction_id in recorded, f"acknowledged repayment {instruction_id} is not recorded; {context}"
                assert f"repayment:{instruction_id}" in keys, f"acknowledged repayment {instruction_id} has no entry; {context}"
            if closed:
                assert last_closed is not None and last_closed >= max(closed), (last_closed, max(closed), context)
            check_nothing_half_written(conn)
        check_ledger(book)
        in_flight = check_in_flight_only(book, repaid, ("paid-in", "collect"))
        print(f"\n{moment}: killed after {len(acks)} acks (last {acks[-1][0]}): {recovered} pending draw(s) recovered, in flight: {in_flight or 'nothing'}")
        kinds_in_flight = [i.split(":", 1)[0] for i in in_flight]
        if die_at in ("before-disburse", "after-disburse"):
            assert recovered == 1, context
        if die_at in ("after-receive", "after-collect"):
            # the money the bank core settled before the kill is found and applied by recover_pending
            assert kinds_in_flight == [], (in_flight, context)
            with engine.connect() as conn:
                prefix = {"after-receive": "paid-in:", "after-collect": "collect:"}[die_at]
                settled = set(conn.execute(select(bank_core_transfers.c.instruction_id).where(bank_core_transfers.c.status == "settled", bank_core_transfers.c.instruction_id.startswith(prefix))).scalars())
                applied = set(conn.execute(select(repayments.c.instruction_id)).scalars())
            assert settled <= applied, (settled - applied, context)
        if die_at == "mid-cob":
            assert last_closed is not None and (not closed or last_closed > max(closed)), (last_closed, closed, context)

        # the book goes on: a draw and a close of business
        with engine.connect() as conn:
            today = get_business_day(conn).business_date
            line_id = conn.execute(select(credit_lines.c.id)).scalar_one()
        state = draw(book, DrawRequest(line_id, 1_234_00, Method.REVOLVING, 3, today))
        assert state.status is LoanStatus.ACTIVE
        totals = close_business(book, today)
        assert totals.days == [today]
        with engine.connect() as conn:
            check_nothing_half_written(conn)
            assert conn.execute(select(loans.c.closed_through).where(loans.c.id == state.id)).scalar_one() == today
        check_ledger(book)
        assert check_in_flight_only(book, repaid, ()) == {}, context  # nothing left in flight after recovery
    finally:
        engine.dispose()


# --- a bug the crash test points at, as a minimal test ------------------------------------------------


class Killed(BaseException):
    """The process dies here (what SIGKILL does, without the subprocess)."""


class DiesBeforeDisbursing(SimulatedBankCore):
    def disburse(self, instruction: Transfer) -> TransferResult:
        raise Killed


def test_a_draw_left_pending_by_a_crash_is_recovered_whole_after_later_days_closed(db_url: str) -> None:
    """A crash between recording a draw (pending) and the bank core's answer leaves a pending loan.
    If the next operation is dated later (``smelend draw``/``repay``/``lines open`` bring the book to
    their date without recovering pending draws; only ``smelend cob`` recovers first), close of
    business skips the pending loan. recover_pending then activates it with ``closed_through`` None
    although its days are closed: the interest of those days never accrues, and a repayment on it
    fails with AssertionError in servicing/repayment.py ready_for."""
    engine = open_store(db_url)
    try:
        book = open_book(engine, SimulatedBankCore(engine, 0.0, seed=0))
        day = date(2026, 3, 2)
        line = open_line(book, "91310000MA1FL8T5X3", "tax-data-loan", 10_000_000, Decimal("0.072"), day)
        with pytest.raises(Killed):
            draw(dataclass_replace(book, gateway=DiesBeforeDisbursing(engine)), DrawRequest(line.id, 1_000_000, Method.REVOLVING, 3, day))
        later = day + timedelta(days=10)
        draw(book, DrawRequest(line.id, 1_000, Method.REVOLVING, 3, later))  # closes 2026-03-02 .. 03-11
        assert recover_pending(book) == 1
        with engine.connect() as conn:
            loan = load_loan(conn, 1).state
        assert loan.status is LoanStatus.ACTIVE
        assert loan.closed_through == later - timedelta(days=1), "the recovered loan is not closed through the closed days"
        assert loan.interest_receivable_fen == 2_000  # 10 nights of 1,000,000 fen at 7.2% / 360
        repay(book, loan.id, 100_00, later)
        assert reconcile(book) == []
    finally:
        engine.dispose()


class DiesAfterCollecting(SimulatedBankCore):
    def collect(self, instruction: Transfer) -> TransferResult:
        super().collect(instruction)
        raise Killed


def test_an_auto_debit_settled_before_a_crash_is_applied_even_if_the_amount_due_changed(db_url: str) -> None:
    """A crash after the bank core settled an auto-debit and before it was applied leaves a settled
    collect:<loan>:<day> transfer with no ledger entry; re-running that day's close normally finishes
    it, by sending the same instruction again. But collect_due recomputes the amount due first: if the
    borrower paid something in meanwhile (same day, after the restart), the instruction goes out with
    another amount, the bank core refuses it as a reused id (not retryable), collect_due skips it, and
    the money collected stays at the bank core with no ledger entry for good (while the installment it
    paid is still due, to be debited again)."""
    engine = open_store(db_url)
    try:
        book = open_book(engine, SimulatedBankCore(engine, 0.0, seed=0))
        day = date(2026, 3, 2)
        line = open_line(book, "91310000MA1FL8T5X3", "tax-data-loan", 10_000_000, Decimal("0.072"), day)
        loan = draw(book, DrawRequest(line.id, 1_200_000, Method.EQUAL_PRINCIPAL, 3, day, auto_debit=True))
        due = loan.installments[0].due_date
        close_business(book, due - timedelta(days=1))
        with pytest.raises(Killed):
            close_business(dataclass_replace(book, gateway=DiesAfterCollecting(engine, 0.0, seed=0)), due)
        recover_pending(book)
        repay(book, loan.id, 10_00, due)  # paid in on the due date, after the restart
        close_business(book, due)  # the day's close is run again
        assert reconcile(book) == []
    finally:
        engine.dispose()
