"""Reassessment: the rules (JDM, evaluated cell-wise by zen) equal the graph row by row; each change's
amounts, caps, intervals, frequency and events; settings and rule files validated on load."""

from __future__ import annotations

import json
from datetime import date, timedelta
from pathlib import Path

import polars as pl
import pytest
from hypothesis import given, settings as hsettings, strategies as st

from smelend.cob.synthetic import snapshot_frame
from smelend.errors import InvalidInput
from smelend.lines.changes import check_changes
from smelend.lines.reassess import build_context, reassess, row_context, rule_inputs
from smelend.lines.reassess_rules import check_rules_graph, load_rules
from smelend.lines.settings import ACTIONS, SETTINGS_FILE, load_settings

AS_OF = date(2026, 6, 10)  # a Wednesday, out of every season
CONTEXT = build_context()


def line(**overrides: object) -> dict[str, object]:
    """A performing, half-used tax-data line of 200,000 yuan, nothing happening."""
    row: dict[str, object] = {
        "line_id": 1, "enterprise_id": 1, "product_id": "tax-data-loan", "status": "active", "limit_fen": 20_000_000,
        "used_fen": 10_000_000, "start_date": date(2025, 12, 1), "end_date": date(2026, 11, 30), "months_on_book": 6,
        "max_dpd": 0, "max_dpd_365d": 0, "on_time_streak": 3, "late_payments_365d": 0, "revenue_12m_fen": 200_000_000,
        "revenue_trend": 0.0, "tax_grade": "B", "event_new_tax_record": False, "event_new_invoice": False,
        "event_external_alert": False, "last_change_date": None, "temp_limit_fen": None, "temp_limit_until": None, "behaviour_grade": "C",
    }
    row.update(overrides)
    return row


def frame(*rows: dict[str, object]) -> pl.DataFrame:
    return pl.DataFrame(list(rows), schema_overrides={"last_change_date": pl.Date, "temp_limit_until": pl.Date, "temp_limit_fen": pl.Int64, "revenue_trend": pl.Float64})


def one(as_of: date = AS_OF, context=CONTEXT, **overrides: object) -> dict[str, object] | None:
    changes = reassess(frame(line(**overrides)), as_of, context)
    assert changes.height <= 1
    return changes.row(0, named=True) if changes.height else None


def test_a_quiet_line_does_not_change():
    assert one() is None


def test_freeze_on_30_days_past_due_and_on_an_external_alert():
    change = one(max_dpd=31, max_dpd_365d=31)
    assert change["action"] == "freeze" and change["status_after"] == "frozen" and change["limit_after_fen"] == 20_000_000
    assert "FRZ_DPD30" in change["reasons"].split(",")
    assert one(event_external_alert=True)["reasons"] == "FRZ_ALERT"


def test_unfreeze_when_cured_but_not_within_the_minimum_interval():
    assert one(status="frozen", behaviour_grade="B")["action"] == "unfreeze"
    assert one(status="frozen", behaviour_grade="B", last_change_date=AS_OF - timedelta(days=3)) is None  # unfreeze waits 7 days
    assert one(status="frozen", behaviour_grade="B", last_change_date=AS_OF - timedelta(days=7))["status_after"] == "active"


def test_decrease_steps_down_and_caps_at_used_so_nothing_is_available():
    change = one(behaviour_grade="D", used_fen=5_000_000)
    assert (change["action"], change["limit_after_fen"], change["reasons"]) == ("decrease", 14_000_000, "DEC_GRADE")
    capped = one(behaviour_grade="D", used_fen=18_000_000)
    assert capped["limit_after_fen"] == 18_000_000 == capped["used_fen"]  # available 0: new draws blocked
    assert one(behaviour_grade="D", used_fen=20_000_000) is None  # fully used: the cap leaves the limit where it is
    assert one(behaviour_grade="D", limit_fen=1_200_000, used_fen=0)["limit_after_fen"] == 1_000_000  # the product's minimum


