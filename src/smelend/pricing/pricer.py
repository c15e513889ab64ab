"""The price step of a decision: quote the product's rate for the applicant's PD and channel, then
make the offer within the APR cap, or say why there is none.

A ``Pricer`` is loaded once (pricing settings and APR caps, each identified by its SHA-256) and used
for any number of decisions; it is pure given those files.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

from smelend.pricing.caps import CAPS_FILE, Caps, load_caps
from smelend.pricing.offer import Offer, make_offer
from smelend.pricing.quote import PriceQuote, price_product
from smelend.pricing.settings import PricingSettings, load_pricing_settings
from smelend.products.model import Product

SETTINGS_FILE = Path(__file__).resolve().parent / "data" / "pricing.yaml"


@dataclass(frozen=True)
class Refusal:
    code: str
    text: str


@dataclass(frozen=True)
class PricedOffer:
    quote: PriceQuote
    offer: Offer | None
    refusal: Refusal | None

    def __post_init__(self) -> None:
        assert (self.offer is None) != (self.refusal is None), "either an offer or the reason there is none"


@dataclass(frozen=True)
class Pricer:
    settings: PricingSettings
    caps: Caps
    file_hashes: dict[str, str]

    @classmethod
    def load(cls, settings_path: Path | None = None, caps_path: Path | None = None) -> "Pricer":
        settings_path, caps_path = settings_path or SETTINGS_FILE, caps_path or CAPS_FILE
        hashes = {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in (settings_path, caps_path)}
        return cls(load_pricing_settings(settings_path), load_caps(caps_path), hashes)

    def versions(self) -> dict[str, Any]:
        return {"files": dict(self.file_hashes), "lender_type": self.caps.lender_type}

    def offer(self, *, product: Product, pd: float, limit_fen: int, channel: str, start: date) -> PricedOffer:
        """The priced offer of ``limit_fen`` on ``product`` to an applicant with ``pd``, from ``channel``."""
        quote = price_product(pd, product, self.settings, channel=channel)
        breakeven = Decimal(str(quote.breakeven_rate))
        if quote.annual_rate < breakeven:
            return PricedOffer(quote, None, Refusal("PRICE_CAP_BELOW_BREAKEVEN", "No rate within the product's cap covers the cost of this risk"))
        cap = self.caps.effective(product.regulatory.apr_cap)
        offer = make_offer(product, limit_fen, quote.annual_rate, breakeven, cap, start)
        if offer is None:
            return PricedOffer(quote, None, Refusal("PRICE_ABOVE_APR_CAP", f"Within the APR cap of {cap} the line would not cover its costs"))
        return PricedOffer(quote, offer, None)
