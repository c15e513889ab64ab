"""What a product file says, as frozen pydantic models (unknown keys are errors, not ignored).

For now the servicing part: repayment methods and their draw terms, conventions, penalty, grace,
fees and prepayment. Later issues add eligibility, limits and pricing to the same files.
"""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal
from enum import Enum
from typing import Annotated, Literal

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


CUSTOMER_GROUPS = ("data-rich", "thin-file")
PROVINCES = frozenset(
    "11 12 13 14 15 21 22 23 31 32 33 34 35 36 37 41 42 43 44 45 46 50 51 52 53 54 61 62 63 64 65".split()
)  # GB/T 2260 province-level codes: the first two digits of the division code inside a USCC


class Eligibility(_Strict):
    """Who may have the product: the policy rules read these as ``product.*``."""

    regions: tuple[str, ...] = Field(min_length=1, description="Provinces (GB/T 2260 two-digit codes) where the enterprise must be registered; a local bank lends in its region.")
    customer_groups: tuple[str, ...] = Field(min_length=1, description="Risk-strategy customer groups the product is for (data-rich, thin-file).")
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

    @field_validator("regions")
    @classmethod
    def _regions(cls, regions: tuple[str, ...]) -> tuple[str, ...]:
        unknown = [r for r in regions if r not in PROVINCES]
        if unknown:
            raise ValueError(f"not GB/T 2260 province codes: {', '.join(unknown)}")
        return regions

    @field_validator("customer_groups")
    @classmethod
    def _groups(cls, groups: tuple[str, ...]) -> tuple[str, ...]:
        unknown = [g for g in groups if g not in CUSTOMER_GROUPS]
        if unknown:
            raise ValueError(f"unknown customer groups: {', '.join(unknown)} (known: {', '.join(CUSTOMER_GROUPS)})")
        return groups

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


class PricingModel(str, Enum):
    OPTIMAL = "optimal"  # the profit-optimal rate for the applicant's PD, within floor and cap
    BREAKEVEN_PLUS_MARGIN = "breakeven-plus-margin"  # break-even plus a fixed margin


class TakeUpParameters(_Strict):
    """The product's default price response q(r) = 1 / (1 + exp(-a + b r)), refitted from price tests."""

    a: float = Field(ge=-20, le=20)
    b: float = Field(gt=0, le=500)


class Pricing(_Strict):
    """How the product's annual rate is set (smelend.pricing), within a floor and the product's cap."""

    model: PricingModel
    floor: Literal["lpr", "breakeven"] | Fraction = Field(description="'lpr' (the 1-year LPR), 'breakeven', or a fixed annual rate.")
    cap: Fraction = Field(description="The highest annual rate the product charges.")
    margin: Fraction = Field(default=Decimal(0), description="Over break-even, for breakeven-plus-margin.")
    takeup: TakeUpParameters
    lgd: Fraction = Field(description="Loss given default assumed for the product (unsecured).")
    pricing_term_months: int = Field(ge=1, le=60, description="The term the line is priced at (cost of funds, APR disclosure).")

    @model_validator(mode="after")
    def _margin(self) -> "Pricing":
        if self.model is PricingModel.BREAKEVEN_PLUS_MARGIN and self.margin <= 0:
            raise ValueError("breakeven-plus-margin needs a positive margin")
        return self


class Regulatory(_Strict):
    """Constraints from regulation and the bank's policy; caps are data, never code."""

    apr_cap: Fraction = Field(description="The highest APR (all costs, IRR method) the product may disclose; the lender type's cap applies too.")
    bullet_max_term: int = Field(ge=1, le=MAX_PERIODS, description="Longest term, in periods, for bullet (one repayment at maturity).")


class Product(_Strict):
    id: str = Field(pattern=r"^[a-z][a-z0-9-]{1,39}$")
    name: str = Field(min_length=1, max_length=80)
    description: str = ""
    limit: LimitRange
    line_validity_months: int = Field(ge=1, le=60, description="How long a granted line may be drawn before renewal.")
    eligibility: Eligibility
    pricing: Pricing
    regulatory: Regulatory
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
    def _commercial_consistent(self) -> "Product":
        bullet = self.repayment_methods.get(Method.BULLET)
        if bullet is not None and bullet.max_term > self.regulatory.bullet_max_term:
            raise ValueError(f"bullet max_term {bullet.max_term} exceeds regulatory.bullet_max_term {self.regulatory.bullet_max_term}")
        if self.pricing.pricing_term_months > 12 * self.line_validity_months:
            raise ValueError("pricing.pricing_term_months is longer than anything drawn on the line")
        if isinstance(self.pricing.floor, Decimal) and self.pricing.floor > self.pricing.cap:
            raise ValueError("pricing.floor must not exceed pricing.cap")
        if self.pricing.cap > self.regulatory.apr_cap:
            raise ValueError("pricing.cap must not exceed regulatory.apr_cap")
        return self

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
