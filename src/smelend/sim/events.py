"""The marketing events of a lab run: the prospects, touches, applications and draws rows
(:class:`smelend.marketing.events.MarketingData`) that every marketing figure reads.

Why: with these rows stored (``smelend simulate --marketing-events``), ``smelend marketing funnel|channels``
describe a strategy-lab run instead of the marketing module's own synthetic journeys, and their counts are the
run's own (a test holds the funnel to the run's metrics).

What a row is here:

* a *prospect* is one business's journey to one application (``S{seed}-{business}-{k}``, its k-th application
  in the run): a business declined and applying again later starts a new journey. Its profile is
  :func:`~smelend.marketing.events.profile_of` of the provider record the decision used. Businesses that never
  apply are not emitted (a profile needs the provider's record, ~16 ms a business), so exposure here means
  "touched on the way to an application", not every business a channel reached;
* *touches*: the campaign contacts of the journey (a visit only when the contact converted) and the visit
  through the channel the business applied by, at the application's time;
* *applications*: every decision of the real engine, its outcome after a referral's review (``approve``
  counts the run's approvals, rationed and refused offers included), the line's acceptance (``accepted_at``
  only for the lines opened);
* *draws*: every draw, numbered per business; ``interest_fen`` is the schedule's interest
  (``build_schedules_batch``), ``funds_cost_fen`` the funds rate over the term, ``early_delinquent`` whether the
  servicing engine ever counted the loan past due, ``loss_fen`` LGD x amount when the business defaulted.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from typing import Any

import numpy as np

UTC = timezone.utc


def at_nine(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, 9, tzinfo=UTC)


@dataclass
class EventRecorder:
    """Collects a run's rows as it goes; :meth:`finish` makes the frames."""

    seed: int
    review_hours: float
    journeys: dict[int, int] = field(default_factory=dict)  # business -> applications so far
    prospects: list[dict[str, Any]] = field(default_factory=list)
    touches: list[dict[str, Any]] = field(default_factory=list)
    applications: list[dict[str, Any]] = field(default_factory=list)
    draws: list[dict[str, Any]] = field(default_factory=list)
    accepted: dict[int, tuple[str, str]] = field(default_factory=dict)  # business -> (application id, prospect id)
    draw_count: dict[int, int] = field(default_factory=dict)
    loan_draw: dict[int, int] = field(default_factory=dict)  # loan id -> index in draws
    pending_contacts: dict[int, list[tuple[str, datetime]]] = field(default_factory=dict)

    def prospect_id(self, business: int) -> str:
        return f"S{self.seed}-{business:07d}-{self.journeys.get(business, 0)}"

    def contacted(self, businesses: np.ndarray, channel: str, day: date) -> None:
        when = at_nine(day)
        for b in businesses.tolist():
            self.pending_contacts.setdefault(b, []).append((channel, when))

    def application(self, business: int, application: Any, profile: dict[str, Any], latent_pd: float, decision: Any, engine_ms: float,
                    outcome: str, referred: bool, converted_by_campaign: bool, month_first: date) -> str:
        pid = self.prospect_id(business)
        applied_at = at_nine(application.applied_on)
        decided_at = applied_at + timedelta(milliseconds=engine_ms) + (timedelta(hours=self.review_hours) if referred else timedelta(0))
        for channel, when in self.pending_contacts.pop(business, []):
            visit = converted_by_campaign and channel == application.channel and when == at_nine(month_first)  # this month's contact converted
            self.touches.append({"prospect_id": pid, "at": min(when, applied_at), "channel": channel, "visit": visit})
        if not converted_by_campaign:
            self.touches.append({"prospect_id": pid, "at": applied_at, "channel": application.channel, "visit": True})
        self.prospects.append({"prospect_id": pid, **profile, "latent_pd": latent_pd, "true_channel": application.channel})
        price = decision.price or {}
        offer = decision.offer
        self.applications.append({
            "application_id": application.id, "prospect_id": pid, "channel": application.channel, "product_id": application.product_id,
            "applied_at": applied_at, "decided_at": decided_at, "engine_ms": engine_ms, "engine_outcome": decision.outcome,
            "outcome": outcome, "human_steps": int(referred), "requested_fen": application.requested_amount_fen,
            "limit_fen": 0, "rate": float(offer["annual_rate"]) if offer else None, "pd": decision.pd, "grade": decision.grade,
            "takeup": None, "funds_rate": float(price["components"]["funds"]) if price else None, "lgd": float(price["lgd"]) if price else None,
            "first_reason": decision.reasons[0].code if decision.reasons else None, "accepted_at": None,
            "alternative_product": None, "alternative_limit_fen": None,
        })
        self.journeys[business] = self.journeys.get(business, 0) + 1
        return pid

    def offered(self, rate: float, takeup: float | None) -> None:
        """The offer the business saw on its last application (the strategy's price, after segment add-ons)."""
        self.applications[-1]["rate"] = rate
        self.applications[-1]["takeup"] = takeup

    def line_opened(self, business: int, limit_fen: int) -> None:
        row = self.applications[-1]
        row["limit_fen"] = limit_fen
        row["accepted_at"] = row["decided_at"] + timedelta(days=1)
        self.accepted[business] = (row["application_id"], row["prospect_id"])

    def drawn(self, business: int, loan_id: int, day: date, amount_fen: int, method: str, term: int, interest_fen: int, funds_rate: float) -> None:
        application_id, pid = self.accepted[business]
        number = self.draw_count.get(business, 0) + 1
        self.draw_count[business] = number
        self.loan_draw[loan_id] = len(self.draws)
        self.draws.append({
            "draw_id": f"{application_id}-D{number}", "application_id": application_id, "prospect_id": pid, "draw_number": number,
            "at": at_nine(day), "amount_fen": amount_fen, "method": method, "term_months": term, "interest_fen": interest_fen,
            "funds_cost_fen": int(round(funds_rate * amount_fen * term / 12)), "early_delinquent": False, "loss_fen": 0, "_business": business,
        })

    def finish(self, as_of: date, late_loans: set[int], defaulted: np.ndarray, lgd: float) -> Any:
        import polars as pl

        from smelend.marketing.events import APPLICATION_SCHEMA, DRAW_SCHEMA, PROSPECT_SCHEMA, TOUCH_SCHEMA, MarketingData

        for loan_id, k in self.loan_draw.items():
            row = self.draws[k]
            row["early_delinquent"] = loan_id in late_loans
            row["loss_fen"] = int(lgd * row["amount_fen"]) if defaulted[row["_business"]] else 0
        draws = [{k: v for k, v in row.items() if k != "_business"} for row in self.draws]
        return MarketingData(
            prospects=pl.DataFrame(self.prospects, schema=PROSPECT_SCHEMA),
            touches=pl.DataFrame(self.touches, schema=TOUCH_SCHEMA),
            applications=pl.DataFrame(self.applications, schema=APPLICATION_SCHEMA),
            draws=pl.DataFrame(draws, schema=DRAW_SCHEMA),
            as_of=datetime(as_of.year, as_of.month, as_of.day, tzinfo=UTC),
        )
