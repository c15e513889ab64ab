"""The marketing store: the event data set the figures read, campaigns, coupon grants and segmentation runs
(each customer's segment, and the run itself: when, on which book, with which parameters, its profile document).

Adapter only: the figures are computed by :mod:`smelend.marketing` from what :func:`load_data` returns.
A redeemed coupon posts its cost to the ledger in the same transaction as the grant's guarded update,
so a coupon is paid for exactly once.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.engine import Connection

from smelend.errors import InvalidInput
from smelend.ledger.rules import coupon_cost
from smelend.marketing.events import MarketingData, from_rows, to_rows
from smelend.store import ledger as ledger_store
from smelend.store.tables import coupon_grants, marketing_campaigns, marketing_events, segment_assignments, segment_runs

INSERT_CHUNK = 5_000


def replace_data(conn: Connection, data: MarketingData) -> int:
    """Replace the stored marketing data set with ``data``; the number of event rows written."""
    rows = to_rows(data)
    conn.execute(delete(marketing_events))
    for start in range(0, len(rows), INSERT_CHUNK):
        conn.execute(insert(marketing_events), rows[start : start + INSERT_CHUNK])
    return len(rows)


def load_data(conn: Connection) -> MarketingData:
    """The stored data set, or :class:`InvalidInput` (field ``database``) when none was generated."""
    rows = conn.execute(select(marketing_events.c.kind, marketing_events.c.key, marketing_events.c.document).order_by(marketing_events.c.id)).mappings().all()
    if not rows:
        raise InvalidInput.one("database", "holds no marketing events: run `smelend marketing generate` first")
    return from_rows(rows)


def event_count(conn: Connection) -> int:
    return int(conn.scalar(select(func.count()).select_from(marketing_events)) or 0)


@dataclass(frozen=True)
class Grant:
    id: str
    customer_ref: str
    discount_bp: int
    max_discount_fen: int


def create_campaign(conn: Connection, name: str, learner: str, document: dict[str, Any], grants: Sequence[Grant]) -> int:
    """Record a campaign and its coupon grants; a name already used is refused (field ``name``)."""
    if conn.scalar(select(marketing_campaigns.c.id).where(marketing_campaigns.c.name == name)) is not None:
        raise InvalidInput.one("name", f"a campaign named {name!r} already exists")
    campaign_id = int(conn.execute(insert(marketing_campaigns).values(name=name, learner=learner, document=json.dumps(document, ensure_ascii=False))).inserted_primary_key[0])  # type: ignore[index]
    rows = [{"id": g.id, "campaign_id": campaign_id, "customer_ref": g.customer_ref, "discount_bp": g.discount_bp,
             "max_discount_fen": g.max_discount_fen, "status": "granted"} for g in grants]
    for start in range(0, len(rows), INSERT_CHUNK):
        conn.execute(insert(coupon_grants), rows[start : start + INSERT_CHUNK])
    return campaign_id


def redeem(conn: Connection, grant_id: str, cost_fen: int, on: date, loan_id: int | None = None) -> bool:
    """Mark a granted coupon redeemed and post its cost; ``False`` when it was already redeemed (nothing posted)."""
    if cost_fen < 0:
        raise InvalidInput.one("cost", "must not be negative")
    done = conn.execute(
        update(coupon_grants).where(coupon_grants.c.id == grant_id, coupon_grants.c.status == "granted").values(status="redeemed", cost_fen=cost_fen, redeemed_on=on)
    ).rowcount
    if not done:
        if conn.scalar(select(coupon_grants.c.id).where(coupon_grants.c.id == grant_id)) is None:
            raise InvalidInput.one("grant", f"no coupon grant {grant_id!r}")
        return False
    entry = coupon_cost(grant_id, on, cost_fen, loan_id)
    if entry is not None:
        ledger_store.post_entry(conn, entry)
    return True


def campaigns(conn: Connection) -> list[dict[str, Any]]:
    """Every campaign with its grants and redemptions counted and its coupon cost so far (fen)."""
    g = coupon_grants
    counts = (
        select(g.c.campaign_id, func.count().label("grants"), func.count(g.c.redeemed_on).label("redeemed"), func.coalesce(func.sum(g.c.cost_fen), 0).label("cost_fen"))
        .group_by(g.c.campaign_id).subquery()
    )
    rows = conn.execute(
        select(marketing_campaigns, counts.c.grants, counts.c.redeemed, counts.c.cost_fen).outerjoin(counts, counts.c.campaign_id == marketing_campaigns.c.id).order_by(marketing_campaigns.c.id)
    ).mappings()
    return [{"id": r["id"], "name": r["name"], "learner": r["learner"], "plan": json.loads(r["document"]), "grants": int(r["grants"] or 0),
             "redeemed": int(r["redeemed"] or 0), "coupon_cost_fen": int(r["cost_fen"] or 0)} for r in rows]


def save_segments(conn: Connection, run: str, assignments: Iterable[tuple[str, str, int | None]]) -> int:
    """Store one segmentation run (customer, segment, cluster), replacing a run of the same name."""
    conn.execute(delete(segment_assignments).where(segment_assignments.c.run == run))
    rows = [{"run": run, "customer_ref": c, "segment": s, "cluster": k} for c, s, k in assignments]
    for start in range(0, len(rows), INSERT_CHUNK):
        conn.execute(insert(segment_assignments), rows[start : start + INSERT_CHUNK])
    return len(rows)


@dataclass(frozen=True)
class SegmentRun:
    id: int
    name: str
    source: str
    customers: int
    parameters: dict[str, Any]
    document: dict[str, Any]
    created_at: Any  # datetime (UTC)


def record_segment_run(conn: Connection, name: str, source: str, parameters: dict[str, Any], document: dict[str, Any]) -> int:
    """Record one segmentation run (its assignments are :func:`save_segments`' rows under ``name``); its id."""
    return int(conn.execute(insert(segment_runs).values(
        name=name, source=source, customers=int(document["customers"]), parameters=json.dumps(parameters, sort_keys=True),
        document=json.dumps(document, ensure_ascii=False),
    )).inserted_primary_key[0])  # type: ignore[index]


def segment_run(conn: Connection, run_id: int | None = None) -> SegmentRun | None:
    """The run ``run_id``, or the latest recorded one (``None``: no such run, or none recorded)."""
    query = select(segment_runs)
    query = query.where(segment_runs.c.id == run_id) if run_id is not None else query.order_by(segment_runs.c.id.desc()).limit(1)
    row = conn.execute(query).mappings().first()
    if row is None:
        return None
    return SegmentRun(int(row["id"]), row["name"], row["source"], int(row["customers"]), json.loads(row["parameters"]), json.loads(row["document"]), row["created_at"])