def test_increase_is_capped_by_the_product_and_the_capacity_model():
    good = dict(behaviour_grade="A", used_fen=15_000_000, on_time_streak=8, revenue_trend=0.05)
    assert one(**good)["limit_after_fen"] == 24_000_000  # +20%
    assert one(**{**good, "limit_fen": 90_000_000, "used_fen": 70_000_000, "revenue_12m_fen": 10**10})["limit_after_fen"] == 100_000_000  # product max 1,000,000 yuan
    # all debt <= 0.6 x revenue: 300,000 yuan of revenue caps the line at 180,000 < the limit: no increase
    assert one(**good, revenue_12m_fen=30_000_000) is None
    assert one(**good, revenue_12m_fen=38_050_000)["limit_after_fen"] == 22_800_000  # 0.6 x 380,500 = 228,300, down to 1,000-yuan units
    assert one(**good, last_change_date=AS_OF - timedelta(days=30)) is None  # increases wait 90 days


def test_renewal_with_and_without_repaying_principal_first():
    near = dict(end_date=AS_OF + timedelta(days=10))
    renewed = one(**near, used_fen=0)
    assert (renewed["action"], renewed["reasons"], renewed["end_after"]) == ("renew", "RENEW_STD", date(2027, 6, 20))
    no_repay = one(**near, behaviour_grade="B", on_time_streak=6)
    assert (no_repay["action"], no_repay["reasons"]) == ("renew", "RENEW_NO_REPAY")  # 无还本续贷: loans run on
    assert one(**near, behaviour_grade="C", on_time_streak=6) is None  # principal drawn and only grade C: no renewal
    assert one(end_date=AS_OF + timedelta(days=40), used_fen=0) is None  # outside the 30-day window


def test_seasonal_temporary_limit_and_its_end():
    in_season = date(2026, 11, 1)
    change = one(as_of=in_season, behaviour_grade="A", used_fen=12_000_000)
    assert (change["action"], change["temp_limit_fen"], change["limit_after_fen"], change["temp_limit_until"]) == ("temporary", 6_000_000, 26_000_000, date(2026, 11, 30))
    # the season is over: the temporary part is taken back (down to used at most)
    ended = one(as_of=date(2026, 12, 1), limit_fen=26_000_000, used_fen=24_000_000, temp_limit_fen=6_000_000, temp_limit_until=date(2026, 11, 30))
    assert (ended["action"], ended["limit_after_fen"], ended["temp_limit_fen"]) == ("temporary-end", 24_000_000, 0)
    # folded into the day's change when another one is chosen
    frozen = one(as_of=date(2026, 12, 1), limit_fen=26_000_000, used_fen=1_000_000, temp_limit_fen=6_000_000, temp_limit_until=date(2026, 11, 30), event_external_alert=True)
    assert (frozen["action"], frozen["limit_after_fen"], frozen["temp_limit_fen"]) == ("freeze", 20_000_000, 0)


def test_weekly_frequency_reviews_on_its_weekday_or_on_an_event(tmp_path: Path):
    weekly = _settings_file(tmp_path, frequency="weekly", weekday=1)
    context = build_context(load_settings(weekly))
    worse = dict(behaviour_grade="D")
    assert one(as_of=AS_OF, context=context, **worse) is None  # a Wednesday
    assert one(as_of=date(2026, 6, 8), context=context, **worse)["action"] == "decrease"  # Monday
    assert one(as_of=AS_OF, context=context, **worse, event_new_invoice=True)["action"] == "decrease"


def _settings_file(tmp_path: Path, **changes: object) -> Path:
    import yaml

    document = yaml.safe_load(SETTINGS_FILE.read_text(encoding="utf-8"))
    document.update(changes)
    document["rules"]["file"] = str(SETTINGS_FILE.parent / document["rules"]["file"])
    path = tmp_path / "reassessment.yaml"
    path.write_text(yaml.safe_dump(document), encoding="utf-8")
    return path


def test_bad_settings_name_every_field(tmp_path: Path):
    path = _settings_file(tmp_path, frequency="hourly", precedence=["freeze"], increase_step=2)
    with pytest.raises(InvalidInput) as refused:
        load_settings(path)
    fields = {e.field for e in refused.value.errors}
    assert {"reassessment.yaml: frequency", "reassessment.yaml: increase_step"} <= fields


