"""Attribution on journeys whose true contribution is known."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.stats import spearmanr

from smelend.marketing.attribution import Journey, attribute, journeys_from


def J(*channels: str, converted: bool) -> Journey:
    return Journey(tuple(channels), converted)


def test_single_touch_journeys_every_model_agrees_with_the_counts() -> None:
    journeys = [J("A", converted=True)] * 6 + [J("A", converted=False)] * 4 + [J("B", converted=True)] * 3 + [J("B", converted=False)] * 7
    result = attribute(journeys)
    assert result.first_touch == result.last_touch == {"A": 6.0, "B": 3.0}
    assert result.markov == pytest.approx({"A": 6.0, "B": 3.0})
    assert result.conversion_probability == pytest.approx(9 / 20)


def test_a_channel_only_in_failed_journeys_gets_no_markov_credit() -> None:
    journeys = [J("A", converted=True)] * 10 + [J("B", converted=False)] * 10 + [J("A", "A", converted=True)] * 2
    result = attribute(journeys)
    assert result.removal_effects["B"] == pytest.approx(0.0)
    assert result.markov == pytest.approx({"A": 12.0, "B": 0.0})


def test_a_channel_every_conversion_passes_through_has_removal_effect_one() -> None:
    # C opens every journey; only journeys that go on to D convert.
    journeys = [J("C", "D", converted=True)] * 5 + [J("C", converted=False)] * 5
    result = attribute(journeys)
    assert result.removal_effects == pytest.approx({"C": 1.0, "D": 1.0})
    assert result.markov == pytest.approx({"C": 2.5, "D": 2.5})  # equal effects share the 5 conversions
    assert result.first_touch == {"C": 5.0} and result.last_touch == {"D": 5.0}


def test_symmetric_channels_get_equal_credit() -> None:
    journeys = [J("A", "B", converted=True)] * 4 + [J("B", "A", converted=True)] * 4 + [J("A", converted=False)] * 3 + [J("B", converted=False)] * 3
    result = attribute(journeys)
    assert result.markov["A"] == pytest.approx(result.markov["B"])


@settings(max_examples=50, deadline=None)
@given(st.lists(st.tuples(st.lists(st.sampled_from("ABCD"), min_size=1, max_size=4), st.booleans()), min_size=1, max_size=40))
def test_markov_credit_sums_to_the_conversions(raw: list[tuple[list[str], bool]]) -> None:
    journeys = [Journey(tuple(c), converted) for c, converted in raw]
    result = attribute(journeys)
    conversions = sum(converted for _, converted in raw)
    assert result.conversions == conversions
    assert sum(result.markov.values()) == pytest.approx(conversions if any(e > 0 for e in result.removal_effects.values()) else 0.0)
    assert all(v >= -1e-9 for v in result.markov.values())
    assert sum(result.first_touch.values()) == sum(result.last_touch.values()) == conversions


def test_on_the_generator_markov_credit_follows_the_true_converting_channel(data) -> None:
    """Each generated application has a known converting channel (noisy-OR): Markov credit ranks channels like it."""
    result = attribute(journeys_from(data.touches, data.applications))
    truth = data.prospects["true_channel"].drop_nulls().value_counts()
    true = dict(zip(truth["true_channel"].to_list(), truth["count"].to_list()))
    channels = sorted(true)
    rho = spearmanr([true[c] for c in channels], [result.markov.get(c, 0.0) for c in channels]).statistic
    assert rho > 0.6, rho
    assert sum(result.markov.values()) == pytest.approx(len(data.applications))
    assert np.isclose(sum(true.values()), data.applications.height)
