"""The synthetic book: every product, method and delinquency state; line, schedule and ledger invariants;
reconciles with the ledger and survives the real close of business; deterministic; `smelend book generate`."""

from __future__ import annotations

import json
from datetime import date, timedelta

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st
from sqlalchemy import func, select
from stdnum.cn import uscc

from smelend.cli import main
from smelend.lines.history import simulate_book, uscc_codes
from smelend.operations.cob import close_business
from smelend.operations.context import open_book
from smelend.operations.reconcile import reconcile, trial_balance
from smelend.operations.repayments import recover_receipts
from smelend.products.loader import load_catalogue
from smelend.servicing import delinquency
from smelend.servicing.cob_batch import METHOD_CODES, STATUS_CODES
from smelend.servicing.loan import LoanStatus
from smelend.store import open_store
from smelend.store.book_generator import generate_book
from smelend.store.lending import get_business_day, load_loans
from smelend.store.tables import credit_lines, enterprise_events, installments, journal_entries, loans, repayments

from .conftest import BOOK_ACCOUNTS, BOOK_AS_OF, GeneratedBook

CATALOGUE = load_catalogue()
POLICY = delinquency.load_policy()
ACTIVE = STATUS_CODES.index(LoanStatus.ACTIVE)


def _counts(engine) -> dict[str, int]:  # type: ignore[no-untyped-def]
    with engine.connect() as conn:
        return {t.name: int(conn.scalar(select(func.count()).select_from(t))) for t in (credit_lines, loans, installments, repayments, journal_entries, enterprise_events)}


# --- the pure history -------------------------------------------------------------------------------


def test_uscc_codes_are_valid_and_distinct() -> None:
    codes = uscc_codes(np.array([0, 1, 30, 31, 961, 123_456_789, 31**9 - 1]))
    assert all(uscc.is_valid(c) for c in codes)
    assert len(set(codes)) == len(codes)


@settings(max_examples=12, deadline=None)
@given(accounts=st.integers(1, 120), seed=st.integers(0, 2**31), offset=st.integers(0, 900))
def test_simulated_book_invariants(accounts: int, seed: int, offset: int) -> None:
    as_of = date(2025, 1, 1) + timedelta(days=offset)
    book = simulate_book(accounts, seed, as_of, CATALOGUE, POLICY)
    # lines: used + available = limit with available >= 0, used = principal outstanding of open loans
    outstanding = (book.inst_principal_fen - book.paid_principal_fen).sum(axis=1)
    open_ = book.loan_status == ACTIVE
    assert (book.used_fen >= 0).all() and (book.used_fen <= book.limit_fen).all()
    assert (np.bincount(book.loan_account, weights=np.where(open_, outstanding, 0), minlength=accounts).astype(np.int64) == book.used_fen).all()
    # schedules: principal sums to the loan's principal; payments never exceed what is scheduled
    assert (np.where(book.valid, book.inst_principal_fen, 0).sum(axis=1) == book.principal_fen).all()
    assert (book.paid_principal_fen <= book.inst_principal_fen).all() and (book.paid_interest_fen <= book.accrued_interest_fen).all()
    # receivables: accrued - paid interest is on or off balance, never lost
    owed = (book.accrued_interest_fen - book.paid_interest_fen).sum(axis=1)
    assert (np.where(open_, owed, 0) == book.interest_receivable_fen + book.suspended_interest_fen).all()
    # paid installments form a prefix, paid on or after their due date, before the business date
    paid = ~np.isnat(book.paid_on)
    assert (np.diff(paid.astype(np.int8), axis=1) <= 0).all()
    assert (book.paid_on[paid] >= book.due_date[paid]).all() and (book.paid_on[paid] < np.datetime64(as_of)).all()
    assert (book.loan_start < np.datetime64(as_of)).all()
    # a closed loan owes nothing; a written-off one is off the balance sheet, its claim a memo
    closed = book.loan_status == STATUS_CODES.index(LoanStatus.CLOSED)
    off = book.loan_status == STATUS_CODES.index(LoanStatus.WRITTEN_OFF)
    assert (outstanding[closed] == 0).all() and (book.written_off_fen[~off] == 0).all()
    assert (book.written_off_fen[off] >= outstanding[off]).all() and (book.provision_fen[off] == 0).all()


