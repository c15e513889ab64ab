"""The segments page's figures: the segmentation runs recorded in the store (``smelend marketing segments
--record RUN`` writes each customer's ``stage/cell`` segment and k-means cluster, and the run with the book it
read: the database's own customers on a business date, or the synthetic book), counted by life-cycle
stage, by value x risk cell and by cluster, beside the strategy ``marketing/data/segments.yaml``
recommends for each stage and cell (:func:`smelend.marketing.segments.load_segment_settings`).
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.engine import Engine

from smelend.marketing.segments import STAGES, load_segment_settings
from smelend.store.db import reading
from smelend.store.tables import segment_assignments, segment_runs


@dataclass(frozen=True)
class Run:
    name: str
    customers: int
    recorded_at: datetime
    source: str | None = None  # the customer book the latest run of this name read (db, synthetic; none before runs were recorded)
    as_of: str | None = None  # a db book's business date


@dataclass(frozen=True)
class Segmented:
    run: Run
    stages: tuple[tuple[str, int, dict[str, Any] | None], ...]  # stage, customers, strategy
    value_bands: tuple[str, ...]
    risk_bands: tuple[str, ...]
    cells: dict[str, int]  # "value-risk" -> customers
    strategies: dict[str, dict[str, Any]]  # "value-risk" -> strategy
    clusters: tuple[tuple[int, int], ...]  # cluster, customers
    other: int  # customers whose segment is not a known stage/cell (recorded under other settings)


def runs(engine: Engine) -> list[Run]:
    with reading(engine) as conn:
        rows = conn.execute(
            select(segment_assignments.c.run, func.count(), func.max(segment_assignments.c.created_at))
            .group_by(segment_assignments.c.run).order_by(func.max(segment_assignments.c.created_at).desc(), segment_assignments.c.run)
        ).all()
        books = {str(name): (source, json.loads(parameters).get("as_of")) for name, source, parameters in conn.execute(
            select(segment_runs.c.name, segment_runs.c.source, segment_runs.c.parameters).order_by(segment_runs.c.id))}  # the latest of each name wins
    return [Run(str(name), int(n), at, *books.get(str(name), (None, None))) for name, n, at in rows]


def segmented(engine: Engine, run: Run) -> Segmented:
    settings = load_segment_settings()
    with reading(engine) as conn:
        rows = conn.execute(
            select(segment_assignments.c.segment, segment_assignments.c.cluster, func.count())
            .where(segment_assignments.c.run == run.name).group_by(segment_assignments.c.segment, segment_assignments.c.cluster)
        ).all()
    stages: Counter[str] = Counter()
    cells: Counter[str] = Counter()
    clusters: Counter[int] = Counter()
    other = 0
    for segment, cluster, n in rows:
        stage, _, cell = str(segment).partition("/")
        if stage in STAGES and cell in settings.grid_strategies:
            stages[stage] += int(n)
            cells[cell] += int(n)
        else:
            other += int(n)
        if cluster is not None:
            clusters[int(cluster)] += int(n)
    return Segmented(
        run=run,
        stages=tuple((s, stages[s], settings.stage_strategies[s].model_dump()) for s in STAGES),
        value_bands=tuple(b.band for b in settings.value_bands),
        risk_bands=tuple(b.band for b in settings.risk_bands),
        cells={cell: cells[cell] for cell in settings.grid_strategies},
        strategies={cell: s.model_dump() for cell, s in settings.grid_strategies.items()},
        clusters=tuple(sorted(clusters.items())),
        other=other,
    )
