"""decide: explained, deterministic, replayable decisions on the shipped SME strategy."""

from __future__ import annotations

import dataclasses
import json
import shutil
from dataclasses import replace
from datetime import datetime, timezone
from pathlib import Path

import pytest

from smelend.errors import InvalidInput
from smelend.products.loader import load_catalogue
from smelend.risk.decision import challenger_bucket, decide, replay
from smelend.risk.providers.base import gather, with_source
from smelend.risk.providers.simulated import SimulatedProvider, simulate_applications
from smelend.risk.schemas import Exposure
from smelend.risk.strategy import SHIPPED_DIR, load_strategy

CLOCK = lambda: datetime(2026, 11, 28, 9, 0, tzinfo=timezone.utc)  # noqa: E731
CATALOGUE = {p.id: p for p in load_catalogue().values()}


@pytest.fixture(scope="module")
def strategy():
    return load_strategy()


@pytest.fixture(scope="module")
def cases():
    provider = SimulatedProvider(seed=11)
    applications = simulate_applications(60, seed=11)
    return [(app, gather(app, provider, clock=CLOCK)) for app in applications]


def terms(app):
    return CATALOGUE[app.product_id]


def test_every_decision_is_explained_and_consistent(strategy, cases):
    outcomes = set()
    for app, evidence in cases:
        d = decide(app, evidence, strategy, terms(app))
        outcomes.add(d.outcome)
        assert 0 <= d.pd <= 1 and d.grade
        assert d.versions["strategy"]["sha256"] == strategy.sha256
        assert d.versions["rules"][0]["sha256"] == strategy.rule_sets[0].sha256
        if d.outcome == "approve":
            assert 0 < d.limit_fen <= app.requested_amount_fen and d.limit_fen % 100_000 == 0
            assert all(r.effect in ("reduce", "explain") for r in d.reasons)
        elif d.outcome == "decline":
            assert d.limit_fen == 0 and d.reasons[0].effect == "decline"
        else:
            assert any(r.effect == "refer" for r in d.reasons) and not any(r.effect == "decline" for r in d.reasons)
        if 0 < d.limit_fen < app.requested_amount_fen:
            assert any(r.source == "limit" for r in d.reasons), "a reduced line names why"
        json.dumps(d.to_dict())  # JSON-ready, inputs and trace included
        assert d.to_dict() == dataclasses.asdict(d)  # the shallow to_dict says what asdict says
    assert {"approve", "decline"} <= outcomes


def test_decide_is_deterministic_and_replays_from_stored_json(strategy, cases):
    for app, evidence in cases[:15]:
        first = decide(app, evidence, strategy, terms(app))
        stored = json.loads(json.dumps(first.to_dict()))
        assert replay(stored, strategy).to_dict() == first.to_dict()


def test_replay_refuses_another_strategy(strategy, cases, tmp_path):
    app, evidence = cases[0]
    stored = decide(app, evidence, strategy, terms(app)).to_dict()
    copy = tmp_path / "strategy"
    shutil.copytree(SHIPPED_DIR / "sme-v1", copy)
    rules = (SHIPPED_DIR.parent / "rules/sme-policy.json").read_text().replace('"> 8"', '"> 9"')
    (copy / "policy.json").write_text(rules)
    manifest = (copy / "strategy.yaml").read_text().replace("../../rules/sme-policy.json", "policy.json")
    (copy / "strategy.yaml").write_text(manifest)
    edited = load_strategy(copy)
    assert edited.sha256 != strategy.sha256
    with pytest.raises(InvalidInput, match="strategy"):
        replay(stored, edited)


def test_identity_mismatch_declines_with_its_reason_first(strategy):
    app = simulate_applications(1, seed=5)[0]
    provider = SimulatedProvider(seed=5, mismatch_share=1.0)
    d = decide(app, gather(app, provider, clock=CLOCK), strategy, terms(app))
    assert d.outcome == "decline" and d.reasons[0].code == "IDENTITY_MISMATCH"


def test_owner_exposure_elsewhere_caps_the_line(strategy, cases):
    approved = [(a, e) for a, e in cases if decide(a, e, strategy, terms(a)).outcome == "approve"]
    app, evidence = approved[0]
    owner_cap_fen = int(strategy.limits.owner_cap) * 100
    near_cap = Exposure(other_enterprises=("91110000600037341L",), bank_limits_fen=owner_cap_fen - 2_000_000, bank_outstanding_fen=0)
    d = decide(app, with_source(evidence, "exposure", near_cap, provider="store", clock=CLOCK), strategy, terms(app))
    assert d.limit_fen <= 2_000_000
    codes = d.reason_codes()
    assert "LIMIT_OWNER_EXPOSURE" in codes or "LIMIT_BELOW_MINIMUM" in codes


