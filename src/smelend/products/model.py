"""What a product file says, as frozen pydantic models (unknown keys are errors, not ignored).

For now the servicing part: repayment methods and their draw terms, conventions, penalty, grace,
fees and prepayment. Later issues add eligibility, limits and pricing to the same files.
"""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal
from enum import Enum
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from smelend.errors import InvalidInput
from smelend.money import Rounding, RoundingMode, parse_yuan
from smelend.servicing.conventions import MAX_PERIODS, Conventions, DaysInMonth, DaysInYear, Frequency, InterestCalc, Method

Fraction = Annotated[Decimal, Field(ge=0, le=1)]


class _Strict(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class DrawTerms(_Strict):
    """The terms, in periods of the product's frequency, that a draw with one method may take."""

    min_term: int = Field(ge=1, le=MAX_PERIODS)
    max_term: int = Field(ge=1, le=MAX_PERIODS)

    @model_validator(mode="after")
    def _ordered(self) -> "DrawTerms":
        if self.min_term > self.max_term:
            raise ValueError("min_term must not exceed max_term")
        return self

    def allows(self, term: int) -> bool:
        return self.min_term <= term <= self.max_term


class ConventionSettings(_Strict):
    interest_calc: InterestCalc = InterestCalc.PERIOD
    days_in_year: DaysInYear = DaysInYear.D365
    days_in_month: DaysInMonth = DaysInMonth.ACTUAL
    frequency: str = "monthly"
    rounding: RoundingMode = RoundingMode.HALF_UP
    decimals: int = Field(default=2, ge=0, le=2)
    amount_multiple: int = Field(default=1, ge=1, le=1_000_000)
    installment_multiple: Decimal | None = Field(default=None, gt=0, description="yuan")

    @field_validator("frequency")
    @classmethod
    def _frequency(cls, value: str) -> str:
        Frequency.parse(value)
        return value

    @field_validator("days_in_year", "days_in_month", mode="before")
    @classmethod
    def _as_text(cls, value: object) -> object:
        return str(value) if isinstance(value, int) else value


class Penalty(_Strict):
    """Penalty interest on overdue principal, as a multiple of the contract rate (罚息)."""

    rate_multiplier: Decimal = Field(ge=1, le=2)
    compound_overdue_interest: bool = True
    grace_days: int = Field(default=0, ge=0, le=30)


class Fees(_Strict):
    monthly_fee_rate: Fraction = Decimal(0)
    arrangement_fee_rate: Fraction = Decimal(0)
    prepayment_fee_rate: Fraction = Decimal(0)


class PrepaymentEffect(str, Enum):
    REDUCE_INSTALLMENT = "reduce-installment"
    REDUCE_TERM = "reduce-term"


class LimitRange(_Strict):
    """The smallest and largest line the product grants, in yuan."""

    min: Decimal = Field(gt=0, description="yuan")
    max: Decimal = Field(gt=0, description="yuan")

    @model_validator(mode="after")
    def _ordered(self) -> "LimitRange":
        if self.min > self.max:
            raise ValueError("min must not exceed max")
        return self

    @property
    def min_fen(self) -> int:
        return parse_yuan(self.min, "limit.min")

    @property
    def max_fen(self) -> int:
        return parse_yuan(self.max, "limit.max")


DATA_SOURCES = ("identity", "aml", "bureau", "registration", "tax", "invoices", "cashflow", "relationship")


class Eligibility(_Strict):
    """Who may have the product: the policy rules read these as ``product.*``."""

    owner_age_min: int = Field(ge=18, le=100)
    owner_age_max: int = Field(ge=18, le=100)
    min_business_months: int = Field(ge=0, le=600)
    excluded_industry_sections: tuple[str, ...] = ()
    data_required: tuple[str, ...] = Field(min_length=1, description="Provider sources without which an application is referred.")

    @field_validator("excluded_industry_sections")
    @classmethod
    def _sections(cls, sections: tuple[str, ...]) -> tuple[str, ...]:
        bad = [s for s in sections if len(s) != 1 or not ("A" <= s <= "T")]
        if bad:
            raise ValueError(f"not GB/T 4754 section letters (A-T): {', '.join(bad)}")
        return sections

    @field_validator("data_required")
    @classmethod
    def _sources(cls, sources: tuple[str, ...]) -> tuple[str, ...]:
        unknown = [s for s in sources if s not in DATA_SOURCES]
        if unknown:
            raise ValueError(f"unknown data sources: {', '.join(unknown)} (known: {', '.join(DATA_SOURCES)})")
        return sources

    @model_validator(mode="after")
    def _ages(self) -> "Eligibility":
        if self.owner_age_min > self.owner_age_max:
            raise ValueError("owner_age_min must not exceed owner_age_max")
        return self


class Product(_Strict):
    id: str = Field(pattern=r"^[a-z][a-z0-9-]{1,39}$")
    name: str = Field(min_length=1, max_length=80)
    description: str = ""
    limit: LimitRange
    eligibility: Eligibility
    repayment_methods: dict[Method, DrawTerms] = Field(min_length=1)
    conventions: ConventionSettings = ConventionSettings()
    penalty: Penalty
    fees: Fees = Fees()
    prepayment: PrepaymentEffect = PrepaymentEffect.REDUCE_INSTALLMENT
    allocation_order: tuple[str, ...] = ("penalty", "past-due-interest", "past-due-principal", "current-interest", "current-principal")

    @field_validator("allocation_order")
    @classmethod
    def _order(cls, order: tuple[str, ...]) -> tuple[str, ...]:
        from smelend.servicing.repayment import parse_order

        try:
            parse_order(order)
        except InvalidInput as exc:
            raise ValueError(exc.first.reason) from None
        return order

    @field_validator("repayment_methods")
    @classmethod
    def _no_flat(cls, methods: dict[Method, DrawTerms]) -> dict[Method, DrawTerms]:
        if Method.FLAT in methods:
            raise ValueError("flat is for APR comparisons only; no product may offer it")
        return methods

    @model_validator(mode="after")
    def _conventions_consistent(self) -> "Product":
        for method, terms in self.repayment_methods.items():
            problems = self.conventions_for(method).errors(method, terms.max_term).errors
            if problems:
                raise ValueError(f"{method.value}: " + "; ".join(str(p) for p in problems))
        return self

    def servicing_conventions(self) -> Conventions:
        """The product's settings as the schedule calculator's :class:`Conventions`."""
        c = self.conventions
        rounding = Rounding(c.rounding, c.decimals, c.amount_multiple)
        multiple_fen = int(c.installment_multiple * 100) if c.installment_multiple is not None else None
        return Conventions(
            interest_calc=c.interest_calc,
            days_in_year=c.days_in_year,
            days_in_month=c.days_in_month,
            frequency=Frequency.parse(c.frequency),
            rounding=rounding,
            installment_multiple_fen=multiple_fen,
            monthly_fee_rate=self.fees.monthly_fee_rate,
        )

    def conventions_for(self, method: Method) -> Conventions:
        """Conventions for a draw with ``method``: revolving credit always accrues daily."""
        conventions = self.servicing_conventions()
        if method is Method.REVOLVING:
            return replace(conventions, interest_calc=InterestCalc.DAILY)
        return conventions
