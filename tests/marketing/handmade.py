"""A tiny marketing data set written out by hand, so figures can be checked against exact values."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import polars as pl

from smelend.marketing.events import APPLICATION_SCHEMA, DRAW_SCHEMA, PROSPECT_SCHEMA, TOUCH_SCHEMA, MarketingData

T0 = datetime(2026, 3, 1, 9, tzinfo=timezone.utc)


def h(hours: float) -> datetime:
    return T0 + timedelta(hours=hours)


def prospect(pid: str, size: str = "micro") -> dict:
    return {"prospect_id": pid, "industry_section": "F", "size_band": size, "data_rich": True, "existing_customer": False,
            "years_in_business": 3.0, "annual_sales_fen": 100_000_000, "deposits_fen": 0, "latent_pd": 0.02, "true_channel": None}


def application(aid: str, pid: str, channel: str, applied: float, outcome: str, *, seconds: float = 0.005, human: int = 0, accepted: float | None = None, limit_fen: int = 10_000_000,
                alternative: str | None = None, alternative_fen: int | None = None) -> dict:
    return {"application_id": aid, "prospect_id": pid, "channel": channel, "product_id": "tax-data-loan", "applied_at": h(applied),
            "decided_at": h(applied) + timedelta(seconds=seconds), "engine_ms": 5.0, "engine_outcome": "refer" if human else outcome,
            "outcome": outcome, "human_steps": human, "requested_fen": limit_fen, "limit_fen": limit_fen if outcome == "approve" else 0,
            "rate": 0.1, "pd": 0.02, "grade": "B", "takeup": 0.5, "funds_rate": 0.02, "lgd": 0.8, "first_reason": None,
            "accepted_at": None if accepted is None else h(accepted), "alternative_product": alternative, "alternative_limit_fen": alternative_fen}


def draw(aid: str, pid: str, number: int, at: float, amount_fen: int, interest_fen: int, funds_fen: int, late: bool = False) -> dict:
    return {"draw_id": f"{aid}-D{number}", "application_id": aid, "prospect_id": pid, "draw_number": number, "at": h(at), "amount_fen": amount_fen,
            "method": "bullet", "term_months": 6, "interest_fen": interest_fen, "funds_cost_fen": funds_fen, "early_delinquent": late,
            "loss_fen": int(amount_fen * 0.8) if late else 0}


def handmade() -> MarketingData:
    """Four prospects. P1: own-app then partner-tax, applies via partner-tax, approved, accepts, draws twice.
    P2: partner-tax, applies, a person reviews (1 human step), approved 2 hours later, never accepts.
    P3: own-app visit, applies, declined (an owner-credit loan of 50,000 would be approved). P4: own-app exposure only."""
    prospects = [prospect("P1"), prospect("P2", "small"), prospect("P3"), prospect("P4")]
    touches = [
        {"prospect_id": "P1", "at": h(0), "channel": "own-app", "visit": True},
        {"prospect_id": "P1", "at": h(10), "channel": "partner-tax", "visit": True},
        {"prospect_id": "P2", "at": h(0), "channel": "partner-tax", "visit": True},
        {"prospect_id": "P3", "at": h(0), "channel": "own-app", "visit": True},
        {"prospect_id": "P4", "at": h(0), "channel": "own-app", "visit": False},
    ]
    applications = [
        application("A1", "P1", "partner-tax", 12, "approve", accepted=36),
        application("A2", "P2", "partner-tax", 4, "approve", seconds=7200, human=1),
        application("A3", "P3", "own-app", 1, "decline", alternative="owner-credit-loan", alternative_fen=5_000_000),
    ]
    draws = [draw("A1", "P1", 1, 60, 5_000_000, 250_000, 50_000), draw("A1", "P1", 2, 160, 2_000_000, 100_000, 20_000, late=False)]
    return MarketingData(
        prospects=pl.DataFrame(prospects, schema=PROSPECT_SCHEMA), touches=pl.DataFrame(touches, schema=TOUCH_SCHEMA),
        applications=pl.DataFrame(applications, schema=APPLICATION_SCHEMA), draws=pl.DataFrame(draws, schema=DRAW_SCHEMA),
        as_of=h(24 * 20),
    )
