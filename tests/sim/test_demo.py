"""`smelend demo` ends with the strategy lab: its report written, its run recorded in the demo's database."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from smelend.store import open_store
from smelend.store.sim_runs import list_runs


def test_demo_runs_the_lab_after_the_main_job(smelend_env: Path) -> None:
    done = subprocess.run([sys.executable, "-m", "smelend", "demo", "--smes", "400", "--months", "2", "--seeds", "1", "--json"], capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    doc = json.loads(done.stdout)
    assert doc["trial_balance"]["balanced"] is True and len(doc["decisions"]) == 12  # the main job's document is kept
    lab = doc["strategy_lab"]
    assert set(lab["strategies"]) == {"baseline", "optimized"}
    folder = smelend_env / "strategy-lab"
    assert (folder / "metrics.json").is_file() and (folder / "report.html").is_file()
    engine = open_store(f"sqlite:///{smelend_env / 'demo.db'}")
    try:
        with engine.connect() as conn:
            assert [r["id"] for r in list_runs(conn)] == [lab["run_id"]]
    finally:
        engine.dispose()


def test_demo_without_the_lab_and_bad_sizes(smelend_env: Path) -> None:
    from tests.sim.test_cli import run_here

    bad = run_here("demo", "--months", "0")  # a refusal: through the entry point in this process
    assert bad.returncode == 2 and "--months" in bad.stderr and bad.stderr.count("\n") == 1
    assert not (smelend_env / "demo.db").exists()  # bad input: nothing ran, nothing was written
    done = subprocess.run([sys.executable, "-m", "smelend", "demo", "--no-lab", "--json"], capture_output=True, text=True, timeout=600)
    assert done.returncode == 0 and "strategy_lab" not in json.loads(done.stdout)