def test_rule_files_are_tables_reading_plain_fields_and_testing_only_their_column():
    graph = json.loads(CONTEXT.rules.path.read_text(encoding="utf-8"))
    table = next(n for n in graph["nodes"] if n["type"] == "decisionTableNode")
    bad = json.loads(json.dumps(graph))
    node = next(n for n in bad["nodes"] if n["id"] == table["id"])
    node["content"]["inputs"][0]["field"] = "line.used / line.limit"
    node["content"]["rules"][0][node["content"]["inputs"][1]["id"]] = "> line.limit"
    node["content"]["hitPolicy"] = "first"
    bad["nodes"].append({"id": "js", "type": "functionNode", "name": "code", "content": {}})
    with pytest.raises(InvalidInput) as refused:
        check_rules_graph(bad, "x.json")
    reasons = " ".join(e.reason for e in refused.value.errors)
    assert "plain field path" in reasons and "only its own column" in reasons and "collect" in reasons and "functionNode" in reasons
    with pytest.raises(InvalidInput):
        load_rules(Path("/nonexistent.json"), "x", "1")


def _assert_cellwise_equals_graph(batch: pl.DataFrame, as_of: date) -> None:
    inputs = rule_inputs(batch, as_of, CONTEXT)
    fired = CONTEXT.rules.fire(inputs)
    for i in range(batch.height):
        expected = CONTEXT.rules.evaluate_row(row_context(inputs, i))
        got = {action: [code for code, mask in fired[action] if mask[i]] for action in ACTIONS}
        assert got == expected, (batch.row(i, named=True), got, expected)


def test_cellwise_evaluation_equals_zen_on_the_whole_graph():
    book = snapshot_frame(400, date(2026, 11, 5), seed=3)
    _assert_cellwise_equals_graph(book, date(2026, 11, 5))


@hsettings(max_examples=40, deadline=None)
@given(
    status=st.sampled_from(["active", "frozen", "expired"]), dpd=st.integers(0, 400), dpd365=st.integers(0, 400),
    grade=st.sampled_from(["A", "B", "C", "D", "E", None]), tax=st.sampled_from(["A", "B", "M", "C", "D", None]),
    trend=st.one_of(st.none(), st.floats(-1, 3, allow_nan=False)), streak=st.integers(0, 60), alert=st.booleans(),
    used_share=st.floats(0, 1), expiry=st.integers(-5, 90), months=st.integers(0, 80),
)
def test_cellwise_equals_graph_on_random_lines(status, dpd, dpd365, grade, tax, trend, streak, alert, used_share, expiry, months):
    row = line(status=status, max_dpd=dpd, max_dpd_365d=max(dpd, dpd365), behaviour_grade=grade, tax_grade=tax, revenue_trend=trend,
               on_time_streak=streak, event_external_alert=alert, used_fen=int(20_000_000 * used_share), end_date=AS_OF + timedelta(days=expiry), months_on_book=months)
    _assert_cellwise_equals_graph(frame(row), date(2026, 11, 5))


def test_a_book_batch_keeps_the_invariants_and_is_deterministic():
    as_of = date(2026, 11, 5)
    book = snapshot_frame(5_000, as_of, seed=11)
    changes = reassess(book, as_of, CONTEXT)
    check_changes(changes)
    assert set(changes.get_column("action").unique()) >= {"freeze", "decrease", "unfreeze", "increase", "renew", "temporary"}
    assert changes.equals(reassess(book, as_of, build_context()))
    # batches of any size give the same rows as the whole book (runners cut batches as they like)
    pieces = pl.concat([reassess(book.slice(k, 777), as_of, CONTEXT) for k in range(0, book.height, 777)])
    assert pieces.equals(changes)


def test_vectorised_notices_equal_the_one_by_one_notice():
    from smelend.lines.changes import LineChange, notifications

    as_of = date(2026, 11, 5)
    changes = reassess(snapshot_frame(2_000, as_of, seed=4), as_of, CONTEXT)
    notices = notifications(changes).select("event", "payload").rows()
    assert notices == [LineChange.from_row(row).notification() for row in changes.iter_rows(named=True)]
    assert json.loads(notices[0][1])["line_id"] == changes.row(0, named=True)["line_id"]


