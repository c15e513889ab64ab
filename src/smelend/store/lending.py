"""The loan book in the database: business day, credit lines, loans and their installments.

Loans are read into :class:`~smelend.servicing.loan.LoanState` and written back with guarded
updates: a loan row changes only if its version is the one that was read, and a line's used amount
only if it stays within the limit, each checked by the row count. Every function works inside the
caller's transaction.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import date
from decimal import Decimal

from sqlalchemy import Update, bindparam, delete, func, insert, select, update
from sqlalchemy import Table
from sqlalchemy.engine import Connection, RowMapping

from smelend.errors import InvalidInput
from smelend.money import format_yuan
from smelend.servicing.conventions import Method, conventions_from_settings, conventions_to_settings
from smelend.servicing.credit_line import CreditLine, LineStatus
from smelend.servicing.loan import LoanInstallment, LoanState, LoanStatus, LoanTermsOnFile, PrepaymentEffect
from smelend.servicing.schedule import LoanTerms
from smelend.store.tables import business_day, credit_lines, installments, loans, repayments


class ConcurrentChange(RuntimeError):
    """A guarded update matched no row: someone else changed it first. Retry the whole operation."""


# --- business day ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class BusinessDay:
    business_date: date | None  # None until the first dated operation
    last_closed: date | None


# Hot statements are built once, with bound parameters: building a statement and its cache key costs
# more than running it on SQLite (about 100 µs against 30 µs), and the service runs them on every request.
_BUSINESS_DAY = select(business_day.c.business_date, business_day.c.last_closed).where(business_day.c.id == 1)
_BUSINESS_DAY_LOCKED = _BUSINESS_DAY.with_for_update()


def get_business_day(conn: Connection, for_update: bool = False) -> BusinessDay:
    row = conn.execute(_BUSINESS_DAY_LOCKED if for_update and conn.dialect.name == "postgresql" else _BUSINESS_DAY).first()
    return BusinessDay(row.business_date, row.last_closed) if row else BusinessDay(None, None)


def set_business_day(conn: Connection, day: BusinessDay) -> None:
    assert day.business_date is not None
    assert day.last_closed is None or day.last_closed < day.business_date, day
    current = get_business_day(conn)
    if current.business_date is None:
        conn.execute(insert(business_day).values(id=1, business_date=day.business_date, last_closed=day.last_closed))
        return
    assert day.business_date >= current.business_date, "the business date only moves forward"
    done = conn.execute(
        update(business_day)
        .where(business_day.c.id == 1, business_day.c.business_date == current.business_date)
        .values(business_date=day.business_date, last_closed=day.last_closed)
    )
    if done.rowcount != 1:
        raise ConcurrentChange("business day")


# --- credit lines ---------------------------------------------------------------------------------------


def insert_line(conn: Connection, enterprise_id: int, product_id: str, limit_fen: int, annual_rate: Decimal, start: date, end: date) -> int:
    result = conn.execute(
        insert(credit_lines).values(
            enterprise_id=enterprise_id, product_id=product_id, limit_fen=limit_fen, used_fen=0,
            annual_rate=str(annual_rate), start_date=start, end_date=end, status=LineStatus.ACTIVE.value,
        )
    )
    return int(result.inserted_primary_key[0])


_BY_ID = {
    (table.name, locked): (select(table).where(table.c.id == bindparam("row_id")).with_for_update() if locked else select(table).where(table.c.id == bindparam("row_id")))
    for table in (credit_lines, loans) for locked in (False, True)
}


def _row_by_id(conn: Connection, table: Table, row_id: int, for_update: bool, field: str, what: str) -> RowMapping:
    """One row, locked on PostgreSQL when asked (SQLite's BEGIN IMMEDIATE already serialises), or an error."""
    statement = _BY_ID[table.name, for_update and conn.dialect.name == "postgresql"]
    row = conn.execute(statement, {"row_id": row_id}).mappings().first()
    if row is None:
        raise InvalidInput.one(field, f"no {what} with id {row_id}")
    return row


def get_line(conn: Connection, line_id: int, for_update: bool = False) -> CreditLine:
    row = _row_by_id(conn, credit_lines, line_id, for_update, "line", "credit line")
    return CreditLine(row["id"], row["enterprise_id"], row["product_id"], row["limit_fen"], row["used_fen"], Decimal(row["annual_rate"]), row["start_date"], row["end_date"], LineStatus(row["status"]))


_RESERVE = (
    update(credit_lines)
    .where(
        credit_lines.c.id == bindparam("line_id"),
        credit_lines.c.status == LineStatus.ACTIVE.value,
        credit_lines.c.used_fen + bindparam("amount_fen") <= credit_lines.c.limit_fen,
        credit_lines.c.target_limit_fen.is_(None),  # a decrease still stepping down: no new draws
    )
    .values(used_fen=credit_lines.c.used_fen + bindparam("amount_fen"), version=credit_lines.c.version + 1)
)
_RELEASE = (
    update(credit_lines)
    .where(credit_lines.c.id == bindparam("line_id"), credit_lines.c.used_fen >= bindparam("amount_fen"))
    .values(used_fen=credit_lines.c.used_fen - bindparam("amount_fen"), version=credit_lines.c.version + 1)
    .returning(credit_lines.c.target_limit_fen)
)


def reserve(conn: Connection, line_id: int, amount_fen: int) -> None:
    """Add to used only if the line is active, stays within its limit and has no decrease still stepping
    down to its target; otherwise say why."""
    done = conn.execute(_RESERVE, {"line_id": line_id, "amount_fen": amount_fen})
    if done.rowcount != 1:
        line = get_line(conn, line_id)
        line.refuse_draw(amount_fen, line.start)
        refuse_if_stepping_down(conn, line_id)
        raise ConcurrentChange(f"line {line_id}")


def refuse_if_stepping_down(conn: Connection, line_id: int) -> None:
    """A line whose decided decrease is still stepping down (its target pending) takes no draws."""
    target = conn.scalar(select(credit_lines.c.target_limit_fen).where(credit_lines.c.id == line_id))
    if target is not None:
        raise InvalidInput.one("line", f"is stepping down to its decided limit of {format_yuan(target)} as it is repaid: no draws until then")


def release(conn: Connection, line_id: int, amount_fen: int) -> None:
    """Give principal back to the line (repaid, or a draw that never went out); a line with a pending
    target (a decrease capped at used) steps its limit down towards it, recorded as a change
    (:func:`smelend.store.line_changes.step_down`)."""
    if amount_fen == 0:
        return
    released = conn.execute(_RELEASE, {"line_id": line_id, "amount_fen": amount_fen}).first()
    assert released is not None, f"line {line_id} would go below zero used"
    if released.target_limit_fen is None:
        return  # no pending target (the usual case): nothing to step down, and no second look at the line
    from smelend.store.line_changes import step_down  # line changes import the pure core and the outbox

    step_down(conn, line_id)


def set_line_status(conn: Connection, line_id: int, status: LineStatus, allowed_from: Iterable[LineStatus]) -> CreditLine:
    done = conn.execute(
        update(credit_lines)
        .where(credit_lines.c.id == line_id, credit_lines.c.status.in_([s.value for s in allowed_from]))
        .values(status=status.value, version=credit_lines.c.version + 1)
    )
    line = get_line(conn, line_id)
    if done.rowcount != 1:
        raise InvalidInput.one("line", f"is {line.status.value}: cannot become {status.value}")
    return line


def expire_lines(conn: Connection, closed_day: date) -> int:
    """Lines whose validity ended with ``closed_day`` expire; their loans run on."""
    done = conn.execute(
        update(credit_lines)
        .where(credit_lines.c.end_date <= closed_day, credit_lines.c.status != LineStatus.EXPIRED.value)
        .values(status=LineStatus.EXPIRED.value, version=credit_lines.c.version + 1)
    )
    return int(done.rowcount)


# --- loans ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class StoredLoan:
    state: LoanState
    version: int
    auto_debit: bool


@dataclass(frozen=True)
class LoanHead:
    """What a check before money moves needs of a loan, without its installments (a wide row and a query)."""

    line_id: int
    status: LoanStatus
    start: date


_LOAN_HEAD = select(loans.c.line_id, loans.c.status, loans.c.start_date).where(loans.c.id == bindparam("loan_id"))


def loan_head(conn: Connection, loan_id: int) -> LoanHead:
    row = conn.execute(_LOAN_HEAD, {"loan_id": loan_id}).first()
    if row is None:
        raise InvalidInput.one("loan", f"no loan with id {loan_id}")
    return LoanHead(row.line_id, LoanStatus(row.status), row.start_date)


NEW_LOAN_VERSION = 1  # the loans.version a new row gets (server default)
_LOAN_VERSION = {
    locked: select(loans.c.version).where(loans.c.id == bindparam("loan_id")).with_for_update() if locked else select(loans.c.version).where(loans.c.id == bindparam("loan_id"))
    for locked in (False, True)
}


def loan_version(conn: Connection, loan_id: int, for_update: bool = False) -> int | None:
    """The loan's version (locked on PostgreSQL when asked), None if there is no such loan: whether a loan a
    caller holds in memory is still the stored one, without reading back its row and installments."""
    version = conn.scalar(_LOAN_VERSION[for_update and conn.dialect.name == "postgresql"], {"loan_id": loan_id})
    return None if version is None else int(version)


_INSERT_LOAN = insert(loans).returning(loans.c.id)
_INSERT_INSTALLMENTS = insert(installments)
_INSTALLMENTS_OF_LOAN = select(installments).where(installments.c.loan_id == bindparam("loan_id")).order_by(installments.c.number)


def insert_loan(conn: Connection, state: LoanState, auto_debit: bool = False) -> LoanState:
    """Store a new loan and its installments; returns the state with its database id."""
    terms = state.terms
    contract = state.contract
    loan_id = conn.execute(_INSERT_LOAN, dict(
        line_id=state.line_id, status=state.status.value, method=terms.method.value, term=terms.periods,
        principal_fen=terms.principal_fen, annual_rate=str(terms.annual_rate), penalty_rate=str(contract.penalty_rate),
        compound_overdue_interest=contract.compound_overdue_interest, grace_days=contract.grace_days,
        prepayment=contract.prepayment.value, conventions=json.dumps(conventions_to_settings(terms.conventions), sort_keys=True),
        start_date=terms.start, auto_debit=auto_debit, principal_outstanding_fen=state.principal_outstanding_fen, flags=",".join(sorted(state.flags)),
    )).scalar_one()
    state = _with_id(state, loan_id)
    conn.execute(_INSERT_INSTALLMENTS, [_installment_row(loan_id, i) for i in state.installments])
    return state


def _with_id(state: LoanState, loan_id: int) -> LoanState:
    return replace(state, id=loan_id)


def load_loan(conn: Connection, loan_id: int, for_update: bool = False) -> StoredLoan:
    row = _row_by_id(conn, loans, loan_id, for_update, "loan", "loan")
    rows = conn.execute(_INSTALLMENTS_OF_LOAN, {"loan_id": loan_id}).mappings().all()
    return StoredLoan(_state(row, rows), row["version"], row["auto_debit"])


def line_of_loan(conn: Connection, loan_id: int) -> int:
    """The line a loan was drawn on: the first lock to take (line, then loan) without loading the loan."""
    line_id = conn.scalar(select(loans.c.line_id).where(loans.c.id == loan_id))
    if line_id is None:
        raise InvalidInput.one("loan", f"no loan with id {loan_id}")
    return int(line_id)


def load_loans(conn: Connection, loan_ids: list[int]) -> list[StoredLoan]:
    """Many loans in two queries (close of business reads the book in chunks)."""
    if not loan_ids:
        return []
    rows = conn.execute(select(loans).where(loans.c.id.in_(loan_ids)).order_by(loans.c.id)).mappings().all()
    by_loan: dict[int, list] = {i: [] for i in loan_ids}
    for inst in conn.execute(select(installments).where(installments.c.loan_id.in_(loan_ids)).order_by(installments.c.loan_id, installments.c.number)).mappings():
        by_loan[inst["loan_id"]].append(inst)
    return [StoredLoan(_state(row, by_loan[row["id"]]), row["version"], row["auto_debit"]) for row in rows]


LOAN_STATE_COLUMNS = (  # what servicing changes on a loan: the keys of _loan_values
    "status", "closed_through", "principal_outstanding_fen", "interest_receivable_fen", "suspended_interest_fen",
    "penalty_receivable_fen", "suspended_penalty_fen", "interest_carry", "penalty_carry", "days_past_due", "category",
    "flags", "provision_fen", "credit_balance_fen", "written_off_fen",
)
_SAVE_LOAN = (  # guarded by the version the writer read
    update(loans)
    .where(loans.c.id == bindparam("b_id"), loans.c.version == bindparam("b_version"))
    .values(version=bindparam("b_next"), **{k: bindparam(k) for k in LOAN_STATE_COLUMNS})
)


def save_loan(conn: Connection, stored: StoredLoan, state: LoanState) -> StoredLoan:
    """Write ``state`` over ``stored`` if nobody changed the loan meanwhile (version guard)."""
    assert state.id == stored.state.id
    values = _loan_values(state)
    assert tuple(values) == LOAN_STATE_COLUMNS, "every column the guarded update writes, and only those"
    done = conn.execute(_SAVE_LOAN, {"b_id": state.id, "b_version": stored.version, "b_next": stored.version + 1, **values})
    if done.rowcount != 1:
        raise ConcurrentChange(f"loan {state.id}")
    if state.installments != stored.state.installments:
        _save_installments(conn, state, stored.state)
    return StoredLoan(state, stored.version + 1, stored.auto_debit)


def save_loans(conn: Connection, stored: list[StoredLoan], states: list[LoanState]) -> None:
    """Write many loans at once (close of business), each guarded by its version, in two executemany calls."""
    assert len(stored) == len(states)
    if not states:
        return
    loan_rows = []
    installment_rows = []
    for before, after in zip(stored, states):
        assert before.state.id == after.id
        assert [i.number for i in before.state.installments] == [i.number for i in after.installments], "close of business never reschedules"
        loan_rows.append({"b_id": after.id, "b_version": before.version, "b_next": before.version + 1, **_loan_values(after)})
        for old, new in zip(before.state.installments, after.installments):
            if old != new:
                installment_rows.append({"b_loan": after.id, "b_number": new.number, "interest_fen": new.interest_fen, "accrued_interest_fen": new.accrued_interest_fen})
    done = conn.execute(_SAVE_LOAN, loan_rows)
    if done.rowcount not in (-1, len(loan_rows)):
        raise ConcurrentChange(f"{len(loan_rows) - done.rowcount} of {len(loan_rows)} loans changed during close of business")
    if installment_rows:
        conn.execute(
            update(installments)
            .where(installments.c.loan_id == bindparam("b_loan"), installments.c.number == bindparam("b_number"))
            .values(interest_fen=bindparam("interest_fen"), accrued_interest_fen=bindparam("accrued_interest_fen")),
            installment_rows,
        )


def _update_installment_statement() -> Update:
    columns = [c.name for c in installments.c if c.name not in ("id", "loan_id", "number")]
    return (
        update(installments)
        .where(installments.c.loan_id == bindparam("b_loan"), installments.c.number == bindparam("b_number"))
        .values(**{c: bindparam(c) for c in columns})
    )


_UPDATE_INSTALLMENT = _update_installment_statement()


def _save_installments(conn: Connection, state: LoanState, before: LoanState) -> None:
    old = {i.number: i for i in before.installments}
    new = {i.number: i for i in state.installments}
    gone = [n for n in old if n not in new]
    if gone:
        conn.execute(delete(installments).where(installments.c.loan_id == state.id, installments.c.number.in_(gone)))
    added = [_installment_row(state.id, i) for n, i in new.items() if n not in old]
    changed = [{"b_loan": state.id, "b_number": n, **_installment_row(state.id, i)} for n, i in new.items() if n in old and old[n] != i]
    if added:
        conn.execute(_INSERT_INSTALLMENTS, added)
    if changed:
        conn.execute(_UPDATE_INSTALLMENT, changed)


def active_loan_ids(conn: Connection, not_closed_through: date, limit: int, after_id: int = 0) -> list[int]:
    """Active loans close of business still has to close for ``not_closed_through`` (keyset-paged)."""
    query = (
        select(loans.c.id)
        .where(
            loans.c.status == LoanStatus.ACTIVE.value,
            loans.c.id > after_id,
            (loans.c.closed_through.is_(None)) | (loans.c.closed_through < not_closed_through),
        )
        .order_by(loans.c.id)
        .limit(limit)
    )
    return list(conn.execute(query).scalars())


def auto_debit_loans_due(conn: Connection, day: date) -> list[int]:
    """Auto-debit loans with something due on or before ``day`` and unpaid."""
    query = (
        select(loans.c.id)
        .join(installments, installments.c.loan_id == loans.c.id)
        .where(
            loans.c.status == LoanStatus.ACTIVE.value,
            loans.c.auto_debit.is_(True),
            installments.c.due_date <= day,
            (installments.c.paid_principal_fen < installments.c.principal_fen) | (installments.c.paid_interest_fen < installments.c.interest_fen),
        )
        .group_by(loans.c.id)
        .order_by(loans.c.id)
    )
    return list(conn.execute(query).scalars())


def loans_of_line(conn: Connection, line_id: int) -> list[int]:
    return list(conn.execute(select(loans.c.id).where(loans.c.line_id == line_id).order_by(loans.c.id)).scalars())


def book_totals(conn: Connection) -> dict[str, int]:
    """Sums over the loan book, compared with the ledger by reconciliation."""
    row = conn.execute(
        select(
            func.coalesce(func.sum(loans.c.principal_outstanding_fen), 0).label("principal"),
            func.coalesce(func.sum(loans.c.interest_receivable_fen), 0).label("interest"),
            func.coalesce(func.sum(loans.c.penalty_receivable_fen), 0).label("penalty"),
            func.coalesce(func.sum(loans.c.provision_fen), 0).label("provision"),
            func.coalesce(func.sum(loans.c.credit_balance_fen), 0).label("credit"),
        ).where(loans.c.status.in_([LoanStatus.ACTIVE.value, LoanStatus.CLOSED.value]))
    ).one()
    return {k: int(v) for k, v in row._mapping.items()}


_INSERT_REPAYMENT = insert(repayments).returning(repayments.c.id)


def record_repayment(conn: Connection, loan_id: int, instruction_id: str, day: date, channel: str, amount_fen: int, parts: dict[str, int]) -> int:
    row = {"loan_id": loan_id, "instruction_id": instruction_id, "business_date": day, "channel": channel, "amount_fen": amount_fen, **parts}
    return int(conn.execute(_INSERT_REPAYMENT, row).scalar_one())


def repayment_exists(conn: Connection, instruction_id: str) -> bool:
    return conn.execute(select(repayments.c.id).where(repayments.c.instruction_id == instruction_id)).first() is not None


# --- row mapping ----------------------------------------------------------------------------------------


def _loan_values(state: LoanState) -> dict[str, object]:
    return {  # in LOAN_STATE_COLUMNS' order
        "status": state.status.value,
        "closed_through": state.closed_through,
        "principal_outstanding_fen": 0 if state.status is LoanStatus.WRITTEN_OFF else state.principal_outstanding_fen,
        "interest_receivable_fen": state.interest_receivable_fen,
        "suspended_interest_fen": state.suspended_interest_fen,
        "penalty_receivable_fen": state.penalty_receivable_fen,
        "suspended_penalty_fen": state.suspended_penalty_fen,
        "interest_carry": state.interest_carry,
        "penalty_carry": state.penalty_carry,
        "days_past_due": state.days_past_due,
        "category": state.category,
        "flags": ",".join(sorted(state.flags)),
        "provision_fen": state.provision_fen,
        "credit_balance_fen": state.credit_balance_fen,
        "written_off_fen": state.written_off_fen,
    }


def _installment_row(loan_id: int, i: LoanInstallment) -> dict[str, object]:
    return {
        "loan_id": loan_id, "number": i.number, "period_start": i.period_start, "due_date": i.due_date,
        "principal_fen": i.principal_fen, "interest_fen": i.interest_fen, "fee_fen": i.fee_fen,
        "accrued_interest_fen": i.accrued_interest_fen, "paid_principal_fen": i.paid_principal_fen,
        "paid_interest_fen": i.paid_interest_fen, "paid_fee_fen": i.paid_fee_fen,
        "accrual_start": i.accrual_start, "accrued_at_start_fen": i.accrued_at_start_fen,
    }


def _state(row, rows) -> LoanState:
    terms = LoanTerms(row["principal_fen"], Decimal(row["annual_rate"]), row["term"], Method(row["method"]), row["start_date"], conventions_from_settings(json.loads(row["conventions"])))
    contract = LoanTermsOnFile(terms, Decimal(row["penalty_rate"]), row["compound_overdue_interest"], row["grace_days"], PrepaymentEffect(row["prepayment"]))
    return LoanState(
        id=row["id"],
        line_id=row["line_id"],
        contract=contract,
        installments=tuple(
            LoanInstallment(
                r["number"], r["period_start"], r["due_date"], r["principal_fen"], r["interest_fen"], r["fee_fen"],
                r["accrued_interest_fen"], r["paid_principal_fen"], r["paid_interest_fen"], r["paid_fee_fen"],
                r["accrual_start"], r["accrued_at_start_fen"],
            )
            for r in rows
        ),
        status=LoanStatus(row["status"]),
        closed_through=row["closed_through"],
        interest_receivable_fen=row["interest_receivable_fen"],
        suspended_interest_fen=row["suspended_interest_fen"],
        penalty_receivable_fen=row["penalty_receivable_fen"],
        suspended_penalty_fen=row["suspended_penalty_fen"],
        interest_carry=row["interest_carry"],
        penalty_carry=row["penalty_carry"],
        days_past_due=row["days_past_due"],
        category=row["category"],
        flags=frozenset(f for f in row["flags"].split(",") if f),
        provision_fen=row["provision_fen"],
        credit_balance_fen=row["credit_balance_fen"],
        written_off_fen=row["written_off_fen"],
    )
