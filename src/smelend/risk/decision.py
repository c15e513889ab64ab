"""``decide``: one application and its evidence -> an explained, replayable credit decision.

The flow is one way: flat facts -> features -> policy rules (knock-out, refer) -> the customer
group's scorecard (or the challenger, for its share) -> PD -> grade -> limit. A pure, deterministic
function: no clock, no randomness, no I/O beyond the strategy loaded beforehand, so re-running the
stored inputs with the same strategy gives the same decision (``replay``).

Reasons are ranked by effect: every reason that declines first (knock-outs, a grade below the cut-off,
a supported line below the product's minimum), then reasons to refer, then why the line is below the
request (tightest cap first), then the model's top features by points lost. With a ``Pricer`` the
line is then priced (``Decision.price``: the rate and its components) and offered (``Decision.offer``:
the methods allowed and each one's APR within the cap).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field, fields
from typing import Any, Literal, Mapping

from smelend.errors import InvalidInput
from smelend.pricing.pricer import Pricer
from smelend.products.model import Product
from smelend.risk.features import compute_features, flatten
from smelend.risk.limits import CapacityInputs, LimitResult, compute_limit
from smelend.risk.schemas import Application, Evidence
from smelend.risk.strategy import Strategy

Outcome = Literal["approve", "decline", "refer"]
SCORE_REASONS = 4
EFFECT_RANK = {"decline": 0, "refer": 1, "reduce": 2, "explain": 3}


@dataclass(frozen=True)
class ReasonCode:
    code: str
    text: str
    source: Literal["policy", "grade", "limit", "pricing", "score"]
    effect: Literal["decline", "refer", "reduce", "explain"]

    def to_dict(self) -> dict[str, str]:
        return {"code": self.code, "text": self.text, "source": self.source, "effect": self.effect}


@dataclass(frozen=True)
class ModelOpinion:
    """What one model says: its score (scorecards only), PD, grade and the grade's action."""

    model: Literal["scorecard", "challenger"]
    score: float | None
    pd: float
    grade: str
    action: str
    reasons: tuple[ReasonCode, ...]

    def to_dict(self) -> dict[str, Any]:
        return {"model": self.model, "score": self.score, "pd": self.pd, "grade": self.grade, "action": self.action,
                "reasons": tuple(r.to_dict() for r in self.reasons)}