# --- the owner-level cap: every enterprise of one owner together ----------------------------------------

GOOD = dict(behaviour_grade="A", on_time_streak=8, revenue_trend=0.05)


def owners_lines(limits_fen: list[int], owner: int = 7) -> pl.DataFrame:
    """Lines of one owner's enterprises (one line each), all performing well enough for an increase."""
    return frame(*(line(**GOOD, line_id=k + 1, enterprise_id=k + 1, owner_person_id=owner, limit_fen=limit, used_fen=limit * 3 // 4) for k, limit in enumerate(limits_fen)))


def test_an_owner_with_several_enterprises_stays_within_the_owner_cap():
    assert CONTEXT.owner_cap_fen == 300_000_000  # 3,000,000 yuan across every enterprise of one owner
    alone = reassess(owners_lines([70_000_000]), AS_OF, CONTEXT).row(0, named=True)
    assert (alone["limit_after_fen"], alone["reasons"].split(",")[-1]) == (84_000_000, "INC_GOOD_USE")  # +20%: the owner has room
    # four lines of 700,000 yuan: 2,800,000 of 3,000,000 used up; the room (200,000) is shared by limit
    changes = reassess(owners_lines([70_000_000] * 4), AS_OF, CONTEXT)
    assert changes["limit_after_fen"].to_list() == [75_000_000] * 4
    assert all(r.split(",")[-1] == "CAP_OWNER" for r in changes["reasons"])
    assert changes["limit_after_fen"].sum() == CONTEXT.owner_cap_fen
    # unequal lines: shares in proportion, rounded down to the 1,000-yuan unit, the total still within the cap
    uneven = reassess(owners_lines([90_000_000, 60_000_000, 40_000_000, 90_000_000]), AS_OF, CONTEXT)
    assert uneven["limit_after_fen"].to_list() == [96_400_000, 64_200_000, 42_800_000, 96_400_000]
    assert uneven["limit_after_fen"].sum() <= CONTEXT.owner_cap_fen
    # an owner at the cap gets no increase on any line; another owner's lines are not affected
    full = frame(*(line(**GOOD, line_id=k + 1, owner_person_id=7, limit_fen=100_000_000, used_fen=75_000_000) for k in range(3)), line(**GOOD, line_id=9, owner_person_id=8, limit_fen=70_000_000, used_fen=52_500_000))
    assert reassess(full, AS_OF, CONTEXT)["line_id"].to_list() == [9]


def test_the_owner_total_comes_from_the_whole_snapshot_whatever_the_batches():
    from smelend.lines.snapshot import with_owner_limits

    book = with_owner_limits(owners_lines([70_000_000] * 4))
    assert book["owner_limits_fen"].to_list() == [280_000_000] * 4
    whole = reassess(book, AS_OF, CONTEXT)
    batches = pl.concat([reassess(book.slice(0, 1), AS_OF, CONTEXT), reassess(book.slice(1, 3), AS_OF, CONTEXT)])
    assert batches.equals(whole) and whole["limit_after_fen"].to_list() == [75_000_000] * 4
    # a batch cut from a book without the column would see only its own lines: the column is what makes it right
    assert reassess(owners_lines([70_000_000]), AS_OF, CONTEXT)["limit_after_fen"].to_list() == [84_000_000]


def test_an_expired_line_counts_what_is_still_used_towards_the_owner():
    from smelend.lines.snapshot import with_owner_limits

    rows = frame(line(**GOOD, line_id=1, owner_person_id=7, limit_fen=70_000_000, used_fen=52_500_000), line(line_id=2, owner_person_id=7, status="expired", limit_fen=250_000_000, used_fen=225_000_000))
    assert with_owner_limits(rows)["owner_limits_fen"].to_list() == [295_000_000] * 2
    change = reassess(rows, AS_OF, CONTEXT).row(0, named=True)
    # room 50,000 yuan, this line's share 70/295 of it, rounded down to the unit (conservative: the expired line's share goes unused)
    assert (change["line_id"], change["limit_after_fen"], change["reasons"].split(",")[-1]) == (1, 71_100_000, "CAP_OWNER")
