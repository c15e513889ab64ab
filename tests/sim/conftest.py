"""One small comparison for the module's tests, run once (it runs the real engines: every decision costs ~15 ms)."""

from __future__ import annotations

from pathlib import Path

import pytest

from smelend.sim.compare import run_all
from smelend.sim.market import RunResult
from smelend.sim.strategy import StrategyFile, load_strategy_file

ROOT = Path(__file__).resolve().parents[2]
BASELINE = ROOT / "strategies" / "baseline.yaml"
OPTIMIZED = ROOT / "strategies" / "optimized.yaml"
SMES, MONTHS, SEEDS = 1000, 12, 2  # 12 months: the baseline reviews its lines once a year; 1,000 businesses already give repeat draws and penalties


@pytest.fixture(scope="session")
def strategies() -> tuple[StrategyFile, StrategyFile]:
    return load_strategy_file(BASELINE, "baseline"), load_strategy_file(OPTIMIZED, "strategy")


@pytest.fixture(scope="session")
def results(strategies: tuple[StrategyFile, StrategyFile]) -> dict[str, list[RunResult]]:
    return run_all(list(strategies), smes=SMES, months=MONTHS, seeds=SEEDS)
