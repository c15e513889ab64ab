"""``/v1/marketing/...``: the marketing figures for staff (marketing, auditors, admins) and the dashboard.

Each endpoint reads the stored marketing data set and returns what the matching ``smelend marketing``
command prints with ``--json`` (money as decimal yuan strings, ratios as fractions): the same functions of
:mod:`smelend.marketing`, so the CLI, the API and the dashboard cannot disagree. Without a data set the
answer is 422 naming ``database`` (run ``smelend marketing generate``). ``segments``, ``retention`` and
``whitelist`` compute on the synthetic customer book with the CLI's parameters, bounded in size
(a larger request is 422 naming the parameter); ``abtest`` takes the two arms as JSON.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, ConfigDict, Field

from smelend.api.principal import Principal
from smelend.api.routers.applications import ERRORS
from smelend.api.routers.common import service
from smelend.api.security import require_roles
from smelend.marketing.abtest import MAX_TRIALS
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


# Computed on the synthetic customer book, like the matching CLI commands with the same parameters, but
# bounded so that one request stays well under a couple of seconds on a shared machine.
API_MAX_CUSTOMERS = 10_000
API_MAX_WHITELIST = 100
SEED_MAX = 2**32 - 1


def _book(customers: int, seed: int) -> Any:
    from smelend.marketing.customers import simulate_customers

    return simulate_customers(customers, seed)


@router.get("/v1/marketing/segments", responses=ERRORS)
def segments(
    request: Request,
    customers: int = Query(2_000, ge=10, le=API_MAX_CUSTOMERS, description="Synthetic customers to segment."),
    seed: int = Query(0, ge=0, le=SEED_MAX),
    clusters: int = Query(5, ge=2, le=20, description="k-means clusters."),
    principal: Principal = Depends(require_roles(*READERS)),
) -> dict[str, Any]:
    """Rule segments, the value x risk grid with strategies and k-means clusters: ``smelend marketing segments --json``."""
    from smelend.marketing.documents import segments_run

    return segments_run(_book(customers, seed), clusters, seed).document


@router.get("/v1/marketing/retention", responses=ERRORS)
def retention(
    request: Request,
    customers: int = Query(2_000, ge=10, le=API_MAX_CUSTOMERS, description="Synthetic customers in the book."),
    seed: int = Query(0, ge=0, le=SEED_MAX),
    on: date = Query(date(2026, 7, 1), description="Review date of the lines (limit increases by the line-management rules)."),
    principal: Principal = Depends(require_roles(*READERS)),
) -> dict[str, Any]:
    """Attrition model, reactivation/renewal/limit-increase/reminder offers, CLV by segment, the save list: ``smelend marketing retention --json``."""
    from smelend.marketing.documents import check_day, retention_document

    return retention_document(_book(customers, seed), seed, check_day(on, "on"))


@router.get("/v1/marketing/whitelist", responses=ERRORS)
def whitelist(
    request: Request,
    customers: int = Query(2_000, ge=10, le=API_MAX_CUSTOMERS, description="Synthetic existing customers to screen."),
    size: int = Query(50, ge=1, le=API_MAX_WHITELIST, description="How many of the best-scored go through the real decide and pricing."),
    seed: int = Query(0, ge=0, le=SEED_MAX),
    on: date = Query(date(2026, 7, 1), description="Screening date."),
    principal: Principal = Depends(require_roles(*READERS)),
) -> dict[str, Any]:
    """A bounded pre-approved list: ``smelend marketing whitelist --json`` (seconds per stage are this run's)."""
    from smelend.marketing.documents import check_day, whitelist_document
    from smelend.marketing.whitelist import screen

    return whitelist_document(screen(_book(customers, seed), size, on=check_day(on, "on"), seed=seed))


class ArmIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    n: int = Field(ge=1, le=MAX_TRIALS, description="Customers in the arm.")
    conversions: int = Field(ge=0, le=MAX_TRIALS, description="Of them, how many converted (at most n).")


class ABTestIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    control: ArmIn
    treatment: ArmIn
    alpha: float = Field(0.05, gt=0, lt=1, description="Significance level; the interval is at 1 - alpha.")


@router.post("/v1/marketing/abtest", responses=ERRORS)
def abtest(body: ABTestIn, principal: Principal = Depends(require_roles(*READERS))) -> dict[str, Any]:
    """Difference in conversion rates, as ``smelend marketing abtest --json``: lift, pooled z-test p-value, Wald interval."""
    from smelend.errors import Collector
    from smelend.marketing.abtest import Arm
    from smelend.marketing.documents import abtest_document

    found = Collector()
    for name, arm in (("control", body.control), ("treatment", body.treatment)):
        if arm.conversions > arm.n:
            found.add(f"{name}.conversions", f"cannot exceed n ({arm.n})")
    found.raise_if_any()
    return abtest_document(Arm(body.control.n, body.control.conversions), Arm(body.treatment.n, body.treatment.conversions), body.alpha)
