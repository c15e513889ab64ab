"""Schemas: strict, frozen, every field documented, errors name the field, JSON round trips exactly."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import BaseModel, ValidationError

from smelend.errors import InvalidInput
from smelend.risk import schemas as S

CST = timezone(timedelta(hours=8))
ID = "11010519491231002X"
USCC = "91110000600037341L"
NOW = datetime(2025, 3, 1, 10, 0, tzinfo=CST)


def raw_application(**changes: object) -> dict:
    raw = {
        "id": "A-1",
        "applicant": {"name": "王芳", "id_number": ID.lower(), "mobile": "138 0013 8000"},
        "enterprise": {"name": "北京恒达商贸有限公司", "uscc": USCC},
        "product_id": "tax-data-loan",
        "requested_amount_fen": 20_000_000,
        "channel": "app",
        "consent": {"data_use": True, "bureau_query": True, "granted_at": "2025-03-01T09:30:00+08:00", "channel": "app", "text_version": "consent-2025-01"},
        "applied_on": "2025-03-01",
    }
    raw.update(changes)
    return raw


def ok(source: str) -> S.SourceResult:
    return S.SourceResult(source=source, status="ok", reason="", provider="test", latency_ms=1.25, fetched_at=NOW)


def not_ok(source: str, status: str = "missing") -> S.SourceResult:
    return S.SourceResult(source=source, status=status, reason="no record", provider="test", latency_ms=0.5, fetched_at=NOW)


TAX = {"credit_grade": "B", "tax_paid_12m_fen": 600_000, "tax_paid_24m_fen": 1_100_000, "filing_months_12m": 12, "declared_sales_12m_fen": 30_000_000, "arrears_fen": 0}
BUREAU = {
    "credit_history_months": 120, "current_overdue_fen": 0, "max_dpd_24m": 0, "overdue_count_24m": 0,
    "inquiries_1m": 1, "inquiries_3m": 2, "inquiries_6m": 4, "lenders_count": 2, "outstanding_loans_fen": 30_000_000,
    "monthly_debt_service_fen": 900_000, "card_limit_fen": 5_000_000, "card_balance_fen": 1_000_000, "declared_income_monthly_fen": None,
}
REGISTRATION = {
    "established_on": "2019-05-20", "registered_capital_fen": 100_000_000, "industry_code": "F51", "legal_representative_id_number": ID,
    "shareholder_changes_12m": 0, "administrative_penalties_24m": 0, "court_judgements_24m": 1, "dishonest_debtor": False, "status": "active",
}


def full_evidence() -> S.Evidence:
    data = {
        "identity": S.IdentityCheck(result="match", checked_at=NOW, reference="ID-1"),
        "aml": S.AmlScreening(result="clear", lists_checked=("UN", "PBOC"), reference="AML-1"),
        "bureau": S.CreditReport.model_validate(BUREAU),
        "registration": S.Registration.model_validate(REGISTRATION),
        "tax": S.Tax.model_validate(TAX),
        "invoices": S.Invoices(sales_invoiced_12m_fen=25_000_000, sales_invoiced_prev_12m_fen=20_000_000, buyers_count_12m=30, top_buyer_share=0.25, monthly_volatility=0.4, cancelled_share=0.01),
        "cashflow": None,
        "relationship": S.BankRelationship(deposits_avg_fen=5_000_000, payroll=False, settlement_account=True, customer_since=date(2021, 1, 4)),
        "exposure": S.Exposure(other_enterprises=("91310000MA1FL8T5X3",), bank_limits_fen=10_000_000, bank_outstanding_fen=4_000_000),
    }
    results = {s: ok(s) if data[s] is not None else not_ok(s, "unavailable") for s in S.SOURCES}
    return S.Evidence(application_id="A-1", gathered_at=NOW, results=results, **data)


def test_application_is_normalised() -> None:
    app = S.parse(S.Application, raw_application())
    assert app.applicant.id_number == ID
    assert app.applicant.mobile == "+8613800138000"
    assert app.enterprise.uscc == USCC
    assert app.applied_on == date(2025, 3, 1)


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"applicant": {"name": "王芳", "id_number": "110105194912310021", "mobile": "13800138000"}}, "applicant.id_number"),
        ({"applicant": {"name": "王芳", "id_number": ID, "mobile": "010 1234 5678"}}, "applicant.mobile"),
        ({"applicant": {"name": " ", "id_number": ID, "mobile": "13800138000"}}, "applicant.name"),
        ({"enterprise": {"name": "X", "uscc": "91110000600037341M"}}, "enterprise.uscc"),
        ({"requested_amount_fen": 0}, "requested_amount_fen"),
        ({"requested_amount_fen": "100"}, "requested_amount_fen"),
        ({"requested_amount_fen": 100.0}, "requested_amount_fen"),
        ({"applied_on": "2025-02-30"}, "applied_on"),
        ({"id": ""}, "id"),
        ({"colour": "red"}, "colour"),
    ],
)
def test_application_errors_name_the_field(change: dict, field: str) -> None:
    with pytest.raises(InvalidInput) as exc:
        S.parse(S.Application, raw_application(**change))
    assert [e.field for e in exc.value.errors] == [field]


def test_consent_errors_name_the_field() -> None:
    raw = raw_application()
    raw["consent"] = {**raw["consent"], "bureau_query": "yes", "granted_at": "2025-03-01T09:30:00"}
    with pytest.raises(InvalidInput) as exc:
        S.parse(S.Application, raw)
    assert {e.field for e in exc.value.errors} == {"consent.bureau_query", "consent.granted_at"}


def test_every_error_is_reported_at_once() -> None:
    raw = raw_application(requested_amount_fen=-1, enterprise={"name": "X", "uscc": "123"})
    with pytest.raises(InvalidInput) as exc:
        S.parse(S.Application, raw)
    assert {e.field for e in exc.value.errors} == {"requested_amount_fen", "enterprise.uscc"}
    assert "wrong length" in str(exc.value)


def test_models_are_frozen() -> None:
    app = S.parse(S.Application, raw_application())
    with pytest.raises(ValidationError):
        app.requested_amount_fen = 1  # type: ignore[misc]


def _all_models() -> list[type[BaseModel]]:
    return [m for m in vars(S).values() if isinstance(m, type) and issubclass(m, S.Record) and m is not S.Record]


@pytest.mark.parametrize("model", _all_models(), ids=lambda m: m.__name__)
def test_every_field_is_documented_and_models_are_strict(model: type[BaseModel]) -> None:
    assert model.model_config["frozen"] and model.model_config["extra"] == "forbid"
    assert model.__doc__
    for name, info in model.model_fields.items():
        assert info.description and len(info.description) > 10, f"{model.__name__}.{name} has no description"


@pytest.mark.parametrize(
    ("code", "ok_"),
    [("F51", True), ("f52", True), ("A01", True), ("C43", True), ("T97", True), ("K70", True), ("F53", False), ("C12", False), ("U01", False), ("F5", False), ("FF1", False), ("A00", False)],
)
def test_industry_code(code: str, ok_: bool) -> None:
    raw = {**REGISTRATION, "industry_code": code}
    if ok_:
        assert S.Registration.model_validate(raw).industry_code == code.upper()
    else:
        with pytest.raises(InvalidInput) as exc:
            S.parse(S.Registration, raw, "registration")
        assert exc.value.first.field == "registration.industry_code"


def test_industry_sections_cover_divisions_01_to_97_once() -> None:
    divisions = [d for low, high, _ in S.INDUSTRY_SECTIONS.values() for d in range(low, high + 1)]
    assert divisions == list(range(1, 98))


@pytest.mark.parametrize(
    ("model", "raw", "field"),
    [
        (S.Tax, {**TAX, "credit_grade": "E"}, "tax.credit_grade"),
        (S.Tax, {**TAX, "filing_months_12m": 13}, "tax.filing_months_12m"),
        (S.Tax, {**TAX, "tax_paid_24m_fen": 1}, "tax"),
        (S.Tax, {**TAX, "arrears_fen": -5}, "tax.arrears_fen"),
        (S.Tax, {k: v for k, v in TAX.items() if k != "arrears_fen"}, "tax.arrears_fen"),
        (S.CreditReport, {**BUREAU, "inquiries_1m": 3}, "bureau"),
        (S.CreditReport, {**BUREAU, "max_dpd_24m": True}, "bureau.max_dpd_24m"),
        (S.Registration, {**REGISTRATION, "dishonest_debtor": 0}, "registration.dishonest_debtor"),
        (S.Registration, {**REGISTRATION, "status": "sleeping"}, "registration.status"),
        (S.Registration, {**REGISTRATION, "legal_representative_id_number": "123"}, "registration.legal_representative_id_number"),
        (S.Invoices, {"sales_invoiced_12m_fen": 1, "sales_invoiced_prev_12m_fen": 0, "buyers_count_12m": 1, "top_buyer_share": 1.5, "monthly_volatility": 0.1, "cancelled_share": 0}, "invoices.top_buyer_share"),
        (S.Invoices, {"sales_invoiced_12m_fen": 1, "sales_invoiced_prev_12m_fen": 0, "buyers_count_12m": 0, "top_buyer_share": 1, "monthly_volatility": 0.1, "cancelled_share": 0}, "invoices"),
        (S.CashFlow, {"monthly_inflow_avg_fen": 1, "inflow_stability": float("nan"), "months_observed": 12}, "cashflow.inflow_stability"),
        (S.Exposure, {"other_enterprises": ["91110000600037341M"], "bank_limits_fen": 0, "bank_outstanding_fen": 0}, "exposure.other_enterprises[0]"),
    ],
)
def test_provider_data_errors_name_the_field(model: type[BaseModel], raw: dict, field: str) -> None:
    with pytest.raises(InvalidInput) as exc:
        S.parse(model, raw, field.split(".")[0])
    assert exc.value.first.field == field


def test_owner_age_is_computed_from_the_resident_id() -> None:
    app = S.parse(S.Application, raw_application(applied_on="2025-12-30"))
    owner = S.Owner.of(app.applicant, app.applied_on, None)
    assert owner.age == 75
    assert S.Owner.of(app.applicant, date(2025, 12, 31), None).age == 76
    dumped = owner.model_dump(mode="json")
    assert S.Owner.model_validate(dumped) == owner
    with pytest.raises(InvalidInput) as exc:
        S.parse(S.Owner, {**dumped, "age": 30}, "owner")
    assert exc.value.first.field == "owner"
    assert "birth date" in exc.value.first.reason


def test_card_utilisation_is_derived() -> None:
    report = S.CreditReport.model_validate(BUREAU)
    assert report.card_utilisation == 0.2
    assert S.CreditReport.model_validate({**BUREAU, "card_limit_fen": 0, "card_balance_fen": 0}).card_utilisation is None


def test_evidence_round_trips_through_json_exactly() -> None:
    evidence = full_evidence()
    import json

    text = json.dumps(evidence.model_dump(mode="json"), ensure_ascii=False)
    again = S.Evidence.model_validate(json.loads(text))
    assert again == evidence
    assert again.model_dump(mode="json") == evidence.model_dump(mode="json")
    app = S.parse(S.Application, raw_application())
    assert S.Application.model_validate_json(app.model_dump_json()) == app


def test_evidence_requires_one_result_per_source_and_data_exactly_when_ok() -> None:
    evidence = full_evidence()
    raw = evidence.model_dump(mode="json")
    broken = {**raw, "cashflow": {"monthly_inflow_avg_fen": 1, "inflow_stability": 0.5, "months_observed": 12}}
    with pytest.raises(ValidationError, match="cashflow: data must be present exactly when the status is ok"):
        S.Evidence.model_validate(broken)
    with pytest.raises(ValidationError, match="exactly one entry per source"):
        S.Evidence.model_validate({**raw, "results": {k: v for k, v in raw["results"].items() if k != "tax"}})
    swapped = {**raw["results"], "tax": raw["results"]["registration"]}
    with pytest.raises(ValidationError, match="is the result of source registration"):
        S.Evidence.model_validate({**raw, "results": swapped})


@settings(max_examples=60, deadline=None)
@given(
    amount=st.integers(0, 10**14),
    share=st.floats(0, 1, allow_nan=False),
    cv=st.floats(0, 10, allow_nan=False),
    stamp=st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.sampled_from([timezone.utc, CST])),
    latency=st.floats(0, 1e7, allow_nan=False),
)
def test_round_trip_property(amount: int, share: float, cv: float, stamp: datetime, latency: float) -> None:
    inv = S.Invoices(sales_invoiced_12m_fen=amount, sales_invoiced_prev_12m_fen=amount, buyers_count_12m=1, top_buyer_share=share, monthly_volatility=cv, cancelled_share=share)
    result = S.SourceResult(source="invoices", status="ok", reason="", provider="p", latency_ms=latency, fetched_at=stamp)
    for value in (inv, result):
        assert type(value).model_validate_json(value.model_dump_json()) == value
        assert type(value).model_validate(value.model_dump(mode="json")) == value
