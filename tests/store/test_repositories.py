"""Persons and enterprises: bad input names the field and writes nothing; duplicates are refused cleanly."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select
from sqlalchemy.engine import Engine

from smelend.errors import InvalidInput
from smelend.store import (
    add_enterprise,
    add_person,
    find_enterprise_by_uscc,
    get_enterprise,
    get_or_create_enterprise,
    get_person,
)
from smelend.store.tables import enterprises, metadata

RESIDENT_ID = "11010519491231002X"
MOBILE = "13800138000"
USCC = "91310000MA1FL8T5X3"
OTHER_USCC = "91110000600037341L"


def _counts(engine: Engine) -> dict[str, int]:
    with engine.connect() as conn:
        return {name: conn.scalar(select(func.count()).select_from(table)) for name, table in metadata.tables.items()}


def _fields(error: InvalidInput) -> set[str]:
    return {e.field for e in error.errors}


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"resident_id": "110105194912310021"}, "resident_id"),  # wrong check character
        ({"resident_id": "12345"}, "resident_id"),
        ({"resident_id": ""}, "resident_id"),
        ({"mobile": "010 1234 5678"}, "mobile"),  # a Beijing landline
        ({"mobile": "not a phone"}, "mobile"),
        ({"name": ""}, "name"),
        ({"name": "   "}, "name"),
        ({"name": "x" * 101}, "name"),
        ({"bank_account": "12AB"}, "bank_account"),
    ],
)
def test_bad_person_input_names_the_field_and_writes_nothing(engine: Engine, kwargs: dict[str, str], field: str) -> None:
    arguments = {"name": "Zhang San", "resident_id": RESIDENT_ID, "mobile": MOBILE, **kwargs}
    before = _counts(engine)
    with pytest.raises(InvalidInput) as info, engine.begin() as conn:
        add_person(conn, **arguments)
    assert _fields(info.value) == {field}
    assert info.value.first.field == field
    assert _counts(engine) == before


def test_every_bad_field_is_reported_at_once(engine: Engine) -> None:
    with pytest.raises(InvalidInput) as info, engine.begin() as conn:
        add_person(conn, "", "123", "456")
    assert _fields(info.value) == {"name", "resident_id", "mobile"}
    assert _counts(engine)["persons"] == 0


def test_duplicate_resident_id_is_refused_cleanly(engine: Engine) -> None:
    with engine.begin() as conn:
        add_person(conn, "Zhang San", RESIDENT_ID, MOBILE)
    with engine.begin() as conn:
        with pytest.raises(InvalidInput) as info:
            add_person(conn, "Someone Else", "11010519491231002x", "13900139000")
        assert (info.value.first.field, info.value.first.reason) == ("resident_id", "already registered")
        add_person(conn, "Li Si", "110105198001010016", MOBILE)  # the transaction is still usable
    assert _counts(engine)["persons"] == 2


def test_names_are_trimmed_and_mobiles_stored_in_e164(engine: Engine) -> None:
    with engine.begin() as conn:
        person = get_person(conn, add_person(conn, "  Zhang   San ", RESIDENT_ID, "138 0013 8000", "6222 0202 0011 2233"))
    assert (person.name, person.mobile, person.bank_account) == ("Zhang San", "+8613800138000", "6222020200112233")
    assert person.created_at.tzinfo is not None


def test_missing_person_names_the_id(engine: Engine) -> None:
    with pytest.raises(InvalidInput, match="person_id: no person with id 42"), engine.connect() as conn:
        get_person(conn, 42)


def test_enterprises(engine: Engine) -> None:
    with engine.begin() as conn:
        owner = add_person(conn, "Zhang San", RESIDENT_ID, MOBILE)
        other_owner = add_person(conn, "Li Si", "110105198001010016", MOBILE)
        enterprise_id = add_enterprise(conn, USCC.lower(), "Acme Trading Co.", owner)
    with engine.begin() as conn:
        found = find_enterprise_by_uscc(conn, USCC)
        assert found is not None and found == get_enterprise(conn, enterprise_id)
        assert (found.uscc, found.name, found.owner_person_id) == (USCC, "Acme Trading Co.", owner)
        assert find_enterprise_by_uscc(conn, OTHER_USCC) is None
        assert get_or_create_enterprise(conn, USCC, "Acme (renamed)", owner) == (found, False)
        new, created = get_or_create_enterprise(conn, OTHER_USCC, "Beta Ltd", other_owner)
        assert created and new.id != enterprise_id and new == get_enterprise(conn, new.id)
        with pytest.raises(InvalidInput, match="uscc: already registered to another owner"):
            get_or_create_enterprise(conn, USCC, "Acme", other_owner)
    with engine.connect() as conn:
        assert get_enterprise(conn, enterprise_id).name == "Acme Trading Co."
        assert conn.scalar(select(func.count()).select_from(enterprises)) == 2


@pytest.mark.parametrize(
    ("uscc", "name", "owner", "field"),
    [
        ("91310000MA1FL8T5X4", "Acme", None, "uscc"),  # wrong check character
        ("", "Acme", None, "uscc"),
        (USCC, "", None, "name"),
        (USCC, "Acme", 999, "owner_person_id"),
    ],
)
def test_bad_enterprise_input_names_the_field_and_writes_nothing(
    engine: Engine, uscc: str, name: str, owner: int | None, field: str
) -> None:
    with engine.begin() as conn:
        owner_id = add_person(conn, "Zhang San", RESIDENT_ID, MOBILE)
    before = _counts(engine)
    with pytest.raises(InvalidInput) as info, engine.begin() as conn:
        add_enterprise(conn, uscc, name, owner if owner is not None else owner_id)
    assert _fields(info.value) == {field}
    assert _counts(engine) == before


def test_duplicate_uscc_is_refused_cleanly(engine: Engine) -> None:
    with engine.begin() as conn:
        owner = add_person(conn, "Zhang San", RESIDENT_ID, MOBILE)
        add_enterprise(conn, USCC, "Acme", owner)
        with pytest.raises(InvalidInput, match="^uscc: already registered$"):
            add_enterprise(conn, USCC, "Acme again", owner)
    assert _counts(engine)["enterprises"] == 1


def test_concurrent_duplicate_resident_id_is_refused_cleanly(engine: Engine) -> None:
    """Two transactions registering the same person at once: the loser gets InvalidInput, not a database error."""
    import threading

    outcome: list[BaseException | int] = []
    first = engine.connect()
    first.begin()
    add_person(first, "Zhang San", RESIDENT_ID, MOBILE)  # holds the row (PostgreSQL) or the write lock (SQLite)

    def second() -> None:
        try:
            with engine.begin() as conn:
                outcome.append(add_person(conn, "Zhang San Again", RESIDENT_ID, MOBILE))
        except BaseException as exc:  # noqa: BLE001  (reported below)
            outcome.append(exc)

    thread = threading.Thread(target=second)
    thread.start()
    thread.join(0.3)  # let the second one reach its check (SQLite) or its insert (PostgreSQL) and wait
    first.commit()
    first.close()
    thread.join(20)
    assert not thread.is_alive()
    assert len(outcome) == 1 and isinstance(outcome[0], InvalidInput), outcome
    assert (outcome[0].first.field, outcome[0].first.reason) == ("resident_id", "already registered")
    assert _counts(engine)["persons"] == 1


def test_two_transactions_registering_one_person_and_enterprise_at_once_both_succeed(engine: Engine, resident_id) -> None:  # type: ignore[no-untyped-def]
    """A look-up cannot see a registration another transaction has not committed yet; the insert then waits
    on the unique key (PostgreSQL) and finds the duplicate: the second registration takes the first's rows
    instead of failing with "already registered" (a partner's two applications for one owner at once)."""
    import threading
    import time

    from smelend.store import add_person_if_new, find_person_by_resident_id

    rid = resident_id(7)
    first = engine.connect()
    transaction = first.begin()
    person_id = add_person_if_new(first, "Li Si", rid, MOBILE)
    assert person_id is not None
    enterprise, created = get_or_create_enterprise(first, USCC, "Li Si Trading", person_id)
    assert created
    seen: dict[str, object] = {}

    def second() -> None:
        with engine.begin() as conn:
            seen["looked_up"] = find_person_by_resident_id(conn, rid)
            seen["inserted"] = add_person_if_new(conn, "Li Si", rid, MOBILE)
            person = find_person_by_resident_id(conn, rid)
            assert person is not None
            seen["person"] = person.id
            seen["enterprise"] = get_or_create_enterprise(conn, USCC, "Li Si Trading", person.id)

    thread = threading.Thread(target=second)
    thread.start()
    time.sleep(0.5)  # the second transaction is now waiting (on the unique key or, SQLite, on the write lock)
    transaction.commit()
    first.close()
    thread.join(30)
    assert not thread.is_alive()
    assert seen["inserted"] is None
    assert seen["person"] == person_id
    assert seen["enterprise"] == (enterprise, False)
    with engine.connect() as conn:
        assert conn.scalar(select(func.count()).select_from(enterprises)) == 1
