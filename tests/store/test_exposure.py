"""Owner-level exposure: lines of the owner's other enterprises add up; the applying one, other owners'
and expired lines do not."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from smelend.servicing.credit_line import LineStatus
from smelend.store import add_enterprise, add_person
from smelend.store.exposure import owner_exposure
from smelend.store.repositories import find_person_by_resident_id
from smelend.store.lending import insert_line, reserve, set_line_status

USCC_A = "91310000MA1FL8T5X3"
USCC_B = "91110000600037341L"
USCC_C = "91440300MA5DC0QL22"
USCC_D = "91330100MA2GL2KX18"

pytestmark = pytest.mark.db


def test_exposure_sums_the_owners_other_enterprises(engine, resident_id):
    with engine.begin() as conn:
        owner = add_person(conn, "张三", resident_id(1), "13800138000")
        other = add_person(conn, "李四", resident_id(2), "13900139000")
        applying = add_enterprise(conn, USCC_A, "甲公司", owner)
        second = add_enterprise(conn, USCC_B, "乙公司", owner)
        third = add_enterprise(conn, USCC_C, "丙公司", owner)
        strangers = add_enterprise(conn, USCC_D, "丁公司", other)
        start, end = date(2026, 1, 1), date(2027, 1, 1)
        insert_line(conn, applying, "tax-data-loan", 50_000_000, Decimal("0.08"), start, end)
        second_line = insert_line(conn, second, "tax-data-loan", 20_000_000, Decimal("0.08"), start, end)
        reserve(conn, second_line, 7_500_000)
        frozen = insert_line(conn, third, "invoice-loan", 10_000_000, Decimal("0.09"), start, end)
        reserve(conn, frozen, 1_000_000)
        set_line_status(conn, frozen, LineStatus.FROZEN, allowed_from=[LineStatus.ACTIVE])
        expired = insert_line(conn, third, "invoice-loan", 99_000_000, Decimal("0.09"), start, end)
        set_line_status(conn, expired, LineStatus.EXPIRED, allowed_from=[LineStatus.ACTIVE])
        insert_line(conn, strangers, "tax-data-loan", 88_000_000, Decimal("0.08"), start, end)

    with engine.connect() as conn:
        exposure = owner_exposure(conn, find_person_by_resident_id(conn, resident_id(1)), USCC_A)
        assert exposure.other_enterprises == tuple(sorted((USCC_B, USCC_C)))
        assert exposure.bank_limits_fen == 30_000_000
        assert exposure.bank_outstanding_fen == 8_500_000
        assert find_person_by_resident_id(conn, resident_id(3)) is None
        assert owner_exposure(conn, None, USCC_A).bank_limits_fen == 0  # unknown owner: nothing
