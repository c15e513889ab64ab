"""Typed data a credit decision uses: the application, the consent, and what each provider returns.

Every model is frozen, rejects unknown fields (``extra="forbid"``) and documents each field (the
descriptions are the source of ``docs/risk-data.md``, see :func:`smelend.risk.features.describe`).
Amounts are integer fen; shares and ratios are floats in [0, 1]; counts are non-negative integers.
Numbers, flags and text are strict (a provider sending ``"12"`` for a count, ``1`` for a flag or
``1.0`` for an amount is malformed, not coerced); dates and timestamps are ISO 8601 strings in JSON.
Timestamps must carry a UTC offset.

Everything a decision later replays serialises to JSON and back exactly::

    Evidence.model_validate(evidence.model_dump(mode="json")) == evidence

Identifiers are checked by :mod:`smelend.ids` and stored in their compact form (resident ID and
USCC upper-case, mobiles in E.164). :func:`parse` turns pydantic's errors into
:class:`~smelend.errors.InvalidInput` whose fields are dotted paths such as ``applicant.id_number``.

>>> app = parse(Application, {
...     "id": "A1", "product_id": "tax-data-loan", "requested_amount_fen": 20_000_000, "channel": "app",
...     "applicant": {"name": "王芳", "id_number": "11010519491231002x", "mobile": "138 0013 8000"},
...     "enterprise": {"name": "北京恒达商贸有限公司", "uscc": "91110000600037341L"},
...     "consent": {"data_use": True, "bureau_query": True, "granted_at": "2025-03-01T09:30:00+08:00",
...                 "channel": "app", "text_version": "consent-2025-01"},
...     "applied_on": "2025-03-01"})
>>> app.applicant.id_number, app.applicant.mobile
('11010519491231002X', '+8613800138000')
>>> parse(Application, {**app.model_dump(mode="json"), "applicant": {"name": "王芳", "id_number": "110105194912310021", "mobile": "13800138000"}})
Traceback (most recent call last):
...
smelend.errors.InvalidInput: applicant.id_number: fails the check character: not a valid resident ID number
"""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any, Literal, TypeVar

from pydantic import AfterValidator, AwareDatetime, BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
from pydantic_core import PydanticCustomError
from stdnum.cn import ric as _stdnum_ric

from smelend.errors import FieldError, InvalidInput
from smelend.ids import mobile as _mobile
from smelend.ids import ric as _ric
from smelend.ids import uscc as _uscc
from smelend.money import MAX_AMOUNT_FEN

# --- building blocks ---------------------------------------------------------------------------------

Fen = Annotated[int, Field(strict=True, ge=0, le=MAX_AMOUNT_FEN)]
"""A non-negative amount of fen."""
Count = Annotated[int, Field(strict=True, ge=0, le=1_000_000)]
"""A non-negative count."""
Share = Annotated[float, Field(ge=0.0, le=1.0, allow_inf_nan=False)]
"""A share or ratio in [0, 1] (JSON integers 0 and 1 are accepted)."""
Text = Annotated[str, Field(strict=True, min_length=1, max_length=200)]
"""Non-empty text, surrounding white space removed."""
Flag = Annotated[bool, Field(strict=True)]

SOURCES: tuple[str, ...] = ("identity", "aml", "bureau", "registration", "tax", "invoices", "cashflow", "relationship", "exposure")
"""Every source of evidence, in the order they are gathered."""
Source = Literal["identity", "aml", "bureau", "registration", "tax", "invoices", "cashflow", "relationship", "exposure"]
PERSON_SOURCES: tuple[str, ...] = ("identity", "aml", "bureau", "exposure")
"""Sources keyed by the applicant (the owner); the others are keyed by the enterprise's USCC."""
STATUSES: tuple[str, ...] = ("ok", "missing", "malformed", "unavailable", "not_requested")
Status = Literal["ok", "missing", "malformed", "unavailable", "not_requested"]


class Record(BaseModel):
    """Base of every risk model: immutable, unknown fields rejected, white space stripped from text."""

    model_config = ConfigDict(frozen=True, extra="forbid", str_strip_whitespace=True, validate_default=True)


