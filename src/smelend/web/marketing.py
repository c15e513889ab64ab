"""The funnel and channels page's figures: :mod:`smelend.marketing`'s own functions over the stored
marketing data set (:func:`smelend.store.marketing.load_data`), so the page shows what
``smelend marketing funnel`` and ``smelend marketing channels`` print.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.engine import Engine

from smelend.marketing.channel_figures import ChannelFigures, channel_figures
from smelend.marketing.funnel import GROUPS, DropOff, Funnel, Standard310, drop_offs, funnel, standard_310
from smelend.store import marketing as marketing_store
from smelend.store.db import reading

DROP_OFFS_SHOWN = 8


@dataclass(frozen=True)
class MarketingFigures:
    as_of: str
    overall: Funnel
    by: str | None
    groups: tuple[Funnel, ...]
    standard: Standard310
    drop_offs: tuple[DropOff, ...]
    channels: tuple[ChannelFigures, ...]


def read(engine: Engine, by: str | None) -> MarketingFigures | None:
    """The figures, or None when no marketing data set is stored yet."""
    assert by is None or by in GROUPS
    with reading(engine) as conn:
        if marketing_store.event_count(conn) == 0:
            return None
        data = marketing_store.load_data(conn)
    return MarketingFigures(
        as_of=data.as_of.strftime("%Y-%m-%d %H:%M UTC"),
        overall=funnel(data)[0],
        by=by,
        groups=tuple(funnel(data, by)) if by is not None else (),
        standard=standard_310(data),
        drop_offs=tuple(drop_offs(data, DROP_OFFS_SHOWN)),
        channels=tuple(channel_figures(data)),
    )
