"""Engines and migrations: SQLite for zero set-up, PostgreSQL (psycopg 3) for production.

SQLite is tuned so that concurrent writers queue instead of failing: WAL journal, foreign keys on, a
busy timeout, and every transaction opened with ``BEGIN IMMEDIATE`` (SQLAlchemy's recipe for taking
over pysqlite's transaction control), so a read-then-guarded-update takes the write lock up front.
A connection opened by :func:`reading` begins with a plain (deferred) ``BEGIN`` instead: under WAL a
reader then neither waits for nor blocks the writer, which is what lets a service answer lookups
while another request writes. It must not write (SQLite would refuse an upgrade that lost a race).

Writers queue on an OS file lock, not on SQLite's busy handler. SQLite's handler waits by *sleeping*,
with back-off up to 100 ms a retry, so with writers in several processes (``smelend serve --workers N``)
a write could wait 100 ms after the lock had long been free, and p99 latencies were seconds. So a write
transaction on a SQLite file first takes ``flock(LOCK_EX)`` on ``<database>.write-lock`` (blocking: the
kernel wakes the waiter the moment the holder releases) and releases it once COMMIT or ROLLBACK has
returned (:class:`WriteLockedConnection`). Every process that opens the file through :func:`make_engine`
queues there; a writer that does not (the ``sqlite3`` shell) is still waited for by the busy handler.
Reads (:func:`reading`) never take the file lock. A thread that already holds it on another connection
(a write transaction opened inside another) does not take it again, which would deadlock; it falls
back to the busy handler. The lock dies with its process, so a killed worker never leaves it held.
A writer waits for the file lock as long as the transaction before it lasts (the busy handler gave up
after ``SQLITE_BUSY_TIMEOUT_MS``); write transactions are short, and a close of business that runs long
holds SQLite's own lock just as long.
"""

from __future__ import annotations

import fcntl
import os
import sqlite3
import threading
import time
from functools import partial
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import create_engine, event, text
from sqlalchemy.engine import URL, Connection, Engine, make_url
from sqlalchemy.exc import DisconnectionError

from smelend import settings
from smelend.store import pii

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
SQLITE_BUSY_TIMEOUT_MS = 15_000  # how long a writer waits for the lock before "database is locked"
READ_ONLY_OPTION = "smelend_read_only"  # execution option set by reading()
PING_IF_IDLE_S = 1.0  # PostgreSQL: a pooled connection idle this long is pinged before use (see _ping_if_idle)
_IDLE_SINCE = "smelend_idle_since"  # pool record info key: monotonic time of the last check-in
MIGRATION_LOCK_ID = 0x5E1E_0001  # PostgreSQL advisory lock held while migrating, so two starts do not race
WRITE_LOCK_SUFFIX = ".write-lock"  # next to the SQLite file: the lock writers queue on

_held_by_thread: dict[int, int] = {}  # thread id -> how many write locks it holds (on any connection)