def _id_error(exc: InvalidInput) -> PydanticCustomError:
    return PydanticCustomError("invalid_identifier", exc.first.reason)


def _check(validator: Any, value: Any) -> str:
    try:
        return validator(value, "value")
    except InvalidInput as exc:
        raise _id_error(exc) from None


ResidentId = Annotated[str, Field(strict=True, min_length=1, max_length=40), AfterValidator(lambda v: _check(_ric.validate, v))]
"""A resident ID number checked by :mod:`smelend.ids.ric`, in compact upper-case form."""
Uscc = Annotated[str, Field(strict=True, min_length=1, max_length=40), AfterValidator(lambda v: _check(_uscc.validate, v))]
"""A unified social credit code checked by :mod:`smelend.ids.uscc`."""
Mobile = Annotated[str, Field(strict=True, min_length=1, max_length=40), AfterValidator(lambda v: _check(_mobile.validate, v))]
"""A mainland mobile number checked by :mod:`smelend.ids.mobile`, in E.164 form."""


def age_on(id_number: str, on: date) -> int:
    """Completed years of age on ``on`` from the birth date in a resident ID (never trusted from input).

    >>> age_on("11010519491231002X", date(2025, 12, 30)), age_on("11010519491231002X", date(2025, 12, 31))
    (75, 76)
    """
    born = _stdnum_ric.get_birth_date(id_number)
    return on.year - born.year - ((on.month, on.day) < (born.month, born.day))


# --- the application ---------------------------------------------------------------------------------


class Consent(Record):
    """The applicant's consent, recorded with the application; no provider is called without it."""

    data_use: Flag = Field(description="Consent to collect and use the enterprise's and the owner's data (registration, tax, invoices, flows, identity and AML checks) for this credit decision.")
    bureau_query: Flag = Field(description="Authorisation to query the owner's personal credit report at the credit bureau (征信查询授权); without it the bureau source is not requested.")
    granted_at: AwareDatetime = Field(description="When the consent was given, with its UTC offset.")
    channel: Text = Field(description="Where the consent was given (own app, a partner platform's identifier).")
    text_version: Text = Field(description="Version of the consent text the applicant accepted.")


class Applicant(Record):
    """The person applying: the enterprise's owner."""

    name: Text = Field(description="Full name as on the resident identity card.")
    id_number: ResidentId = Field(description="Resident identity card number (GB 11643), checked and upper-case; a valid check character is not a verified identity.")
    mobile: Mobile = Field(description="Mainland mobile number in E.164 form (+86...).")


class EnterpriseRef(Record):
    """The enterprise the credit line is for."""

    name: Text = Field(description="Registered name of the enterprise.")
    uscc: Uscc = Field(description="Unified social credit code (GB 32100), checked and upper-case.")