def test_missing_required_source_refers(strategy, cases):
    app, evidence = next((a, e) for a, e in cases if a.product_id == "tax-data-loan")
    gone = evidence.model_copy(update={"tax": None, "results": {**evidence.results, "tax": evidence.results["tax"].model_copy(update={"status": "unavailable", "reason": "timeout"})}})
    d = decide(app, gone, strategy, terms(app))
    assert "DATA_MISSING_TAX" in d.reason_codes() and d.outcome in ("refer", "decline")


def test_challenger_assignment_is_a_stable_hash_and_live_mode_acts(strategy, cases):
    assert challenger_bucket("APP-1") == challenger_bucket("APP-1") != challenger_bucket("APP-2")
    app, evidence = cases[0]
    shadow = decide(app, evidence, strategy, terms(app))
    assert shadow.assignment == "champion" and shadow.acting.model == "scorecard"
    assert shadow.shadow is not None and shadow.shadow.model == "challenger"  # recorded, not acted on
    live = replace(strategy, challenger=strategy.challenger.model_copy(update={"mode": "live", "share": 1.0}))
    acted = decide(app, evidence, live, terms(app))
    assert acted.assignment == "challenger" and acted.acting.model == "challenger" and acted.shadow.model == "scorecard"
    none = replace(strategy, challenger=strategy.challenger.model_copy(update={"share": 0.0}))
    assert decide(app, evidence, none, terms(app)).shadow is None


def test_evidence_for_another_application_is_refused(strategy, cases):
    (app, _), (_, other_evidence) = cases[0], cases[1]
    with pytest.raises(InvalidInput, match="evidence.application_id"):
        decide(app, other_evidence, strategy, terms(app))


@pytest.fixture(scope="module")
def pricer():
    from smelend.pricing.pricer import Pricer

    return Pricer.load()


def test_priced_decisions_carry_an_offer_within_floor_cap_and_apr_cap(strategy, cases, pricer):
    from decimal import Decimal

    offered = 0
    for app, evidence in cases:
        product = CATALOGUE[app.product_id]
        d = decide(app, evidence, strategy, product, pricer)
        assert d.versions["pricing"] == pricer.versions()
        if d.outcome == "decline" or d.limit_fen == 0:
            assert d.offer is None
            continue
        offered += 1
        rate = Decimal(d.offer["annual_rate"])
        assert Decimal(d.price["annual_rate"]) >= rate  # priced down to the APR cap, never up
        assert rate <= product.pricing.cap and rate >= Decimal(d.price["breakeven_rate"]) - Decimal("0.0001")
        cap = pricer.caps.effective(product.regulatory.apr_cap)
        assert {m["method"] for m in d.offer["methods"]} == {m.value for m in product.repayment_methods}
        assert all(Decimal(m["apr"]) <= cap for m in d.offer["methods"])
        assert d.offer["limit"] == f"{d.limit_fen // 100}.{d.limit_fen % 100:02d}"
        components = d.price["components"]
        assert sum(Decimal(v) for v in components.values()) == Decimal(d.price["annual_rate"])
    assert offered >= 10


def test_priced_decisions_replay_only_with_the_same_pricing(strategy, cases, pricer):
    app, evidence = next((a, e) for a, e in cases if decide(a, e, strategy, CATALOGUE[a.product_id], pricer).offer)
    first = decide(app, evidence, strategy, CATALOGUE[app.product_id], pricer)
    stored = json.loads(json.dumps(first.to_dict()))
    assert replay(stored, strategy, pricer).to_dict() == first.to_dict()
    with pytest.raises(InvalidInput, match="pricing"):
        replay(stored, strategy)


def test_a_line_that_cannot_be_priced_within_the_apr_cap_is_declined(strategy, cases, pricer):
    from decimal import Decimal

    app, evidence = next((a, e) for a, e in cases if decide(a, e, strategy, CATALOGUE[a.product_id], pricer).offer)
    product = CATALOGUE[app.product_id]
    costly = product.model_copy(update={"fees": product.fees.model_copy(update={"monthly_fee_rate": Decimal("0.012")})})
    d = decide(app, evidence, strategy, costly, pricer)
    assert d.outcome == "decline" and d.reasons[0].code == "PRICE_ABOVE_APR_CAP" and d.offer is None and d.limit_fen == 0