def test_simulation_is_deterministic_and_covers_every_product_method_and_bucket() -> None:
    one = simulate_book(3_000, 5, BOOK_AS_OF, CATALOGUE, POLICY)
    two = simulate_book(3_000, 5, BOOK_AS_OF, CATALOGUE, POLICY)
    for name in ("limit_fen", "principal_fen", "days_past_due", "paid_on", "interest_receivable_fen", "penalty_receivable_fen", "provision_fen"):
        assert np.array_equal(getattr(one, name).view(np.int64), getattr(two, name).view(np.int64)), name  # NaT == NaT as integers
    assert one.events.equals(two.events)
    pairs = {(one.product_id[a], METHOD_CODES[m].value) for a, m in zip(one.loan_account.tolist(), one.method.tolist())}
    offered = {(pid, m.value) for pid in CATALOGUE for m in CATALOGUE[pid].repayment_methods}
    assert pairs == offered
    buckets = {delinquency.bucket(int(d), POLICY) for d in one.days_past_due[one.loan_status == ACTIVE].tolist()}
    assert len(buckets) >= 5, buckets
    assert {"active", "expired", "frozen"} <= set(one.line_status.tolist())
    assert {STATUS_CODES.index(LoanStatus.ACTIVE), STATUS_CODES.index(LoanStatus.CLOSED)} <= set(one.loan_status.tolist())
    assert set(one.loan_status.tolist()) <= {STATUS_CODES.index(s) for s in (LoanStatus.ACTIVE, LoanStatus.CLOSED, LoanStatus.WRITTEN_OFF)}
    assert 0 < one.bad_next_12m.mean() < 0.2
    assert set(one.events["kind"].unique().to_list()) == {"tax_record", "invoice_record", "settlement_record", "external_alert"}


# --- the generated database -------------------------------------------------------------------------


def test_generated_book_reconciles_and_keeps_line_invariants(generated_book: GeneratedBook) -> None:
    engine = generated_book.engine
    book = open_book(engine)
    kept, recomputed = trial_balance(book)
    assert kept.balanced and kept == recomputed
    assert reconcile(book) == []
    assert recover_receipts(book) == 0  # every settled transfer has its repayment: nothing to "recover"
    with engine.connect() as conn:
        assert get_business_day(conn).business_date == BOOK_AS_OF and get_business_day(conn).last_closed == BOOK_AS_OF - timedelta(days=1)
        lines = conn.execute(select(credit_lines.c.id, credit_lines.c.limit_fen, credit_lines.c.used_fen)).all()
        assert len(lines) == BOOK_ACCOUNTS
        used = dict(conn.execute(select(loans.c.line_id, func.sum(loans.c.principal_outstanding_fen)).where(loans.c.status == "active").group_by(loans.c.line_id)).all())
        for line_id, limit_fen, used_fen in lines:
            assert 0 <= used_fen <= limit_fen and used_fen == int(used.get(line_id) or 0)
        sums = conn.execute(select(loans.c.principal_fen, func.sum(installments.c.principal_fen)).join(installments, installments.c.loan_id == loans.c.id).group_by(loans.c.id, loans.c.principal_fen)).all()
        assert sums and all(principal == int(total) for principal, total in sums)
        states = load_loans(conn, list(conn.scalars(select(loans.c.id))))
    assert len(states) == generated_book.result.loans
    for stored in states:
        stored.state.check()
    assert generated_book.result.truth is not None and generated_book.result.truth.height == BOOK_ACCOUNTS


def test_generated_book_survives_close_of_business(generated_book: GeneratedBook) -> None:
    book = open_book(generated_book.engine)
    totals = close_business(book, BOOK_AS_OF + timedelta(days=2), batch=True)
    assert totals.days == [BOOK_AS_OF, BOOK_AS_OF + timedelta(days=1), BOOK_AS_OF + timedelta(days=2)]
    assert totals.interest_fen > 0
    assert reconcile(book) == []


