"""The database schema as SQLAlchemy Core tables: the one declaration migrations are checked against.

Conventions: PII columns are :class:`~smelend.store.pii.EncryptedText` whose associated data is the
column's own ``table.column`` name, with a keyed-hash ``*_hash`` column beside any PII that is looked
up; money columns are BIGINT fen; timestamps are set by the database, in UTC.
"""

from __future__ import annotations

from sqlalchemy import Column, DateTime, ForeignKey, Integer, MetaData, String, Table, Text, func

from smelend.store.pii import EncryptedText

# Deterministic constraint names, so migrations can name what they alter on every backend.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

HASH_CHARS = 64  # hex HMAC-SHA256
NAME_MAX_CHARS = 100
ENTERPRISE_NAME_MAX_CHARS = 200

metadata = MetaData(naming_convention=NAMING_CONVENTION)

def _created_at() -> Column[object]:
    return Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.current_timestamp())


persons = Table(
    "persons",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", EncryptedText(aad="persons.name"), nullable=False),
    Column("resident_id", EncryptedText(aad="persons.resident_id"), nullable=False),
    Column("resident_id_hash", String(HASH_CHARS), nullable=False, unique=True),
    Column("mobile", EncryptedText(aad="persons.mobile"), nullable=False),
    Column("mobile_hash", String(HASH_CHARS), nullable=False, index=True),
    Column("bank_account", EncryptedText(aad="persons.bank_account"), nullable=True),
    _created_at(),
)

enterprises = Table(
    "enterprises",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("uscc", Text, nullable=False, unique=True),  # public registration data: stored plain
    Column("name", Text, nullable=False),
    Column("owner_person_id", Integer, ForeignKey(persons.c.id), nullable=False, index=True),
    _created_at(),
)


def encrypted_columns(table: Table) -> list[Column[object]]:
    """The PII columns of ``table`` (what re-encryption rewrites)."""
    return [column for column in table.columns if isinstance(column.type, EncryptedText)]
