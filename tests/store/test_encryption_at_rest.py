"""What actually lands in the database: ciphertext only, found through keyed hashes, readable across rotations."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import Text, select, type_coerce, update
from sqlalchemy.engine import Engine

from smelend.store import (
    KeyringError,
    add_person,
    find_person_by_resident_id,
    find_persons_by_mobile,
    get_person,
    open_store,
    pii,
    reencrypt,
    rotate_key,
)
from smelend.store.tables import encrypted_columns, persons

RESIDENT_ID = "11010519491231002X"
NAME = "张三"
MOBILE = "13800138000"
ACCOUNT = "6222020200112233445"


def _raw(engine: Engine, person_id: int) -> dict[str, str | None]:
    """The stored text of every PII column, read as plain Text (no decryption)."""
    columns = [type_coerce(column, Text).label(column.name) for column in encrypted_columns(persons)]
    with engine.connect() as conn:
        return dict(conn.execute(select(*columns).where(persons.c.id == person_id)).mappings().one())


def _key_ids(engine: Engine) -> set[str]:
    with engine.connect() as conn:
        values = conn.execute(select(type_coerce(persons.c.resident_id, Text))).scalars().all()
    return {pii.key_id_of(value) for value in values}


def test_every_pii_column_names_its_own_table_and_column() -> None:
    for column in encrypted_columns(persons):
        assert column.type.aad == f"persons.{column.name}"


def test_stored_pii_is_ciphertext(engine: Engine) -> None:
    with engine.begin() as conn:
        person_id = add_person(conn, NAME, RESIDENT_ID, MOBILE, ACCOUNT)
    raw = _raw(engine, person_id)
    active = pii.active_keyring().active_key_id
    for plaintext, stored in zip((NAME, RESIDENT_ID, "+8613800138000", ACCOUNT), raw.values()):
        assert stored is not None and stored.startswith(f"v1:{active}:")
        assert plaintext not in stored
    assert "13800138000" not in raw["mobile"]
    with engine.connect() as conn:
        person = get_person(conn, person_id)
        hashes = conn.execute(select(persons.c.resident_id_hash, persons.c.mobile_hash)).one()
    assert (person.name, person.resident_id, person.mobile, person.bank_account) == (NAME, RESIDENT_ID, "+8613800138000", ACCOUNT)
    assert RESIDENT_ID not in hashes[0] and "13800138000" not in hashes[1]
    assert RESIDENT_ID not in repr(person) and ACCOUNT not in repr(person)


def test_look_up_by_resident_id_and_mobile_through_the_hash(engine: Engine, resident_id) -> None:
    with engine.begin() as conn:
        first = add_person(conn, "Zhang San", RESIDENT_ID, MOBILE)
        second = add_person(conn, "Li Si", resident_id(7), "+86 138 0013 8000")
        add_person(conn, "Wang Wu", resident_id(8), "13900139000")
    with engine.connect() as conn:
        found = find_person_by_resident_id(conn, "11010519491231002x")  # lower-case check character
        assert found is not None and found.id == first and found.name == "Zhang San"
        assert find_person_by_resident_id(conn, resident_id(9)) is None
        assert [p.id for p in find_persons_by_mobile(conn, "138-0013-8000")] == [first, second]


def test_key_rotation_then_reencrypt(engine: Engine, db_url: str, smelend_env: Path, resident_id) -> None:
    key_file = smelend_env / "pii-keyring.json"
    old_key = pii.active_keyring().active_key_id
    with engine.begin() as conn:
        old_ids = [add_person(conn, f"Old {n}", resident_id(n), MOBILE, ACCOUNT) for n in range(1, 4)]
    assert _key_ids(engine) == {old_key}

    new_key = rotate_key(key_file)
    reopened = open_store(db_url)  # reloads the key file: writes now use the new key
    try:
        assert pii.active_keyring().active_key_id == new_key
        with reopened.begin() as conn:
            new_id = add_person(conn, "New", resident_id(10), MOBILE)
        assert _key_ids(reopened) == {old_key, new_key}
        with reopened.connect() as conn:
            assert [get_person(conn, i).name for i in old_ids] == ["Old 1", "Old 2", "Old 3"]
            assert get_person(conn, new_id).resident_id == resident_id(10)

        assert reencrypt(reopened) == 4
        assert _key_ids(reopened) == {new_key}
        assert all(value.startswith(f"v1:{new_key}:") for value in _raw(reopened, old_ids[0]).values() if value)
        with reopened.connect() as conn:
            assert [get_person(conn, i).bank_account for i in old_ids] == [ACCOUNT] * 3
            found = find_person_by_resident_id(conn, resident_id(2))
            assert found is not None and found.id == old_ids[1]
    finally:
        reopened.dispose()


def test_reading_a_row_whose_key_is_gone_is_a_clear_error(engine: Engine) -> None:
    with engine.begin() as conn:
        person_id = add_person(conn, "Zhang San", RESIDENT_ID, MOBILE)
        stored = conn.execute(select(type_coerce(persons.c.resident_id, Text))).scalar_one()
        forged = "v1:k-retired:" + stored.split(":", 2)[2]
        conn.execute(update(persons).values(resident_id=type_coerce(forged, Text)))
    with engine.connect() as conn, pytest.raises(KeyringError) as info:
        get_person(conn, person_id)
    message = str(info.value)
    assert "persons.resident_id" in message and "'k-retired'" in message and RESIDENT_ID not in message


def test_reencrypt_refuses_when_an_old_key_is_missing(engine: Engine, db_url: str, smelend_env: Path) -> None:
    with engine.begin() as conn:
        add_person(conn, "Zhang San", RESIDENT_ID, MOBILE)
    before = _key_ids(engine)
    pii.configure(pii.Keyring("k-only-new", {"k-only-new": b"n" * 32}, pii.active_keyring().lookup_key))
    with pytest.raises(KeyringError, match="does not hold"):
        reencrypt(engine)
    assert _key_ids(engine) == before  # nothing committed


def test_database_errors_do_not_echo_pii(engine: Engine) -> None:
    """Statement parameters are hidden from error messages: in a query they may be plaintext PII."""
    from sqlalchemy import text
    from sqlalchemy.exc import DBAPIError

    with pytest.raises(DBAPIError) as info, engine.connect() as conn:
        conn.execute(text("SELECT no_such_column FROM persons WHERE resident_id_hash = :value"), {"value": RESIDENT_ID})
    message = str(info.value)
    assert "no_such_column" in message and "hidden" in message
    assert RESIDENT_ID not in message
