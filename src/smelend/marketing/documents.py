"""The JSON documents of ``smelend marketing segments | retention | whitelist | abtest``, built once.

The CLI prints these with ``--json`` and the API returns them, so both call the functions here and the
two cannot drift apart. Each takes the synthetic customer book (until the strategy lab provides the
bank's) and returns plain JSON-ready data (see :func:`smelend.marketing.plain.jsonable`). Pure: no
database, no web framework; the callers bound the sizes and store what they record.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

import polars as pl

from smelend.errors import InvalidInput
from smelend.marketing.abtest import Arm, analyse
from smelend.marketing.line_review import DEFAULT_ON
from smelend.marketing.plain import jsonable

ENTRIES_SHOWN = 20  # whitelist entries in the document; the full list goes to a CSV
FIRST_DAY, LAST_DAY = date(2000, 1, 1), date(2099, 12, 31)  # screening and review dates: birth dates and line ends stay real dates


def check_day(day: date, field: str) -> date:
    """A screening or review date in the range the engines work in, or :class:`InvalidInput` naming ``field``."""
    if not FIRST_DAY <= day <= LAST_DAY:
        raise InvalidInput.one(field, f"must be between {FIRST_DAY.isoformat()} and {LAST_DAY.isoformat()}")
    return day


@dataclass(frozen=True)
class SegmentsRun:
    document: dict[str, Any]
    segments: pl.DataFrame  # one row per customer: customer_id, stage, cell, ...
    labels: Any  # numpy array of cluster labels, one per customer


def segments_run(book: pl.DataFrame, clusters: int, seed: int) -> SegmentsRun:
    """Rule segments, the value x risk grid and k-means clusters of ``book``."""
    from smelend.marketing.clustering import cluster
    from smelend.marketing.scoring import score_table
    from smelend.marketing.segments import profiles, segment_table, value_risk_grid
    from smelend.risk.strategy import load_strategy

    scores = score_table(book, load_strategy())
    segments = segment_table(book, scores.pd)
    found = cluster(book, scores.pd, clusters, seed)
    document: dict[str, Any] = {"customers": book.height, "segments": jsonable(profiles(segments)), "value_risk_grid": jsonable(value_risk_grid(segments)),
                                "clusters": jsonable([dict(vars(p)) for p in found.profiles])}
    return SegmentsRun(document, segments, found.labels)


def retention_document(book: pl.DataFrame, seed: int, on: date = DEFAULT_ON) -> dict[str, Any]:
    """Attrition model, offer counts (limit increases: the line reassessment rules on ``on``), CLV by segment, the save list."""
    from smelend.marketing.clv import clv_by_segment
    from smelend.marketing.retention import attrition, offers
    from smelend.marketing.scoring import score_table
    from smelend.marketing.segments import segment_table
    from smelend.risk.strategy import load_strategy

    scores = score_table(book, load_strategy())
    segments = segment_table(book, scores.pd)
    model = attrition(book, scores.pd, seed)
    counts, clv, _ = offers(book, segments["stage"], scores.pd, model.probability, on=on)
    return {
        "customers": book.height,
        "attrition_model": {"auc": model.auc, "base_rate": model.base_rate, "top_decile_rate": model.top_decile_rate, "coefficients": model.coefficients},
        "offers": jsonable({k: v for k, v in vars(counts).items() if k != "save_list"}),
        "clv_by_stage": jsonable(clv_by_segment(segments, clv, "stage")),
        "clv_by_cell": jsonable(clv_by_segment(segments, clv, "cell")),
        "save_list": jsonable(list(counts.save_list)),
    }


def whitelist_document(result: Any) -> dict[str, Any]:
    """A :class:`~smelend.marketing.whitelist.Screening` as JSON: the counts, seconds per stage, the first entries."""
    document = jsonable({k: v for k, v in vars(result).items() if k != "entries"})
    document["entries"] = jsonable(list(result.entries[:ENTRIES_SHOWN]))
    document["entries_shown"] = min(ENTRIES_SHOWN, len(result.entries))
    return document


def abtest_document(control: Arm, treatment: Arm, alpha: float) -> dict[str, Any]:
    """The issue's A/B contract: ``control_rate, treatment_rate, lift, p_value, ci_low, ci_high``."""
    r = analyse(control, treatment, alpha)
    return {"control_rate": r.control_rate, "treatment_rate": r.treatment_rate, "lift": r.lift, "p_value": r.p_value, "ci_low": r.ci_low, "ci_high": r.ci_high}
