"""Persons and enterprises: small functions over a Connection (SQLAlchemy Core), one job each.

Every writer validates all of its input first and raises :class:`~smelend.errors.InvalidInput` naming
the fields before anything is written; a duplicate is reported the same way, never as a database
error. Transactions belong to the caller (``with engine.begin() as conn: ...``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import bindparam, func, select
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Connection, RowMapping

from smelend.errors import Collector, InvalidInput
from smelend.ids import mobile as mobile_ids
from smelend.ids import ric, uscc as uscc_ids
from smelend.store import pii
from smelend.store.tables import ENTERPRISE_NAME_MAX_CHARS, NAME_MAX_CHARS, enterprises, persons

BANK_ACCOUNT_DIGITS = (8, 32)  # Chinese card numbers are 16-19 digits; settlement accounts run longer

RESIDENT_ID_PURPOSE = "persons.resident_id"
MOBILE_PURPOSE = "persons.mobile"


@dataclass(frozen=True, repr=False)
class Person:
    """A person with PII decrypted. ``repr`` masks it, so a person printed to a log leaks nothing."""

    id: int
    name: str
    resident_id: str
    mobile: str
    bank_account: str | None
    created_at: datetime

    def __repr__(self) -> str:
        account = None if self.bank_account is None else "****" + self.bank_account[-4:]
        return (
            f"Person(id={self.id}, name={self.name[:1] + '*' * (len(self.name) - 1)!r}, "
            f"resident_id={ric.mask(self.resident_id)!r}, mobile={mobile_ids.mask(self.mobile)!r}, "
            f"bank_account={account!r})"
        )


@dataclass(frozen=True)
class Enterprise:
    id: int
    uscc: str
    name: str
    owner_person_id: int | None
    created_at: datetime


# Built once: origination runs them on every application.
# Inserts that skip a duplicate of the unique key (no row comes back) instead of failing: a duplicate is then
# told apart without a savepoint around the insert (two more round trips) to keep the caller's transaction usable.
_INSERT_PERSON = {
    "sqlite": sqlite_insert(persons).on_conflict_do_nothing().returning(persons.c.id),
    "postgresql": postgresql_insert(persons).on_conflict_do_nothing().returning(persons.c.id),
}
_PERSON_BY_ID_HASH = select(persons).where(persons.c.resident_id_hash == bindparam("hash"))
_PERSON_EXISTS = select(persons.c.id).where(persons.c.id == bindparam("id"))
_INSERT_ENTERPRISE = {
    "sqlite": sqlite_insert(enterprises).on_conflict_do_nothing().returning(*enterprises.c),
    "postgresql": postgresql_insert(enterprises).on_conflict_do_nothing().returning(*enterprises.c),
}
_ENTERPRISE_BY_USCC = select(enterprises).where(enterprises.c.uscc == bindparam("uscc"))


# --- persons ------------------------------------------------------------------------------------------


def add_person(conn: Connection, name: str, resident_id: str, mobile: str, bank_account: str | None = None) -> int:
    """Register a person; returns the new id. Resident IDs are unique ("already registered" otherwise)."""
    new_id = add_person_if_new(conn, name, resident_id, mobile, bank_account)
    if new_id is None:
        raise InvalidInput.one("resident_id", "already registered")
    return new_id


def add_person_if_new(conn: Connection, name: str, resident_id: str, mobile: str, bank_account: str | None = None) -> int | None:
    """Register a person; the new id, or None when the resident ID is registered already — also by a
    concurrent transaction that committed while this one waited on the unique key (PostgreSQL), which a
    look-up beforehand cannot see. Bad input is refused, every field at once."""
    errors = Collector()
    clean_name = _name(errors, "name", name, NAME_MAX_CHARS)
    clean_id = _checked(errors, lambda: ric.validate(resident_id, field="resident_id"))
    clean_mobile = _checked(errors, lambda: mobile_ids.validate(mobile, field="mobile"))
    clean_account = _bank_account(errors, bank_account)
    errors.raise_if_any()
    assert clean_name is not None and clean_id is not None and clean_mobile is not None

    id_hash = pii.lookup_hash(clean_id, RESIDENT_ID_PURPOSE)
    row = {
        "name": clean_name, "resident_id": clean_id, "resident_id_hash": id_hash, "mobile": clean_mobile,
        "mobile_hash": pii.lookup_hash(clean_mobile, MOBILE_PURPOSE), "bank_account": clean_account,
    }
    new_id = conn.execute(_INSERT_PERSON[conn.dialect.name], row).scalar()
    return None if new_id is None else int(new_id)  # None: a duplicate of the only unique key, nothing written


def find_person_by_resident_id(conn: Connection, resident_id: str) -> Person | None:
    """The person with this resident ID, found through its keyed hash (the ciphertext is not searchable)."""
    clean = ric.validate(resident_id, field="resident_id")
    row = conn.execute(_PERSON_BY_ID_HASH, {"hash": pii.lookup_hash(clean, RESIDENT_ID_PURPOSE)}).mappings().first()
    return None if row is None else _person(row)


def find_persons_by_mobile(conn: Connection, mobile: str) -> list[Person]:
    """Everyone registered with this mobile number (not unique: families share phones)."""
    clean = mobile_ids.validate(mobile, field="mobile")
    rows = conn.execute(
        select(persons).where(persons.c.mobile_hash == pii.lookup_hash(clean, MOBILE_PURPOSE)).order_by(persons.c.id)
    ).mappings()
    return [_person(row) for row in rows]


def get_person(conn: Connection, person_id: int) -> Person:
    row = conn.execute(select(persons).where(persons.c.id == person_id)).mappings().first()
    if row is None:
        raise InvalidInput.one("person_id", f"no person with id {person_id}")
    return _person(row)


def count_persons(conn: Connection) -> int:
    return int(conn.scalar(select(func.count()).select_from(persons)) or 0)


# --- enterprises --------------------------------------------------------------------------------------


def add_enterprise(conn: Connection, uscc: str, name: str, owner_person_id: int | None) -> int:
    """Register an enterprise (owned by an existing person, or owner not yet known); returns the new id. USCCs are unique."""
    clean_uscc, clean_name = _enterprise_input(conn, uscc, name, owner_person_id)
    inserted = _insert_enterprise_if_new(conn, clean_uscc, clean_name, owner_person_id)
    if inserted is None:
        raise InvalidInput.one("uscc", "already registered")
    return inserted.id


def get_or_create_enterprise(conn: Connection, uscc: str, name: str, owner_person_id: int | None, *, owner_exists: bool = False) -> tuple[Enterprise, bool]:
    """``(enterprise, created)``: the enterprise with this USCC, registered now if it was not.

    An existing enterprise keeps its stored name; one registered to a different owner is refused rather
    than silently handed to this caller. ``owner_exists``: the caller holds the owner's row (read or
    written in this transaction; persons are never deleted), so it is not looked up again.
    """
    clean_uscc, clean_name = _enterprise_input(conn, uscc, name, owner_person_id, owner_exists=owner_exists)
    # Inserted first: one statement for a new enterprise, the common case at origination; an existing one
    # (also one a concurrent transaction committed while this insert waited on the USCC) is then read.
    inserted = _insert_enterprise_if_new(conn, clean_uscc, clean_name, owner_person_id)
    if inserted is not None:
        return inserted, True
    existing = find_enterprise_by_uscc(conn, clean_uscc)
    assert existing is not None, "the insert met a duplicate USCC, so the row exists"
    if owner_person_id is not None and existing.owner_person_id not in (None, owner_person_id):
        raise InvalidInput.one("uscc", "already registered to another owner")
    return existing, False


def _insert_enterprise_if_new(conn: Connection, clean_uscc: str, clean_name: str, owner_person_id: int | None) -> Enterprise | None:
    """The new enterprise, or None for a duplicate USCC (the only unique key): nothing was written."""
    row = conn.execute(_INSERT_ENTERPRISE[conn.dialect.name], {"uscc": clean_uscc, "name": clean_name, "owner_person_id": owner_person_id}).mappings().first()
    return None if row is None else _enterprise(row)


def find_enterprise_by_uscc(conn: Connection, uscc: str) -> Enterprise | None:
    clean = uscc_ids.validate(uscc, field="uscc")
    row = conn.execute(_ENTERPRISE_BY_USCC, {"uscc": clean}).mappings().first()
    return None if row is None else _enterprise(row)


def get_enterprise(conn: Connection, enterprise_id: int) -> Enterprise:
    row = conn.execute(select(enterprises).where(enterprises.c.id == enterprise_id)).mappings().first()
    if row is None:
        raise InvalidInput.one("enterprise_id", f"no enterprise with id {enterprise_id}")
    return _enterprise(row)


def count_enterprises(conn: Connection) -> int:
    return int(conn.scalar(select(func.count()).select_from(enterprises)) or 0)


# --- helpers ------------------------------------------------------------------------------------------


def _enterprise_input(conn: Connection, uscc: str, name: str, owner_person_id: int | None, *, owner_exists: bool = False) -> tuple[str, str]:
    errors = Collector()
    clean_uscc = _checked(errors, lambda: uscc_ids.validate(uscc, field="uscc"))
    clean_name = _name(errors, "name", name, ENTERPRISE_NAME_MAX_CHARS)
    if owner_person_id is None:
        pass  # the operator's path: the owner is recorded at origination
    elif isinstance(owner_person_id, bool) or not isinstance(owner_person_id, int):
        errors.add("owner_person_id", "must be a person id")
    elif not owner_exists and conn.scalar(_PERSON_EXISTS, {"id": owner_person_id}) is None:
        errors.add("owner_person_id", f"no person with id {owner_person_id}")
    errors.raise_if_any()
    assert clean_uscc is not None and clean_name is not None
    return clean_uscc, clean_name


def _checked(errors: Collector, validate: Callable[[], str]) -> str | None:
    try:
        return validate()
    except InvalidInput as exc:
        for error in exc.errors:
            errors.add(error.field, error.reason)
        return None


def _name(errors: Collector, field: str, value: object, max_chars: int) -> str | None:
    if not isinstance(value, str) or not value.strip():
        errors.add(field, "is required")
        return None
    clean = " ".join(value.split())
    if len(clean) > max_chars:
        errors.add(field, f"is longer than {max_chars} characters")
        return None
    return clean


def _bank_account(errors: Collector, value: object) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        errors.add("bank_account", "must be text")
        return None
    clean = "".join(value.split())
    if not clean:
        return None
    low, high = BANK_ACCOUNT_DIGITS
    if not clean.isascii() or not clean.isdigit() or not low <= len(clean) <= high:
        errors.add("bank_account", f"must be {low} to {high} digits")
        return None
    return clean


def _utc(value: datetime) -> datetime:
    """SQLite hands back naive UTC timestamps; PostgreSQL aware ones. Callers always get aware UTC."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _person(row: RowMapping) -> Person:
    return Person(
        id=int(row["id"]),
        name=row["name"],
        resident_id=row["resident_id"],
        mobile=row["mobile"],
        bank_account=row["bank_account"],
        created_at=_utc(row["created_at"]),
    )


def _enterprise(row: RowMapping) -> Enterprise:
    return Enterprise(
        id=int(row["id"]),
        uscc=row["uscc"],
        name=row["name"],
        owner_person_id=None if row["owner_person_id"] is None else int(row["owner_person_id"]),
        created_at=_utc(row["created_at"]),
    )

