"""The ledger's persistence: append-only journal entries and postings, with running balances per account.

Every writer works inside the caller's transaction (``with engine.begin() as conn: post_entry(conn, e)``),
so an event and its ledger entry commit together or not at all. Posting is idempotent by the entry's
key: a replayed or concurrently duplicated event posts once and reports ``False``. ``account_balances``
is a running total kept beside the postings; :func:`recomputed_trial_balance` sums the postings
themselves, and the two must always agree.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from sqlalchemy import ColumnElement, Table, any_, bindparam, func, insert, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection

from smelend.ledger import Account, JournalEntry, Posting, TrialBalance
from smelend.store.db import copy_rows
from smelend.store.tables import (
    ACCOUNT_MAX_CHARS,
    LEDGER_KEY_MAX_CHARS,
    LEDGER_KIND_MAX_CHARS,
    account_balances,
    journal_entries,
    postings,
)

_DEFERRED_ENTRIES = "smelend.ledger.deferred_balance_entries"  # Connection.info key set by balances_last
BULK_CHUNK_ENTRIES = 10_000  # rows per round of the bulk path; well under both backends' bind-parameter limits
_ENTRY_COLUMNS = ("idempotency_key", "business_date", "kind", "loan_id", "line_id")
_POSTING_COLUMNS = ("entry_id", "account", "amount_fen", "loan_id")

# Statements built once: post_entry runs per event, and building and keying Core statements costs
# more than executing them on SQLite.
_INSERT_ENTRY_UNLESS_KEY_EXISTS = {
    name: dialect.insert(journal_entries)
    .on_conflict_do_nothing(index_elements=[journal_entries.c.idempotency_key])
    .returning(journal_entries.c.id)
    for name, dialect in (("postgresql", postgresql), ("sqlite", sqlite))
}
_INSERT_POSTINGS = insert(postings)


def _upsert_balance(dialect_insert: Callable[[Table], Any]) -> Any:
    """INSERT the account's row, or add to it when present (ON CONFLICT DO UPDATE: both backends)."""
    statement = dialect_insert(account_balances)
    return statement.on_conflict_do_update(
        index_elements=[account_balances.c.account],
        set_={
            "balance_fen": account_balances.c.balance_fen + statement.excluded.balance_fen,
            "postings_count": account_balances.c.postings_count + statement.excluded.postings_count,
        },
    )


_ADD_TO_BALANCE = {"postgresql": _upsert_balance(postgresql.insert), "sqlite": _upsert_balance(sqlite.insert)}


def post_entry(conn: Connection, entry: JournalEntry) -> bool:
    """Write ``entry`` and add its postings to the account balances; ``False`` (nothing written) when
    an entry with its idempotency key already exists, including one a concurrent transaction commits
    while this one inserts: the insert is ``ON CONFLICT DO NOTHING``, so the race ends in ``False``
    and the caller's transaction goes on.

    Not a savepoint per entry: on PostgreSQL each one is a subtransaction, and past 64 in one
    transaction they slow every statement (measured: 3,000 entries in one transaction post 5x slower).
    As with any database error, roll the transaction back if this raises.
    """
    _check(entry)
    entry_id = conn.scalar(_INSERT_ENTRY_UNLESS_KEY_EXISTS[conn.dialect.name], _entry_row(entry))
    if entry_id is None:  # the key is in the ledger already, or a concurrent transaction committed it meanwhile
        return False
    conn.execute(_INSERT_POSTINGS, [_posting_row(entry_id, entry.loan_id, p) for p in entry.postings])
    deferred = conn.info.get(_DEFERRED_ENTRIES)
    if deferred is None:
        _apply_deltas(conn, _deltas([entry]))
    else:
        deferred.append(entry)
    return True


@contextmanager
def balances_last(conn: Connection) -> Iterator[None]:
    """Within the block, :func:`post_entry` writes entries and postings at once but adds to
    ``account_balances`` only as the block ends: make it the last thing before COMMIT.

    Every money movement updates the same few balance rows, which on PostgreSQL stay locked from that
    update to the commit; a repayment that updated them first and then wrote its loan, line, repayment,
    audit and callback rows held every other repayment back that long (sampled under load: transactions
    waiting on the balance rows' lock while the holder sat idle in transaction). The balances are right
    again at commit, which is when anyone else can see them; inside the block they lag: read none there.
    On an exception nothing is added (the caller's transaction rolls back anyway).
    """
    assert _DEFERRED_ENTRIES not in conn.info, "balances_last blocks do not nest"
    deferred: list[JournalEntry] = []
    conn.info[_DEFERRED_ENTRIES] = deferred
    try:
        yield
    finally:
        del conn.info[_DEFERRED_ENTRIES]
    _apply_deltas(conn, _deltas(deferred))