def test_written_off_loans_freeze_their_lines_and_reconcile(tmp_path, smelend_env) -> None:  # type: ignore[no-untyped-def]
    engine = open_store(f"sqlite:///{tmp_path / 'off.db'}")
    generate_book(engine, 8_000, 3, BOOK_AS_OF, CATALOGUE, POLICY)
    with engine.connect() as conn:
        rows = conn.execute(select(loans.c.status, loans.c.principal_outstanding_fen, loans.c.written_off_fen, credit_lines.c.status)
                            .join(credit_lines, credit_lines.c.id == loans.c.line_id).where(loans.c.status == "written-off")).all()
    assert rows and all(p == 0 and w > 0 and line in ("frozen", "expired") for _, p, w, line in rows)
    book = open_book(engine)
    assert reconcile(book) == [] and recover_receipts(book) == 0
    engine.dispose()


def test_generation_is_deterministic_and_appends(tmp_path, smelend_env) -> None:  # type: ignore[no-untyped-def]
    dumps = []
    for name in ("a", "b"):
        engine = open_store(f"sqlite:///{tmp_path / name}.db")
        generate_book(engine, 120, 3, BOOK_AS_OF, CATALOGUE, POLICY, chunk_accounts=50)
        with engine.connect() as conn:
            dumps.append([conn.execute(select(t).order_by(*t.primary_key.columns)).all() for t in (credit_lines, loans, installments)])
        if name == "b":  # a second generation at the same date appends, with fresh ids and USCCs
            result = generate_book(engine, 30, 4, BOOK_AS_OF, CATALOGUE, POLICY)
            assert (result.first_line_id, result.last_line_id) == (121, 150)
            assert reconcile(open_book(engine)) == []
        engine.dispose()
    strip = lambda rows: [tuple(v for k, v in r._mapping.items() if k != "created_at") for r in rows]  # noqa: E731
    assert [strip(t) for t in dumps[0]] == [strip(t) for t in dumps[1]]


def _cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as exited:
        main(["book", "generate", *args])
    out, err = capsys.readouterr()
    return int(exited.value.code or 0), out, err


def test_cli_generates_with_one_json_document(db_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = _cli(capsys, "--accounts", "40", "--seed", "9", "--as-of", "2026-03-31", "--json")
    assert code == 0, err
    document = json.loads(out)
    assert document["accounts"] == 40 and document["business_date"] == "2026-03-31" and document["ledger_balanced"] is True
    assert document["lines"] == {"first_id": 1, "last_id": 40}
    assert {"loans", "installments", "repayments", "enterprise_events", "journal_entries", "seed", "seconds"} <= set(document)


BAD_INPUT = [
    (("--accounts", "0"), "--accounts"),
    (("--accounts", "10", "--seed", "-1"), "--seed"),
    (("--accounts", "10", "--as-of", "2026-02-30"), "--as-of"),
    (("--accounts", "10", "--as-of", "2026-03-30"), "--as-of"),  # before the business date
    (("--accounts", "10", "--as-of", "2026-04-30"), "--as-of"),  # a book exists: close business first
]


def test_cli_bad_input_names_the_option_and_changes_nothing(db_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert _cli(capsys, "--accounts", "20", "--as-of", "2026-03-31")[0] == 0
    engine = open_store(db_url)
    before = _counts(engine)
    for args, option in BAD_INPUT:
        code, out, err = _cli(capsys, *args, "--json")
        assert code == 2 and out == "", (args, err)
        errors = [line for line in err.splitlines() if line.startswith("smelend: error:")]
        assert len(errors) == 1 and errors[0].startswith(f"smelend: error: {option}:"), (args, err)
        assert _counts(engine) == before, args
    with engine.connect() as conn:
        assert get_business_day(conn).business_date == date(2026, 3, 31)
    engine.dispose()
