"""The capacity model: how large a line the verified data supports, and why it is smaller than asked.

A line is the smallest of: the amount requested, the product's basis (tax paid, invoiced sales,
settlement inflow or the owner's income, times a multiple), what the debt-service constraint allows
after existing debt service, what the debt burden allows after existing debt, the owner-level cap
after the owner's lines on other enterprises, the grade's cap and the product's maximum — rounded
down to the rounding unit (1,000 CNY). Every cap that binds below the request is a reason code.
Amounts are integer fen; ratios are Decimal; rounding is explicit (down, never up).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_FLOOR, Decimal, localcontext
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from smelend.datafiles import load_yaml_model
from smelend.money import calc_context, parse_yuan

BasisSource = Literal["tax_paid_12m", "invoiced_sales_12m", "settlement_inflow_monthly", "owner_income_monthly"]
MAX_REFERENCE_TERM_MONTHS = 60


class _Strict(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Basis(_Strict):
    source: BasisSource = Field(description="The verified amount a product's line is sized from.")
    multiple: Decimal = Field(gt=0, le=100, description="Line = source amount x multiple.")
    text: str = Field(description="How the basis reads in a reason.")


class DebtService(_Strict):
    revenue_cash_margin: Decimal = Field(gt=0, le=1, description="Share of monthly revenue free to service debt (enterprise bases).")
    income_share: Decimal = Field(gt=0, le=1, description="Share of the owner's monthly income free to service debt (owner basis).")
    reference_annual_rate: Decimal = Field(gt=0, lt=1, description="Rate at which the affordable instalment is turned into a principal.")
    reference_term_months: int = Field(ge=1, le=MAX_REFERENCE_TERM_MONTHS)


class LimitSettings(_Strict):
    bases: dict[str, Basis] = Field(min_length=1)
    products: dict[str, str] = Field(min_length=1, description="Product id -> basis name.")
    debt_service: DebtService
    max_debt_to_revenue: Decimal = Field(gt=0, le=10, description="Enterprise bases: all debt (bureau + bank) may not exceed this x annual revenue.")
    max_debt_to_income: Decimal = Field(gt=0, le=20, description="Owner basis: all debt may not exceed this x the owner's annual income (personal debt includes mortgages).")
    owner_cap: Decimal = Field(gt=0, description="Yuan: the most the bank lends to one owner across every enterprise.")
    rounding_unit: Decimal = Field(gt=0, description="Yuan: lines are rounded down to a multiple of this.")

    @model_validator(mode="after")
    def _bases_known(self) -> "LimitSettings":
        unknown = sorted(set(self.products.values()) - set(self.bases))
        if unknown:
            raise ValueError(f"products name unknown bases: {', '.join(unknown)}")
        return self


def load_limit_settings(path: Path) -> LimitSettings:
    return load_yaml_model(path, LimitSettings, "limit settings")


@dataclass(frozen=True)
class CapacityInputs:
    """What the capacity model reads: verified amounts in fen (None = the source gave nothing)."""

    requested_fen: int
    tax_paid_12m_fen: int | None
    invoiced_sales_12m_fen: int | None
    settlement_inflow_monthly_fen: int | None
    declared_sales_12m_fen: int | None
    owner_income_monthly_fen: int | None
    bureau_outstanding_fen: int
    bureau_monthly_debt_service_fen: int
    owner_bank_limits_fen: int
    owner_bank_outstanding_fen: int

    def __post_init__(self) -> None:
        assert self.requested_fen > 0, "requested amount must be positive"
        for name in ("bureau_outstanding_fen", "bureau_monthly_debt_service_fen", "owner_bank_limits_fen", "owner_bank_outstanding_fen"):
            assert getattr(self, name) >= 0, f"{name} must not be negative"

    def basis_amount_fen(self, source: BasisSource) -> int | None:
        return {
            "tax_paid_12m": self.tax_paid_12m_fen,
            "invoiced_sales_12m": self.invoiced_sales_12m_fen,
            "settlement_inflow_monthly": self.settlement_inflow_monthly_fen,
            "owner_income_monthly": self.owner_income_monthly_fen,
        }[source]

    def annual_revenue_fen(self, owner_basis: bool) -> int:
        """The revenue the debt constraints use: the best verified proxy (the owner's income for owner products)."""
        if owner_basis:
            return 12 * (self.owner_income_monthly_fen or 0)
        candidates = [self.declared_sales_12m_fen, self.invoiced_sales_12m_fen]
        if self.settlement_inflow_monthly_fen is not None:
            candidates.append(12 * self.settlement_inflow_monthly_fen)
        return max((c for c in candidates if c is not None), default=0)


@dataclass(frozen=True)
class Cap:
    code: str
    amount_fen: int
    text: str


@dataclass(frozen=True)
class LimitResult:
    limit_fen: int
    requested_fen: int
    caps: tuple[Cap, ...]  # every cap considered, in calculation order
    reductions: tuple[Cap, ...]  # the caps below the request, tightest first (the reason codes)

    def trace(self) -> dict[str, object]:
        return {
            "requested_fen": self.requested_fen,
            "limit_fen": self.limit_fen,
            "caps": [{"code": c.code, "amount_fen": c.amount_fen} for c in self.caps],
        }


def _annuity_principal_fen(instalment_fen: Decimal, annual_rate: Decimal, months: int) -> Decimal:
    """The principal an equal instalment repays over ``months`` at ``annual_rate`` (DESIGN.md's annuity)."""
    with localcontext(calc_context()):
        r = annual_rate / 12
        return instalment_fen * (1 - (1 + r) ** -months) / r


def _floor_fen(amount: Decimal) -> int:
    return max(0, int(amount.to_integral_value(rounding=ROUND_FLOOR)))


def compute_limit(
    inputs: CapacityInputs,
    settings: LimitSettings,
    *,
    product_id: str,
    product_min_fen: int,
    product_max_fen: int,
    grade_cap_fen: int | None,
) -> LimitResult:
    """The line the data supports for ``product_id``, with every binding cap as a reason."""
    assert 0 < product_min_fen <= product_max_fen, "product range must be positive and ordered"
    basis_name = settings.products.get(product_id)
    assert basis_name is not None, f"no limit basis for product {product_id!r} in the limit settings"
    basis = settings.bases[basis_name]
    owner_basis = basis.source == "owner_income_monthly"
    caps: list[Cap] = []

    amount = inputs.basis_amount_fen(basis.source)
    if amount is None:
        caps.append(Cap("LIMIT_BASIS_MISSING", 0, f"No verified {basis.text} to size a line from"))
    else:
        with localcontext(calc_context()):
            caps.append(Cap("LIMIT_CAPACITY", _floor_fen(Decimal(amount) * basis.multiple), f"Limited by {basis.text}"))

    ds = settings.debt_service
    revenue_fen = inputs.annual_revenue_fen(owner_basis)
    with localcontext(calc_context()):
        share = ds.income_share if owner_basis else ds.revenue_cash_margin
        free_monthly = Decimal(revenue_fen) / 12 * share - inputs.bureau_monthly_debt_service_fen
        serviceable = _annuity_principal_fen(max(free_monthly, Decimal(0)), ds.reference_annual_rate, ds.reference_term_months)
        caps.append(Cap("LIMIT_DEBT_SERVICE", _floor_fen(serviceable), "Limited by what monthly cash flow can repay after existing debt service"))
        ratio = settings.max_debt_to_income if owner_basis else settings.max_debt_to_revenue
        burden = Decimal(revenue_fen) * ratio - inputs.bureau_outstanding_fen - inputs.owner_bank_outstanding_fen
        caps.append(Cap("LIMIT_DEBT_BURDEN", _floor_fen(burden), "Limited by existing debt relative to revenue"))

    owner_cap_fen = parse_yuan(settings.owner_cap, "owner_cap")
    caps.append(Cap("LIMIT_OWNER_EXPOSURE", max(0, owner_cap_fen - inputs.owner_bank_limits_fen), "Limited by the owner's lines on other enterprises"))
    if grade_cap_fen is not None:
        caps.append(Cap("LIMIT_GRADE_CAP", grade_cap_fen, "Limited by the risk grade's maximum line"))
    caps.append(Cap("LIMIT_PRODUCT_MAX", product_max_fen, "Limited by the product's maximum line"))

    unit_fen = parse_yuan(settings.rounding_unit, "rounding_unit")
    tightest = min([inputs.requested_fen] + [c.amount_fen for c in caps])
    limit_fen = tightest // unit_fen * unit_fen
    reductions = sorted((c for c in caps if c.amount_fen < inputs.requested_fen), key=lambda c: (c.amount_fen, c.code))
    if limit_fen < tightest and not reductions:
        reductions.append(Cap("LIMIT_ROUNDED", limit_fen, f"Rounded down to a multiple of {settings.rounding_unit} yuan"))
    if limit_fen < product_min_fen:
        reductions.insert(0, Cap("LIMIT_BELOW_MINIMUM", limit_fen, "The supported line is below the product's minimum"))
        limit_fen = 0
    assert 0 <= limit_fen <= min(inputs.requested_fen, product_max_fen), "a limit never exceeds the request or the product"
    assert limit_fen % unit_fen == 0
    return LimitResult(limit_fen, inputs.requested_fen, tuple(caps), tuple(reductions))
