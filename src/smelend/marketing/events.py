"""Synthetic marketing events on the real engines, until the strategy lab produces them (issue 8, section 7).

Prospects come from the risk engine's simulated market (:func:`simulate_applications`, the
:class:`SimulatedProvider`'s records and latent PD). Each prospect lives a multi-touch journey across the
channel catalogue; a visit through channel ``c`` persuades them to apply with chance ``effect[c]``
(independently: a noisy-OR), so every application has a *true* converting channel to check attribution
against. Applications are decided by the real :func:`smelend.risk.decision.decide` with the real
:class:`Pricer` (its latency measured); referrals go to a person (a human step, counted). Approved lines
are accepted with the quote's own take-up; draws are scheduled by the real servicing engine
(:func:`build_schedule`), their interest the schedule's; a draw turns early-delinquent with a chance
proportional to the latent PD. Settings live in ``data/simulation.yaml``.

The result is four polars frames (prospects, touches, applications, draws), the one shape every figure
reads; :func:`to_rows` / :func:`from_rows` turn them into generic event rows for the store and back.
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from functools import lru_cache
from pathlib import Path
from typing import Any, Callable, Iterable

import numpy as np
import polars as pl
from pydantic import BaseModel, ConfigDict, Field

from smelend.datafiles import load_yaml_model
from smelend.marketing.channels import DATA_DIR, load_channels

UTC = timezone.utc
FRAMES = ("prospects", "touches", "applications", "draws")
HUGE_SALES_FEN = 3_000_000_000  # 30 million CNY: above this an enterprise is "medium" (small below, micro under 3 million)
MICRO_SALES_FEN = 300_000_000


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ChannelSim(_Strict):
    reach: float = Field(gt=0)
    click: float = Field(ge=0, le=1)
    effect: float = Field(ge=0, le=1)


class SimulationSettings(_Strict):
    version: str
    touches_mean: float = Field(ge=1, le=20)
    max_touches: int = Field(ge=1, le=50)
    days_between_touches: float = Field(gt=0)
    channels: dict[str, ChannelSim] = Field(min_length=1)
    review_approve_share: float = Field(ge=0, le=1)
    review_hours: float = Field(gt=0)
    accept_days: float = Field(gt=0)
    draw_share: float = Field(ge=0, le=1)
    first_draw_days: float = Field(gt=0)
    repeat_share: float = Field(ge=0, le=1)
    repeat_days: float = Field(gt=0)
    early_delinquency_factor: float = Field(ge=0, le=10)


@lru_cache(maxsize=4)
def _load_settings(path: Path) -> SimulationSettings:
    settings = load_yaml_model(path, SimulationSettings, "marketing simulation")
    unknown = set(settings.channels) - set(load_channels().channels)
    if unknown:
        from smelend.errors import InvalidInput

        raise InvalidInput.one(f"{path.name}: channels", f"not in the channel catalogue: {', '.join(sorted(unknown))}")
    return settings


def load_simulation(path: Path | None = None) -> SimulationSettings:
    return _load_settings((path or DATA_DIR / "simulation.yaml").resolve())


@dataclass(frozen=True)
class MarketingData:
    """Everything the figures read: one row per prospect, touch, application and draw."""

    prospects: pl.DataFrame
    touches: pl.DataFrame
    applications: pl.DataFrame
    draws: pl.DataFrame
    as_of: datetime

    def frames(self) -> dict[str, pl.DataFrame]:
        return {name: getattr(self, name) for name in FRAMES}


PROSPECT_SCHEMA = {
    "prospect_id": pl.String, "industry_section": pl.String, "size_band": pl.String, "data_rich": pl.Boolean,
    "existing_customer": pl.Boolean, "years_in_business": pl.Float64, "annual_sales_fen": pl.Int64,
    "deposits_fen": pl.Int64, "latent_pd": pl.Float64, "true_channel": pl.String,
}
TOUCH_SCHEMA = {"prospect_id": pl.String, "at": pl.Datetime("us", "UTC"), "channel": pl.String, "visit": pl.Boolean}
APPLICATION_SCHEMA = {
    "application_id": pl.String, "prospect_id": pl.String, "channel": pl.String, "product_id": pl.String,
    "applied_at": pl.Datetime("us", "UTC"), "decided_at": pl.Datetime("us", "UTC"), "engine_ms": pl.Float64,
    "engine_outcome": pl.String, "outcome": pl.String, "human_steps": pl.Int64, "requested_fen": pl.Int64,
    "limit_fen": pl.Int64, "rate": pl.Float64, "pd": pl.Float64, "grade": pl.String, "takeup": pl.Float64,
    "funds_rate": pl.Float64, "lgd": pl.Float64, "first_reason": pl.String, "accepted_at": pl.Datetime("us", "UTC"),
    "alternative_product": pl.String, "alternative_limit_fen": pl.Int64,
}
DRAW_SCHEMA = {
    "draw_id": pl.String, "application_id": pl.String, "prospect_id": pl.String, "draw_number": pl.Int64,
    "at": pl.Datetime("us", "UTC"), "amount_fen": pl.Int64, "method": pl.String, "term_months": pl.Int64,
    "interest_fen": pl.Int64, "funds_cost_fen": pl.Int64, "early_delinquent": pl.Boolean, "loss_fen": pl.Int64,
}
SCHEMAS = {"prospects": PROSPECT_SCHEMA, "touches": TOUCH_SCHEMA, "applications": APPLICATION_SCHEMA, "draws": DRAW_SCHEMA}


def profile_of(flat: dict[str, Any]) -> dict[str, Any]:
    """The marketing profile of a business from its flattened provider features (shared with the strategy lab)."""
    sales = flat.get("tax_declared_sales_12m_fen") or flat.get("invoice_sales_12m_fen") or (flat.get("cashflow_inflow_monthly_avg_fen") or 0) * 12
    band = "micro" if sales < MICRO_SALES_FEN else "small" if sales < HUGE_SALES_FEN else "medium"
    return {
        "industry_section": flat.get("industry_section") or "?",
        "size_band": band,
        "data_rich": flat.get("status_tax") == "ok" or flat.get("status_invoices") == "ok",
        "existing_customer": bool(flat.get("relationship_days") or 0),
        "years_in_business": round((flat.get("registration_age_days") or 0) / 365.25, 3),
        "annual_sales_fen": int(sales),
        "deposits_fen": int(flat.get("relationship_deposits_avg_fen") or 0),
    }


def _dt(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, 9, tzinfo=UTC)


def generate(
    prospects: int,
    seed: int = 0,
    *,
    start: date = date(2026, 1, 1),
    days: int = 180,
    settings: SimulationSettings | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> MarketingData:
    """``prospects`` journeys over ``days`` days from ``start``; events after the end are not yet seen."""
    from smelend.pricing.pricer import Pricer
    from smelend.products.loader import load_catalogue
    from smelend.risk.decision import decide
    from smelend.risk.providers.base import gather
    from smelend.risk.providers.simulated import SimulatedProvider, simulate_applications
    from smelend.risk.strategy import load_strategy
    from smelend.servicing import LoanTerms, Method, build_schedule

    if prospects < 1 or days < 1 or seed < 0:
        raise ValueError("prospects and days must be positive, seed non-negative")
    sim = settings or load_simulation()
    as_of = _dt(start + timedelta(days=days))
    rng = np.random.default_rng(np.random.SeedSequence([seed, 0x3A7E]))
    channel_ids = list(sim.channels)
    reach = np.array([sim.channels[c].reach for c in channel_ids])
    reach = reach / reach.sum()
    strategy, catalogue, pricer = load_strategy(), load_catalogue(), Pricer.load()
    provider = SimulatedProvider(seed=seed)
    base_apps = simulate_applications(prospects, seed, start=start, days=days)

    p_rows: list[dict[str, Any]] = []
    t_rows: list[dict[str, Any]] = []
    a_rows: list[dict[str, Any]] = []
    d_rows: list[dict[str, Any]] = []
    for i, base in enumerate(base_apps):
        pid = f"P{seed}-{i + 1:07d}"
        flat = provider.flat(base)
        n_touch = min(sim.max_touches, 1 + int(rng.poisson(sim.touches_mean - 1)))
        at = _dt(start) + timedelta(days=float(rng.uniform(0, days)))
        converted_by: str | None = None
        last_visit: str | None = None
        applied_at: datetime | None = None
        for _ in range(n_touch):
            channel = channel_ids[int(rng.choice(len(channel_ids), p=reach))]
            c = sim.channels[channel]
            visit = bool(rng.random() < c.click)
            persuaded = visit and bool(rng.random() < c.effect)
            if at >= as_of:
                break
            t_rows.append({"prospect_id": pid, "at": at, "channel": channel, "visit": visit})
            if visit:
                last_visit = channel
            if persuaded:
                converted_by = channel
                applied_at = at + timedelta(hours=float(rng.exponential(2.0)))
                break
            at = at + timedelta(days=float(rng.exponential(sim.days_between_touches)))
        if applied_at is not None and applied_at >= as_of:
            converted_by = None  # persuaded, but applies after the end: not seen yet
        p_rows.append({"prospect_id": pid, **profile_of(flat), "latent_pd": provider.latent_pd(base), "true_channel": converted_by})
        if converted_by is None or applied_at is None:
            continue
        assert last_visit == converted_by
        app_doc = base.model_dump(mode="json")
        app_doc.update(id=f"A{seed}-{i + 1:07d}", channel=converted_by, applied_on=applied_at.date().isoformat())
        app_doc["consent"].update(channel=converted_by, granted_at=applied_at.isoformat())
        from smelend.risk.schemas import Application

        application = Application.model_validate(app_doc)
        product = catalogue[application.product_id]
        began = time.perf_counter()
        evidence = gather(application, provider, clock=lambda: applied_at)
        decision = decide(application, evidence, strategy, product, pricer)
        engine_ms = (time.perf_counter() - began) * 1000.0
        outcome, human, decided_at = decision.outcome, 0, applied_at + timedelta(milliseconds=engine_ms)
        if outcome == "refer":
            human = 1
            decided_at = decided_at + timedelta(hours=float(rng.exponential(sim.review_hours)))
            outcome = "approve" if rng.random() < sim.review_approve_share and decision.offer is not None else "decline"
        alternative = None
        if outcome == "decline":  # would another product take them? (the real decide, same evidence)
            from smelend.marketing.conversion import alternatives

            alternative = alternatives(application, evidence, strategy, catalogue, pricer)
        price = decision.price or {}
        offer = decision.offer
        takeup = float(price.get("takeup", 0.5)) if price else 0.0
        accepted_at = None
        if outcome == "approve" and offer is not None and rng.random() < takeup:
            accepted_at = decided_at + timedelta(days=float(rng.exponential(sim.accept_days)))
            if accepted_at >= as_of:
                accepted_at = None
        a_rows.append({
            "application_id": application.id, "prospect_id": pid, "channel": converted_by, "product_id": product.id,
            "applied_at": applied_at, "decided_at": decided_at, "engine_ms": engine_ms, "engine_outcome": decision.outcome,
            "outcome": outcome, "human_steps": human, "requested_fen": application.requested_amount_fen,
            "limit_fen": decision.limit_fen if outcome == "approve" else 0,
            "rate": float(offer["annual_rate"]) if offer else None, "pd": decision.pd, "grade": decision.grade, "takeup": takeup,
            "funds_rate": float(price["components"]["funds"]) if price else None, "lgd": float(price["lgd"]) if price else None,
            "first_reason": decision.reasons[0].code if decision.reasons else None, "accepted_at": accepted_at,
            "alternative_product": alternative[0] if alternative else None, "alternative_limit_fen": alternative[1] if alternative else None,
        })
        if accepted_at is None or rng.random() >= sim.draw_share:
            continue
        assert offer is not None
        draw_at = accepted_at + timedelta(days=float(rng.exponential(sim.first_draw_days)))
        number = 0
        while draw_at < as_of:
            number += 1
            method_doc = offer["methods"][int(rng.integers(len(offer["methods"])))]
            method = Method(method_doc["method"])
            term = int(method_doc["sample_term"])
            limit_yuan = decision.limit_fen // 100
            amount = max(1000, int(limit_yuan * rng.uniform(0.3, 1.0)) // 100 * 100) * 100
            schedule = build_schedule(LoanTerms(amount, Decimal(offer["annual_rate"]), term, method, draw_at.date(), product.conventions_for(method)))
            funds = Decimal(price["components"]["funds"]) * amount * term / 12
            late = bool(rng.random() < min(1.0, sim.early_delinquency_factor * provider.latent_pd(application)))
            loss = int(Decimal(price["lgd"]) * amount) if late else 0
            d_rows.append({
                "draw_id": f"{application.id}-D{number}", "application_id": application.id, "prospect_id": pid, "draw_number": number,
                "at": draw_at, "amount_fen": amount, "method": method.value, "term_months": term,
                "interest_fen": schedule.total_interest_fen, "funds_cost_fen": int(funds.to_integral_value()), "early_delinquent": late, "loss_fen": loss,
            })
            if rng.random() >= sim.repeat_share:
                break
            draw_at = draw_at + timedelta(days=float(rng.exponential(sim.repeat_days)))
        if progress:
            progress(i + 1, prospects)
    return MarketingData(
        prospects=pl.DataFrame(p_rows, schema=PROSPECT_SCHEMA),
        touches=pl.DataFrame(t_rows, schema=TOUCH_SCHEMA),
        applications=pl.DataFrame(a_rows, schema=APPLICATION_SCHEMA),
        draws=pl.DataFrame(d_rows, schema=DRAW_SCHEMA),
        as_of=as_of,
    )


# --- generic event rows (what the store keeps) ---------------------------------------------------------

def _jsonable(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def to_rows(data: MarketingData) -> list[dict[str, Any]]:
    """One generic row per prospect, touch, application and draw: ``kind``, ``key``, ``document`` (JSON text)."""
    rows: list[dict[str, Any]] = [{"kind": "as_of", "key": "as_of", "document": json.dumps({"as_of": data.as_of.isoformat()})}]
    keys = {"prospects": "prospect_id", "touches": None, "applications": "application_id", "draws": "draw_id"}
    for name, frame in data.frames().items():
        for n, record in enumerate(frame.iter_rows(named=True)):
            key = record[keys[name]] if keys[name] else f"{record['prospect_id']}#{n}"
            rows.append({"kind": name, "key": key, "document": json.dumps({k: _jsonable(v) for k, v in record.items()}, ensure_ascii=False)})
    return rows


def from_rows(rows: Iterable[dict[str, Any]]) -> MarketingData:
    """The frames back from generic rows (the inverse of :func:`to_rows`)."""
    by_kind: dict[str, list[dict[str, Any]]] = {name: [] for name in FRAMES}
    as_of: datetime | None = None
    for row in rows:
        document = json.loads(row["document"])
        if row["kind"] == "as_of":
            as_of = datetime.fromisoformat(document["as_of"])
        else:
            by_kind[row["kind"]].append(document)
    frames = {}
    for name in FRAMES:
        schema = SCHEMAS[name]
        records = by_kind[name]
        for record in records:
            for column, dtype in schema.items():
                if isinstance(dtype, pl.Datetime) and record.get(column) is not None:
                    record[column] = datetime.fromisoformat(record[column])
        frames[name] = pl.DataFrame(records, schema=schema)
    if as_of is None:
        raise ValueError("no marketing events: generate them first")
    return MarketingData(as_of=as_of, **frames)