def post_entries(conn: Connection, entries: Sequence[JournalEntry], chunk_entries: int = BULK_CHUNK_ENTRIES) -> int:
    """Bulk :func:`post_entry` for close of business; returns how many entries were written.

    Keys already in the ledger (or repeated within ``entries``: the first wins) are skipped, as
    one-by-one posting would skip them. Each chunk costs one look-up of its keys, one bulk insert of
    its entries, one read-back of their ids and one bulk insert of their postings; the balances move
    once per account at the end. Meant for the single close-of-business writer: a concurrent writer
    of the same keys makes this raise (and the caller roll back) rather than skip.
    """
    assert 1 <= chunk_entries <= BULK_CHUNK_ENTRIES, chunk_entries
    seen: set[str] = set()
    written: list[JournalEntry] = []
    for start in range(0, len(entries), chunk_entries):
        chunk = entries[start : start + chunk_entries]
        for entry in chunk:
            _check(entry)
        keys = [e.idempotency_key for e in chunk]
        present = set(conn.scalars(select(journal_entries.c.idempotency_key).where(_key_in(conn, keys))))
        fresh: list[JournalEntry] = []
        for entry in chunk:
            if entry.idempotency_key not in present and entry.idempotency_key not in seen:
                seen.add(entry.idempotency_key)
                fresh.append(entry)
        if not fresh:
            continue
        _bulk_insert(conn, journal_entries, _ENTRY_COLUMNS, [(e.idempotency_key, e.business_date, e.kind, e.loan_id, e.line_id) for e in fresh])
        # Ids read back by key: RETURNING with executemany degrades to one statement per row on SQLite.
        ids = select(journal_entries.c.idempotency_key, journal_entries.c.id).where(_key_in(conn, [e.idempotency_key for e in fresh]))
        id_of: dict[str, int] = {key: entry_id for key, entry_id in conn.execute(ids)}
        assert len(id_of) == len(fresh), (len(id_of), len(fresh))
        _bulk_insert(conn, postings, _POSTING_COLUMNS, [(id_of[e.idempotency_key], p.account.value, p.amount_fen, e.loan_id) for e in fresh for p in e.postings])
        written.extend(fresh)
    _apply_deltas(conn, _deltas(written))
    return len(written)


# --- reading ------------------------------------------------------------------------------------------


def trial_balance(conn: Connection) -> TrialBalance:
    """The running balances (debit-positive), one per account ever posted to."""
    rows = conn.execute(select(account_balances.c.account, account_balances.c.balance_fen).order_by(account_balances.c.account))
    return TrialBalance({Account(account): int(balance) for account, balance in rows})


def recomputed_trial_balance(conn: Connection) -> TrialBalance:
    """The trial balance summed from the postings themselves: what :func:`trial_balance` must equal."""
    total = func.sum(postings.c.amount_fen)
    rows = conn.execute(select(postings.c.account, total).group_by(postings.c.account).order_by(postings.c.account))
    return TrialBalance({Account(account): int(balance) for account, balance in rows})


def loan_balances(conn: Connection, account: Account) -> dict[int, int]:
    """Debit-positive balance of ``account`` per loan, from the postings, to reconcile with the loan book.

    Loans whose postings on ``account`` net to zero are left out, so a repaid loan needs no row.
    """
    total = func.sum(postings.c.amount_fen)
    rows = conn.execute(
        select(postings.c.loan_id, total)
        .where(postings.c.account == account.value, postings.c.loan_id.is_not(None))
        .group_by(postings.c.loan_id)
        .having(total != 0)
        .order_by(postings.c.loan_id)
    )
    return {int(loan_id): int(balance) for loan_id, balance in rows}


def entry_count(conn: Connection) -> int:
    return int(conn.scalar(select(func.count()).select_from(journal_entries)) or 0)


