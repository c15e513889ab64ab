"""A worker for the crash test: ``python crash_worker.py DB_URL DATA_DIR [SEED [DIE_AT]]``.

It opens the store and the book (the PII key file is ``DATA_DIR/pii-keyring.json``, shared with the
test), opens a credit line, then loops posting a stream of draws, repayments and closes of business,
printing one line to stdout, flushed, after each operation has returned (its transaction committed):

    ACK line <line id>
    ACK draw <loan id>
    ACK draw-failed <loan id>        the bank core refused the disbursement; the draw was cancelled
    ACK repay <instruction id>       the repayment's bank-core instruction (repayments.instruction_id)
    ACK repay-failed <loan id>       the bank core refused the receipt; nothing was applied
    ACK cob <YYYY-MM-DD>             closed through that day

The test kills it with SIGKILL at a random moment; it stops by itself after :data:`MAX_SECONDS`.

``DIE_AT`` makes it SIGKILL itself at a named point instead, the first time the point is reached after
:data:`ARM_AFTER_ACKS` acknowledgements, to hit the narrow windows a random kill rarely lands in:

    before-disburse   a draw is recorded pending, the bank core not yet asked to disburse
    after-disburse    the bank core settled the disbursement, the loan is not yet activated
    after-receive     the bank core settled money paid in, the repayment is not yet applied
    after-collect     the bank core settled an auto-debit, the collection is not yet applied
    mid-cob           a close of business over several days has closed some of them
"""

from __future__ import annotations

import os
import random
import signal
import sys
import time
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

START = date(2026, 1, 30)
LIMIT_FEN = 1_000_000_000  # 10 million yuan: room for every draw the worker makes
PRODUCT = "tax-data-loan"
USCC = "91310000MA1FL8T5X3"
MAX_SECONDS = 60.0
BANK_CORE_FAILURE_RATE = 0.2  # attempts time out now and then, so retries (and the odd cancelled draw) happen
MAX_ACTIVE_LOANS = 12  # a small book keeps each close of business short, so kills land in every kind of work
ARM_AFTER_ACKS = 20
DIE_POINTS = ("before-disburse", "after-disburse", "after-receive", "after-collect", "mid-cob")


def main(argv: list[str]) -> int:
    if len(argv) not in (3, 4, 5) or len(argv) == 5 and argv[4] not in DIE_POINTS:
        print(f"usage: crash_worker.py DB_URL DATA_DIR [SEED [{'|'.join(DIE_POINTS)}]]", file=sys.stderr)
        return 2
    url, data_dir = argv[1], Path(argv[2])
    seed = int(argv[3]) if len(argv) >= 4 else random.randrange(2**32)
    die_at = argv[4] if len(argv) == 5 else None
    for name in ("SMELEND_PII_KEY", "SMELEND_BANK_CORE_FAILURE_RATE", "SMELEND_DATABASE_URL"):
        os.environ.pop(name, None)
    os.environ["SMELEND_DATA_DIR"] = str(data_dir)
    os.environ["SMELEND_PII_KEY_FILE"] = str(data_dir / "pii-keyring.json")

    from sqlalchemy import select

    from smelend.operations.cob import close_business
    from smelend.operations.context import open_book
    from smelend.operations.lines import DisbursementFailed, DrawRequest, draw, open_line
    from smelend.operations.repayments import quote, repay
    from smelend.servicing.loan import LoanStatus
    from smelend.servicing.payments import PaymentFailed, Transfer, TransferResult
    from smelend.store import open_store
    from smelend.store.bank_core import SimulatedBankCore
    from smelend.store.lending import get_business_day
    from smelend.store.tables import loans, repayments

    acks = 0

    def ack(kind: str, ident: object) -> None:
        nonlocal acks
        sys.stdout.write(f"ACK {kind} {ident}\n")
        sys.stdout.flush()
        acks += 1

    def point(name: str) -> None:
        if name == die_at and acks >= ARM_AFTER_ACKS:
            os.kill(os.getpid(), signal.SIGKILL)

    class BankCore(SimulatedBankCore):
        def disburse(self, instruction: Transfer) -> TransferResult:
            point("before-disburse")
            result = super().disburse(instruction)
            point("after-disburse")
            return result

        def receive(self, instruction: Transfer) -> TransferResult:
            result = super().receive(instruction)
            point("after-receive")
            return result

        def collect(self, instruction: Transfer) -> TransferResult:
            result = super().collect(instruction)
            point("after-collect")
            return result

    def progress(day: date, done: int) -> None:
        if done >= 1:
            point("mid-cob")

    rng = random.Random(seed)
    engine = open_store(url)
    book = open_book(engine, BankCore(engine, 0.0 if die_at else BANK_CORE_FAILURE_RATE, seed))

    def today() -> date:
        with engine.connect() as conn:
            return get_business_day(conn).business_date or START

    start = today()
    line = open_line(book, USCC, PRODUCT, LIMIT_FEN, Decimal("0.0725"), start, start + timedelta(days=3 * 365))
    ack("line", line.id)
    product = book.catalogue[PRODUCT]
    methods = sorted(product.repayment_methods, key=lambda m: m.value)
    deadline = time.monotonic() + MAX_SECONDS
    while time.monotonic() < deadline:
        day = today()
        with engine.connect() as conn:
            active = list(conn.execute(select(loans.c.id).where(loans.c.status == LoanStatus.ACTIVE.value).order_by(loans.c.id)).scalars())
        choice = rng.random()
        if len(active) >= MAX_ACTIVE_LOANS:
            choice = 0.5  # repay
        if choice < 0.45 or not active:
            method = rng.choice(methods)
            terms = product.repayment_methods[method]
            request = DrawRequest(line.id, rng.randint(1_000_00, 50_000_00), method, rng.randint(terms.min_term, terms.max_term), day, rng.random() < 0.5)
            try:
                state = draw(book, request)
            except DisbursementFailed as failure:
                ack("draw-failed", str(failure).split()[3])  # "disbursement of loan <id> failed: ..."
                continue
            ack("draw", state.id)
        elif choice < 0.8:
            loan_id = rng.choice(active)
            owed = quote(book, loan_id, day).total_fen
            amount = owed + rng.randint(0, 100_00) if rng.random() < 0.15 else rng.randint(1, max(owed // 3, 1))
            try:
                repay(book, loan_id, amount, day)
            except PaymentFailed:
                ack("repay-failed", loan_id)
                continue
            with engine.connect() as conn:
                instruction = conn.execute(
                    select(repayments.c.instruction_id).where(repayments.c.loan_id == loan_id, repayments.c.channel == "paid-in").order_by(repayments.c.id.desc()).limit(1)
                ).scalar_one()
            ack("repay", instruction)
        else:
            through = day + timedelta(days=rng.randint(3, 8) if die_at == "after-collect" else rng.randint(0, 4))  # due dates come sooner
            close_business(book, through, progress)
            ack("cob", through.isoformat())
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