class Application(Record):
    """One application for a credit line, as taken in by the app or a partner's API."""

    id: Annotated[str, Field(strict=True, min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9._:-]*$")] = Field(description="Application identifier (letters, digits, '.', '_', ':', '-').")
    applicant: Applicant = Field(description="The person applying, the enterprise's owner.")
    enterprise: EnterpriseRef = Field(description="The enterprise applying.")
    product_id: Text = Field(description="Product applied for (an id in the product catalogue).")
    requested_amount_fen: Annotated[int, Field(strict=True, gt=0, le=MAX_AMOUNT_FEN)] = Field(description="Credit line requested, in fen.")
    channel: Text = Field(description="Channel the application came through (own app or a partner platform).")
    consent: Consent = Field(description="The consent given with the application.")
    applied_on: date = Field(description="Business date of the application; ages and durations are computed at this date.")


# --- provider data -----------------------------------------------------------------------------------


class CreditReport(Record):
    """Summary of the owner's personal credit report (个人征信报告) from the credit bureau."""

    credit_history_months: Count = Field(description="Months since the first credit account was opened.")
    current_overdue_fen: Fen = Field(description="Amount overdue today across all accounts, in fen.")
    max_dpd_24m: Count = Field(description="Worst days past due on any account in the last 24 months.")
    overdue_count_24m: Count = Field(description="Number of monthly overdue records in the last 24 months.")
    inquiries_1m: Count = Field(description="Hard inquiries by lenders (loan and card approvals) in the last month.")
    inquiries_3m: Count = Field(description="Hard inquiries in the last 3 months (includes the last month).")
    inquiries_6m: Count = Field(description="Hard inquiries in the last 6 months (includes the last 3 months).")
    lenders_count: Count = Field(description="Number of institutions with an open loan to the owner.")
    outstanding_loans_fen: Fen = Field(description="Outstanding balance of all open loans (personal and personal business loans), in fen.")
    monthly_debt_service_fen: Fen = Field(description="Scheduled monthly repayments of all open loans, in fen.")
    card_limit_fen: Fen = Field(description="Total credit-card limit, in fen.")
    card_balance_fen: Fen = Field(description="Total credit-card balance used, in fen (may slightly exceed the limit).")
    declared_income_monthly_fen: Fen | None = Field(description="Monthly income the owner declared to lenders, in fen; None when the report has none.")

    @model_validator(mode="after")
    def _cumulative_inquiries(self) -> CreditReport:
        if not self.inquiries_1m <= self.inquiries_3m <= self.inquiries_6m:
            raise PydanticCustomError("inquiries", "inquiries must be cumulative: inquiries_1m <= inquiries_3m <= inquiries_6m")
        return self

    @property
    def card_utilisation(self) -> float | None:
        """Card balance over card limit (None without a limit)."""
        return self.card_balance_fen / self.card_limit_fen if self.card_limit_fen else None


class Owner(Record):
    """The owner as the decision sees them: the checked identity, the age at the application date, the report.

    Built with :meth:`of`; ``age`` is always recomputed from the resident ID and ``as_of``, and a given age
    that disagrees is rejected.
    """

    identity: Applicant = Field(description="Name, resident ID and mobile of the owner (the applicant).")
    as_of: date = Field(description="Date the age is computed at (the application date).")
    age: Annotated[int, Field(strict=True, ge=0, le=150)] = Field(description="Completed years of age at as_of, computed from the birth date in the resident ID.")
    credit_report: CreditReport | None = Field(description="The owner's credit report summary; None when the bureau source is not ok.")

    @model_validator(mode="before")
    @classmethod
    def _derive_age(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        identity, as_of = data.get("identity"), data.get("as_of")
        try:
            id_number = identity.id_number if isinstance(identity, Applicant) else _ric.validate(identity["id_number"], "identity.id_number")
            day = as_of if isinstance(as_of, date) else date.fromisoformat(as_of)
        except Exception:  # noqa: BLE001 - the field validators report what is wrong with identity / as_of
            return data
        age = age_on(id_number, day)
        if "age" in data and data["age"] != age:
            raise PydanticCustomError("age", "does not match the birth date in the resident ID ({computed})", {"computed": age})
        return {**data, "age": age}

    @classmethod
    def of(cls, applicant: Applicant, as_of: date, credit_report: CreditReport | None) -> Owner:
        return cls(identity=applicant, as_of=as_of, credit_report=credit_report)


# GB/T 4754-2017 sections and the range of their two-digit divisions.
INDUSTRY_SECTIONS: dict[str, tuple[int, int, str]] = {
    "A": (1, 5, "Agriculture, forestry, animal husbandry and fishery"),
    "B": (6, 12, "Mining"),
    "C": (13, 43, "Manufacturing"),
    "D": (44, 46, "Electricity, heat, gas and water production and supply"),
    "E": (47, 50, "Construction"),
    "F": (51, 52, "Wholesale and retail trade"),
    "G": (53, 60, "Transport, storage and postal services"),
    "H": (61, 62, "Accommodation and catering"),
    "I": (63, 65, "Information transmission, software and IT services"),
    "J": (66, 69, "Finance"),
    "K": (70, 70, "Real estate"),
    "L": (71, 72, "Leasing and business services"),
    "M": (73, 75, "Scientific research and technical services"),
    "N": (76, 79, "Water conservancy, environment and public facilities management"),
    "O": (80, 82, "Resident services, repair and other services"),
    "P": (83, 83, "Education"),
    "Q": (84, 85, "Health and social work"),
    "R": (86, 90, "Culture, sports and entertainment"),
    "S": (91, 96, "Public administration, social security and social organisations"),
    "T": (97, 97, "International organisations"),
}


def check_industry_code(code: str) -> str:
    """A GB/T 4754-2017 code: section letter A-T and a two-digit division of that section ("F51").

    >>> check_industry_code("f51")
    'F51'
    >>> check_industry_code("F53")
    Traceback (most recent call last):
    ...
    ValueError: division 53 is not in section F (divisions 51-52)
    """
    code = code.strip().upper()
    if len(code) != 3 or code[0] not in INDUSTRY_SECTIONS or not code[1:].isdigit():
        raise ValueError("must be a section letter A-T and a two-digit division, e.g. F51")
    low, high, _ = INDUSTRY_SECTIONS[code[0]]
    if not low <= int(code[1:]) <= high:
        raise ValueError(f"division {code[1:]} is not in section {code[0]} (divisions {low:02d}-{high:02d})")
    return code


class Registration(Record):
    """The enterprise's registration record (工商登记) and public-record events."""

    established_on: date = Field(description="Date the enterprise was established (business licence date).")
    registered_capital_fen: Fen = Field(description="Registered (subscribed) capital, in fen.")
    industry_code: Annotated[str, Field(strict=True, min_length=3, max_length=3)] = Field(description="Industry under GB/T 4754-2017: section letter A-T and a two-digit division of that section, e.g. F51 (wholesale).")
    legal_representative_id_number: ResidentId = Field(description="Resident ID of the legal representative, compared with the applicant's to compute legal_rep_matches.")
    shareholder_changes_12m: Count = Field(description="Changes of shareholders recorded in the last 12 months.")
    administrative_penalties_24m: Count = Field(description="Administrative penalties (行政处罚) in the last 24 months.")
    court_judgements_24m: Count = Field(description="Court judgements against the enterprise in the last 24 months.")
    dishonest_debtor: Flag = Field(description="Listed as a dishonest judgement debtor (失信被执行人).")
    status: Literal["active", "revoked", "deregistered"] = Field(description="Registration status: active (存续), revoked (吊销) or deregistered (注销).")

    @field_validator("industry_code", mode="after")
    @classmethod
    def _valid_industry(cls, value: str) -> str:
        try:
            return check_industry_code(value)
        except ValueError as exc:
            raise PydanticCustomError("industry_code", str(exc)) from None

    @property
    def industry_section(self) -> str:
        return self.industry_code[0]


class Tax(Record):
    """The enterprise's tax record from the tax bureau (with the enterprise's authorisation)."""

    credit_grade: Literal["A", "B", "M", "C", "D"] = Field(description="Tax credit grade (纳税信用等级): A best, B, M (new or no assessment history), C, D worst.")
    tax_paid_12m_fen: Fen = Field(description="Taxes paid in the last 12 months, in fen.")
    tax_paid_24m_fen: Fen = Field(description="Taxes paid in the last 24 months (includes the last 12), in fen.")
    filing_months_12m: Annotated[int, Field(strict=True, ge=0, le=12)] = Field(description="Months of the last 12 with a tax return filed on time (0-12).")
    declared_sales_12m_fen: Fen = Field(description="Sales declared in tax returns over the last 12 months, in fen.")
    arrears_fen: Fen = Field(description="Tax owed and overdue today, in fen.")

    @model_validator(mode="after")
    def _cumulative(self) -> Tax:
        if self.tax_paid_24m_fen < self.tax_paid_12m_fen:
            raise PydanticCustomError("tax_paid", "tax_paid_24m_fen must include tax_paid_12m_fen (24m >= 12m)")
        return self


class Invoices(Record):
    """The enterprise's VAT invoicing (增值税发票) summary."""

    sales_invoiced_12m_fen: Fen = Field(description="Sales invoiced in the last 12 months (valid invoices), in fen.")
    sales_invoiced_prev_12m_fen: Fen = Field(description="Sales invoiced in the 12 months before that, in fen (for growth).")
    buyers_count_12m: Count = Field(description="Distinct buyers invoiced in the last 12 months.")
    top_buyer_share: Share = Field(description="Share of the last 12 months' invoiced sales that went to the largest buyer.")
    monthly_volatility: Annotated[float, Field(ge=0.0, le=10.0, allow_inf_nan=False)] = Field(description="Coefficient of variation (standard deviation / mean) of the last 12 monthly invoiced amounts.")
    cancelled_share: Share = Field(description="Share of invoices issued in the last 12 months that were cancelled or reversed (red-letter).")

    @model_validator(mode="after")
    def _buyers(self) -> Invoices:
        if self.sales_invoiced_12m_fen > 0 and self.buyers_count_12m == 0:
            raise PydanticCustomError("buyers", "buyers_count_12m must be at least 1 when sales were invoiced")
        return self


class CashFlow(Record):
    """Settlement inflows to the enterprise's accounts (bank settlement, acquiring)."""

    monthly_inflow_avg_fen: Fen = Field(description="Average monthly settlement inflow over the months observed, in fen.")
    inflow_stability: Share = Field(description="1 - coefficient of variation of monthly inflows, floored at 0: 1 is perfectly steady.")
    months_observed: Annotated[int, Field(strict=True, ge=0, le=120)] = Field(description="Months of flows observed.")


class BankRelationship(Record):
    """What the bank itself knows of the enterprise as a customer (a non-customer has zeros and no date)."""

    deposits_avg_fen: Fen = Field(description="Average deposit balance over the last 6 months, in fen.")
    payroll: Flag = Field(description="The enterprise pays its payroll through the bank.")
    settlement_account: Flag = Field(description="The enterprise's basic settlement account (基本户) is at the bank.")
    customer_since: date | None = Field(description="Date the enterprise became a customer; None when it is not one.")


class IdentityCheck(Record):
    """Identity verification: name, resident ID and mobile checked together against authoritative records."""

    result: Literal["match", "mismatch", "unknown"] = Field(description="match: all three belong together; mismatch: they do not; unknown: the check could not conclude.")
    checked_at: AwareDatetime = Field(description="When the provider ran the check.")
    reference: Text = Field(description="Provider's reference for the check, kept for audit.")


class AmlScreening(Record):
    """Anti-money-laundering screening of the owner and the enterprise against sanctions and watch lists."""

    result: Literal["clear", "hit", "unknown"] = Field(description="clear: no list matched; hit: a possible match to review; unknown: screening did not conclude.")
    lists_checked: tuple[Text, ...] = Field(description="Names of the lists screened against.")
    reference: Text = Field(description="Provider's reference for the screening, kept for audit.")


class Exposure(Record):
    """The owner's exposure with this bank across every enterprise of the same owner.

    The store adapter fills this from the book; a provider may return zeros.
    """

    other_enterprises: tuple[Uscc, ...] = Field(description="USCCs of the owner's other enterprises with credit at the bank.")
    bank_limits_fen: Fen = Field(description="Credit limits the bank has granted to all of the owner's enterprises, in fen.")
    bank_outstanding_fen: Fen = Field(description="Principal outstanding with the bank across all of the owner's enterprises, in fen.")


SOURCE_MODELS: dict[str, type[Record]] = {
    "identity": IdentityCheck,
    "aml": AmlScreening,
    "bureau": CreditReport,
    "registration": Registration,
    "tax": Tax,
    "invoices": Invoices,
    "cashflow": CashFlow,
    "relationship": BankRelationship,
    "exposure": Exposure,
}
"""The schema each source's answer is validated against."""


class SourceResult(Record):
    """How one source went: its status, why, who answered and how long it took."""

    source: Source = Field(description="The source: identity, aml, bureau, registration, tax, invoices, cashflow, relationship or exposure.")
    status: Status = Field(description="ok: data parsed; missing: the provider has no record; malformed: the answer broke the schema; unavailable: the provider could not be reached or failed; not_requested: not asked (not in the requested sources, or no consent).")
    reason: Annotated[str, Field(strict=True, max_length=2000)] = Field(description="Why the status is not ok (naming the field at fault for malformed answers); empty when ok.")
    provider: Annotated[str, Field(strict=True, max_length=200)] = Field(description="Name of the provider asked; empty when none was.")
    latency_ms: Annotated[float, Field(ge=0.0, allow_inf_nan=False)] = Field(description="Time the provider call took, in milliseconds (0 when not called).")
    fetched_at: AwareDatetime | None = Field(description="When the answer was received; None when no provider was called.")


class Evidence(Record):
    """Everything gathered for one application: for each source, how it went and the parsed data (None unless ok)."""

    application_id: Annotated[str, Field(strict=True, min_length=1, max_length=64)] = Field(description="The application the evidence belongs to.")
    gathered_at: AwareDatetime = Field(description="When gathering started.")
    results: dict[Source, SourceResult] = Field(description="One result per source, keyed by source name.")
    identity: IdentityCheck | None = Field(description="Identity verification; None unless results['identity'] is ok.")
    aml: AmlScreening | None = Field(description="AML screening; None unless results['aml'] is ok.")
    bureau: CreditReport | None = Field(description="The owner's credit report summary; None unless results['bureau'] is ok.")
    registration: Registration | None = Field(description="Registration record; None unless results['registration'] is ok.")
    tax: Tax | None = Field(description="Tax record; None unless results['tax'] is ok.")
    invoices: Invoices | None = Field(description="VAT invoicing summary; None unless results['invoices'] is ok.")
    cashflow: CashFlow | None = Field(description="Settlement inflows; None unless results['cashflow'] is ok.")
    relationship: BankRelationship | None = Field(description="The bank's own relationship data; None unless results['relationship'] is ok.")
    exposure: Exposure | None = Field(description="The owner's exposure with the bank; None unless results['exposure'] is ok.")

    @model_validator(mode="after")
    def _consistent(self) -> Evidence:
        if set(self.results) != set(SOURCES):
            raise PydanticCustomError("results", "results must hold exactly one entry per source: {sources}", {"sources": ", ".join(SOURCES)})
        for source, result in self.results.items():
            if result.source != source:
                raise PydanticCustomError("results", "results[{key}] is the result of source {other}", {"key": source, "other": result.source})
            if (result.status == "ok") != (getattr(self, source) is not None):
                raise PydanticCustomError("results", "{source}: data must be present exactly when the status is ok (status {status})", {"source": source, "status": result.status})
        return self

    def data(self, source: str) -> Record | None:
        """The parsed data of one source (None unless its status is ok)."""
        assert source in SOURCES, source
        return getattr(self, source)

    def status(self, source: str) -> str:
        return self.results[source].status  # type: ignore[index]

    def owner(self, application: Application) -> Owner:
        """The owner with the age computed at the application date and the credit report, if any."""
        return Owner.of(application.applicant, application.applied_on, self.bureau)


# --- errors that name the field ----------------------------------------------------------------------

M = TypeVar("M", bound=BaseModel)


def field_path(loc: tuple[int | str, ...], prefix: str = "") -> str:
    """A pydantic error location as a dotted path: ``("applicant", "id_number")`` -> ``applicant.id_number``.

    >>> field_path(("other_enterprises", 0), "exposure")
    'exposure.other_enterprises[0]'
    """
    text = prefix
    for part in loc:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += f".{part}" if text else str(part)
    return text or prefix or "value"


def field_errors(exc: ValidationError, prefix: str = "") -> list[FieldError]:
    """Every problem pydantic found, each naming its field (``applicant.mobile``) and the reason."""
    errors = []
    for err in exc.errors(include_url=False):
        message = err["msg"]
        if message.startswith("Value error, "):
            message = message[len("Value error, ") :]
        if err["type"] == "missing":
            message = "is required"
        elif err["type"] == "extra_forbidden":
            message = "is not a known field"
        errors.append(FieldError(field_path(tuple(err["loc"]), prefix), message))
    return errors


def parse(model: type[M], raw: Any, prefix: str = "") -> M:
    """Validate untrusted data into ``model``, or raise InvalidInput listing every field at fault."""
    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        raise InvalidInput(field_errors(exc, prefix)) from None

