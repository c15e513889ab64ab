"""``/v1/marketing/...``: the marketing figures for staff (marketing, auditors, admins) and the dashboard.

Each endpoint reads the stored marketing data set and returns what the matching ``smelend marketing``
command prints with ``--json`` (money as decimal yuan strings, ratios as fractions): the same functions of
:mod:`smelend.marketing`, so the CLI, the API and the dashboard cannot disagree. Without a data set the
answer is 422 naming ``database`` (run ``smelend marketing generate``).
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Query, Request

from smelend.api.principal import Principal
from smelend.api.routers.applications import ERRORS
from smelend.api.routers.common import service
from smelend.api.security import require_roles
from smelend.store.db import reading

router = APIRouter(tags=["marketing"])
READERS = ("marketing", "auditor")
GROUPS_PATTERN = r"^(channel|product_id|size_band|industry_section|data_rich)$"


def _data(request: Request) -> Any:
    from smelend.store.marketing import load_data

    with reading(service(request).engine) as conn:
        return load_data(conn)


@router.get("/v1/marketing/channels", responses=ERRORS)
def channels(request: Request, principal: Principal = Depends(require_roles(*READERS))) -> dict[str, Any]:
    """Per channel: volume, conversion, approval rate, early delinquency, spend, cost per first draw, margin, return on spend, attribution."""
    from smelend.marketing.channel_figures import channel_figures
    from smelend.marketing.plain import jsonable

    return {"channels": jsonable(channel_figures(_data(request)))}


@router.get("/v1/marketing/attribution", responses=ERRORS)
def attribution(request: Request, principal: Principal = Depends(require_roles(*READERS))) -> dict[str, Any]:
    """Conversions credited to channels by first touch, last touch and the Markov removal effect."""
    from smelend.marketing.attribution import attribute, journeys_from
    from smelend.marketing.plain import jsonable

    data = _data(request)
    return jsonable(attribute(journeys_from(data.touches, data.applications)))


@router.get("/v1/marketing/funnel", responses=ERRORS)
def funnel(
    request: Request,
    by: str | None = Query(None, pattern=GROUPS_PATTERN, description="Break down by channel, product_id, size_band, industry_section or data_rich."),
    principal: Principal = Depends(require_roles(*READERS)),
) -> dict[str, Any]:
    """The funnel with conversion and hours between steps, the 310 standard, drop-offs and activation cohorts."""
    from smelend.marketing.funnel import activation_cohorts, drop_offs
    from smelend.marketing.funnel import funnel as build
    from smelend.marketing.funnel import standard_310
    from smelend.marketing.plain import jsonable

    data = _data(request)
    return {"funnel": jsonable(build(data, by)), "standard_310": jsonable(standard_310(data)), "drop_offs": jsonable(drop_offs(data)),
            "activation_cohorts": jsonable(activation_cohorts(data))}


@router.get("/v1/marketing/conversion", responses=ERRORS)
def conversion(request: Request, principal: Principal = Depends(require_roles(*READERS))) -> dict[str, Any]:
    """Approved lines never drawn, and declined applicants another product would approve."""
    from smelend.marketing.conversion import conversion as build
    from smelend.marketing.plain import jsonable

    return jsonable(build(_data(request)))


@router.get("/v1/marketing/campaigns", responses=ERRORS)
def campaigns(request: Request, principal: Principal = Depends(require_roles(*READERS))) -> dict[str, Any]:
    """Recorded campaigns: coupons granted and redeemed, coupon cost posted to the ledger so far."""
    from smelend.marketing.plain import jsonable
    from smelend.store.marketing import campaigns as stored

    with reading(service(request).engine) as conn:
        return {"campaigns": jsonable(stored(conn))}
