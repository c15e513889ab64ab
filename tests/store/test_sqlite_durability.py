"""SQLite's durability setting: FULL by default (a commit is on disk when acknowledged), NORMAL on request,
anything else refused before a connection is made, naming the variable."""

from __future__ import annotations

import subprocess
import sys

import pytest

from smelend.errors import InvalidInput
from smelend.settings import SQLITE_SYNCHRONOUS_ENV
from smelend.store import make_engine

PRAGMA_VALUES = {"FULL": 2, "NORMAL": 1}


@pytest.mark.parametrize(("setting", "expected"), [("", "FULL"), ("full", "FULL"), ("normal", "NORMAL")])
def test_the_setting_reaches_every_connection(tmp_path, monkeypatch, setting, expected):
    monkeypatch.setenv(SQLITE_SYNCHRONOUS_ENV, setting)
    engine = make_engine(f"sqlite:///{tmp_path / 'd.db'}")
    try:
        for _ in range(2):
            with engine.connect() as conn:
                assert conn.exec_driver_sql("PRAGMA synchronous").scalar() == PRAGMA_VALUES[expected]
    finally:
        engine.dispose()


def test_an_unknown_mode_is_refused_naming_the_variable(tmp_path, monkeypatch):
    monkeypatch.setenv(SQLITE_SYNCHRONOUS_ENV, "off")
    with pytest.raises(InvalidInput, match=f"^{SQLITE_SYNCHRONOUS_ENV}: must be one of FULL, NORMAL"):
        make_engine(f"sqlite:///{tmp_path / 'd.db'}")
    env = {"PATH": "/usr/bin:/bin", SQLITE_SYNCHRONOUS_ENV: "off", "SMELEND_DATA_DIR": str(tmp_path)}
    done = subprocess.run([sys.executable, "-m", "smelend", "db", "upgrade"], env=env, capture_output=True, text=True)
    assert done.returncode == 2
    assert done.stderr.strip().splitlines()[-1] == f"smelend: error: {SQLITE_SYNCHRONOUS_ENV}: must be one of FULL, NORMAL, not 'OFF'"
    assert not (tmp_path / "smelend.db").exists() or (tmp_path / "smelend.db").stat().st_size == 0
