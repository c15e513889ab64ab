"""The channel catalogue (``data/channels.yaml``) and what each channel's activity costs.

Channels are data, validated on load: a new partner platform is a line in the file, not code. Cost is
computed from counts in integer fen, so a channel's spend is exact and adds up across channels.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from smelend.datafiles import load_yaml_model

DATA_DIR = Path(__file__).resolve().parent / "data"
CostModel = Literal["per_click", "per_application", "per_first_draw", "revenue_share", "fixed"]
ChannelKind = Literal["own", "partner", "branch", "manager"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Cost(_Strict):
    model: CostModel
    amount_yuan: Decimal | None = Field(default=None, ge=0, le=1_000_000)
    share: Decimal | None = Field(default=None, ge=0, le=1)

    @model_validator(mode="after")
    def _one_parameter(self) -> "Cost":
        if self.model == "revenue_share":
            if self.share is None or self.amount_yuan is not None:
                raise ValueError("revenue_share takes share (a fraction of interest income) and no amount_yuan")
        elif self.amount_yuan is None or self.share is not None:
            raise ValueError(f"{self.model} takes amount_yuan and no share")
        return self


class Channel(_Strict):
    name: str = Field(min_length=1, max_length=100)
    kind: ChannelKind
    partner_type: str | None = None
    cost: Cost

    @model_validator(mode="after")
    def _partner_has_type(self) -> "Channel":
        if (self.kind == "partner") != (self.partner_type is not None):
            raise ValueError("partner_type is given for partner channels, and only for them")
        return self


class ChannelFile(_Strict):
    version: str
    channels: dict[str, Channel] = Field(min_length=1)


@dataclass(frozen=True)
class Activity:
    """What a channel did in a period: the counts its cost model may charge for."""

    visits: int = 0
    applications: int = 0
    first_draws: int = 0
    interest_fen: int = 0
    months: int = 1


def spend_fen(channel: Channel, activity: Activity) -> int:
    """The channel's cost for ``activity`` in fen, rounded half up once at the end."""
    cost = channel.cost
    yuan = cost.amount_yuan or Decimal(0)
    if cost.model == "per_click":
        amount = yuan * 100 * activity.visits
    elif cost.model == "per_application":
        amount = yuan * 100 * activity.applications
    elif cost.model == "per_first_draw":
        amount = yuan * 100 * activity.first_draws
    elif cost.model == "fixed":
        amount = yuan * 100 * activity.months
    else:
        amount = (cost.share or Decimal(0)) * activity.interest_fen
    return int(amount.quantize(Decimal(1), rounding=ROUND_HALF_UP))


@lru_cache(maxsize=4)
def _load(path: Path) -> ChannelFile:
    return load_yaml_model(path, ChannelFile, "channel catalogue")


def load_channels(path: Path | None = None) -> ChannelFile:
    """The catalogue at ``path`` (default: the shipped ``channels.yaml``), validated."""
    return _load((path or DATA_DIR / "channels.yaml").resolve())
