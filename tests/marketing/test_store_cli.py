"""The marketing store and commands on SQLite and PostgreSQL: round trips, coupon costs in the ledger, bad input changes nothing."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import date

import pytest
from sqlalchemy import func, select

from smelend.errors import InvalidInput
from smelend.ledger import Account
from smelend.store import open_store
from smelend.store import ledger as ledger_store
from smelend.store.marketing import Grant, campaigns, create_campaign, event_count, load_data, redeem, replace_data, save_segments
from smelend.store.tables import coupon_grants, marketing_campaigns, marketing_events, segment_assignments

from tests.marketing.handmade import handmade

SMELEND = [sys.executable, "-m", "smelend"]


def counts(engine) -> dict[str, int]:
    with engine.connect() as conn:
        return {t.name: int(conn.scalar(select(func.count()).select_from(t))) for t in (marketing_events, marketing_campaigns, coupon_grants, segment_assignments)} | {
            "entries": ledger_store.entry_count(conn)}


@pytest.fixture
def engine(db_url: str):
    engine = open_store(db_url)
    yield engine
    engine.dispose()


def test_data_set_round_trips_and_replaces(engine) -> None:
    data = handmade()
    with engine.begin() as conn:
        written = replace_data(conn, data)
        again = replace_data(conn, data)
    assert written == again == 1 + 4 + 5 + 3 + 2
    with engine.connect() as conn:
        assert event_count(conn) == written
        back = load_data(conn)
    for name, frame in data.frames().items():
        assert back.frames()[name].equals(frame), name
    assert back.as_of == data.as_of


def test_no_data_is_a_clear_error(engine) -> None:
    with engine.connect() as conn, pytest.raises(InvalidInput) as caught:
        load_data(conn)
    assert caught.value.errors[0].field == "database" and "marketing generate" in caught.value.errors[0].reason


def test_coupon_redeemed_once_posts_its_cost_to_the_ledger(engine) -> None:
    grants = [Grant("spring:1", "C1", 100, 200_000), Grant("spring:2", "C2", 100, 200_000)]
    with engine.begin() as conn:
        campaign_id = create_campaign(conn, "spring", "x", {"targeted": 2}, grants)
        assert redeem(conn, "spring:1", 55_269, date(2026, 3, 1))
        assert not redeem(conn, "spring:1", 55_269, date(2026, 3, 2))  # the second redemption posts nothing
    with engine.connect() as conn:
        balances = ledger_store.trial_balance(conn)
        (row,) = campaigns(conn)
    assert balances.balanced
    assert balances.normal_balance_fen(Account.MARKETING_EXPENSE) == 55_269
    assert balances.normal_balance_fen(Account.COUPON_PAYABLE) == 55_269
    assert row["id"] == campaign_id and (row["grants"], row["redeemed"], row["coupon_cost_fen"]) == (2, 1, 55_269)


def test_bad_campaign_input_changes_nothing(engine) -> None:
    with engine.begin() as conn:
        create_campaign(conn, "spring", "x", {}, [Grant("spring:1", "C1", 100, 200_000)])
    before = counts(engine)
    with pytest.raises(InvalidInput) as caught, engine.begin() as conn:
        create_campaign(conn, "spring", "t", {}, [Grant("spring:9", "C9", 100, 1)])
    assert caught.value.errors[0].field == "name"
    with pytest.raises(InvalidInput), engine.begin() as conn:
        redeem(conn, "no-such-grant", 1, date(2026, 1, 1))
    with pytest.raises(InvalidInput), engine.begin() as conn:
        redeem(conn, "spring:1", -5, date(2026, 1, 1))
    assert counts(engine) == before


def test_segment_runs_replace_by_name(engine) -> None:
    with engine.begin() as conn:
        assert save_segments(conn, "run-1", [("C1", "active", 0), ("C2", "dormant", None)]) == 2
        assert save_segments(conn, "run-1", [("C1", "churned", 1)]) == 1
    with engine.connect() as conn:
        rows = conn.execute(select(segment_assignments.c.customer_ref, segment_assignments.c.segment)).all()
    assert [tuple(r) for r in rows] == [("C1", "churned")]


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    """``smelend marketing ...`` in process (the interpreter and imports are paid once, not per call)."""
    import contextlib
    import io

    from smelend.cli import main

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            main(["marketing", *args])
            code = 0
        except SystemExit as exc:
            code = int(exc.code or 0)
    return subprocess.CompletedProcess(args, code, out.getvalue(), err.getvalue())


def test_commands_on_the_database(db_url: str, tmp_path) -> None:
    empty = cli("channels", "--json")
    assert empty.returncode == 2 and "marketing generate" in empty.stderr and empty.stdout == ""
    done = cli("generate", "--prospects", "120", "--seed", "4", "--json")
    assert done.returncode == 0, done.stderr
    made = json.loads(done.stdout)
    assert made["prospects"] == 120 and made["event_rows"] == 1 + made["prospects"] + made["touches"] + made["applications"] + made["draws"]
    channels = cli("channels", "--json", "--html", str(tmp_path / "channels.html"))
    assert channels.returncode == 0, channels.stderr
    document = json.loads(channels.stdout)
    assert sum(c["applications"] for c in document["channels"]) == made["applications"]
    assert all(isinstance(c["spend"], str) for c in document["channels"])  # money as decimal strings
    page = (tmp_path / "channels.html").read_text()
    assert "<script src=" not in page and 'data-kind="channel-return"' in page
    funnel = cli("funnel", "--by", "channel", "--json")
    assert funnel.returncode == 0, funnel.stderr
    f = json.loads(funnel.stdout)
    assert set(f) == {"funnel", "standard_310", "drop_offs", "activation_cohorts"}
    assert f["standard_310"]["decisions"] == made["applications"]
    bad = cli("funnel", "--by", "colour")
    assert bad.returncode == 2 and "--by" in bad.stderr
    before = counts_of(db_url)
    refused = cli("generate", "--prospects", "0")
    assert refused.returncode == 2 and "--prospects" in refused.stderr and counts_of(db_url) == before


def counts_of(url: str) -> dict[str, int]:
    engine = open_store(url)
    try:
        return counts(engine)
    finally:
        engine.dispose()


def test_campaign_command_records_grants_and_posts_costs(db_url: str) -> None:
    args = ("campaign", "--name", "autumn", "--history", "1000", "--audience", "300", "--target-share", "0.2", "--coupon-bp", "100", "--record", "--json")
    done = cli(*args)
    assert done.returncode == 0, done.stderr
    document = json.loads(done.stdout)
    recorded = document["recorded"]
    assert recorded["grants"] == document["targeted"] <= 60
    before = counts_of(db_url)
    assert before["coupon_grants"] == recorded["grants"] and before["entries"] == recorded["redeemed"]
    again = cli(*args)
    assert again.returncode == 2 and "--name" in again.stderr and again.stdout == ""
    assert counts_of(db_url) == before
    engine = open_store(db_url)
    try:
        with engine.connect() as conn:
            tb = ledger_store.trial_balance(conn)
    finally:
        engine.dispose()
    from decimal import Decimal

    assert Decimal(tb.normal_balance_fen(Account.MARKETING_EXPENSE)) / 100 == Decimal(recorded["coupon_cost_posted"])


def test_segments_record_and_conversion_commands(db_url: str, tmp_path) -> None:
    from smelend.store.marketing import replace_data

    engine = open_store(db_url)
    try:
        with engine.begin() as conn:
            replace_data(conn, handmade())
    finally:
        engine.dispose()
    done = cli("segments", "--customers", "500", "--clusters", "3", "--record", "run-1", "--json", "--html", str(tmp_path / "segments.html"))
    assert done.returncode == 0, done.stderr
    document = json.loads(done.stdout)
    assert document["recorded"] == 500 and len(document["clusters"]) == 3
    assert counts_of(db_url)["segment_assignments"] == 500
    assert 'data-kind="segment-map"' in (tmp_path / "segments.html").read_text()
    before = counts_of(db_url)
    bad = cli("segments", "--customers", "500", "--clusters", "1", "--record", "run-2")
    assert bad.returncode == 2 and "--clusters" in bad.stderr and counts_of(db_url) == before
    conversion = cli("conversion", "--json")
    assert conversion.returncode == 0, conversion.stderr
    assert json.loads(conversion.stdout)["declined_eligible_elsewhere"] == 1


def test_whitelist_and_retention_commands(tmp_path, smelend_env) -> None:
    out = tmp_path / "list.csv"
    done = cli("whitelist", "--customers", "2000", "--size", "20", "--out", str(out), "--json")
    assert done.returncode == 0, done.stderr
    document = json.loads(done.stdout)
    lines = out.read_text().splitlines()
    assert lines[0] == "customer_id,product_id,limit,rate,apr,pd,grade,reasons" and len(lines) == 1 + document["approved"]
    assert document["decided"] == 20 and set(document["seconds"]) == {"base", "score", "decide"}
    retention = cli("retention", "--customers", "3000", "--json")
    assert retention.returncode == 0, retention.stderr
    r = json.loads(retention.stdout)
    assert r["attrition_model"]["auc"] > 0.7 and set(r["offers"]) >= {"reactivation", "renewal", "limit_increase", "reminders"}
    for args, option in ((("whitelist", "--customers", "0"), "--customers"), (("whitelist", "--size", "0"), "--size"), (("retention", "--seed", "-1"), "--seed")):
        bad = cli(*args)
        assert bad.returncode == 2 and option in bad.stderr and bad.stdout == "", args
