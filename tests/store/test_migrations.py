"""Migrations build exactly the schema tables.py declares, on every backend, and re-running them is harmless."""

from __future__ import annotations

from pathlib import Path

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import inspect, text
from sqlalchemy.engine import Engine

from smelend.store import db
from smelend.store.tables import metadata


def _head() -> str | None:
    return ScriptDirectory.from_config(db.alembic_config()).get_current_head()


def _diffs(engine: Engine) -> list[object]:
    with engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True, "compare_server_default": True})
        return list(compare_metadata(context, metadata))


def test_migrations_apply_to_an_empty_database_and_rerun_cleanly(db_url: str) -> None:
    engine = db.make_engine(db_url)
    try:
        assert inspect(engine).get_table_names() == []
        db.upgrade(engine)
        db.upgrade(engine)  # idempotent: nothing pending, nothing changes
        assert {"persons", "enterprises", "alembic_version"} <= set(inspect(engine).get_table_names())
        with engine.connect() as conn:
            assert MigrationContext.configure(conn).get_current_revision() == _head()
    finally:
        engine.dispose()


def test_schema_matches_tables_py(engine: Engine) -> None:
    assert _diffs(engine) == []


def test_open_store_twice_is_fine(db_url: str, engine: Engine) -> None:
    from smelend.store import open_store

    again = open_store(db_url)
    again.dispose()
    assert _diffs(engine) == []


def test_every_table_is_created_by_the_migrations(engine: Engine) -> None:
    assert set(metadata.tables) <= set(inspect(engine).get_table_names())


def test_sqlite_uses_wal_foreign_keys_and_begin_immediate(tmp_path: Path, smelend_env: Path) -> None:
    engine = db.make_engine(f"sqlite:///{tmp_path / 'pragmas.db'}")
    try:
        with engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
            assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
            assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() == db.SQLITE_BUSY_TIMEOUT_MS
        # BEGIN IMMEDIATE takes the write lock when the transaction starts, not at its first write.
        other = db.make_engine(f"sqlite:///{tmp_path / 'pragmas.db'}", connect_args={"timeout": 0})
        with engine.begin() as first:
            first.execute(text("SELECT 1"))
            raw = other.raw_connection()
            try:
                raw.driver_connection.execute("PRAGMA busy_timeout = 0")
                try:
                    raw.driver_connection.execute("BEGIN IMMEDIATE")
                except Exception as exc:  # sqlite3.OperationalError: database is locked
                    assert "locked" in str(exc)
                else:
                    raise AssertionError("a second writer got the lock while the first transaction held it")
            finally:
                raw.close()
        other.dispose()
    finally:
        engine.dispose()


def test_foreign_keys_are_enforced(engine: Engine) -> None:
    from sqlalchemy import insert
    from sqlalchemy.exc import IntegrityError

    from smelend.store.tables import enterprises

    try:
        with engine.begin() as conn:
            conn.execute(insert(enterprises).values(uscc="91310000MA1FL8T5X3", name="Orphan Ltd", owner_person_id=999))
    except IntegrityError:
        pass
    else:
        raise AssertionError("an enterprise with no owner row was accepted")


def test_postgresql_urls_use_psycopg_3() -> None:
    assert db.normalise_url("postgresql://u:p@127.0.0.1:5432/x").drivername == "postgresql+psycopg"
    assert db.normalise_url("postgres://u:p@127.0.0.1:5432/x").drivername == "postgresql+psycopg"
    assert db.normalise_url("postgresql+psycopg://u@h/x").drivername == "postgresql+psycopg"


def test_open_store_creates_a_fresh_sqlite_file_and_folder(smelend_env: Path) -> None:
    from smelend.store import open_store

    engine = open_store()  # default URL: <data dir>/smelend.db
    try:
        assert (smelend_env / "smelend.db").exists()
        assert _diffs(engine) == []
    finally:
        engine.dispose()
