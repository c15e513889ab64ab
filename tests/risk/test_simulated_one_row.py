"""One application's facts (``sample_facts`` with ``n=None``, the provider's path) are exactly the ``n = 1`` row of
the vectorised path: every fact with its Python type, every presence flag and the latent PD, for any streams."""

from __future__ import annotations

from collections import Counter
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from smelend.risk.providers.simulated import SECTION_WEIGHTS, SimParams, SimulatedProvider, _cdf, _key_ints, _rng, _round4, _row, sample_facts, simulate_applications
from smelend.risk.schemas import SOURCES, age_on

RARE = SimParams(mismatch_share=0.2, identity_unknown_share=0.1, aml_hit_share=0.1, unavailable_share=0.0)
"""Settings under which the rare branches (identity mismatch or unknown, AML hit) fire often."""


def typed(facts: dict[str, Any]) -> dict[str, tuple[type, Any]]:
    return {k: (type(v), v) for k, v in facts.items()}


def row_of_n_1(streams: tuple[np.random.Generator, ...], params: SimParams, age: int | None, amount: int | None) -> tuple[dict[str, Any], dict[str, bool], float]:
    """The vectorised path for ``n = 1``, its values taken out as ``.item()`` does (the provider's way before scalars)."""
    facts, present, latent = sample_facts(
        *streams, 1, params, age=None if age is None else np.array([age]), requested_amount_fen=None if amount is None else np.array([amount])
    )
    return {k: v[0].item() for k, v in facts.items()}, {s: bool(present[s][0]) for s in SOURCES}, latent[0].item()


@pytest.mark.parametrize(("seed", "params"), [(3, SimParams()), (17, RARE), (2**32 + 5, RARE)])
def test_the_provider_gives_exactly_the_vectorised_row(seed: int, params: SimParams) -> None:
    provider = SimulatedProvider(seed, params)
    seen: Counter[str] = Counter()
    for app in simulate_applications(300, seed=seed % 1000):
        i, u = app.applicant.id_number, app.enterprise.uscc
        streams = tuple(np.random.default_rng([seed, *_key_ints(*parts)]) for parts in (("owner", i), ("enterprise", u), ("noise", i, u)))
        facts, present, latent = row_of_n_1(streams, params, age_on(i, app.applied_on), app.requested_amount_fen)
        row, got_latent = provider._facts(app)
        got = dict(row)
        got_present = got.pop("_present")
        assert list(got) == list(facts)
        assert typed(got) == typed(facts)
        assert typed(got_present) == typed(present)
        assert (type(got_latent), got_latent) == (float, latent)
        seen.update([f"identity {facts['identity_result']}", f"aml {facts['aml_result']}", *(f"{s} missing" for s in SOURCES if not present[s])])
    if params == RARE:
        assert {"identity mismatch", "identity unknown", "identity match", "aml hit", "aml clear"} <= set(seen)
    assert {"bureau missing", "tax missing", "invoices missing", "cashflow missing"} <= set(seen)


@settings(max_examples=100, deadline=None)
@given(
    seeds=st.tuples(*[st.integers(0, 2**64)] * 3),
    age=st.none() | st.integers(16, 90),
    amount=st.none() | st.integers(0, 10**12),
    shares=st.tuples(st.floats(0, 0.5), st.floats(0, 0.5), st.floats(0, 1)),
    noise_sd=st.floats(0, 3),
    intercept=st.floats(-10, 3),
)
def test_one_application_is_the_n_1_row_for_any_streams(seeds: tuple[int, int, int], age: int | None, amount: int | None, shares: tuple[float, float, float], noise_sd: float, intercept: float) -> None:
    params = SimParams(mismatch_share=shares[0], identity_unknown_share=shares[1], aml_hit_share=shares[2], noise_sd=noise_sd, intercept=intercept)
    facts, present, latent = sample_facts(*(np.random.default_rng(s) for s in seeds), None, params, age=age, requested_amount_fen=amount)
    expected, expected_present, expected_latent = row_of_n_1(tuple(np.random.default_rng(s) for s in seeds), params, age, amount)
    assert {k: v == expected[k] for k, v in facts.items()} == dict.fromkeys(expected, True)  # the values before any cast
    assert typed(_row(facts)) == typed(expected)
    assert {s: bool(present[s]) for s in SOURCES} == expected_present
    assert float(latent) == expected_latent


def test_the_shortcuts_are_numpys_own_computations() -> None:
    """The section and window draws, the rounding and the seeding take numpy's path to the same numbers."""
    sections = np.array(list(SECTION_WEIGHTS.values())) / sum(SECTION_WEIGHTS.values())
    for p in (sections, [0.2, 0.5, 0.3]):
        a, b = np.random.default_rng(1), np.random.default_rng(1)
        assert (_cdf(p).searchsorted(a.random(20_000), side="right") == b.choice(len(p), size=20_000, p=p)).all()
        assert _cdf(p).searchsorted(a.random(), side="right") == b.choice(len(p), p=p)
    x = np.concatenate([np.random.default_rng(2).uniform(0, 3.3, 200_000), (np.arange(20_000) + 0.5) / 10_000, -(np.arange(1000) + 0.5) / 10_000])
    assert (_round4(x) == np.round(x, 4)).all()
    assert all(_round4(v) == np.round(v, 4) for v in x[::997])
    for seed in (0, 9, 2**32 - 1, 2**32, 10**30):
        a, b = _rng(seed, "owner", "x"), np.random.default_rng([seed, *_key_ints("owner", "x")])
        assert a.bit_generator.state == b.bit_generator.state
