"""The population: deterministic per seed, adverse selection, validated settings."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import yaml
from hypothesis import given, settings, strategies as st

from smelend.errors import InvalidInput
from smelend.sim.population import MARKET_FILE, application_for, competitor_rate, generate_population, load_market, price_sensitivity


def test_same_seed_same_population() -> None:
    a, b, c = generate_population(500, 3), generate_population(500, 3), generate_population(500, 4)
    assert np.array_equal(a.demand, b.demand) and all(np.array_equal(a.reached[k], b.reached[k]) for k in a.reached)
    assert not np.array_equal(a.demand, c.demand)


def test_distributions_follow_the_settings() -> None:
    market = load_market()
    pop = generate_population(50_000, 1)
    for channel, reach in market.channels.items():
        assert abs(pop.reached[channel].mean() - reach.coverage) < 0.01
    assert abs(np.median(pop.demand) - market.demand.median_monthly) < 0.005
    assert pop.demand.max() <= market.demand.max_monthly
    assert abs(pop.utilisation.mean() - market.usage.utilisation_alpha / (market.usage.utilisation_alpha + market.usage.utilisation_beta)) < 0.01


@settings(max_examples=50, deadline=None)
@given(low=st.floats(0.001, 0.2), factor=st.floats(1.01, 4.0), index=st.integers(0, 99))
def test_riskier_businesses_are_less_price_sensitive_and_get_dearer_outside_offers(low: float, factor: float, index: int) -> None:
    market = load_market()
    pop = generate_population(100, 2)
    high = min(0.99, low * factor)
    assert price_sensitivity(pop, index, high, market) < price_sensitivity(pop, index, low, market)
    assert competitor_rate(pop, index, high, market) >= competitor_rate(pop, index, low, market)


def test_a_business_applies_with_the_providers_record() -> None:
    from datetime import date

    pop = generate_population(10, 1)
    a = application_for(pop, 3, date(2026, 5, 1), "partner-tax")
    b = application_for(pop, 3, date(2026, 5, 1), "partner-tax")
    assert a == b and a.channel == a.consent.channel == "partner-tax"
    assert date(2026, 5, 1) <= a.applied_on <= date(2026, 5, 29)
    assert application_for(pop, 4, date(2026, 5, 1), "own-app").enterprise.uscc != a.enterprise.uscc


def test_bad_market_settings_name_every_field(tmp_path: Path) -> None:
    document = yaml.safe_load(MARKET_FILE.read_text(encoding="utf-8"))
    document["demand"]["median_monthly"] = 2
    document["default"]["lgd"] = -1
    document["channels"]["nowhere"] = {"coverage": 0.1, "conversion": 0.1}
    path = tmp_path / "market.yaml"
    path.write_text(yaml.safe_dump(document), encoding="utf-8")
    with pytest.raises(InvalidInput) as caught:
        load_market(path)
    fields = " ".join(e.field for e in caught.value.errors)
    assert "demand.median_monthly" in fields and "default.lgd" in fields
