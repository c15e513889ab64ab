"""Request and response bodies of the HTTP API (pydantic, documented in the OpenAPI schema).

Every request model rejects unknown fields (``extra="forbid"``). Money is a decimal string of yuan with
at most two decimals (``"200000.00"``), never a JSON number; rates are fraction strings at full
precision (``"0.0725"``). Identifiers (resident ID, USCC, mobile) are checked by :mod:`smelend.ids`
through the risk engine's own types, so an invalid one is a 422 naming e.g. ``applicant.id_number``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from smelend.risk.schemas import Applicant, EnterpriseRef
from smelend.servicing.conventions import Method

MONEY_PATTERN = r"^[0-9]{1,12}(\.[0-9]{1,2})?$"
Money = Annotated[str, Field(pattern=MONEY_PATTERN, min_length=1, max_length=15, description="Yuan as a decimal string, at most 2 decimals.", examples=["200000.00"])]
DEFAULT_CONSENT_TEXT = "consent-2025-01"


class Request(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class ConsentIn(Request):
    data_use: bool = Field(description="Consent to collect and use the enterprise's and the owner's data for this decision; without it nothing is fetched (422).")
    bureau_query: bool = Field(True, description="Authorisation to query the owner's personal credit report (default true).")
    text_version: Annotated[str, Field(min_length=1, max_length=200)] = Field(DEFAULT_CONSENT_TEXT, description="Version of the consent text accepted.")
    granted_at: AwareDatetime | None = Field(None, description="When the consent was given, with its UTC offset (default: now).")


class ApplicationIn(Request):
    """An application for a credit line. ``channel``: a pricing channel id (see ``pricing.yaml``
    ``acquisition.channels``, e.g. ``own-app``, ``partner-tax``), or the generic ``app`` (-> ``own-app``) or
    ``partner`` (-> the default partner channel, ``partner-ecommerce``); default: ``partner`` for partners,
    ``app`` otherwise."""

    applicant: Applicant = Field(description="The person applying (the enterprise's owner); a borrower may only apply as themself (403 otherwise).")
    enterprise: EnterpriseRef
    product: Annotated[str, Field(min_length=1, max_length=40)] = Field(description="A product id (GET /v1/products).")
    requested_amount: Money
    channel: Annotated[str, Field(min_length=1, max_length=40)] | None = None
    consent: ConsentIn


class DrawIn(Request):
    amount: Money
    method: Method = Field(description="A repayment method the line's product offers.")
    term: Annotated[int, Field(ge=1, le=360)] = Field(description="Number of periods, within what the product allows for the method.")


class RepaymentIn(Request):
    amount: Money
    date: Annotated[str, Field(pattern=r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$")] | None = Field(None, description="Date the money was received, YYYY-MM-DD (default: the current business date).")


class ReviewIn(Request):
    outcome: Literal["approve", "decline"]
    comment: Annotated[str, Field(min_length=1, max_length=2000)]


class FieldProblem(BaseModel):
    field: str
    reason: str


class ErrorOut(BaseModel):
    detail: list[FieldProblem] | str


class ReasonOut(BaseModel):
    code: str
    text: str
    source: str
    effect: str


class DecisionBrief(BaseModel):
    id: str
    outcome: Literal["approve", "decline", "refer"]
    limit: str
    annual_rate: str | None
    apr: dict[str, str] | None = Field(description="Each repayment method's APR (all costs) for a draw of the whole line.")
    reasons: list[ReasonOut]
    grade: str
    pd: float
    review: dict[str, Any] | None = None


class OfferOut(BaseModel):
    model_config = ConfigDict(extra="allow")
    id: str
    status: str
    limit: str
    annual_rate: str
    line_validity_months: int
    methods: list[dict[str, Any]]
    line: int | None = None


class ApplicationOut(BaseModel):
    id: str
    status: str
    product: str
    requested_amount: str
    channel: str
    applied_on: str
    applicant: dict[str, str] = Field(description="Masked: name, resident ID and mobile.")
    enterprise: dict[str, Any]
    decision: DecisionBrief | None
    offer: OfferOut | None


class ApplicationPage(BaseModel):
    items: list[ApplicationOut]
    next: str | None = Field(description="Pass as ?cursor= for the next page; null on the last page.")


class LineOut(BaseModel):
    model_config = ConfigDict(extra="allow")
    id: int
    product: str
    limit: str
    used: str
    available: str
    annual_rate: str
    start: str
    end: str
    status: str


class AcceptedOut(LineOut):
    offer: str
    contract: dict[str, str]


class LoanOut(BaseModel):
    model_config = ConfigDict(extra="allow")
    id: int
    line: int
    status: str
    method: str
    principal: str
    principal_outstanding: str
    schedule: list[dict[str, Any]]


class PayoffOut(BaseModel):
    date: str
    total: str
    principal: str
    interest: str
    penalty: str
    fee: str


class RepaymentOut(BaseModel):
    allocation: dict[str, str]
    loan: LoanOut


class ReplayOut(BaseModel):
    decision: dict[str, Any]
    matches: bool


class AuditEntry(BaseModel):
    id: int
    at: datetime
    actor: str
    action: str
    entity: str
    entity_id: str
    before: Any = None
    after: Any = None


class AuditPage(BaseModel):
    items: list[AuditEntry]
    next: str | None
