"""The ledger's store, on each backend: idempotent posting, running balances equal to the postings'
sums, append-only journal, and a bulk path that writes what one-by-one posting would."""

from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select, text
from sqlalchemy.engine import Connection, Engine, make_url
from sqlalchemy.exc import IntegrityError

from smelend.ledger import Account, JournalEntry, Posting, TrialBalance
from smelend.ledger import trial_balance as pure_trial_balance
from smelend.store import db
from smelend.store.ledger import (
    balances_last,
    entries_for_loan,
    entry_count,
    loan_balances,
    post_entries,
    post_entry,
    recomputed_trial_balance,
    trial_balance,
)
from smelend.store.tables import account_balances, journal_entries, postings

DAY = date(2026, 3, 1)
ON_BALANCE = [a for a in Account if not a.off_balance]
OFF_BALANCE = [a for a in Account if a.off_balance]


def _drawdown(key: str, loan_id: int, amount_fen: int, day: date = DAY) -> JournalEntry:
    entry = JournalEntry.of(key, day, "disbursement", {Account.PRINCIPAL_RECEIVABLE: amount_fen, Account.SETTLEMENT: -amount_fen}, loan_id=loan_id, line_id=7)
    assert entry is not None
    return entry


def _accrual(key: str, loan_id: int, amount_fen: int) -> JournalEntry:
    entry = JournalEntry.of(key, DAY, "accrual", {Account.INTEREST_RECEIVABLE: amount_fen, Account.INTEREST_INCOME: -amount_fen}, loan_id=loan_id)
    assert entry is not None
    return entry


def _repayment(key: str, loan_id: int, principal_fen: int, interest_fen: int) -> JournalEntry:
    amounts = {Account.SETTLEMENT: principal_fen + interest_fen, Account.PRINCIPAL_RECEIVABLE: -principal_fen, Account.INTEREST_RECEIVABLE: -interest_fen}
    entry = JournalEntry.of(key, DAY, "repayment", amounts, loan_id=loan_id)
    assert entry is not None
    return entry


def _book() -> list[JournalEntry]:
    return [
        _drawdown("draw:1", 1, 10_000_000),
        _drawdown("draw:2", 2, 5_000_000),
        _accrual("accrual:1:2026-03-01", 1, 2_000),
        _accrual("accrual:2:2026-03-01", 2, 1_000),
        _repayment("repay:1:1", 1, 10_000_000, 2_000),
        _repayment("repay:2:1", 2, 1_000_000, 1_000),
    ]


# --- one entry at a time --------------------------------------------------------------------------------


def test_posting_a_balanced_entry_updates_the_balances(engine: Engine) -> None:
    with engine.begin() as conn:
        assert post_entry(conn, _drawdown("draw:1", 1, 10_000_000)) is True
    with engine.connect() as conn:
        tb = trial_balance(conn)
        assert tb.balances_fen == {Account.PRINCIPAL_RECEIVABLE: 10_000_000, Account.SETTLEMENT: -10_000_000}
        assert tb.balanced
        assert _counts(conn) == {"principal_receivable": 1, "settlement": 1}
        assert entry_count(conn) == 1


def test_the_same_key_twice_posts_once(engine: Engine) -> None:
    entry = _drawdown("draw:1", 1, 10_000_000)
    with engine.begin() as conn:
        assert post_entry(conn, entry) is True
        assert post_entry(conn, entry) is False  # in the same transaction
    with engine.begin() as conn:
        assert post_entry(conn, _drawdown("draw:1", 1, 99)) is False  # the key decides, not the content
    with engine.connect() as conn:
        assert entry_count(conn) == 1
        assert conn.scalar(select(func.count()).select_from(postings)) == 2
        assert trial_balance(conn).balances_fen[Account.SETTLEMENT] == -10_000_000


def test_the_trial_balance_equals_the_recomputed_one_and_the_pure_one(engine: Engine) -> None:
    book = _book()
    with engine.begin() as conn:
        assert [post_entry(conn, e) for e in book] == [True] * len(book)
    with engine.connect() as conn:
        stored = trial_balance(conn)
        assert stored == recomputed_trial_balance(conn) == pure_trial_balance(book)
        assert stored.balanced
        assert stored.normal_balance_fen(Account.INTEREST_INCOME) == 3_000
        assert stored.balances_fen[Account.INTEREST_RECEIVABLE] == 0  # accrued and repaid: the row stays, at zero


