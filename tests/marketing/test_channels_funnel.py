"""Channel figures and the funnel, on a hand-made data set with exact answers and on generated data."""

from __future__ import annotations

import pytest

from smelend.errors import InvalidInput
from smelend.marketing.channel_figures import channel_figures
from smelend.marketing.channels import Activity, Channel, load_channels, spend_fen
from smelend.marketing.events import from_rows, to_rows
from smelend.marketing.funnel import STEPS, activation_cohorts, drop_offs, funnel, standard_310

from tests.marketing.handmade import handmade


def test_catalogue_has_every_pricing_channel() -> None:
    from smelend.pricing.settings import load_pricing_settings

    catalogue = load_channels()
    assert set(catalogue.channels) == set(load_pricing_settings().acquisition.channels)


def test_cost_models_in_exact_fen() -> None:
    def ch(**cost) -> Channel:
        return Channel.model_validate({"name": "x", "kind": "own", "cost": cost})

    activity = Activity(visits=7, applications=3, first_draws=2, interest_fen=123_457, months=2)
    assert spend_fen(ch(model="per_click", amount_yuan="0.8"), activity) == 560
    assert spend_fen(ch(model="per_application", amount_yuan="150"), activity) == 45_000
    assert spend_fen(ch(model="per_first_draw", amount_yuan="800"), activity) == 160_000
    assert spend_fen(ch(model="fixed", amount_yuan="20000"), activity) == 4_000_000
    assert spend_fen(ch(model="revenue_share", share="0.2"), activity) == 24_691  # 24,691.4 rounds half up


def test_a_bad_cost_model_is_refused_naming_the_field(tmp_path) -> None:
    path = tmp_path / "channels.yaml"
    path.write_text("version: x\nchannels:\n  a: {name: A, kind: own, cost: {model: revenue_share, amount_yuan: 3}}\n")
    with pytest.raises(InvalidInput) as caught:
        load_channels(path)
    assert "channels.a.cost" in str(caught.value.errors[0].field)


def test_channel_figures_exact_on_handmade_data() -> None:
    figures = {f.channel: f for f in channel_figures(handmade())}
    tax, app = figures["partner-tax"], figures["own-app"]
    assert (tax.touches, tax.visits, tax.applications, tax.approvals, tax.acceptances, tax.first_draws, tax.repeat_draws) == (2, 2, 2, 2, 1, 1, 1)
    assert tax.conversion == 1.0 and tax.approval_rate == 1.0 and tax.early_delinquency == 0.0
    assert tax.drawn_fen == 7_000_000 and tax.interest_fen == 350_000
    assert tax.margin_fen == 350_000 - 70_000
    assert tax.spend_fen == 80_000  # 800 yuan per first draw
    assert tax.cost_per_first_draw_fen == 80_000
    assert tax.return_on_spend == pytest.approx((280_000 - 80_000) / 80_000)
    assert (app.touches, app.visits, app.applications, app.approvals) == (3, 2, 1, 0)
    assert app.spend_fen == 160  # two clicks at 0.80 yuan
    assert app.conversion == 0.5 and app.approval_rate == 0.0 and app.first_draws == 0 and app.cost_per_first_draw_fen is None
    assert tax.attributed["last_touch"] == 2.0 and app.attributed["first_touch"] == 2.0


def test_funnel_counts_conversions_and_hours_on_handmade_data() -> None:
    (whole,) = funnel(handmade())
    counts = {s.step: s.count for s in whole.steps}
    assert counts == {"exposure": 4, "visit": 3, "application": 3, "approval": 2, "acceptance": 1, "first_draw": 1, "repeat_draw": 1}
    steps = {s.step: s for s in whole.steps}
    assert steps["visit"].conversion == pytest.approx(3 / 4)
    assert steps["approval"].conversion == pytest.approx(2 / 3)
    assert steps["acceptance"].median_hours == pytest.approx(24.0 - 0.005 / 3600)  # P1 approved 5 ms after 12 h, accepted at 36 h
    assert steps["first_draw"].median_hours == pytest.approx(24.0)  # accepted 36 h, drew at 60 h
    assert steps["repeat_draw"].median_hours == pytest.approx(100.0)
    by_channel = {f.value: f for f in funnel(handmade(), "channel")}
    assert [s.count for s in by_channel["partner-tax"].steps] == [2, 2, 2, 2, 1, 1, 1]
    assert [s.count for s in by_channel["own-app"].steps] == [2, 1, 1, 0, 0, 0, 0]


def test_310_counts_human_steps() -> None:
    s = standard_310(handmade())
    assert (s.decisions, s.within_one_second_no_person, s.human_steps, s.applications_with_human_steps) == (3, 2, 1, 1)
    assert s.share == pytest.approx(2 / 3)


def test_activation_cohorts_on_handmade_data() -> None:
    (march,) = activation_cohorts(handmade())
    assert march.month == "2026-03" and march.approved == 2
    assert march.drawn_within[1] == 0.0 and march.drawn_within[7] == 0.5 and march.drawn_within[14] == 0.5
    assert 30 not in march.drawn_within  # the cohort has been open 20 days at most


def test_generated_data_funnel_is_monotone_and_figures_add_up(data) -> None:
    (whole,) = funnel(data)
    counts = [s.count for s in whole.steps]
    assert [s.step for s in whole.steps] == list(STEPS)
    assert counts == sorted(counts, reverse=True) and counts[0] == data.prospects.height
    figures = channel_figures(data)
    assert sum(f.applications for f in figures) == data.applications.height
    assert sum(f.first_draws for f in figures) == counts[STEPS.index("first_draw")]
    assert all(f.spend_fen >= 0 for f in figures)
    by_channel = funnel(data, "channel")
    assert sum(f.steps[0].count for f in by_channel) == counts[0]
    for d in drop_offs(data):
        assert d.conversion < d.overall_conversion and d.lost > 0
    s = standard_310(data)
    assert s.human_steps == int((data.applications["engine_outcome"] == "refer").sum())


def test_event_rows_round_trip(data) -> None:
    back = from_rows(to_rows(data))
    assert back.as_of == data.as_of
    for name, frame in data.frames().items():
        assert back.frames()[name].equals(frame), name
