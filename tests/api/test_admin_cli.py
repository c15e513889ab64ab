"""`smelend admin create-user` and `create-partner`: secrets printed once, bad input one stderr line and exit 2."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import text

from smelend.cli import main
from smelend.store import add_person, open_store
from smelend.store.access import find_partner_by_key_id, find_user_by_token
from smelend.store.audit import list_audit

RESIDENT_ID = "11010519491231002X"


def run(capsys, *argv: str) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as exited:
        main(list(argv))
    out, err = capsys.readouterr()
    return exited.value.code, out, err


def test_create_user_prints_the_token_once_and_stores_its_hash(db_url, capsys):
    code, out, _ = run(capsys, "admin", "create-user", "--name", "Risk analyst", "--role", "risk", "--json")
    assert code == 0
    document = json.loads(out)
    assert document["role"] == "risk" and document["token"].startswith("smu_")
    engine = open_store(db_url)
    with engine.connect() as conn:
        user = find_user_by_token(conn, document["token"])
        stored = conn.execute(text("SELECT token_hash FROM api_users")).scalar_one()
        entries = list_audit(conn)
    engine.dispose()
    assert user is not None and user.id == document["id"] and user.role == "risk" and user.person_id is None
    assert stored != document["token"]
    assert [e.action for e in entries] == ["create-user"] and entries[0].actor == "cli:admin"
    assert document["token"] not in json.dumps([e.after for e in entries])


def test_create_user_table_output(db_url, capsys):
    code, out, err = run(capsys, "admin", "create-user", "--name", "Ops", "--role", "operations")
    assert code == 0 and out.strip().startswith("smu_") and "shown only now" in err


def test_a_borrower_names_a_registered_person(db_url, capsys):
    engine = open_store(db_url)
    with engine.begin() as conn:
        person_id = add_person(conn, "Zhang San", RESIDENT_ID, "13800138000")
    code, out, _ = run(capsys, "admin", "create-user", "--name", "Zhang San app", "--role", "borrower", "--person-resident-id", RESIDENT_ID, "--json")
    assert code == 0
    with engine.connect() as conn:
        user = find_user_by_token(conn, json.loads(out)["token"])
        raw = conn.execute(text("SELECT after FROM audit_log")).scalar_one()
    engine.dispose()
    assert user is not None and user.role == "borrower" and user.person_id == person_id
    assert RESIDENT_ID not in raw


@pytest.mark.parametrize(
    ("argv", "option"),
    [
        (["--role", "boss"], "--role"),
        (["--role", "borrower"], "--person-resident-id"),
        (["--role", "borrower", "--person-resident-id", "110105194912310021"], "--person-resident-id"),  # bad check digit
        (["--role", "borrower", "--person-resident-id", "11010519491231002X"], "--person-resident-id"),  # not registered
        (["--role", "risk", "--person-resident-id", "11010519491231002X"], "--person-resident-id"),
        (["--role", "risk", "--name", "  "], "--name"),
    ],
)
def test_bad_users_exit_2_with_one_line_naming_the_option(db_url, capsys, argv, option):
    open_store(db_url).dispose()  # the key file exists: no first-run warning on stderr
    capsys.readouterr()
    args = ["admin", "create-user", "--name", "Someone", *argv]
    code, out, err = run(capsys, *args)
    assert code == 2 and out == ""
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"smelend: error: {option}:"), err
    assert "11010519491231002X" not in err and "110105194912310021" not in err


def test_create_partner_prints_key_id_and_secret(db_url, capsys):
    code, out, _ = run(capsys, "admin", "create-partner", "--name", "Tax platform", "--rate-limit", "600", "--max-share", "0.25",
                       "--callback-url", "https://tax.example/smelend/callbacks", "--json")
    assert code == 0
    document = json.loads(out)
    assert set(document) == {"id", "key_id", "secret"}
    engine = open_store(db_url)
    with engine.connect() as conn:
        partner = find_partner_by_key_id(conn, document["key_id"])
        raw = conn.execute(text("SELECT secret FROM partners")).scalar_one()
        entries = list_audit(conn)
    engine.dispose()
    assert partner is not None and partner.secret == document["secret"] and document["secret"] not in raw
    assert partner.rate_limit_per_minute == 600 and str(partner.max_lending_share) == "0.25"
    assert partner.callback_url == "https://tax.example/smelend/callbacks"
    assert entries[0].action == "create-partner" and document["secret"] not in json.dumps(entries[0].after)


def test_create_partner_defaults(db_url, capsys):
    code, out, _ = run(capsys, "admin", "create-partner", "--name", "Big platform", "--json")
    engine = open_store(db_url)
    with engine.connect() as conn:
        partner = find_partner_by_key_id(conn, json.loads(out)["key_id"])
    engine.dispose()
    assert code == 0 and partner is not None and partner.rate_limit_per_minute >= 12_000 and partner.callback_url is None


@pytest.mark.parametrize(
    ("argv", "option"),
    [
        (["--rate-limit", "0"], "--rate-limit"),
        (["--max-share", "1.5"], "--max-share"),
        (["--max-share", "lots"], "--max-share"),
        (["--callback-url", "ftp://x.example/"], "--callback-url"),
        (["--rate-limit", "many"], "--rate-limit"),
    ],
)
def test_bad_partners_exit_2_with_one_line_naming_the_option(db_url, capsys, argv, option):
    code, out, err = run(capsys, "admin", "create-partner", "--name", "P", *argv)
    assert code == 2 and out == ""
    lines = err.strip().splitlines()
    assert len(lines) == 1 and option in lines[0], err