def test_balances_last_adds_the_block_s_postings_to_the_balances_as_it_ends(engine: Engine) -> None:
    book = _book()
    with engine.begin() as conn:
        post_entry(conn, book[0])  # outside the block: at once
        with balances_last(conn):
            assert [post_entry(conn, e) for e in book[1:]] == [True] * (len(book) - 1)
            assert post_entry(conn, book[1]) is False  # still idempotent by key
            assert trial_balance(conn) == pure_trial_balance(book[:1])  # the balances lag inside the block
        assert trial_balance(conn) == recomputed_trial_balance(conn) == pure_trial_balance(book)
    with engine.connect() as conn:
        assert trial_balance(conn) == recomputed_trial_balance(conn) == pure_trial_balance(book)
        assert sum(_counts(conn).values()) == sum(len(e.postings) for e in book)


def test_balances_last_adds_nothing_when_the_block_raises_and_does_not_nest(engine: Engine) -> None:
    with engine.connect() as conn:
        with pytest.raises(RuntimeError), conn.begin():
            with balances_last(conn):
                post_entry(conn, _drawdown("draw:1", 1, 10_000_000))
                raise RuntimeError("the work failed")
        with conn.begin():
            with balances_last(conn), pytest.raises(AssertionError, match="do not nest"), balances_last(conn):
                pass
        assert entry_count(conn) == 0 and trial_balance(conn).balances_fen == {}


def test_the_callers_rollback_undoes_the_entry_and_its_balances(engine: Engine) -> None:
    with engine.connect() as conn:
        with conn.begin() as tx:
            assert post_entry(conn, _drawdown("draw:1", 1, 500))
            tx.rollback()
        assert entry_count(conn) == 0
        assert trial_balance(conn) == TrialBalance({})
    with engine.begin() as conn:
        assert post_entry(conn, _drawdown("draw:1", 1, 500))  # the key is free again


def test_an_unbalanced_entry_cannot_be_constructed() -> None:
    with pytest.raises(AssertionError, match="unbalanced"):
        JournalEntry("bad:1", DAY, "accrual", (Posting(Account.INTEREST_RECEIVABLE, 100), Posting(Account.INTEREST_INCOME, -99)))
    with pytest.raises(AssertionError, match="on- and off-balance"):
        JournalEntry("bad:2", DAY, "accrual", (Posting(Account.INTEREST_RECEIVABLE, 100), Posting(Account.SUSPENDED_INTEREST_CONTRA, -100)))
    with pytest.raises(AssertionError):
        Posting(Account.SETTLEMENT, 0)


def test_a_tampered_unbalanced_entry_is_refused_before_anything_is_written(engine: Engine) -> None:
    entry = _drawdown("draw:1", 1, 500)
    object.__setattr__(entry, "postings", (Posting(Account.PRINCIPAL_RECEIVABLE, 500), Posting(Account.SETTLEMENT, -499)))
    with engine.begin() as conn:
        with pytest.raises(AssertionError, match="unbalanced"):
            post_entry(conn, entry)
        with pytest.raises(AssertionError, match="unbalanced"):
            post_entries(conn, [_drawdown("draw:0", 1, 1), entry])
    with engine.connect() as conn:
        assert entry_count(conn) == 0


def test_a_concurrent_duplicate_posts_once(engine: Engine) -> None:
    """The second writer checks before the first commits; on PostgreSQL its insert then waits on the
    key and, once the first commits, inserts nothing (ON CONFLICT DO NOTHING): False, and its
    transaction goes on. On SQLite it waits at BEGIN IMMEDIATE and its check finds the key."""
    entry = _drawdown("draw:race", 1, 700)
    outcome: dict[str, object] = {}

    def second() -> None:
        try:
            with engine.connect() as conn:
                outcome["pid"] = conn.execute(text("SELECT pg_backend_pid()")).scalar() if conn.dialect.name == "postgresql" else 0
                conn.commit()
                with conn.begin():
                    outcome["posted"] = post_entry(conn, entry)
                    post_entry(conn, _accrual("accrual:after-race", 1, 5))  # its transaction went on
        except BaseException as exc:  # reported to the main thread
            outcome["error"] = exc

    with engine.connect() as first:
        with first.begin():
            assert post_entry(first, entry)
            thread = threading.Thread(target=second)
            thread.start()
            _wait_until_blocked(engine, outcome)
    thread.join(timeout=30)
    assert not thread.is_alive()
    assert "error" not in outcome, outcome
    assert outcome["posted"] is False
    with engine.connect() as conn:
        assert entry_count(conn) == 2
        assert trial_balance(conn) == recomputed_trial_balance(conn)
        assert trial_balance(conn).balances_fen[Account.SETTLEMENT] == -700


