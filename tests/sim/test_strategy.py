"""Strategy files: the shipped ones, validation with every error at once, levers and the ablation."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from hypothesis import given, settings, strategies as st

from smelend.errors import InvalidInput
from smelend.sim.strategy import LEVER_FIELDS, LEVERS, ablation, load_strategy_file, with_levers

from tests.sim.conftest import BASELINE, OPTIMIZED


def test_the_baseline_is_the_banks_starting_point(strategies) -> None:
    base, _ = strategies
    assert base.channels == ("own-app",) and base.campaigns == ()
    assert base.repayment_methods == ("equal-installment",)
    assert base.pricing.mode == "flat" and base.rationing.mode == "none"
    assert base.reassessment.every_months == 12 and base.segments == {} and base.maintenance == ()


def test_the_optimised_strategy_pulls_every_lever(strategies) -> None:
    base, opt = strategies
    for lever, fields in LEVER_FIELDS.items():
        assert any(getattr(base, f) != getattr(opt, f) for f in fields), lever
    assert opt.pricing.mode == "optimised" and opt.rationing.mode == "curve"


def test_ablation_is_each_lever_alone_and_all_but_one(strategies) -> None:
    base, opt = strategies
    variants = {v.name: v for v in ablation(base, opt)}
    assert set(variants) == {f"only-{x}" for x in LEVERS} | {f"without-{x}" for x in LEVERS}
    assert variants["only-channel_expansion"].channels == opt.channels
    assert variants["only-channel_expansion"].pricing == base.pricing
    assert variants["without-optimised_pricing"].pricing == base.pricing
    assert variants["without-optimised_pricing"].channels == opt.channels


@settings(max_examples=40, deadline=None)
@given(chosen=st.sets(st.sampled_from(LEVERS)))
def test_with_levers_takes_exactly_the_chosen_levers_fields(strategies, chosen: set[str]) -> None:
    base, opt = strategies  # the shipped files, read once (not once per example)
    mixed = with_levers(base, opt, tuple(sorted(chosen)), "mixed")
    for lever, fields in LEVER_FIELDS.items():
        source = opt if lever in chosen else base
        for f in fields:
            assert getattr(mixed, f) == getattr(source, f)
    assert mixed.products == base.products


def test_a_bad_file_reports_every_error_at_once(tmp_path: Path) -> None:
    document = yaml.safe_load(OPTIMIZED.read_text(encoding="utf-8"))
    document["channels"] = ["own-app", "own-app"]
    document["pricing"] = {"mode": "cheapest"}
    document["reassessment"]["every_months"] = 0
    document["colour"] = "blue"
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(document), encoding="utf-8")
    with pytest.raises(InvalidInput) as caught:
        load_strategy_file(path, "strategy")
    errors = caught.value.errors
    assert all(e.field == "strategy" for e in errors)
    text = " ".join(e.reason for e in errors)
    assert "pricing.mode" in text and "reassessment.every_months" in text and "colour" in text
    assert len(errors) >= 3


def test_unknown_channels_products_and_methods_are_named(tmp_path: Path) -> None:
    document = yaml.safe_load(BASELINE.read_text(encoding="utf-8"))
    document["channels"] = ["own-app", "carrier-pigeon"]
    document["products"] = ["moon-loan"]
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(document), encoding="utf-8")
    with pytest.raises(InvalidInput) as caught:
        load_strategy_file(path, "baseline")
    text = str(caught.value)
    assert "carrier-pigeon" in text and "moon-loan" in text and text.startswith("baseline:")


def test_a_missing_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(InvalidInput) as caught:
        load_strategy_file(tmp_path / "nope.yaml", "strategy")
    assert caught.value.first.field == "strategy"
