"""gather(): consent before any call, every answer validated, every failure a status with a reason; FileProvider."""

from __future__ import annotations

import json
import threading
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from smelend.errors import InvalidInput
from smelend.risk.providers import (
    ALL_SOURCES,
    ConsentMissing,
    FileProvider,
    MalformedAnswer,
    ProviderUnavailable,
    SimulatedProvider,
    SourceMissing,
    gather,
    simulate_applications,
    validate_answer,
    with_source,
)
from smelend.risk.providers.base import NO_BUREAU_CONSENT, Provider
from smelend.risk.schemas import SOURCES, Application, Evidence

CST = timezone(timedelta(hours=8))
NOW = datetime(2025, 6, 1, 10, 0, tzinfo=CST)


def clock() -> datetime:
    return NOW


APPS = simulate_applications(40, seed=11)
SIM = SimulatedProvider(seed=3)


def app_with(consent_changes: dict[str, Any] | None = None) -> Application:
    app = APPS[0]
    if consent_changes:
        app = app.model_copy(update={"consent": app.consent.model_copy(update=consent_changes)})
    return app


class Counting:
    """A provider that counts calls and answers from another provider (or a fixed answer / error)."""

    name = "counting"

    def __init__(self, inner: Any = SIM, answers: dict[str, Any] | None = None):
        self.inner = inner
        self.answers = answers or {}
        self.calls: list[str] = []
        self._lock = threading.Lock()

    def fetch(self, source: str, application: Application) -> dict[str, Any]:
        with self._lock:
            self.calls.append(source)
        if source in self.answers:
            answer = self.answers[source]
            if isinstance(answer, Exception):
                raise answer
            return answer
        return self.inner.fetch(source, application)


def test_providers_satisfy_the_protocol(tmp_path: Path) -> None:
    assert isinstance(SIM, Provider)
    assert isinstance(FileProvider(tmp_path), Provider)
    assert isinstance(Counting(), Provider)


def test_no_provider_call_without_consent_to_use_data() -> None:
    counting = Counting()
    app = app_with({"data_use": False, "bureau_query": True})
    with pytest.raises(ConsentMissing) as exc:
        gather(app, counting, clock=clock)
    assert isinstance(exc.value, InvalidInput)
    assert exc.value.first.field == "consent.data_use"
    assert counting.calls == []


def test_bureau_is_not_requested_without_authorisation() -> None:
    counting = Counting()
    evidence = gather(app_with({"bureau_query": False}), counting, clock=clock)
    assert "bureau" not in counting.calls
    assert sorted(counting.calls) == sorted(s for s in SOURCES if s != "bureau")
    result = evidence.results["bureau"]
    assert (result.status, result.reason, result.provider, result.latency_ms, result.fetched_at) == ("not_requested", NO_BUREAU_CONSENT, "", 0.0, None)
    assert evidence.bureau is None


def test_only_requested_sources_are_fetched() -> None:
    counting = Counting()
    evidence = gather(app_with(), counting, ("tax", "registration", "tax"), clock=clock)
    assert counting.calls == ["registration", "tax"]
    assert {s for s, r in evidence.results.items() if r.status == "not_requested"} == set(SOURCES) - {"tax", "registration"}
    with pytest.raises(ValueError, match="unknown sources: weather"):
        gather(app_with(), counting, ("tax", "weather"), clock=clock)
    assert counting.calls == ["registration", "tax"]


def test_gather_records_everything_and_round_trips() -> None:
    evidence = gather(app_with(), Counting(), clock=clock)
    assert list(evidence.results) == list(ALL_SOURCES)
    for source, result in evidence.results.items():
        assert result.provider == "counting"
        assert result.fetched_at == NOW
        assert result.latency_ms >= 0
        assert (result.status == "ok") == (evidence.data(source) is not None)
    assert evidence.gathered_at == NOW and evidence.application_id == APPS[0].id
    assert Evidence.model_validate(json.loads(json.dumps(evidence.model_dump(mode="json")))) == evidence


BAD_TAX = {"credit_grade": "E", "tax_paid_12m_fen": 1, "tax_paid_24m_fen": 2, "filing_months_12m": 12, "declared_sales_12m_fen": 5, "arrears_fen": 0}


