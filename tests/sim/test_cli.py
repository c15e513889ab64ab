"""`smelend compare` / `smelend simulate` on SQLite and PostgreSQL: files, the run recorded, bad input changes nothing."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import func, select

from smelend.store import open_store
from smelend.store.sim_runs import list_runs, run_document
from smelend.store.tables import sim_run_strategies, sim_runs

from tests.sim.conftest import BASELINE, OPTIMIZED

SMELEND = [sys.executable, "-m", "smelend"]


def run(*args: str) -> subprocess.CompletedProcess[str]:
    """``python -m smelend ...`` in a fresh interpreter: for runs that spawn workers and write files and the database."""
    return subprocess.run([*SMELEND, *args], capture_output=True, text=True, timeout=600)


def run_here(*args: str) -> subprocess.CompletedProcess[str]:
    """The same command through its entry point in this process (exit status, stdout, stderr): for refusals and
    quick reads, which would otherwise pay a fresh interpreter and the imports (~1.5 s) per call."""
    import contextlib
    import io

    from smelend.cli import main

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            main(list(args))
            code = 0
        except SystemExit as exc:
            code = int(exc.code or 0)
    return subprocess.CompletedProcess(list(args), code, out.getvalue(), err.getvalue())


def counts(url: str) -> dict[str, int]:
    engine = open_store(url)
    try:
        with engine.connect() as conn:
            return {t.name: int(conn.scalar(select(func.count()).select_from(t))) for t in (sim_runs, sim_run_strategies)}
    finally:
        engine.dispose()


@pytest.mark.db
def test_compare_writes_the_contract_and_records_the_run(db_url: str, tmp_path: Path) -> None:
    out = tmp_path / "out"
    done = run("compare", "--baseline", str(BASELINE), "--strategy", str(OPTIMIZED), "--smes", "600", "--months", "6", "--seeds", "2",
               "--workers", "2", "--out", str(out), "--json")
    assert done.returncode == 0, done.stderr
    printed = json.loads(done.stdout)
    doc = json.loads((out / "metrics.json").read_text(encoding="utf-8"))
    assert (out / "report.html").read_text(encoding="utf-8").startswith("<!DOCTYPE html>") or "<html" in (out / "report.html").read_text(encoding="utf-8")
    for name in ("baseline", "optimized"):
        s = doc["strategies"][name]
        assert s["decisions"] == s["applications"] and s["ledger_balanced"] is True
        assert s["balance_end"] == s["ledger_principal_receivable"]
        assert printed["strategies"][name]["profit"] == s["profit"]
        for seed in (0, 1):  # the ledger database the store's bulk writer filled, read here directly
            with sqlite3.connect(out / "ledgers" / f"{name}-seed{seed}.sqlite") as ledger:
                receivable = ledger.execute("select coalesce(sum(amount_fen), 0) from postings where account = 'principal_receivable'").fetchone()[0]
                total = ledger.execute("select coalesce(sum(amount_fen), 0) from postings").fetchone()[0]
            per_seed = s["per_seed"][seed]
            assert receivable == per_seed["balance_end"] and total == 0
            assert per_seed["ledger_entries_written"] == per_seed["journal_entries"]
    assert "ablation" not in doc
    engine = open_store(db_url)
    try:
        with engine.connect() as conn:
            listed = list_runs(conn)
            assert listed[0]["id"] == printed["run_id"] and {s["name"] for s in listed[0]["strategies"]} == {"baseline", "optimized"}
            assert run_document(conn, printed["run_id"]) == doc
    finally:
        engine.dispose()


@pytest.mark.db
def test_simulate_runs_one_strategy(db_url: str, tmp_path: Path) -> None:
    out = tmp_path / "one"
    # one run, so no process pool (the compare test covers the pool)
    done = run("simulate", "--strategy", str(BASELINE), "--smes", "400", "--months", "3", "--workers", "1", "--out", str(out), "--json")
    assert done.returncode == 0, done.stderr
    doc = json.loads((out / "metrics.json").read_text(encoding="utf-8"))
    assert list(doc["strategies"]) == ["baseline"] and doc["strategies"]["baseline"]["cob_runs"] == 31 + 28 + 31  # daily closes, Jan-Mar 2026
    assert counts(db_url) == {"sim_runs": 1, "sim_run_strategies": 1}


@pytest.mark.db
def test_simulate_stores_its_marketing_events_and_the_funnel_counts_are_the_runs(db_url: str, tmp_path: Path) -> None:
    out = tmp_path / "events"
    done = run("simulate", "--strategy", str(OPTIMIZED), "--smes", "600", "--months", "4", "--seeds", "2", "--workers", "1",
               "--marketing-events", "--out", str(out), "--json")
    assert done.returncode == 0, done.stderr
    printed = json.loads(done.stdout)
    seeds = json.loads((out / "metrics.json").read_text(encoding="utf-8"))["strategies"]["optimized"]["per_seed"]
    total = {key: sum(p[key] for p in seeds) for key in ("applications", "approvals", "lines", "customers_drawn", "draws")}
    assert printed["marketing_events"]["strategy"] == "optimized" and printed["marketing_events"]["rows"] > total["applications"] > 0
    funnel = run_here("marketing", "funnel", "--json")
    assert funnel.returncode == 0, funnel.stderr
    steps = {s["step"]: s["count"] for s in json.loads(funnel.stdout)["funnel"][0]["steps"]}
    assert steps["application"] == total["applications"]
    assert steps["approval"] == total["approvals"]
    assert steps["acceptance"] == total["lines"]
    assert steps["first_draw"] == total["customers_drawn"] > 0
    channels = run_here("marketing", "channels", "--json")
    assert channels.returncode == 0, channels.stderr
    rows = json.loads(channels.stdout)
    rows = rows["channels"] if isinstance(rows, dict) else rows
    assert sum(r["applications"] for r in rows) == total["applications"]
    assert sum(r["first_draws"] + r["repeat_draws"] for r in rows) == total["draws"]


BAD = [
    (["--smes", "0"], "--smes"),
    (["--months", "1000"], "--months"),
    (["--seeds", "0"], "--seeds"),
    (["--workers", "99"], "--workers"),
]


@pytest.mark.db
@pytest.mark.parametrize(("extra", "option"), BAD)
def test_bad_sizes_exit_2_naming_the_option_and_change_nothing(db_url: str, tmp_path: Path, extra: list[str], option: str) -> None:
    before = counts(db_url)
    out = tmp_path / "never"
    done = run_here("compare", "--baseline", str(BASELINE), "--strategy", str(OPTIMIZED), "--out", str(out), *extra)
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr.count("\n") == 1 and option in done.stderr
    assert not out.exists() and counts(db_url) == before


@pytest.mark.db
def test_bad_strategy_files_are_named_with_every_error(db_url: str, tmp_path: Path) -> None:
    before = counts(db_url)
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: x\nchannels: [own-app, carrier-pigeon]\npricing: {mode: cheapest}\n", encoding="utf-8")
    out = tmp_path / "never"
    done = run_here("compare", "--baseline", str(bad), "--strategy", str(tmp_path / "missing.yaml"), "--out", str(out))
    assert done.returncode == 2 and done.stderr.count("\n") == 1
    assert "--baseline" in done.stderr and "--strategy" in done.stderr and "pricing.mode" in done.stderr
    same = run_here("compare", "--baseline", str(BASELINE), "--strategy", str(BASELINE), "--out", str(out))
    assert same.returncode == 2 and "--strategy" in same.stderr and "same name" in same.stderr
    file_out = tmp_path / "a-file"
    file_out.write_text("x", encoding="utf-8")
    clash = run_here("simulate", "--strategy", str(BASELINE), "--out", str(file_out))
    assert clash.returncode == 2 and "--out" in clash.stderr
    assert not out.exists() and counts(db_url) == before
