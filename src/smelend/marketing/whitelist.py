"""Pre-approved lists: screen existing customers in batch through the real risk engine and pricing.

Stages (each timed, so a million customers can be planned for):

1. **base** — customers the bank may approach: a deposit, payroll or settlement relationship, or a tax
   platform authorisation (tax data on file), and no line yet;
2. **score** — the real scorecards over the whole base at once (:func:`smelend.marketing.scoring.score_table`:
   the same features, groups, compiled scorecards and grade table as ``decide``), keeping grades whose
   action is approve;
3. **decide** — the ``size`` best (lowest PD) through the real :func:`smelend.risk.decision.decide` with the
   real :class:`Pricer`: policy rules, limit, price and offer, exactly as an application would get them.
   Each customer's evidence is their own record (:class:`RowProvider`), so nothing is re-simulated.

The list keeps the customers ``decide`` approves, with the expected limit, rate, APR and reasons.
"""

from __future__ import annotations

import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from datetime import date, datetime, time as dtime, timezone
from functools import lru_cache
from typing import Any

import numpy as np
import polars as pl

from smelend.marketing.scoring import score_table

PRODUCT_BY_DATA = (("status_tax", "tax-data-loan"), ("status_invoices", "invoice-loan"), ("status_cashflow", "settlement-flow-loan"))
DEFAULT_PRODUCT = "owner-credit-loan"
CHUNK = 500


def base_mask(customers: pl.DataFrame) -> np.ndarray:
    """Who may be approached: a relationship or a tax authorisation, and no line yet."""
    relationship = (
        (pl.col("relationship_deposits_avg_fen").fill_null(0) > 0) | pl.col("relationship_payroll").fill_null(False)
        | pl.col("relationship_settlement_account").fill_null(False) | (pl.col("status_tax") == "ok")
    )
    no_line = ~pl.col("has_line") if "has_line" in customers.columns else pl.lit(True)
    return customers.select((relationship & no_line).fill_null(False)).to_series().to_numpy()


def product_for(row: dict[str, Any]) -> str:
    """The product whose data the customer has: tax, then invoices, then settlement flows, else the owner's credit."""
    for column, product in PRODUCT_BY_DATA:
        if row.get(column) == "ok":
            return product
    return DEFAULT_PRODUCT


class RowProvider:
    """A provider answering from one customer's own flat record (the simulated market's record builder)."""

    name = "customer-record"

    def __init__(self, row: dict[str, Any], seed: int) -> None:
        self.row, self.seed = row, seed

    def fetch(self, source: str, application: Any) -> dict[str, Any]:
        from smelend.risk.providers.base import SourceMissing
        from smelend.risk.providers.simulated import _records

        if self.row.get(f"status_{source}", "ok") != "ok":
            raise SourceMissing(f"{source}: no record for this customer")
        return _records(source, self.row, application, self.seed)


@lru_cache(maxsize=1)
def _engines() -> tuple[Any, Any, Any]:
    from smelend.pricing.pricer import Pricer
    from smelend.products.loader import load_catalogue
    from smelend.risk.strategy import load_strategy

    return load_strategy(), load_catalogue(), Pricer.load()


def application_for(row: dict[str, Any], product: Any, on: date, seed: int) -> Any:
    """A valid application for the customer (identifiers with correct check characters, the owner's age kept)."""
    from smelend.risk.providers.simulated import _birth_date, _make_id, _make_mobile, _make_uscc, _region
    from smelend.risk.schemas import Application

    rng = np.random.default_rng([seed, int(row["customer_id"].split("-")[-1])])
    id_number = _make_id(rng, _birth_date(on, int(row["owner_age"]), int(rng.integers(1, 365))))
    granted = datetime.combine(on, dtime(9, 0), timezone.utc)
    return Application.model_validate({
        "id": f"PRE-{row['customer_id']}", "applicant": {"name": "客户", "id_number": id_number, "mobile": _make_mobile(rng)},
        "enterprise": {"name": "预审客户企业", "uscc": _make_uscc(rng, _region(id_number))}, "product_id": product.id,
        "requested_amount_fen": product.limit.max_fen, "channel": "customer-manager",
        "consent": {"data_use": True, "bureau_query": True, "granted_at": granted, "channel": "customer-manager", "text_version": "consent-2025-01"},
        "applied_on": on,
    })


@dataclass(frozen=True)
class Entry:
    customer_id: str
    product_id: str
    outcome: str
    limit_fen: int
    rate: float | None
    apr: float | None  # equal-instalment (or the first method's) APR of a draw of the whole line
    pd: float
    grade: str
    reasons: tuple[str, ...]


def decide_rows(rows: list[dict[str, Any]], on: date, seed: int) -> list[Entry]:
    """The real ``decide`` (with pricing) for each customer row."""
    from smelend.risk.decision import decide
    from smelend.risk.providers.base import gather

    strategy, catalogue, pricer = _engines()
    clock = lambda: datetime.combine(on, dtime(9, 0), timezone.utc)  # noqa: E731
    out = []
    for row in rows:
        product = catalogue[product_for(row)]
        application = application_for(row, product, on, seed)
        d = decide(application, gather(application, RowProvider(row, seed), clock=clock), strategy, product, pricer)
        apr = None
        if d.offer:
            methods = {m["method"]: m for m in d.offer["methods"]}
            chosen = methods.get("equal-installment") or d.offer["methods"][0]
            apr = float(chosen["apr"])
        out.append(Entry(row["customer_id"], product.id, d.outcome, d.limit_fen, float(d.offer["annual_rate"]) if d.offer else None, apr, d.pd, d.grade, d.reason_codes()))
    return out


@dataclass(frozen=True)
class Screening:
    customers: int
    base: int
    score_approved: int
    decided: int
    approved: int
    referred: int
    declined: int
    seconds: dict[str, float]  # per stage
    entries: tuple[Entry, ...]  # approved ones, lowest PD first


def screen(customers: pl.DataFrame, size: int, *, on: date = date(2026, 7, 1), seed: int = 0, workers: int = 1) -> Screening:
    """Screen ``customers`` (see :func:`smelend.marketing.customers.simulate_customers`); decide the best ``size``."""
    strategy, _, _ = _engines()
    seconds: dict[str, float] = {}
    began = time.perf_counter()
    mask = base_mask(customers)
    base = customers.filter(pl.Series(mask))
    seconds["base"] = time.perf_counter() - began

    began = time.perf_counter()
    scores = score_table(base, strategy)
    good = np.flatnonzero(scores.action == "approve")
    shortlist = good[np.argsort(scores.pd[good], kind="stable")[:size]]
    seconds["score"] = time.perf_counter() - began

    began = time.perf_counter()
    rows = base[shortlist].to_dicts()
    if workers > 1 and len(rows) > CHUNK:
        chunks = [rows[i : i + CHUNK] for i in range(0, len(rows), CHUNK)]
        with ProcessPoolExecutor(max_workers=workers) as pool:
            entries = [e for part in pool.map(decide_rows, chunks, [on] * len(chunks), [seed] * len(chunks)) for e in part]
    else:
        entries = decide_rows(rows, on, seed)
    seconds["decide"] = time.perf_counter() - began
    outcomes = [e.outcome for e in entries]
    approved = tuple(e for e in entries if e.outcome == "approve")
    return Screening(customers.height, base.height, len(good), len(entries), outcomes.count("approve"), outcomes.count("refer"), outcomes.count("decline"), seconds, approved)
