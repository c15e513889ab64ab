"""Campaign planning by predicted uplift: who gets the offer, what it should bring, what it costs.

A campaign learns from a past randomised test (treated / control and who responded), fits the T- and
X-learners, keeps the one with the better validation Qini, scores the new audience and targets the
``target_share`` with the highest predicted uplift, skipping anyone predicted to be put off (negative
uplift). Expected incremental responders are the targeted customers' summed uplift; expected coupon cost
is the expected redemptions (predicted treated response) times the cost of a coupon on a typical draw.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from smelend.errors import InvalidInput
from smelend.marketing.uplift import Comparison, UpliftData, choose


@dataclass(frozen=True)
class CampaignPlan:
    audience: int
    targeted: int
    chosen_learner: str
    comparison: Comparison
    expected_incremental: float  # responders the campaign adds
    expected_redemptions: float  # coupons expected to be used (responders among the targeted)
    coupon_cost_each_fen: int
    expected_cost_fen: int
    cost_per_incremental_fen: int | None
    targeted_index: np.ndarray  # rows of the audience, best first
    validation_data: UpliftData  # the held-out part of the history the learners were compared on
    validation_score: np.ndarray  # the chosen learner's scores on it


def plan(history: UpliftData, audience_x: np.ndarray, target_share: float, coupon_cost_each_fen: int, seed: int = 0) -> CampaignPlan:
    if not 0 < target_share <= 1:
        raise InvalidInput.one("target_share", "must be a fraction in (0, 1]")
    train, valid = history.split(0.7, seed)
    model, comparison = choose(train, valid, seed)
    uplift = model.predict(audience_x)
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1):
        mu1 = model.models["mu1"].predict_proba(audience_x)[:, 1]  # type: ignore[attr-defined]
    order = np.argsort(-uplift, kind="stable")
    k = int(round(target_share * len(uplift)))
    chosen = order[:k]
    chosen = chosen[uplift[chosen] > 0]  # never pay to put a customer off
    incremental = float(uplift[chosen].sum())
    redemptions = float(mu1[chosen].sum())
    cost = int(round(redemptions * coupon_cost_each_fen))
    return CampaignPlan(len(uplift), len(chosen), model.learner, comparison, incremental, redemptions, coupon_cost_each_fen, cost,
                        int(round(cost / incremental)) if incremental > 0 else None, chosen, valid, model.predict(valid.x))
