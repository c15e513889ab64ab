"""Engines and migrations: SQLite for zero set-up, PostgreSQL (psycopg 3) for production.

SQLite is tuned so that concurrent writers queue instead of failing: WAL journal, foreign keys on, a
busy timeout, and every transaction opened with ``BEGIN IMMEDIATE`` (SQLAlchemy's recipe for taking
over pysqlite's transaction control), so a read-then-guarded-update takes the write lock up front.
A connection opened by :func:`reading` begins with a plain (deferred) ``BEGIN`` instead: under WAL a
reader then neither waits for nor blocks the writer, which is what lets a service answer lookups
while another request writes. It must not write (SQLite would refuse an upgrade that lost a race).
"""

from __future__ import annotations

from functools import partial
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import create_engine, event, text
from sqlalchemy.engine import URL, Connection, Engine, make_url

from smelend import settings
from smelend.store import pii

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
SQLITE_BUSY_TIMEOUT_MS = 15_000  # how long a writer waits for the lock before "database is locked"
READ_ONLY_OPTION = "smelend_read_only"  # execution option set by reading()
MIGRATION_LOCK_ID = 0x5E1E_0001  # PostgreSQL advisory lock held while migrating, so two starts do not race


def normalise_url(url: str | URL) -> URL:
    """Parse ``url``; plain ``postgresql://`` (and ``postgres://``) use the psycopg 3 driver.

    >>> normalise_url("postgresql://u@localhost/db").drivername
    'postgresql+psycopg'
    >>> normalise_url("sqlite:///x.db").drivername
    'sqlite'
    """
    if isinstance(url, str) and url.startswith("postgres://"):
        url = "postgresql://" + url[len("postgres://"):]
    parsed = make_url(url)
    if parsed.drivername == "postgresql":
        parsed = parsed.set(drivername="postgresql+psycopg")
    if parsed.get_backend_name() not in ("sqlite", "postgresql"):
        raise ValueError(f"unsupported database {parsed.get_backend_name()!r}: use sqlite:/// or postgresql://")
    return parsed


def make_engine(url: str | URL, **kwargs: Any) -> Engine:
    """An engine for ``url``. Statement parameters are hidden from error messages: they may hold PII."""
    parsed = normalise_url(url)
    kwargs.setdefault("hide_parameters", True)
    if parsed.get_backend_name() == "sqlite":
        synchronous = settings.sqlite_synchronous()  # checked once, before any connection
        engine = create_engine(parsed, **kwargs)
        event.listen(engine, "connect", partial(_sqlite_on_connect, synchronous=synchronous))
        event.listen(engine, "begin", _sqlite_on_begin)
        return engine
    kwargs.setdefault("pool_pre_ping", True)
    return create_engine(parsed, **kwargs)


def _sqlite_on_connect(dbapi_connection: Any, _record: Any, synchronous: str) -> None:
    dbapi_connection.isolation_level = None  # pysqlite stops emitting BEGIN; _sqlite_on_begin does it
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA journal_mode = WAL")
        cursor.execute(f"PRAGMA synchronous = {synchronous}")
        cursor.execute("PRAGMA foreign_keys = ON")
    finally:
        cursor.close()


def _sqlite_on_begin(conn: Connection) -> None:
    conn.exec_driver_sql("BEGIN" if conn.get_execution_options().get(READ_ONLY_OPTION) else "BEGIN IMMEDIATE")


def reading(engine: Engine) -> Connection:
    """A connection for reads only (``with reading(engine) as conn: ...``): on SQLite its transactions
    do not take the write lock. On PostgreSQL it is an ordinary connection."""
    return engine.connect().execution_options(**{READ_ONLY_OPTION: True})


def alembic_config(connection: Connection | None = None, url: str | None = None) -> Config:
    """An Alembic config for the packaged migrations, without an alembic.ini.

    For development, ``alembic.command.revision(alembic_config(url=...), "message", autogenerate=True)``
    writes a new revision under ``smelend/store/migrations/versions``.
    """
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.set_main_option("path_separator", "os")
    if url is not None:
        config.set_main_option("sqlalchemy.url", normalise_url(url).render_as_string(hide_password=False).replace("%", "%%"))
    if connection is not None:
        config.attributes["connection"] = connection
    return config


def upgrade(engine: Engine) -> None:
    """Apply every pending migration in one transaction; a no-op when the schema is current."""
    with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(text("SELECT pg_advisory_xact_lock(:id)"), {"id": MIGRATION_LOCK_ID})
        command.upgrade(alembic_config(conn), "head")


def open_store(url: str | None = None) -> Engine:
    """What every command that touches the database calls first: load and configure the PII keyring,
    connect (default :func:`smelend.settings.database_url`), and bring the schema up to date.

    A fresh SQLite file (and its folder) is created as needed, so a first run just works.
    """
    pii.configure(pii.load_keyring())
    parsed = normalise_url(url or settings.database_url())
    if parsed.get_backend_name() == "sqlite" and parsed.database not in (None, "", ":memory:"):
        Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
    engine = make_engine(parsed)
    try:
        upgrade(engine)
    except BaseException:
        engine.dispose()
        raise
    return engine
