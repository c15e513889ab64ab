"""CLI commands that touch the database, on every backend: migrations first, PII encrypted, keys rotated."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import create_engine, text

from smelend.cli import main
from smelend.store.db import normalise_url


def run(capsys, *argv: str) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as exited:
        main(list(argv))
    out, err = capsys.readouterr()
    return exited.value.code, out, err


def test_db_upgrade_on_a_fresh_database(db_url, capsys):
    code, out, _ = run(capsys, "db", "upgrade", "--json")
    assert code == 0 and json.loads(out)["upgraded"] is True
    code, _, _ = run(capsys, "db", "upgrade", "--json")
    assert code == 0


def test_demo_stores_the_sample_enterprise_once_and_shows_every_method(db_url, db_backend, capsys):
    code, out, err = run(capsys, "demo", "--no-lab", "--json")
    assert code == 0
    doc = json.loads(out)
    assert [d["method"] for d in doc["draws"]] == ["equal-installment", "equal-principal", "interest-first", "bullet", "revolving", "flat"]
    assert doc["enterprise"]["owner"]["resident_id"] == "110***********002X"
    flat = doc["draws"][-1]
    assert flat["apr"].startswith("0.1303")
    servicing = doc["servicing"]
    assert {loan["method"] for loan in servicing["loans"]} == {"equal-installment", "equal-principal", "interest-first", "bullet", "revolving"}
    assert doc["trial_balance"]["balanced"] is True and doc["reconciliation"] == {"differences": []}
    decisions = doc["decisions"]
    assert len(decisions) == 12 and {d["outcome"] for d in decisions} <= {"approve", "decline", "refer"}
    assert all(d["reasons"] and d["versions"]["strategy"]["name"] == "sme" for d in decisions)
    assert any(d["outcome"] == "approve" and d["limit"] != "0.00" for d in decisions)
    if db_backend == "sqlite":  # a second run continues the same book (PostgreSQL: same code, slower)
        code, out, _ = run(capsys, "demo", "--no-lab", "--json")
        assert code == 0 and json.loads(out)["enterprise"]["id"] == doc["enterprise"]["id"]
    engine = create_engine(normalise_url(db_url))
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM persons")).scalar_one() == 1
        stored = conn.execute(text("SELECT resident_id, mobile FROM persons")).one()
    engine.dispose()
    assert "11010519491231002X" not in stored.resident_id and stored.resident_id.startswith("v1:")
    assert "13800138000" not in stored.mobile


def test_demo_table_output_on_a_fresh_embedded_database(smelend_env, capsys):
    code, out, _ = run(capsys, "demo", "--no-lab")
    assert code == 0 and "13.03%" in out and "110***********002X" in out and "11010519491231002X" not in out
    assert "a fresh demo database" in out and "trial balance: balanced" in out and "0 differences" in out
    assert (smelend_env / "demo.db").exists()


def test_rotate_key_and_reencrypt_keeps_the_data_readable(db_url, capsys):
    from smelend.store import add_person, open_store

    engine = open_store()
    with engine.begin() as conn:
        add_person(conn, "张伟", "11010519491231002X", "13800138000", "6222021001112223334")
    engine.dispose()
    engine = create_engine(normalise_url(db_url))
    with engine.connect() as conn:
        before = conn.execute(text("SELECT resident_id FROM persons")).scalar_one()
    code, out, _ = run(capsys, "pii", "rotate-key", "--reencrypt", "--json")
    doc = json.loads(out)
    assert code == 0 and doc["reencrypted_rows"] >= 1
    with engine.connect() as conn:
        after = conn.execute(text("SELECT resident_id FROM persons")).scalar_one()
    engine.dispose()
    assert after.split(":")[1] == doc["active_key_id"] != before.split(":")[1]
    from smelend.store import find_person_by_resident_id

    engine = open_store()
    with engine.connect() as conn:
        assert find_person_by_resident_id(conn, "11010519491231002X").mobile == "+8613800138000"
    engine.dispose()
