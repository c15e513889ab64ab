"""APR caps: per lender type (a file) and per product (its ``regulatory.apr_cap``); the lower binds.

>>> caps = Caps(lender_type="commercial-bank", caps={"commercial-bank": Decimal("0.24")})
>>> caps.for_lender()
Decimal('0.24')
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, model_validator

from smelend.datafiles import load_yaml_model

CAPS_FILE = Path(__file__).resolve().parent / "data" / "caps.yaml"
Fraction = Annotated[Decimal, Field(gt=0, le=1)]


class Caps(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    lender_type: str = Field(min_length=1, description="What kind of lender this bank is.")
    caps: dict[str, Fraction] = Field(min_length=1, description="Lender type -> highest APR, a fraction.")

    @model_validator(mode="after")
    def _known(self) -> "Caps":
        if self.lender_type not in self.caps:
            raise ValueError(f"lender_type {self.lender_type!r} has no cap in caps")
        return self

    def for_lender(self) -> Decimal:
        return self.caps[self.lender_type]

    def effective(self, product_apr_cap: Decimal) -> Decimal:
        """The cap an offer must respect: the product's or the lender type's, whichever is lower."""
        return min(product_apr_cap, self.for_lender())


def load_caps(path: Path | None = None) -> Caps:
    return load_yaml_model(path or CAPS_FILE, Caps, "APR caps")
