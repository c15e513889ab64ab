"""Searching decisions for the dashboard: by id, outcome, product, date and reason code.

Id, outcome, product and date are filtered in SQL. The reason codes live in the decision's document,
which is encrypted at rest (it holds the applicant's data), so they cannot be filtered in the database:
with a reason code, the newest :data:`SCAN_LIMIT` decisions matching the other filters are decrypted
and filtered here, and the page says when that window was full (narrow the dates to look further back).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import select
from sqlalchemy.engine import Connection

from smelend.errors import Collector
from smelend.store.tables import applications, decisions

OUTCOMES = ("approve", "refer", "decline")
PAGE_ROWS = 50
SCAN_LIMIT = 2_000
ID_PATTERN = re.compile(r"^(DEC|APP)-[0-9A-F]{1,40}$")
CODE_PATTERN = re.compile(r"^[A-Z0-9_]{1,64}$")
PRODUCT_PATTERN = re.compile(r"^[a-z0-9-]{1,40}$")


@dataclass(frozen=True)
class Query:
    id: str | None = None  # a decision id or its application's id, whole or its start
    outcome: str | None = None
    product: str | None = None
    reason: str | None = None
    date_from: date | None = None
    date_to: date | None = None


@dataclass(frozen=True)
class Found:
    id: str
    application_id: str
    outcome: str
    review_outcome: str | None
    limit_fen: int
    product: str
    applied_on: date
    channel: str
    reasons: tuple[str, ...]


@dataclass(frozen=True)
class Result:
    rows: tuple[Found, ...]
    more: bool  # more rows than shown
    scan_full: bool  # a reason-code search stopped at SCAN_LIMIT decisions


def parse_query(params: dict[str, str]) -> Query:
    """A :class:`Query` from form fields (empty fields ignored); InvalidInput names every bad field."""
    errors = Collector()
    text = {k: (params.get(k) or "").strip() for k in ("id", "outcome", "product", "reason", "date_from", "date_to")}
    found_id = text["id"].upper() or None
    if found_id is not None and not ID_PATTERN.fullmatch(found_id):
        errors.add("id", "must be a decision or application id such as DEC-019A2B3C...")
    outcome = text["outcome"] or None
    if outcome is not None and outcome not in OUTCOMES:
        errors.add("outcome", f"must be one of {', '.join(OUTCOMES)}")
    product = text["product"] or None
    if product is not None and not PRODUCT_PATTERN.fullmatch(product):
        errors.add("product", "must be a product id such as tax-data-loan")
    reason = text["reason"].upper() or None
    if reason is not None and not CODE_PATTERN.fullmatch(reason):
        errors.add("reason", "must be a reason code such as SCORE_BELOW_CUTOFF")
    dates: dict[str, date | None] = {}
    for name in ("date_from", "date_to"):
        try:
            dates[name] = date.fromisoformat(text[name]) if text[name] else None
        except ValueError:
            errors.add(name, "must be a date, YYYY-MM-DD")
            dates[name] = None
    if dates["date_from"] and dates["date_to"] and dates["date_from"] > dates["date_to"]:
        errors.add("date_to", "must not be before date_from")
    errors.raise_if_any()
    return Query(found_id, outcome, product, reason, dates["date_from"], dates["date_to"])


def search(conn: Connection, query: Query, limit: int = PAGE_ROWS) -> Result:
    """Decisions matching ``query``, newest first (ids sort by creation time)."""
    statement = (
        select(decisions.c.id, decisions.c.application_id, decisions.c.outcome, decisions.c.review_outcome, decisions.c.limit_fen,
               applications.c.product_id, applications.c.applied_on, applications.c.channel, decisions.c.document)
        .join(applications, applications.c.id == decisions.c.application_id)
        .order_by(decisions.c.id.desc())
    )
    if query.id is not None:
        column = decisions.c.id if query.id.startswith("DEC-") else decisions.c.application_id
        statement = statement.where(column.startswith(query.id, autoescape=True))
    if query.outcome is not None:
        statement = statement.where(decisions.c.outcome == query.outcome)
    if query.product is not None:
        statement = statement.where(applications.c.product_id == query.product)
    if query.date_from is not None:
        statement = statement.where(applications.c.applied_on >= query.date_from)
    if query.date_to is not None:
        statement = statement.where(applications.c.applied_on <= query.date_to)
    window = SCAN_LIMIT if query.reason is not None else limit + 1
    rows = conn.execute(statement.limit(window)).mappings().all()
    found: list[Found] = []
    for row in rows:
        codes = _codes(row["document"])
        if query.reason is not None and query.reason not in codes:
            continue
        found.append(Found(row["id"], row["application_id"], row["outcome"], row["review_outcome"], int(row["limit_fen"]),
                           row["product_id"], row["applied_on"], row["channel"], codes))
    return Result(tuple(found[:limit]), len(found) > limit, query.reason is not None and len(rows) == SCAN_LIMIT)


def _codes(document: str) -> tuple[str, ...]:
    parsed: dict[str, Any] = json.loads(document)
    return tuple(str(r["code"]) for r in parsed.get("reasons", ()))