def _wait_until_blocked(engine: Engine, outcome: dict[str, object]) -> None:
    """Until the second writer waits on a lock (PostgreSQL: its insert on the key; SQLite: a moment)."""
    if engine.dialect.name != "postgresql":
        time.sleep(0.3)
        return
    deadline = time.monotonic() + 10
    with engine.connect() as watcher:
        while time.monotonic() < deadline:
            pid = outcome.get("pid")
            if pid and watcher.execute(text("SELECT cardinality(pg_blocking_pids(:pid))"), {"pid": pid}).scalar():
                return
            watcher.rollback()
            time.sleep(0.01)
    raise AssertionError("the second writer never blocked on the first")


# --- append-only --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE postings SET amount_fen = amount_fen + 1",
        "DELETE FROM postings",
        "UPDATE journal_entries SET business_date = business_date",
        "UPDATE journal_entries SET kind = 'edited'",
        "DELETE FROM journal_entries",
    ],
)
def test_journal_entries_and_postings_refuse_update_and_delete(engine: Engine, statement: str) -> None:
    with engine.begin() as conn:
        post_entry(conn, _drawdown("draw:1", 1, 500))
    before = _snapshot(engine)
    with pytest.raises(IntegrityError, match="append-only"):
        with engine.begin() as conn:
            conn.execute(text(statement))
    assert _snapshot(engine) == before


@pytest.mark.parametrize("table", ["postings", "journal_entries"])
def test_the_journal_cannot_be_emptied(engine: Engine, table: str) -> None:
    """PostgreSQL's TRUNCATE fires no row triggers, so it has its own; SQLite has no TRUNCATE, and a
    DELETE without WHERE (its truncate optimisation) still fires the row triggers."""
    with engine.begin() as conn:
        post_entry(conn, _drawdown("draw:1", 1, 500))
    before = _snapshot(engine)
    statement = f"TRUNCATE {table} CASCADE" if engine.dialect.name == "postgresql" else f"DELETE FROM {table}"
    with pytest.raises(IntegrityError, match="append-only"):
        with engine.begin() as conn:
            conn.execute(text(statement))
    assert _snapshot(engine) == before and before[1]


def _snapshot(engine: Engine) -> tuple[list[tuple[object, ...]], list[tuple[object, ...]]]:
    with engine.connect() as conn:
        entries = [tuple(row) for row in conn.execute(select(journal_entries).order_by(journal_entries.c.id))]
        lines = [tuple(row) for row in conn.execute(select(postings).order_by(postings.c.id))]
    return entries, lines


# --- reading back -------------------------------------------------------------------------------------


def test_entries_for_a_loan_read_back_as_posted(engine: Engine) -> None:
    book = _book()
    with engine.begin() as conn:
        for entry in book:
            post_entry(conn, entry)
    with engine.connect() as conn:
        assert entries_for_loan(conn, 1) == [e for e in book if e.loan_id == 1]
        assert entries_for_loan(conn, 2) == [e for e in book if e.loan_id == 2]
        assert entries_for_loan(conn, 3) == []
        assert entries_for_loan(conn, 1)[0].line_id == 7


def test_loan_balances_sum_each_loans_postings_and_leave_out_zeros(engine: Engine) -> None:
    with engine.begin() as conn:
        post_entries(conn, _book())
        post_entry(conn, JournalEntry.of("transfer:none", DAY, "transfer", {Account.SETTLEMENT: 5, Account.SUSPENSE: -5}))  # type: ignore[arg-type]
    with engine.connect() as conn:
        assert loan_balances(conn, Account.PRINCIPAL_RECEIVABLE) == {2: 4_000_000}  # loan 1 repaid in full
        assert loan_balances(conn, Account.INTEREST_INCOME) == {1: -2_000, 2: -1_000}
        assert loan_balances(conn, Account.SUSPENSE) == {}  # no loan


# --- bulk ---------------------------------------------------------------------------------------------


def test_bulk_posting_equals_one_by_one_posting(engine: Engine) -> None:
    book = _book()
    with engine.connect() as conn:
        with conn.begin() as tx:
            for entry in book:
                post_entry(conn, entry)
            one_by_one = (trial_balance(conn), _counts(conn), [entries_for_loan(conn, i) for i in (1, 2)])
            tx.rollback()
        with conn.begin():
            assert post_entries(conn, book, chunk_entries=4) == len(book)
            bulk = (trial_balance(conn), _counts(conn), [entries_for_loan(conn, i) for i in (1, 2)])
            assert recomputed_trial_balance(conn) == bulk[0]
    assert bulk == one_by_one


