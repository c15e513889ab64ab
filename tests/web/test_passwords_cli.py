"""Password hashes (scrypt: salted, verified in constant time, parameters in the hash) and
``smelend admin create-user --password``: the dashboard login it makes, and bad input refused with exit 2."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from smelend.cli import main
from smelend.store import open_store, web_sessions
from smelend.web import passwords

from .conftest import table_counts

FAST = 2**8  # scrypt cost for property tests: the format and checks, not the work factor, are under test


@settings(max_examples=25, deadline=None)
@given(password=st.text(min_size=1, max_size=60), other=st.text(min_size=1, max_size=60))
def test_a_hash_verifies_its_password_and_nothing_else(password: str, other: str) -> None:
    stored = passwords.hash_password(password, n=FAST)
    assert passwords.verify_password(password, stored)
    assert passwords.verify_password(other, stored) == (other == password)
    assert password not in stored.split("$")[4:] and stored.startswith(f"scrypt${FAST}$8$1$")
    assert passwords.hash_password(password, n=FAST) != stored  # salted
    assert passwords.needs_rehash(stored)


@pytest.mark.parametrize("stored", ["", "scrypt$", "bcrypt$2b$12$abc", "scrypt$x$8$1$AAAA$AAAA", "scrypt$256$8$1$!!$??"])
def test_malformed_hashes_never_verify(stored: str) -> None:
    assert passwords.verify_password("anything at all", stored) is False


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as exited:
        main(list(argv))
    out, err = capsys.readouterr()
    return int(exited.value.code or 0), out, err


def test_create_user_with_a_password_gives_a_dashboard_login(db_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "admin", "create-user", "--name", "Wang  Risk", "--role", "risk", "--password", "a long enough passphrase", "--json")
    assert code == 0
    document = json.loads(out)
    assert document["token"].startswith("smu_") and document["dashboard_login"] is True
    engine = open_store(db_url)
    try:
        with engine.connect() as conn:
            login = web_sessions.find_login(conn, "wang risk")
        assert login is not None and login.user_id == document["id"]
        assert passwords.verify_password("a long enough passphrase", login.password_hash) and "passphrase" not in login.password_hash
        from smelend.web.auth import utcnow
        from smelend.web.login import attempt

        assert attempt(engine, "Wang Risk", "a long enough passphrase", utcnow()).cookie is not None
    finally:
        engine.dispose()
    code, out, _ = run(capsys, "admin", "create-user", "--name", "No Login", "--role", "auditor", "--json")  # --password stays optional
    assert code == 0 and json.loads(out)["dashboard_login"] is False


@pytest.mark.parametrize(
    ("argv", "option"),
    [
        (["--role", "risk", "--password", "short"], "--password"),
        (["--role", "risk", "--password", " padded passphrase "], "--password"),
        (["--role", "borrower", "--person-resident-id", "11010519491231002X", "--password", "a long enough passphrase"], "--password"),
        (["--role", "risk", "--password", "x" * 300], "--password"),
    ],
)
def test_bad_passwords_exit_2_naming_the_option(db_url: str, capsys: pytest.CaptureFixture[str], argv: list[str], option: str) -> None:
    engine = open_store(db_url)
    before = table_counts(engine)
    capsys.readouterr()
    code, out, err = run(capsys, "admin", "create-user", "--name", "Someone", *argv)
    assert code == 2 and out == ""
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"smelend: error: {option}:"), err
    assert table_counts(engine) == before
    engine.dispose()


def test_a_login_name_is_given_once(db_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(capsys, "admin", "create-user", "--name", "Li Ops", "--role", "operations", "--password", "a long enough passphrase")[0] == 0
    engine = open_store(db_url)
    before = table_counts(engine)
    code, out, err = run(capsys, "admin", "create-user", "--name", "li  OPS", "--role", "auditor", "--password", "another long passphrase")
    assert code == 2 and out == "" and err.strip().startswith("smelend: error: --name:")
    assert table_counts(engine) == before  # no second user half-made
    engine.dispose()


def test_set_password_unlocks_and_ends_sessions(db_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    from smelend.web.auth import utcnow
    from smelend.web.login import attempt

    assert run(capsys, "admin", "create-user", "--name", "Zhao Audit", "--role", "auditor", "--password", "the first passphrase")[0] == 0
    engine = open_store(db_url)
    try:
        now = utcnow()
        session = attempt(engine, "zhao audit", "the first passphrase", now).cookie
        for _ in range(web_sessions.MAX_FAILED_ATTEMPTS):
            attempt(engine, "zhao audit", "a wrong passphrase!", now)
        assert "locked" in (attempt(engine, "zhao audit", "the first passphrase", now).refusal or "")
        code, out, _ = run(capsys, "admin", "set-password", "--name", "Zhao Audit", "--password", "the second passphrase", "--json")
        assert code == 0 and json.loads(out) == {"id": json.loads(out)["id"], "login": "zhao audit", "sessions_ended": 1}
        with engine.connect() as conn:
            assert web_sessions.find_session(conn, session, now, write=False) is None
        assert attempt(engine, "zhao audit", "the first passphrase", now).cookie is None
        assert attempt(engine, "zhao audit", "the second passphrase", now).cookie is not None  # unlocked
        before = table_counts(engine)
        for argv, option in ((["--name", "nobody here", "--password", "a long enough passphrase"], "--name"),
                             (["--name", "zhao audit", "--password", "short"], "--password")):
            code, out, err = run(capsys, "admin", "set-password", *argv)
            assert code == 2 and out == "" and err.strip().startswith(f"smelend: error: {option}:"), err
        assert table_counts(engine) == before
    finally:
        engine.dispose()