def entries_for_loan(conn: Connection, loan_id: int) -> list[JournalEntry]:
    """The loan's entries in posting order, each with its postings in the order they were written."""
    rows = conn.execute(
        select(journal_entries, postings.c.account, postings.c.amount_fen)
        .join(postings, postings.c.entry_id == journal_entries.c.id)
        .where(journal_entries.c.loan_id == loan_id)
        .order_by(journal_entries.c.id, postings.c.id)
    ).mappings()
    grouped: dict[int, tuple[dict[str, object], list[Posting]]] = {}
    for row in rows:
        head, lines = grouped.setdefault(row["id"], (dict(row), []))
        lines.append(Posting(Account(row["account"]), int(row["amount_fen"])))
    return [
        JournalEntry(
            str(head["idempotency_key"]), head["business_date"], str(head["kind"]), tuple(lines), head["loan_id"], head["line_id"]  # type: ignore[arg-type]
        )
        for head, lines in grouped.values()
    ]


# --- internals ----------------------------------------------------------------------------------------


def _check(entry: JournalEntry) -> None:
    """Re-assert what the store relies on: balanced, and within the column limits."""
    assert sum(p.amount_fen for p in entry.postings) == 0, f"unbalanced entry {entry.idempotency_key}"
    assert 0 < len(entry.idempotency_key) <= LEDGER_KEY_MAX_CHARS, entry.idempotency_key
    assert 0 < len(entry.kind) <= LEDGER_KIND_MAX_CHARS, entry.kind


def _entry_row(entry: JournalEntry) -> dict[str, object]:
    return {
        "idempotency_key": entry.idempotency_key,
        "business_date": entry.business_date,
        "kind": entry.kind,
        "loan_id": entry.loan_id,
        "line_id": entry.line_id,
    }


def _posting_row(entry_id: int, loan_id: int | None, posting: Posting) -> dict[str, object]:
    return {"entry_id": entry_id, "account": posting.account.value, "amount_fen": posting.amount_fen, "loan_id": loan_id}


def _key_in(conn: Connection, keys: list[str]) -> ColumnElement[bool]:
    """``idempotency_key IN keys``; on PostgreSQL as ``= ANY(array)``, one parameter instead of thousands."""
    column = journal_entries.c.idempotency_key
    if conn.dialect.name == "postgresql":
        return column == any_(bindparam("keys", keys, type_=postgresql.ARRAY(column.type)))
    return column.in_(keys)


def _bulk_insert(conn: Connection, table: Table, columns: Sequence[str], rows: list[tuple[object, ...]]) -> None:
    """Insert many rows by the fastest route each driver offers, in the caller's transaction: COPY on
    PostgreSQL, the driver's own executemany on SQLite (both several times faster than Core's
    per-row parameter handling, which dominates at a million rows)."""
    if conn.dialect.name == "postgresql":
        copy_rows(conn, table.name, columns, rows)
        return
    compiled = insert(table).compile(dialect=conn.dialect, column_keys=list(columns))
    assert compiled.positional and list(compiled.positiontup or ()) == list(columns), compiled.positiontup
    processors = [table.c[name].type.bind_processor(conn.dialect) for name in columns]
    if any(processors):
        rows = [tuple(v if f is None or v is None else f(v) for f, v in zip(processors, row)) for row in rows]
    conn.exec_driver_sql(compiled.string, rows)


def _deltas(entries: Iterable[JournalEntry]) -> dict[str, tuple[int, int]]:
    """Net amount and number of postings per account."""
    amounts: dict[str, int] = defaultdict(int)
    counts: dict[str, int] = defaultdict(int)
    for entry in entries:
        for posting in entry.postings:
            amounts[posting.account.value] += posting.amount_fen
            counts[posting.account.value] += 1
    return {account: (amounts[account], counts[account]) for account in amounts}


def _apply_deltas(conn: Connection, deltas: dict[str, tuple[int, int]]) -> None:
    """Add the deltas to account_balances in one upsert, creating missing rows; accounts in sorted
    order, so two writers always lock balance rows in the same order and cannot deadlock each other."""
    if not deltas:
        return
    accounts = sorted(deltas)
    assert all(len(a) <= ACCOUNT_MAX_CHARS for a in accounts), accounts
    conn.execute(_ADD_TO_BALANCE[conn.dialect.name], [{"account": a, "balance_fen": deltas[a][0], "postings_count": deltas[a][1]} for a in accounts])
