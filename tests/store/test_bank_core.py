"""The simulated bank core, on each backend: settles once per instruction id, records failed attempts,
injects repeatable failures for a seed, and reports each business date's settlements."""

from __future__ import annotations

import threading
from datetime import date

import pytest
from sqlalchemy import func, select
from sqlalchemy.engine import Engine

from smelend.errors import InvalidInput
from smelend.servicing.payments import PaymentFailed, PaymentGateway, Transfer, with_retries
from smelend.store.bank_core import FAILURE_RATE_ENV, SimulatedBankCore
from smelend.store.tables import bank_core_transfers

DAY = date(2026, 3, 1)
NEXT_DAY = date(2026, 3, 2)
ACCOUNT = "6222020200112233445"


def _transfer(instruction_id: str, kind: str = "disbursement", amount_fen: int = 1_000_000, day: date = DAY, account_ref: str = ACCOUNT) -> Transfer:
    return Transfer(instruction_id, kind, 42, amount_fen, day, account_ref)  # type: ignore[arg-type]


def _rows(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(conn.scalar(select(func.count()).select_from(bank_core_transfers)) or 0)


def test_a_transfer_settles_and_can_be_looked_up(engine: Engine) -> None:
    core = SimulatedBankCore(engine, seed=1)
    assert isinstance(core, PaymentGateway)
    result = core.disburse(_transfer("draw:42:1"))
    assert (result.status, result.reason, result.attempt, result.amount_fen) == ("settled", None, 1, 1_000_000)
    assert core.lookup("draw:42:1") == result
    assert core.lookup("never-sent") is None
    with engine.connect() as conn:
        row = conn.execute(select(bank_core_transfers)).mappings().one()
    assert row["settled_at"] is not None and row["kind"] == "disbursement"
    assert ACCOUNT not in {str(v) for v in row.values()}  # the account reference (PII) is not kept


def test_sending_a_settled_instruction_again_returns_the_settlement(engine: Engine) -> None:
    core = SimulatedBankCore(engine, seed=1)
    first = core.collect(_transfer("collect:1", "collection"))
    assert core.collect(_transfer("collect:1", "collection")) == first
    assert SimulatedBankCore(engine, seed=2, failure_rate=1.0).collect(_transfer("collect:1", "collection")) == first
    assert _rows(engine) == 1


def test_an_instruction_id_reused_for_another_transfer_is_refused(engine: Engine) -> None:
    core = SimulatedBankCore(engine, seed=1)
    first = core.disburse(_transfer("draw:1"))
    with pytest.raises(PaymentFailed) as failure:
        core.disburse(_transfer("draw:1", amount_fen=2_000_000))
    assert not failure.value.retryable and "reused" in failure.value.reason
    assert core.lookup("draw:1") == first


def test_each_method_takes_only_its_own_kinds(engine: Engine) -> None:
    core = SimulatedBankCore(engine, seed=1)
    with pytest.raises(AssertionError):
        core.disburse(_transfer("c1", "collection"))
    with pytest.raises(AssertionError):
        core.receive(_transfer("c2", "refund"))
    assert core.disburse(_transfer("r1", "refund")).settled
    assert core.receive(_transfer("p1", "paid_in")).settled
    assert _rows(engine) == 2


def test_injected_failures_are_repeatable_for_a_seed(engine: Engine) -> None:
    ids = [f"draw:{i}" for i in range(40)]
    core = SimulatedBankCore(engine, failure_rate=0.5, seed=7)
    pattern = [core.times_out(i, 1) for i in ids]
    assert pattern == [SimulatedBankCore(engine, failure_rate=0.5, seed=7).times_out(i, 1) for i in ids]
    assert pattern != [SimulatedBankCore(engine, failure_rate=0.5, seed=8).times_out(i, 1) for i in ids]
    assert 5 < sum(pattern) < 35

    failed: list[str] = []
    for instruction_id in ids:
        try:
            core.disburse(_transfer(instruction_id))
        except PaymentFailed as failure:
            assert failure.retryable and failure.reason == "bank core timeout"
            assert failure.result is not None and failure.result.attempt == 1
            failed.append(instruction_id)
    assert failed == [i for i, fails in zip(ids, pattern) if fails]
    for instruction_id in failed:  # the failed attempt is on record, and a retry is attempt 2
        result = core.lookup(instruction_id)
        assert result is not None and (result.status, result.reason, result.attempt) == ("failed", "bank core timeout", 1)


def test_retries_through_injected_failures_settle_each_instruction_once(engine: Engine) -> None:
    core = SimulatedBankCore(engine, failure_rate=0.5, seed=11)
    ids = [f"collect:{i}" for i in range(20)]
    for instruction_id in ids:
        transfer = _transfer(instruction_id, "collection")
        result = with_retries(lambda: core.collect(transfer), attempts=12)
        expected_attempt = next(n for n in range(1, 13) if not core.times_out(instruction_id, n))
        assert result.settled and result.attempt == expected_attempt
        assert with_retries(lambda: core.collect(transfer), attempts=12) == result
    assert sorted(r.instruction_id for r in core.settlements(DAY)) == sorted(ids)
    assert _rows(engine) == len(ids)


def test_retries_give_up_at_the_limit_with_the_attempts_recorded(engine: Engine) -> None:
    core = SimulatedBankCore(engine, failure_rate=1.0, seed=3)
    with pytest.raises(PaymentFailed) as failure:
        with_retries(lambda: core.disburse(_transfer("draw:1")), attempts=4)
    assert failure.value.retryable
    result = core.lookup("draw:1")
    assert result is not None and result.status == "failed" and result.attempt == 4
    assert core.settlements(DAY) == []


def test_a_collection_beyond_the_available_balance_fails_until_funds_arrive(engine: Engine) -> None:
    balances = {ACCOUNT: 500_000}
    core = SimulatedBankCore(engine, seed=1, balances=balances)
    with pytest.raises(PaymentFailed) as failure:
        with_retries(lambda: core.collect(_transfer("collect:1", "collection")), attempts=5)
    assert not failure.value.retryable and failure.value.reason == "insufficient funds"
    assert core.lookup("collect:1").attempt == 1  # type: ignore[union-attr]  # not retried
    assert core.disburse(_transfer("draw:1")).settled  # only collections need funds
    assert core.collect(_transfer("collect:other", "collection", account_ref="6222999900001111")).settled  # unknown account: not short
    balances[ACCOUNT] = 2_000_000
    result = core.collect(_transfer("collect:1", "collection"))
    assert result.settled and result.attempt == 2


def test_settlements_are_by_business_date_and_settled_only(engine: Engine) -> None:
    core = SimulatedBankCore(engine, seed=1, balances={"6222000000000000": 0})
    a = core.disburse(_transfer("b-draw", day=DAY))
    b = core.receive(_transfer("a-paid", "paid_in", day=DAY))
    c = core.disburse(_transfer("c-draw", day=NEXT_DAY))
    with pytest.raises(PaymentFailed):
        core.collect(_transfer("d-collect", "collection", day=DAY, account_ref="6222000000000000"))
    assert core.settlements(DAY) == [b, a]
    assert core.settlements(NEXT_DAY) == [c]
    assert core.settlements(date(2026, 3, 3)) == []


def test_concurrent_sends_of_one_instruction_settle_it_once(engine: Engine) -> None:
    core = SimulatedBankCore(engine, seed=1)
    barrier = threading.Barrier(4)
    results: list[object] = []

    def send() -> None:
        barrier.wait()
        try:
            results.append(core.disburse(_transfer("draw:race")))
        except BaseException as exc:
            results.append(exc)

    threads = [threading.Thread(target=send) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert len(results) == 4 and all(r == results[0] for r in results), results
    assert _rows(engine) == 1


def test_the_failure_rate_comes_from_the_environment(engine: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(FAILURE_RATE_ENV, raising=False)
    assert SimulatedBankCore.from_settings(engine).failure_rate == 0.0
    monkeypatch.setenv(FAILURE_RATE_ENV, "0.25")
    assert SimulatedBankCore.from_settings(engine, seed=1).failure_rate == 0.25
    for bad in ("lots", "1.5", "-0.1", "nan"):
        monkeypatch.setenv(FAILURE_RATE_ENV, bad)
        with pytest.raises(InvalidInput) as error:
            SimulatedBankCore.from_settings(engine)
        assert error.value.first.field == FAILURE_RATE_ENV