class WriteLockedConnection(sqlite3.Connection):
    """A pysqlite connection that holds an exclusive ``flock`` on its database's write-lock file from
    :meth:`take_write_lock` (called as a write transaction begins) until its COMMIT or ROLLBACK returns.

    Each connection opens the lock file itself: ``flock`` locks belong to an open file, so two
    connections of one process exclude each other just as two processes do.
    """

    lock_path: str | None = None
    _lock_fd: int | None = None
    _holder: int | None = None  # the thread that took the lock, while held

    @property
    def holds_write_lock(self) -> bool:
        return self._holder is not None

    def take_write_lock(self) -> None:
        """Block until this connection holds the write lock (a no-op when it or its thread already does)."""
        thread = threading.get_ident()
        if self.lock_path is None or self._holder is not None or _held_by_thread.get(thread, 0) > 0:
            return
        if self._lock_fd is None:
            self._lock_fd = os.open(self.lock_path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        fcntl.flock(self._lock_fd, fcntl.LOCK_EX)
        self._holder = thread
        _held_by_thread[thread] = _held_by_thread.get(thread, 0) + 1

    def release_write_lock(self) -> None:
        holder = self._holder
        if holder is None:
            return
        assert self._lock_fd is not None
        self._holder = None
        left = _held_by_thread.pop(holder, 1) - 1
        if left > 0:
            _held_by_thread[holder] = left
        fcntl.flock(self._lock_fd, fcntl.LOCK_UN)

    def commit(self) -> None:
        try:
            super().commit()
        finally:
            self.release_write_lock()

    def rollback(self) -> None:
        try:
            super().rollback()
        finally:
            self.release_write_lock()

    def close(self) -> None:
        try:
            super().close()
        finally:
            self.release_write_lock()
            if self._lock_fd is not None:
                os.close(self._lock_fd)
                self._lock_fd = None


def write_lock_path(url: str | URL) -> Path | None:
    """``<database>.write-lock`` for a SQLite file; None for an in-memory database or PostgreSQL.

    >>> write_lock_path("sqlite:////srv/smelend.db")
    PosixPath('/srv/smelend.db.write-lock')
    >>> write_lock_path("sqlite://") is None
    True
    """
    parsed = normalise_url(url)
    database = parsed.database
    if parsed.get_backend_name() != "sqlite" or database in (None, "", ":memory:") or database.startswith("file:"):
        return None
    return Path(database).absolute().with_name(Path(database).name + WRITE_LOCK_SUFFIX)


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


def make_engine(url: str | URL, *, write_lock: bool = True, **kwargs: Any) -> Engine:
    """An engine for ``url``. Statement parameters are hidden from error messages: they may hold PII.
    PostgreSQL connections idle for :data:`PING_IF_IDLE_S` are pinged before use, dead ones replaced.

    ``write_lock=False`` leaves a SQLite file's writers to SQLite's busy handler alone (what
    ``benchmarks/sqlite_writers.py`` compares the file lock with)."""
    parsed = normalise_url(url)
    kwargs.setdefault("hide_parameters", True)
    if parsed.get_backend_name() == "sqlite":
        synchronous = settings.sqlite_synchronous()  # checked once, before any connection
        lock_path = write_lock_path(parsed) if write_lock else None
        if lock_path is not None:
            kwargs["connect_args"] = {**kwargs.get("connect_args", {}), "factory": WriteLockedConnection}
        engine = create_engine(parsed, **kwargs)
        event.listen(engine, "connect", partial(_sqlite_on_connect, synchronous=synchronous, lock_path=lock_path))
        event.listen(engine, "begin", _sqlite_on_begin)
        return engine
    engine = create_engine(parsed, **kwargs)
    event.listen(engine.pool, "connect", _note_idle_since)
    event.listen(engine.pool, "checkin", _note_idle_since)
    event.listen(engine.pool, "checkout", _ping_if_idle)
    return engine


def _note_idle_since(_dbapi_connection: Any, record: Any) -> None:
    record.info[_IDLE_SINCE] = time.monotonic()


def _ping_if_idle(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
    """SQLAlchemy's ``pool_pre_ping`` for connections idle :data:`PING_IF_IDLE_S` or longer only.

    A ping is a round trip before every checkout; a decision checks out three connections, so under load
    that was three round trips in 25 with no use: a connection handed back milliseconds ago is alive.
    One idle for a second or more (after a quiet spell, or a database restart) is pinged, and a dead one
    is replaced: raising ``DisconnectionError`` makes the pool dispose of it and check out another."""
    if time.monotonic() - record.info.get(_IDLE_SINCE, 0.0) < PING_IF_IDLE_S:
        return
    try:
        _ping(dbapi_connection)
    except Exception as exc:  # the driver's own error for a dead connection (psycopg.OperationalError, ...)
        raise DisconnectionError(f"idle connection failed its ping: {exc}") from exc


def _ping(dbapi_connection: Any) -> None:
    """``SELECT 1`` in autocommit: no transaction left open (a connection handed out inside one could
    not be switched to autocommit by :func:`reading`), and no ROLLBACK, which costs a round trip and
    drops the connection's prepared statements."""
    autocommit = dbapi_connection.autocommit
    dbapi_connection.autocommit = True
    try:
        with dbapi_connection.cursor() as cursor:
            cursor.execute("SELECT 1")
    finally:
        if not dbapi_connection.closed:  # a dead one raised above, and is replaced
            dbapi_connection.autocommit = autocommit


def _sqlite_on_connect(dbapi_connection: Any, _record: Any, synchronous: str, lock_path: Path | None = None) -> None:
    dbapi_connection.isolation_level = None  # pysqlite stops emitting BEGIN; _sqlite_on_begin does it
    if lock_path is not None and isinstance(dbapi_connection, WriteLockedConnection):
        dbapi_connection.lock_path = str(lock_path)
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA journal_mode = WAL")
        cursor.execute(f"PRAGMA synchronous = {synchronous}")
        cursor.execute("PRAGMA foreign_keys = ON")
    finally:
        cursor.close()


def _sqlite_on_begin(conn: Connection) -> None:
    if conn.get_execution_options().get(READ_ONLY_OPTION):
        conn.exec_driver_sql("BEGIN")
        return
    dbapi_connection = conn.connection.dbapi_connection
    if not isinstance(dbapi_connection, WriteLockedConnection):
        conn.exec_driver_sql("BEGIN IMMEDIATE")
        return
    dbapi_connection.take_write_lock()
    try:
        conn.exec_driver_sql("BEGIN IMMEDIATE")
    except BaseException:
        dbapi_connection.release_write_lock()
        raise


def driver_executemany(conn: Connection, sql: str, rows: Iterable[Sequence[Any]]) -> int:
    """The driver's own ``executemany`` in the caller's transaction (several times faster than Core's
    per-row parameter handling at book scale); ``sql`` uses ``?`` placeholders, rewritten for psycopg.
    Returns the rows affected."""
    if conn.dialect.paramstyle != "qmark":
        sql = sql.replace("?", "%s")
    cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
    try:
        cursor.executemany(sql, list(rows))
        return int(cursor.rowcount)
    finally:
        cursor.close()


def copy_rows(conn: Connection, table: str, columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> None:
    """PostgreSQL's ``COPY table (columns) FROM STDIN`` of ``rows`` in the caller's transaction: the
    fastest bulk write there is."""
    assert conn.dialect.name == "postgresql", conn.dialect.name
    cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
    try:
        with cursor.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)
    finally:
        cursor.close()


def reading(engine: Engine) -> Connection:
    """A connection for reads only (``with reading(engine) as conn: ...``).

    On SQLite its transactions do not take the write lock, and one transaction's reads see one snapshot.
    On PostgreSQL its statements run in autocommit: at READ COMMITTED (the default, which smelend keeps)
    each statement takes its own snapshot inside a transaction too, so a read transaction adds nothing
    but its BEGIN and ROLLBACK round trips, and psycopg answers every ROLLBACK on a connection with
    prepared statements by deallocating them all (a third round trip, and every hot statement parsed and
    planned again). Never write through it: on PostgreSQL each statement would commit on its own."""
    connection = engine.connect()
    if connection.dialect.name == "postgresql":
        return connection.execution_options(isolation_level="AUTOCOMMIT")
    return connection.execution_options(**{READ_ONLY_OPTION: True})


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
