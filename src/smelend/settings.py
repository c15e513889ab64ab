"""Settings read from the environment, as plain functions called when needed (never cached at import).

Reading at call time keeps tests and one-off commands honest: setting a variable changes the next call,
and importing smelend has no side effects on disk.
"""

from __future__ import annotations

import os
from pathlib import Path

from smelend.errors import InvalidInput

DATA_DIR_ENV = "SMELEND_DATA_DIR"
DATABASE_URL_ENV = "SMELEND_DATABASE_URL"
PII_KEY_ENV = "SMELEND_PII_KEY"
PII_KEY_FILE_ENV = "SMELEND_PII_KEY_FILE"
SQLITE_SYNCHRONOUS_ENV = "SMELEND_SQLITE_SYNCHRONOUS"
SQLITE_SYNCHRONOUS_MODES = ("FULL", "NORMAL")


def data_dir() -> Path:
    """Where local state lives (SQLite database, development PII key): ``$SMELEND_DATA_DIR`` or ``./.smelend``.

    Created on demand, so a first run in an empty folder just works.
    """
    raw = os.environ.get(DATA_DIR_ENV, "").strip()
    path = Path(raw).expanduser() if raw else Path(".smelend")
    path = path.absolute()
    path.mkdir(parents=True, exist_ok=True)
    return path


def database_url() -> str:
    """``$SMELEND_DATABASE_URL``, else a SQLite file in :func:`data_dir`: zero set-up for the demo,
    PostgreSQL in production by setting one variable."""
    url = os.environ.get(DATABASE_URL_ENV, "").strip()
    return url or f"sqlite:///{data_dir() / 'smelend.db'}"


def sqlite_synchronous() -> str:
    """``$SMELEND_SQLITE_SYNCHRONOUS``: ``FULL`` (default) syncs the log to disk at every commit, so an
    acknowledged payment survives a power cut; ``NORMAL`` (SQLite's advice for WAL) syncs at checkpoints
    only: it survives a crash of the process or of smelend, not of the machine, and commits are several
    times cheaper."""
    value = os.environ.get(SQLITE_SYNCHRONOUS_ENV, "").strip().upper() or "FULL"
    if value not in SQLITE_SYNCHRONOUS_MODES:
        raise InvalidInput.one(SQLITE_SYNCHRONOUS_ENV, f"must be one of {', '.join(SQLITE_SYNCHRONOUS_MODES)}, not {value!r}")
    return value


def pii_key() -> str | None:
    """``$SMELEND_PII_KEY`` (a JSON keyring or one base64 key), the production way to supply PII keys."""
    value = os.environ.get(PII_KEY_ENV, "").strip()
    return value or None


def pii_key_file() -> Path:
    """``$SMELEND_PII_KEY_FILE``, else ``<data_dir>/pii-keyring.json``: used when no key is in the environment."""
    raw = os.environ.get(PII_KEY_FILE_ENV, "").strip()
    return Path(raw).expanduser().absolute() if raw else data_dir() / "pii-keyring.json"
