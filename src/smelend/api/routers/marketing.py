"""``/v1/marketing/...``: the marketing figures for staff (marketing, auditors, admins) and the dashboard.

Each endpoint reads the stored marketing data set and returns what the matching ``smelend marketing``
command prints with ``--json`` (money as decimal yuan strings, ratios as fractions): the same functions of
:mod:`smelend.marketing`, so the CLI, the API and the dashboard cannot disagree. Without a data set the
answer is 422 naming ``database`` (run ``smelend marketing generate``). ``retention`` and ``whitelist``
compute on a customer book chosen as the CLI chooses it (the database's own when it holds lines, or
the synthetic one; ``source`` and ``customers`` as the commands' options), bounded in size (a larger
request is 422 naming the parameter). ``segments`` serves the latest recorded segmentation run (or
``?run=ID``; 404 when none) and computes now only when given the computing parameters, as it did
before runs were recorded. ``abtest`` takes the two arms as JSON.
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


# Computed on a customer book — the database's own (``source=db``) or the synthetic one (``source=synthetic``,
# sized by ``customers``) — by the rule of the CLI (smelend.store.customer_book.resolve_source), bounded so
# that one request stays well under a couple of seconds on a shared machine.
API_MAX_CUSTOMERS = 10_000
API_MAX_WHITELIST = 100
API_DEFAULT_CUSTOMERS = 2_000
SEED_MAX = 2**32 - 1
SOURCE_PATTERN = r"^(db|synthetic)$"
SOURCE_QUERY = Query(None, pattern=SOURCE_PATTERN, description="Customer book: db (the database's own customers) or synthetic. Default: synthetic when "
                     "customers is given, else db when the database holds credit lines, else synthetic.")


def _book(request: Request, source: str | None, customers: int | None, seed: int, *, history: bool = False) -> Any:
    from smelend.errors import InvalidInput
    from smelend.marketing.customers import simulate_customers
    from smelend.store.customer_book import ChosenBook, holds_lines, read_book, resolve_source
    from smelend.store.tables import credit_lines
    from sqlalchemy import func, select

    engine = service(request).engine

    def lines_held() -> bool:
        with reading(engine) as conn:
            return holds_lines(conn)

    chosen, note = resolve_source(source, customers, lines_held)
    if chosen == "synthetic":
        return ChosenBook("synthetic", simulate_customers(customers or API_DEFAULT_CUSTOMERS, seed), None, note)
    with reading(engine) as conn:
        if int(conn.scalar(select(func.count()).select_from(credit_lines)) or 0) > API_MAX_CUSTOMERS:
            raise InvalidInput.one("source", f"the database's book holds more than {API_MAX_CUSTOMERS:,} lines: run `smelend marketing ... --source db` (or record a segmentation run)")
        return read_book(conn, history=history)


@router.get("/v1/marketing/segments", responses=ERRORS)
def segments(
    request: Request,
    run: int | None = Query(None, ge=1, description="A recorded segmentation run (`smelend marketing segments --record NAME` prints its run_id)."),
    customers: int | None = Query(None, ge=10, le=API_MAX_CUSTOMERS, description="Compute now on a synthetic book of this many customers."),
    seed: int | None = Query(None, ge=0, le=SEED_MAX, description="Compute now with this seed."),
    clusters: int | None = Query(None, ge=2, le=20, description="Compute now with this many k-means clusters."),
    source: str | None = Query(None, pattern=SOURCE_PATTERN, description="Compute now on this customer book (db or synthetic)."),
    principal: Principal = Depends(require_roles(*READERS)),
) -> dict[str, Any]:
    """The latest recorded segmentation run (or ``run``): its document as ``smelend marketing segments --json`` printed it,
    with ``run`` (id, name, created_at, source, parameters); 404 when none is recorded. Given ``customers``, ``seed``,
    ``clusters`` or ``source``, computes now instead (as before: rule segments, the value x risk grid, clusters)."""
    from smelend.marketing.documents import segments_run, sourced
    from smelend.store.marketing import segment_run

    if run is not None or all(v is None for v in (customers, seed, clusters, source)):
        with reading(service(request).engine) as conn:
            found = segment_run(conn, run)
        if found is None:
            from smelend.api.errors import not_found

            raise not_found("run")
        return {**found.document, "run": {"id": found.id, "name": found.name, "created_at": found.created_at.isoformat() if found.created_at else None,
                                          "source": found.source, "parameters": found.parameters}}
    chosen = _book(request, source, customers, seed or 0)
    return sourced(segments_run(chosen.book, clusters or 5, seed or 0).document, chosen.source, chosen.as_of)


@router.get("/v1/marketing/retention", responses=ERRORS)
def retention(
    request: Request,
    customers: int | None = Query(None, ge=10, le=API_MAX_CUSTOMERS, description="Synthetic customers in the book (2,000 when the synthetic book is used without it)."),
    seed: int = Query(0, ge=0, le=SEED_MAX),
    on: date = Query(date(2026, 7, 1), description="Review date of the lines (limit increases by the line-management rules)."),
    source: str | None = SOURCE_QUERY,
    principal: Principal = Depends(require_roles(*READERS)),
) -> dict[str, Any]:
    """Attrition and dormancy models, reactivation/renewal/limit-increase/reminder offers, CLV by segment, the save and reactivation lists: ``smelend marketing retention --json``."""
    from smelend.marketing.documents import check_day, retention_document, sourced

    day = check_day(on, "on")
    chosen = _book(request, source, customers, seed, history=True)
    return sourced(retention_document(chosen.book, seed, day, chosen.history), chosen.source, chosen.as_of)


@router.get("/v1/marketing/whitelist", responses=ERRORS)
def whitelist(
    request: Request,
    customers: int | None = Query(None, ge=10, le=API_MAX_CUSTOMERS, description="Synthetic existing customers to screen (2,000 when the synthetic book is used without it)."),
    size: int = Query(50, ge=1, le=API_MAX_WHITELIST, description="How many of the best-scored go through the real decide and pricing."),
    seed: int = Query(0, ge=0, le=SEED_MAX),
    on: date = Query(date(2026, 7, 1), description="Screening date."),
    source: str | None = SOURCE_QUERY,
    principal: Principal = Depends(require_roles(*READERS)),
) -> dict[str, Any]:
    """A bounded pre-approved list: ``smelend marketing whitelist --json`` (seconds per stage are this run's)."""
    from smelend.marketing.documents import check_day, sourced, whitelist_document
    from smelend.marketing.whitelist import screen

    day = check_day(on, "on")
    chosen = _book(request, source, customers, seed)
    return sourced(whitelist_document(screen(chosen.book, size, on=day, seed=seed)), chosen.source, chosen.as_of)


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
