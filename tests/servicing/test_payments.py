"""The payment adapter's pure core: instructions, results, and retries that never pay twice.

The gateway here is a scripted stand-in for the bank core (an outside system, not our storage): each
instruction id fails as its script says, then settles once and for all.
"""

from __future__ import annotations

from collections import Counter
from datetime import date

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from smelend.servicing.payments import (
    MAX_RETRY_ATTEMPTS,
    PaymentFailed,
    PaymentGateway,
    Transfer,
    TransferResult,
    expected_kinds,
    with_retries,
)

DAY = date(2026, 3, 1)
TIMEOUT = ("bank core timeout", True)
NO_FUNDS = ("insufficient funds", False)


class ScriptedBank:
    """Fails each instruction's first attempts as scripted, then settles it; idempotent by id."""

    def __init__(self, scripts: dict[str, list[tuple[str, bool]]] | None = None):
        self.scripts = scripts or {}
        self.attempts: Counter[str] = Counter()
        self.results: dict[str, TransferResult] = {}
        self.money_moved: list[str] = []  # one item per real movement of money

    def _send(self, t: Transfer) -> TransferResult:
        previous = self.results.get(t.instruction_id)
        if previous is not None and previous.settled:
            return previous
        self.attempts[t.instruction_id] += 1
        attempt = self.attempts[t.instruction_id]
        script = self.scripts.get(t.instruction_id, [])
        if attempt <= len(script):
            reason, retryable = script[attempt - 1]
            failed = TransferResult(t.instruction_id, t.kind, t.loan_id, t.amount_fen, t.business_date, "failed", reason, attempt)
            self.results[t.instruction_id] = failed
            raise PaymentFailed(reason, retryable, failed)
        settled = TransferResult(t.instruction_id, t.kind, t.loan_id, t.amount_fen, t.business_date, "settled", None, attempt)
        self.results[t.instruction_id] = settled
        self.money_moved.append(t.instruction_id)
        return settled

    disburse = collect = receive = _send

    def lookup(self, instruction_id: str) -> TransferResult | None:
        return self.results.get(instruction_id)

    def settlements(self, business_date: date) -> list[TransferResult]:
        return [r for r in self.results.values() if r.settled and r.business_date == business_date]


def _collection(instruction_id: str = "collect:42:2026-03-01", amount_fen: int = 866_190) -> Transfer:
    return Transfer(instruction_id, "collection", 42, amount_fen, DAY, "6222020200112233445")


def test_the_scripted_bank_is_a_payment_gateway() -> None:
    assert isinstance(ScriptedBank(), PaymentGateway)


def test_retries_succeed_after_transient_failures() -> None:
    bank = ScriptedBank({"c1": [TIMEOUT, TIMEOUT]})
    transfer = _collection("c1")
    retried: list[tuple[int, str]] = []
    result = with_retries(lambda: bank.collect(transfer), attempts=3, on_retry=lambda n, e: retried.append((n, e.reason)))
    assert result.settled and result.attempt == 3 and result.reason is None
    assert retried == [(1, "bank core timeout"), (2, "bank core timeout")]
    assert bank.money_moved == ["c1"]


def test_retries_give_up_after_the_limit() -> None:
    bank = ScriptedBank({"c1": [TIMEOUT] * 5})
    with pytest.raises(PaymentFailed) as failure:
        with_retries(lambda: bank.collect(_collection("c1")), attempts=3)
    assert failure.value.retryable and failure.value.reason == "bank core timeout"
    assert failure.value.result is not None and failure.value.result.attempt == 3
    assert bank.attempts["c1"] == 3 and bank.money_moved == []


def test_a_non_retryable_failure_is_not_retried() -> None:
    bank = ScriptedBank({"c1": [NO_FUNDS]})
    calls: list[int] = []
    with pytest.raises(PaymentFailed) as failure:
        with_retries(lambda: bank.collect(_collection("c1")), attempts=5, on_retry=lambda n, e: calls.append(n))
    assert not failure.value.retryable and failure.value.reason == "insufficient funds"
    assert bank.attempts["c1"] == 1 and calls == []
    # funds arrive later: the same instruction id may be sent again, and settles
    assert with_retries(lambda: bank.collect(_collection("c1")), attempts=1).attempt == 2


def test_a_settled_instruction_is_never_settled_twice() -> None:
    bank = ScriptedBank({"c1": [TIMEOUT]})
    transfer = _collection("c1")
    first = with_retries(lambda: bank.collect(transfer), attempts=2)
    again = with_retries(lambda: bank.collect(transfer), attempts=2)
    assert again == first and bank.lookup("c1") == first
    assert bank.money_moved == ["c1"]
    assert bank.settlements(DAY) == [first]


@settings(max_examples=200)
@given(
    scripts=st.lists(st.lists(st.sampled_from([TIMEOUT, NO_FUNDS]), max_size=6), min_size=1, max_size=5),
    attempts=st.integers(1, 6),
    rounds=st.integers(1, 3),
)
def test_retrying_settles_each_instruction_at_most_once(scripts: list[list[tuple[str, bool]]], attempts: int, rounds: int) -> None:
    bank = ScriptedBank({f"c{i}": s for i, s in enumerate(scripts)})
    for _ in range(rounds):  # e.g. a retried close of business resending every instruction
        for i, script in enumerate(scripts):
            try:
                result = with_retries(lambda: bank.collect(_collection(f"c{i}")), attempts=attempts)
            except PaymentFailed as failure:
                assert failure.result is not None and not failure.result.settled
            else:
                assert result.settled
    assert max(Counter(bank.money_moved).values(), default=1) == 1
    for i, script in enumerate(scripts):
        settled_on_first_round = all(retryable for _, retryable in script[: attempts - 1]) and len(script) < attempts
        if settled_on_first_round:
            assert bank.attempts[f"c{i}"] == len(script) + 1


def test_the_retry_limit_is_explicit() -> None:
    bank = ScriptedBank()
    for bad in (0, -1, MAX_RETRY_ATTEMPTS + 1):
        with pytest.raises(AssertionError):
            with_retries(lambda: bank.collect(_collection()), attempts=bad)
    assert bank.attempts == Counter()


def test_transfers_are_validated_and_mask_the_account() -> None:
    transfer = _collection()
    assert "6222020200112233445" not in repr(transfer) and "****3445" in repr(transfer)
    for bad in (
        {"amount_fen": 0},
        {"amount_fen": -5},
        {"kind": "gift"},
        {"instruction_id": ""},
        {"instruction_id": "x" * 201},
        {"loan_id": 0},
        {"account_ref": ""},
    ):
        fields = {**transfer.__dict__, **bad}
        with pytest.raises(AssertionError):
            Transfer(**fields)


def test_results_are_consistent() -> None:
    with pytest.raises(AssertionError):
        TransferResult("c1", "collection", 42, 100, DAY, "settled", "insufficient funds", 1)
    with pytest.raises(AssertionError):
        TransferResult("c1", "collection", 42, 100, DAY, "failed", None, 1)
    with pytest.raises(AssertionError):
        TransferResult("c1", "collection", 42, 100, DAY, "settled", None, 0)
    result = TransferResult("c1", "collection", 42, 100, DAY, "settled", None, 1)
    assert result.is_for(_collection("c1", 100))
    assert not result.is_for(_collection("c1", 101))


def test_each_gateway_method_carries_its_own_kinds() -> None:
    assert expected_kinds("disburse") == {"disbursement", "refund"}
    assert expected_kinds("collect") == {"collection"}
    assert expected_kinds("receive") == {"paid_in"}
