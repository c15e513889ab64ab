"""The JSON documents of ``smelend marketing segments | retention | whitelist | abtest``, built once.

The CLI prints these with ``--json`` and the API returns them, so both call the functions here and the
two cannot drift apart. Each takes a customer book — the bank's own, read from the database by
:mod:`smelend.store.customer_book`, or the synthetic one of :mod:`smelend.marketing.customers`, with the
same columns — and returns plain JSON-ready data (see :func:`smelend.marketing.plain.jsonable`). Pure: no
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


def sourced(document: dict[str, Any], source: str, as_of: date | None) -> dict[str, Any]:
    """``document`` with the book it was computed on: ``source`` (db, synthetic) and, for the stored book, ``as_of``."""
    out = {**document, "source": source}
    if as_of is not None:
        out["as_of"] = as_of.isoformat()
    return out


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

    if clusters > book.height:
        raise InvalidInput.one("clusters", f"must not exceed the customers in the book ({book.height:,})")
    scores = score_table(book, load_strategy())
    segments = segment_table(book, scores.pd)
    found = cluster(book, scores.pd, clusters, seed)
    document: dict[str, Any] = {"customers": book.height, "segments": jsonable(profiles(segments)), "value_risk_grid": jsonable(value_risk_grid(segments)),
                                "clusters": jsonable([dict(vars(p)) for p in found.profiles])}
    return SegmentsRun(document, segments, found.labels)


def retention_document(book: pl.DataFrame, seed: int, on: date = DEFAULT_ON, history: pl.DataFrame | None = None) -> dict[str, Any]:
    """Attrition and dormancy models, offer counts (limit increases: the line reassessment rules on ``on``), CLV by
    segment, the save list and the reactivation list ranked by the dormancy model.

    ``history``: the book of 90 days earlier with what its line holders did since (``attrites_90d``,
    ``dormant_next_90d``: :func:`smelend.store.customer_book.labelled_book`), which the models learn from
    before scoring ``book``; without it ``book`` carries its own truth (the synthetic book)."""
    from smelend.marketing.clv import clv_by_segment
    from smelend.marketing.retention import attrition, dormancy, load_retention_settings, offers, reactivation_list
    from smelend.marketing.scoring import score_table
    from smelend.marketing.segments import segment_table
    from smelend.risk.strategy import load_strategy

    strategy = load_strategy()
    scores = score_table(book, strategy)
    segments = segment_table(book, scores.pd)
    if history is None:
        model, idle = attrition(book, scores.pd, seed), dormancy(book, scores.pd, seed)
    else:
        past_pd = score_table(history, strategy).pd
        model = attrition(history, past_pd, seed, score_book=book, score_pd=scores.pd)
        idle = dormancy(history, past_pd, seed, score_book=book, score_pd=scores.pd)
    counts, clv, table = offers(book, segments["stage"], scores.pd, model.probability, on=on)
    return {
        "customers": book.height,
        "attrition_model": {"auc": model.auc, "base_rate": model.base_rate, "top_decile_rate": model.top_decile_rate, "coefficients": model.coefficients},
        "dormancy_model": {"horizon_days": 90, "auc": idle.auc, "base_rate": idle.base_rate, "top_decile_rate": idle.top_decile_rate,
                           "top_decile_lift": idle.top_decile_lift, "coefficients": idle.coefficients},
        "offers": jsonable({k: v for k, v in vars(counts).items() if k != "save_list"}),
        "clv_by_stage": jsonable(clv_by_segment(segments, clv, "stage")),
        "clv_by_cell": jsonable(clv_by_segment(segments, clv, "cell")),
        "save_list": jsonable(list(counts.save_list)),
        "reactivation_list": jsonable(list(reactivation_list(table, idle.probability, load_retention_settings().reactivation.top))),
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