@pytest.mark.parametrize(
    ("answer", "status", "reason"),
    [
        (BAD_TAX, "malformed", "tax.credit_grade: Input should be 'A', 'B', 'M', 'C' or 'D'"),
        ({**BAD_TAX, "credit_grade": "A", "tax_paid_12m_fen": "1"}, "malformed", "tax.tax_paid_12m_fen: Input should be a valid integer"),
        ({**BAD_TAX, "credit_grade": "A", "extra": 1}, "malformed", "tax.extra: is not a known field"),
        ({k: v for k, v in BAD_TAX.items() if k != "arrears_fen"} | {"credit_grade": "B"}, "malformed", "tax.arrears_fen: is required"),
        ([1, 2], "malformed", "tax: the answer is not a JSON object (got list)"),
        (None, "malformed", "tax: the answer is not a JSON object (got NoneType)"),
        (SourceMissing("tax: no record"), "missing", "tax: no record"),
        (MalformedAnswer("tax: not JSON"), "malformed", "tax: not JSON"),
        (ProviderUnavailable("tax: timed out"), "unavailable", "tax: timed out"),
        (RuntimeError("boom"), "unavailable", "tax: the provider failed: RuntimeError: boom"),
        (KeyError("x"), "unavailable", "tax: the provider failed: KeyError: 'x'"),
    ],
)
def test_bad_answers_become_statuses_with_reasons(answer: Any, status: str, reason: str) -> None:
    evidence = gather(app_with(), Counting(answers={"tax": answer}), clock=clock)
    result = evidence.results["tax"]
    assert (result.status, result.reason) == (status, reason)
    assert evidence.tax is None
    assert evidence.results["registration"].status == "ok"


def test_every_field_at_fault_is_named() -> None:
    ok, reason = validate_answer("invoices", {"sales_invoiced_12m_fen": -1, "sales_invoiced_prev_12m_fen": 0, "buyers_count_12m": 1, "top_buyer_share": 2, "monthly_volatility": 0.1, "cancelled_share": 0})
    assert ok is None
    assert reason.startswith("invoices.sales_invoiced_12m_fen: ") and "; invoices.top_buyer_share: " in reason


def test_concurrent_gathering_gives_the_same_evidence() -> None:
    for app in APPS[:10]:
        one = gather(app, SIM, clock=clock)
        many = gather(app, SIM, clock=clock, concurrency=4)
        strip = {s: r.model_copy(update={"latency_ms": 0.0}) for s, r in one.results.items()}
        assert many.model_copy(update={"results": {s: r.model_copy(update={"latency_ms": 0.0}) for s, r in many.results.items()}}) == one.model_copy(update={"results": strip})


def test_with_source_replaces_exposure_from_the_store() -> None:
    evidence = gather(app_with(), SIM, clock=clock)
    other = APPS[1].enterprise.uscc
    replaced = with_source(evidence, "exposure", {"other_enterprises": [other], "bank_limits_fen": 5_000_000, "bank_outstanding_fen": 1_000_000}, provider="store", clock=clock)
    assert replaced.exposure is not None and replaced.exposure.other_enterprises == (other,)
    assert replaced.results["exposure"].provider == "store"
    assert Evidence.model_validate(replaced.model_dump(mode="json")) == replaced
    with pytest.raises(InvalidInput) as exc:
        with_source(evidence, "exposure", {"other_enterprises": [], "bank_limits_fen": -1, "bank_outstanding_fen": 0}, provider="store", clock=clock)
    assert exc.value.first.field == "exposure.bank_limits_fen"


# --- FileProvider ------------------------------------------------------------------------------------


def test_file_provider_reads_what_was_written(tmp_path: Path) -> None:
    files = FileProvider(tmp_path)
    app = app_with()
    for source in SOURCES:
        try:
            files.write(source, app, SIM.fetch(source, app))
        except SourceMissing:
            pass
    assert (tmp_path / app.applicant.id_number / "identity.json").is_file()
    assert (tmp_path / app.enterprise.uscc / "registration.json").is_file()
    from_files = gather(app, files, clock=clock)
    simulated = gather(app, SIM, clock=clock)
    for source in SOURCES:
        assert from_files.data(source) == simulated.data(source)
        assert from_files.results[source].status == simulated.results[source].status
        assert from_files.results[source].provider == "files"


def test_file_provider_failures(tmp_path: Path) -> None:
    files = FileProvider(tmp_path)
    app = app_with()
    uscc_dir = tmp_path / app.enterprise.uscc
    uscc_dir.mkdir()
    (uscc_dir / "tax.json").write_text('{"credit_grade": "A",', encoding="utf-8")
    (uscc_dir / "invoices.json").write_bytes(b"\xff\xfe{}")
    (uscc_dir / "cashflow.json").mkdir()  # a folder where a file should be: cannot be read
    (uscc_dir / "registration.json").write_text(json.dumps({"status": "active"}), encoding="utf-8")
    evidence = gather(app, files, clock=clock)
    r = evidence.results
    assert r["tax"].status == "malformed" and "tax.json is not valid JSON" in r["tax"].reason and "line 1" in r["tax"].reason
    assert r["invoices"].status == "malformed" and "not UTF-8" in r["invoices"].reason
    assert r["cashflow"].status == "unavailable" and "cannot read cashflow.json" in r["cashflow"].reason
    assert r["registration"].status == "malformed" and "registration.established_on: is required" in r["registration"].reason
    assert r["bureau"].status == "missing" and r["bureau"].reason == "bureau: no file " + app.applicant.id_number + "/bureau.json"


def test_the_clock_must_be_time_zone_aware() -> None:
    counting = Counting()
    with pytest.raises(ValueError, match="time-zone aware"):
        gather(app_with(), counting, clock=lambda: datetime(2025, 6, 1))
    assert counting.calls == []
