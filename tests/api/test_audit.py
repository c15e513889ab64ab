"""The audit log: written in the caller's transaction, PII masked, listed page by page; on every backend."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal

import pytest
from sqlalchemy import text
from sqlalchemy.engine import Engine

from smelend.errors import InvalidInput
from smelend.store import open_store
from smelend.store.audit import list_audit, mask_pii, record

RESIDENT_ID = "11010519491231002X"


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    store = open_store(db_url)
    yield store
    store.dispose()


def test_mask_pii_masks_keys_and_text_and_removes_secrets():
    document = {
        "applicant": {"name": "张三丰", "id_number": RESIDENT_ID, "mobile": "13800138000"},
        "owners": [{"resident_id": RESIDENT_ID, "phone": "+86 138 0013 8000", "bank_account": "6222021234567890123"}],
        "comment": f"called 13800138000 about {RESIDENT_ID}",
        "token": "smu_abc", "Secret": "s" * 43,
        "amount": Decimal("100.00"), "count": 3, "ok": True, "none": None,
        "id_number_bad": {"id_number": "12345"},
    }
    masked = mask_pii(document)
    assert masked["applicant"] == {"name": "张**", "id_number": "110***********002X", "mobile": "+86138****8000"}
    assert masked["owners"][0] == {"resident_id": "110***********002X", "phone": "+86138****8000", "bank_account": "****0123"}
    assert masked["comment"] == "called +86138****8000 about 110***********002X"
    assert masked["token"] == masked["Secret"] == "[removed]"
    assert masked["amount"] == Decimal("100.00") and masked["count"] == 3 and masked["ok"] is True and masked["none"] is None
    assert masked["id_number_bad"] == {"id_number": "*****"}
    assert document["applicant"]["id_number"] == RESIDENT_ID  # the input is not changed


def test_a_record_stores_masked_json_and_lists_in_pages(engine):
    with engine.begin() as conn:
        first = record(conn, "staff:1", "person.create", "person", 7, None, {"name": "Zhang San", "resident_id": RESIDENT_ID, "limit": Decimal("5.00")})
        second = record(conn, "partner:2", "application.create", "application", "APP-1", {"status": "new"}, {"status": "approved"})
        record(conn, "cob", "line.expire", "line", 3, {"status": "active"}, {"status": "expired"})
        raw = conn.execute(text("SELECT after FROM audit_log WHERE id = :id"), {"id": first}).scalar_one()
    assert RESIDENT_ID not in raw and "Zhang San" not in raw and "110***********002X" in raw
    with engine.connect() as conn:
        page = list_audit(conn, limit=2)
        assert [entry.id for entry in page] == [first, second]
        assert page[0].actor == "staff:1" and page[0].entity_id == "7" and page[0].before is None
        assert page[0].after == {"limit": "5.00", "name": "Z********", "resident_id": "110***********002X"}
        assert page[0].at is not None
        rest = list_audit(conn, limit=2, after_id=second)
        assert [entry.action for entry in rest] == ["line.expire"]
        assert [entry.entity_id for entry in list_audit(conn, entity="application")] == ["APP-1"]
        with pytest.raises(InvalidInput):
            list_audit(conn, limit=0)


def test_a_rolled_back_change_leaves_no_audit_row(engine):
    with pytest.raises(RuntimeError):
        with engine.begin() as conn:
            record(conn, "staff:1", "line.freeze", "line", 1, {"status": "active"}, {"status": "frozen"})
            raise RuntimeError("the change failed")
    with engine.connect() as conn:
        assert list_audit(conn) == []


def test_a_record_must_say_what_changed(engine):
    with engine.begin() as conn, pytest.raises(AssertionError):
        record(conn, "staff:1", "nothing", "line", 1, None, None)
