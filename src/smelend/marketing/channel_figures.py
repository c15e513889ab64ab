"""Per-channel figures: volume, conversion, approval, early delinquency, spend, cost per first draw, margin, return.

An application and its draws are credited to the channel it came through (the last touch, as the
partner is paid); spend follows each channel's cost model on that channel's own activity. Margin is the
draws' scheduled interest less the cost of funds (the FTP rate of the quote over the term) less the
loss on draws that went early-delinquent (LGD x amount): the return of lending, before the channel's
spend. ``return_on_spend`` = (margin - spend) / spend.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import polars as pl

from smelend.marketing.attribution import attribute, journeys_from
from smelend.marketing.channels import Activity, ChannelFile, load_channels, spend_fen
from smelend.marketing.events import MarketingData

DAYS_PER_MONTH = 30


@dataclass(frozen=True)
class ChannelFigures:
    channel: str
    name: str
    kind: str
    cost_model: str
    touches: int
    visits: int
    applications: int
    approvals: int
    acceptances: int
    first_draws: int
    repeat_draws: int
    conversion: float | None  # applications / visits
    approval_rate: float | None
    early_delinquency: float | None  # early-delinquent first draws / first draws
    drawn_fen: int
    interest_fen: int
    margin_fen: int
    spend_fen: int
    cost_per_first_draw_fen: int | None
    return_on_spend: float | None
    attributed: dict[str, float]  # conversions credited by first touch, last touch and Markov


def _ratio(a: float, b: float) -> float | None:
    return a / b if b else None


def _months(data: MarketingData) -> int:
    if data.touches.is_empty():
        return 1
    first = data.touches["at"].min()
    days = (data.as_of - first).total_seconds() / 86400  # type: ignore[operator]
    return max(1, math.ceil(days / DAYS_PER_MONTH))


def channel_figures(data: MarketingData, catalogue: ChannelFile | None = None) -> list[ChannelFigures]:
    """One row per channel in the catalogue, in catalogue order."""
    catalogue = catalogue or load_channels()
    touches = data.touches.group_by("channel").agg(pl.len().alias("touches"), pl.col("visit").sum().alias("visits"))
    apps = data.applications.group_by("channel").agg(
        pl.len().alias("applications"),
        (pl.col("outcome") == "approve").sum().alias("approvals"),
        pl.col("accepted_at").is_not_null().sum().alias("acceptances"),
    )
    draws = data.draws.join(data.applications.select("application_id", "channel"), on="application_id").group_by("channel").agg(
        (pl.col("draw_number") == 1).sum().alias("first_draws"),
        (pl.col("draw_number") > 1).sum().alias("repeat_draws"),
        ((pl.col("draw_number") == 1) & pl.col("early_delinquent")).sum().alias("late_first"),
        pl.col("amount_fen").sum().alias("drawn_fen"),
        pl.col("interest_fen").sum().alias("interest_fen"),
        (pl.col("interest_fen") - pl.col("funds_cost_fen") - pl.col("loss_fen")).sum().alias("margin_fen"),
    )
    table = {r["channel"]: r for r in touches.join(apps, on="channel", how="full", coalesce=True).join(draws, on="channel", how="full", coalesce=True).iter_rows(named=True)}
    credit = attribute(journeys_from(data.touches, data.applications))
    months = _months(data)
    out = []
    for channel_id, channel in catalogue.channels.items():
        row = {k: (v or 0) for k, v in table.get(channel_id, {}).items()}
        get = lambda k: int(row.get(k, 0) or 0)  # noqa: E731
        spend = spend_fen(channel, Activity(get("visits"), get("applications"), get("first_draws"), get("interest_fen"), months))
        margin = get("margin_fen")
        out.append(ChannelFigures(
            channel=channel_id, name=channel.name, kind=channel.kind, cost_model=channel.cost.model,
            touches=get("touches"), visits=get("visits"), applications=get("applications"), approvals=get("approvals"),
            acceptances=get("acceptances"), first_draws=get("first_draws"), repeat_draws=get("repeat_draws"),
            conversion=_ratio(get("applications"), get("visits")), approval_rate=_ratio(get("approvals"), get("applications")),
            early_delinquency=_ratio(get("late_first"), get("first_draws")),
            drawn_fen=get("drawn_fen"), interest_fen=get("interest_fen"), margin_fen=margin, spend_fen=spend,
            cost_per_first_draw_fen=((2 * spend + get("first_draws")) // (2 * get("first_draws")) if get("first_draws") else None),  # half up
            return_on_spend=_ratio(margin - spend, spend),
            attributed={"first_touch": credit.first_touch.get(channel_id, 0.0), "last_touch": credit.last_touch.get(channel_id, 0.0), "markov": credit.markov.get(channel_id, 0.0)},
        ))
    return out