@dataclass(frozen=True)
class Decision:
    application_id: str
    outcome: Outcome
    requested_fen: int
    limit_fen: int
    group: str
    assignment: Literal["champion", "challenger"]
    acting: ModelOpinion
    shadow: ModelOpinion | None
    reasons: tuple[ReasonCode, ...]
    policy_trace: dict[str, Any]
    limit_trace: dict[str, Any]
    versions: dict[str, Any]
    features: dict[str, Any]
    inputs: dict[str, Any]
    price: dict[str, Any] | None = field(default=None)  # the quote and its components (smelend.pricing)
    offer: dict[str, Any] | None = field(default=None)  # line, rate, methods and their APRs

    @property
    def score(self) -> float | None:
        return self.acting.score

    @property
    def pd(self) -> float:
        return self.acting.pd

    @property
    def grade(self) -> str:
        return self.acting.grade

    def reason_codes(self) -> tuple[str, ...]:
        return tuple(r.code for r in self.reasons)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: everything an auditor needs, inputs included. Equal to ``dataclasses.asdict`` but
        without its deep copy of every value (strings and floats included: about 4% of a decision's
        instructions); the (large, plain) documents are shared: treat them as read-only."""
        out = {f.name: getattr(self, f.name) for f in fields(self)}
        out["acting"] = self.acting.to_dict()
        out["shadow"] = None if self.shadow is None else self.shadow.to_dict()
        out["reasons"] = tuple(r.to_dict() for r in self.reasons)
        return out


def challenger_bucket(application_id: str) -> float:
    """A stable number in [0, 1) from the application id: the same id always lands in the same arm."""
    digest = hashlib.sha256(application_id.encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def _capacity(flat: Mapping[str, Any], requested_fen: int) -> CapacityInputs:
    def amount(name: str) -> int:
        return int(flat.get(name) or 0)

    return CapacityInputs(
        requested_fen=requested_fen,
        tax_paid_12m_fen=flat.get("tax_paid_12m_fen"),
        invoiced_sales_12m_fen=flat.get("invoice_sales_12m_fen"),
        settlement_inflow_monthly_fen=flat.get("cashflow_inflow_monthly_avg_fen"),
        declared_sales_12m_fen=flat.get("tax_declared_sales_12m_fen"),
        owner_income_monthly_fen=flat.get("bureau_declared_income_monthly_fen"),
        bureau_outstanding_fen=amount("bureau_outstanding_loans_fen"),
        bureau_monthly_debt_service_fen=amount("bureau_monthly_debt_service_fen"),
        owner_bank_limits_fen=amount("exposure_bank_limits_fen"),
        owner_bank_outstanding_fen=amount("exposure_bank_outstanding_fen"),
    )


def _opinion(strategy: Strategy, bundle: Any, which: str, features: Mapping[str, Any]) -> ModelOpinion:
    if which == "scorecard":
        card = bundle.scorecard
        score = card.score_row(features)
        pd = float(card.pd_from_score(score))
        explained = card.reasons(features, top=SCORE_REASONS)
    else:
        score = None
        pd = float(bundle.challenger().predict_pd_row(features))
        explained = bundle.challenger().reasons(features, top=SCORE_REASONS)
    pd = min(max(pd, 0.0), 1.0)
    grade = strategy.grades.grade_for(pd)
    reasons = tuple(ReasonCode(f"SCORE_{r.feature.upper()}", r.text, "score", "explain") for r in explained)
    return ModelOpinion(which, None if score is None else float(score), pd, grade.grade, grade.action, reasons)  # type: ignore[arg-type]


def decide(application: Application, evidence: Evidence, strategy: Strategy, product: Product, pricer: Pricer | None = None) -> Decision:
    """The decision for ``application`` on ``evidence`` under ``strategy`` for ``product``, priced by
    ``pricer`` when given (an approval or a referral then carries its quote and offer; a line that
    cannot be priced within the caps is declined with the pricing reason).

    The product's settings are stored with the decision, so a replay does not depend on today's files.
    """
    if evidence.application_id != application.id:
        raise InvalidInput.one("evidence.application_id", f"belongs to {evidence.application_id!r}, not to application {application.id!r}")
    if application.product_id != product.id:
        raise InvalidInput.one("product_id", f"the application is for {application.product_id!r}, the terms are for {product.id!r}")
    flat = flatten(application, evidence)
    features = compute_features(flat)

    statuses = {source: result.status for source, result in evidence.results.items()}
    group = strategy.group_for(statuses)
    hits = []
    trace: dict[str, Any] = {}
    context = {
        "facts": flat,
        "features": features,
        "product": product.eligibility.model_dump(mode="json"),
        "application": {
            "province": application.enterprise.uscc[2:4],  # GB/T 2260: the registering authority's division
            "customer_group": group.name,
            "channel": application.channel,
        },
    }
    for rule_set in strategy.rule_sets:
        result = rule_set.evaluate(context)
        hits.extend(result.hits)
        trace[rule_set.name] = result.trace

    bundle = strategy.models[group.name]
    in_share = challenger_bucket(application.id) < strategy.challenger.share
    live = in_share and strategy.challenger.mode == "live"
    champion = _opinion(strategy, bundle, "scorecard", features)
    challenger = _opinion(strategy, bundle, "challenger", features) if in_share else None
    acting, shadow = (challenger, champion) if live else (champion, challenger)
    assert acting is not None

    grade = strategy.grades.grade_for(acting.pd)
    limit: LimitResult = compute_limit(
        _capacity(flat, application.requested_amount_fen),
        strategy.limits,
        product_id=product.id,
        product_min_fen=product.limit.min_fen,
        product_max_fen=product.limit.max_fen,
        grade_cap_fen=grade.limit_cap_fen,
    )

    reasons: list[ReasonCode] = [ReasonCode(h.code, h.text, "policy", "decline") for h in hits if h.action == "decline"]
    reasons += [ReasonCode(h.code, h.text, "policy", "refer") for h in hits if h.action == "refer"]
    if grade.action != "approve":
        code = "SCORE_BELOW_CUTOFF" if grade.action == "decline" else "SCORE_IN_REFER_BAND"
        reasons.append(ReasonCode(code, f"Risk grade {grade.grade}: {grade.text}", "grade", grade.action))
    # A line too small for the product declines; unless the data to size it was missing: then a person may obtain it.
    below_minimum = "refer" if any(c.code == "LIMIT_BASIS_MISSING" for c in limit.reductions) else "decline"
    reasons += [ReasonCode(c.code, c.text, "limit", below_minimum if c.code == "LIMIT_BELOW_MINIMUM" else "reduce") for c in limit.reductions]
    reasons += list(acting.reasons)
    reasons = list(dict.fromkeys(reasons))  # a rule firing twice (e.g. two spellings of "unknown") counts once
    reasons.sort(key=lambda r: EFFECT_RANK[r.effect])  # stable: within an effect, the order above stays

    effects = {r.effect for r in reasons}
    price = offer = None
    if pricer is not None and "decline" not in effects and limit.limit_fen > 0:
        priced = pricer.offer(product=product, pd=acting.pd, limit_fen=limit.limit_fen, channel=application.channel, start=application.applied_on)
        price = priced.quote.to_dict()
        if priced.refusal is not None:
            reasons.insert(0, ReasonCode(priced.refusal.code, priced.refusal.text, "pricing", "decline"))
            effects.add("decline")
        else:
            assert priced.offer is not None
            offer = priced.offer.to_dict()
    outcome: Outcome = "decline" if "decline" in effects else "refer" if "refer" in effects else "approve"
    limit_fen = 0 if outcome == "decline" else limit.limit_fen
    assert outcome != "approve" or limit_fen > 0, "an approval always carries a line"
    assert pricer is None or outcome == "decline" or limit_fen == 0 or offer is not None, "a priced line carries its offer"
    versions = strategy.versions() | ({"pricing": pricer.versions()} if pricer is not None else {})

    return Decision(
        application_id=application.id,
        outcome=outcome,
        requested_fen=application.requested_amount_fen,
        limit_fen=limit_fen,
        group=group.name,
        assignment="challenger" if live else "champion",
        acting=acting,
        shadow=shadow,
        reasons=tuple(reasons),
        policy_trace=trace,
        limit_trace=limit.trace(),
        versions=versions,
        features=dict(features),
        inputs={
            "application": application.model_dump(mode="json"),
            "evidence": evidence.model_dump(mode="json"),
            "product": product.model_dump(mode="json"),
        },
        price=price,
        offer=offer,
    )


def replay(stored: Mapping[str, Any], strategy: Strategy, pricer: Pricer | None = None) -> Decision:
    """Re-run a stored decision's inputs; refuses a strategy or pricing files other than the ones it was made with."""
    recorded = stored["versions"]["strategy"]["sha256"]
    if recorded != strategy.sha256:
        raise InvalidInput.one("strategy", f"the decision was made with strategy {recorded[:12]}, not {strategy.sha256[:12]}")
    priced_with = stored["versions"].get("pricing")
    if (priced_with is None) != (pricer is None) or (pricer is not None and priced_with != pricer.versions()):
        raise InvalidInput.one("pricing", "the decision was priced with other pricing settings or caps (or without / with none)")
    inputs = stored["inputs"]
    return decide(
        Application.model_validate(inputs["application"]),
        Evidence.model_validate(inputs["evidence"]),
        strategy,
        Product.model_validate(inputs["product"]),
        pricer,
    )