def test_bulk_posting_skips_keys_already_present_and_repeated(engine: Engine) -> None:
    book = _book()
    with engine.begin() as conn:
        post_entry(conn, book[0])
        post_entry(conn, book[3])
    again = [*book, book[1], _drawdown("draw:2", 2, 1)]  # repeats, one with different content: the first wins
    with engine.begin() as conn:
        assert post_entries(conn, again, chunk_entries=2) == len(book) - 2
        assert post_entries(conn, again) == 0
        assert post_entries(conn, []) == 0
    with engine.connect() as conn:
        assert entry_count(conn) == len(book)
        assert trial_balance(conn) == recomputed_trial_balance(conn) == pure_trial_balance(book)


def _counts(conn: Connection) -> dict[str, int]:
    return {account: int(count) for account, count in conn.execute(select(account_balances.c.account, account_balances.c.postings_count))}


# --- properties ---------------------------------------------------------------------------------------


@contextmanager
def fresh_engine(db_url: str) -> Iterator[Engine]:
    """An empty, migrated database on ``db_url``'s backend (a new SQLite file, or a new PostgreSQL
    schema), removed afterwards: the journal is append-only, so examples cannot share one."""
    url = make_url(db_url)
    name = f"h_{secrets.token_hex(6)}"
    if url.get_backend_name() == "sqlite":
        assert url.database
        path = Path(url.database).with_name(f"{name}.db")
        engine = db.make_engine(f"sqlite:///{path}")
        try:
            db.upgrade(engine)
            yield engine
        finally:
            engine.dispose()
            for suffix in ("", "-wal", "-shm"):
                Path(f"{path}{suffix}").unlink(missing_ok=True)
        return
    admin = db.make_engine(db_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE SCHEMA "{name}"'))
    engine = db.make_engine(url.update_query_dict({"options": f"-csearch_path={name}"}))
    try:
        db.upgrade(engine)
        yield engine
    finally:
        engine.dispose()
        with admin.connect() as conn:
            conn.execute(text(f'DROP SCHEMA "{name}" CASCADE'))
        admin.dispose()


@st.composite
def entries(draw: st.DrawFn) -> JournalEntry:
    """A balanced entry from 1-6 legs, each a debit and a credit on the same side of the balance sheet;
    keys from a small pool, so duplicates are common."""
    legs: list[tuple[Account, int]] = []
    for _ in range(draw(st.integers(1, 6))):
        pool = draw(st.sampled_from([ON_BALANCE, OFF_BALANCE]))
        debit, credit = draw(st.lists(st.sampled_from(pool), min_size=2, max_size=2, unique=True))
        amount = draw(st.integers(1, 10**12))
        legs += [(debit, amount), (credit, -amount)]
    key = f"k:{draw(st.integers(0, 15))}"
    entry = JournalEntry.of(key, date(2026, 1, draw(st.integers(1, 31))), draw(st.sampled_from(["accrual", "repayment"])), legs, loan_id=draw(st.none() | st.integers(1, 4)))
    if entry is None:  # every leg cancelled out
        entry = _accrual(key, 1, 1)
    return entry


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(book=st.lists(entries(), max_size=25), split=st.integers(0, 25), chunk_entries=st.integers(1, 8))
def test_random_entries_keep_the_ledger_balanced_and_posted_once(db_url: str, book: list[JournalEntry], split: int, chunk_entries: int) -> None:
    first_by_key: dict[str, JournalEntry] = {}
    for entry in book:
        first_by_key.setdefault(entry.idempotency_key, entry)
    with fresh_engine(db_url) as engine:
        with engine.begin() as conn:
            posted = sum(post_entry(conn, e) for e in book[:split])
        with engine.begin() as conn:
            posted += post_entries(conn, book[split:], chunk_entries=chunk_entries)
        with engine.connect() as conn:
            stored = trial_balance(conn)
            assert stored.balanced
            assert stored == recomputed_trial_balance(conn) == pure_trial_balance(first_by_key.values())
            assert posted == entry_count(conn) == len(first_by_key)
            keys = conn.execute(select(journal_entries.c.idempotency_key, func.count()).group_by(journal_entries.c.idempotency_key))
            assert {k: n for k, n in keys} == {k: 1 for k in first_by_key}
            for loan_id in range(1, 5):
                assert entries_for_loan(conn, loan_id) == [e for e in first_by_key.values() if e.loan_id == loan_id]
