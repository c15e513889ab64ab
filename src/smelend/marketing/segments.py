"""Rule segments (industry, size, data richness, life-cycle stage), the value x risk grid, and a recommended
strategy per segment, all from ``data/segments.yaml``.

Everything is a polars expression over the customer table, so a million customers segment in about a
second. Life cycle: *prospect* (no line, never applied), *applicant* (applied, no line), *approved-not-drawn*
(no draw in 12 months on a line open less than ``churned_after_days``), *active*, *dormant* (no draw for ``dormant_after_days``), *churned* (none for
``churned_after_days``). Value is the expected annual margin of the line (or, without one, of a line
sized at 10% of sales); risk is the PD of the real scorecards.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Literal

import numpy as np
import polars as pl
from pydantic import BaseModel, ConfigDict, Field, model_validator

from smelend.datafiles import load_yaml_model
from smelend.marketing.channels import DATA_DIR, load_channels

STAGES = ("prospect", "applicant", "approved-not-drawn", "active", "dormant", "churned")
FUNDS_RATE, LGD = 0.02, 0.8
POTENTIAL_LINE_SHARE, POTENTIAL_RATE = 0.10, 0.09
UNKNOWN_INDUSTRY = "unknown"  # no registration record (a stored customer decided before, or never, by the risk engine)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Band(_Strict):
    band: str = Field(min_length=1, max_length=20)
    up_to_yuan: float | None = None


class RiskBand(_Strict):
    band: str = Field(min_length=1, max_length=20)
    up_to_pd: float | None = Field(default=None, gt=0, le=1)


class Strategy(_Strict):
    price_bp: int = Field(ge=-1000, le=1000)
    limit: Literal["standard", "increase", "keep", "decrease", "review-increase", "reassess", "freeze-review"]
    channel: str
    message: str = Field(min_length=1, max_length=200)


class LifeCycle(_Strict):
    dormant_after_days: int = Field(gt=0)
    churned_after_days: int = Field(gt=0)


def _ordered(bands: list, key: str, what: str) -> None:
    bounds = [getattr(b, key) for b in bands]
    if bounds[-1] is not None or any(b is None for b in bounds[:-1]) or bounds[:-1] != sorted(bounds[:-1]):
        raise ValueError(f"{what}: bounds must increase and only the last be null")


class SegmentSettings(_Strict):
    version: str
    life_cycle: LifeCycle
    size_bands: list[Band] = Field(min_length=1)
    value_bands: list[Band] = Field(min_length=1)
    risk_bands: list[RiskBand] = Field(min_length=1)
    stage_strategies: dict[str, Strategy]
    grid_strategies: dict[str, Strategy]

    @model_validator(mode="after")
    def _complete(self) -> "SegmentSettings":
        _ordered(self.size_bands, "up_to_yuan", "size_bands")
        _ordered(self.value_bands, "up_to_yuan", "value_bands")
        _ordered(self.risk_bands, "up_to_pd", "risk_bands")
        if self.life_cycle.churned_after_days <= self.life_cycle.dormant_after_days:
            raise ValueError("life_cycle: churned_after_days must exceed dormant_after_days")
        if set(self.stage_strategies) != set(STAGES):
            raise ValueError(f"stage_strategies must name exactly the stages {', '.join(STAGES)}")
        cells = {f"{v.band}-{r.band}" for v in self.value_bands for r in self.risk_bands}
        if set(self.grid_strategies) != cells:
            raise ValueError(f"grid_strategies must name exactly the cells {', '.join(sorted(cells))}")
        channels = set(load_channels().channels)
        for name, s in {**self.stage_strategies, **self.grid_strategies}.items():
            if s.channel not in channels:
                raise ValueError(f"{name}: channel {s.channel!r} is not in the channel catalogue")
        return self


@lru_cache(maxsize=4)
def _load(path: Path) -> SegmentSettings:
    return load_yaml_model(path, SegmentSettings, "segment settings")


def load_segment_settings(path: Path | None = None) -> SegmentSettings:
    return _load((path or DATA_DIR / "segments.yaml").resolve())


def _banded(column: pl.Expr, bands: list, key: str, scale: float) -> pl.Expr:
    expr: pl.Expr | None = None
    for b in reversed(bands):
        bound = getattr(b, key)
        if bound is None:
            expr = pl.lit(b.band)
        else:
            expr = pl.when(column <= bound * scale).then(pl.lit(b.band)).otherwise(expr)
    assert expr is not None
    return expr


def annual_sales_fen() -> pl.Expr:
    return pl.coalesce("tax_declared_sales_12m_fen", "invoice_sales_12m_fen", pl.col("cashflow_inflow_monthly_avg_fen") * 12, pl.lit(0)).cast(pl.Float64)


def segment_table(customers: pl.DataFrame, pd: np.ndarray, settings: SegmentSettings | None = None) -> pl.DataFrame:
    """``customer_id`` with every segment column: industry, size, data richness, stage, value, risk, cell, expected margin."""
    s = settings or load_segment_settings()
    lc = s.life_cycle
    has = lambda c: c in customers.columns  # noqa: E731
    applied = pl.col("applied") if has("applied") else pl.lit(False)
    since = pl.col("days_since_last_draw")
    stage = (
        pl.when(~pl.col("has_line")).then(pl.when(applied).then(pl.lit("applicant")).otherwise(pl.lit("prospect")))
        .when(pl.col("draws_12m").fill_null(0) == 0).then(
            pl.when(pl.col("months_on_book") * 30 <= lc.churned_after_days).then(pl.lit("approved-not-drawn")).otherwise(pl.lit("churned")))
        .when(since > lc.churned_after_days).then(pl.lit("churned"))
        .when(since > lc.dormant_after_days).then(pl.lit("dormant"))
        .otherwise(pl.lit("active"))
    )
    margin_yuan = pl.when(pl.col("has_line")).then(
        pl.col("balance_fen") / 100 * (pl.col("rate").fill_null(POTENTIAL_RATE) - FUNDS_RATE - pl.col("pd") * LGD)
    ).otherwise(annual_sales_fen() / 100 * POTENTIAL_LINE_SHARE * (POTENTIAL_RATE - FUNDS_RATE - pl.col("pd") * LGD))
    frame = customers.with_columns(pl.Series("pd", pd, dtype=pl.Float64)).select(
        "customer_id", pl.col("industry_section").fill_null(UNKNOWN_INDUSTRY), "pd",
        pl.when((pl.col("status_tax") == "ok") | (pl.col("status_invoices") == "ok")).then(pl.lit("data-rich")).otherwise(pl.lit("thin-file")).alias("data_richness"),
        _banded(annual_sales_fen(), s.size_bands, "up_to_yuan", 100.0).alias("size_band"),
        stage.alias("stage"),
        margin_yuan.alias("expected_margin_yuan"),
    )
    return frame.with_columns(
        _banded(pl.col("expected_margin_yuan"), s.value_bands, "up_to_yuan", 1.0).alias("value_band"),
        _banded(pl.col("pd"), s.risk_bands, "up_to_pd", 1.0).alias("risk_band"),
    ).with_columns((pl.col("value_band") + "-" + pl.col("risk_band")).alias("cell"))


@dataclass(frozen=True)
class SegmentProfile:
    kind: str  # stage, cell, industry_section, size_band, data_richness
    segment: str
    customers: int
    share: float
    mean_pd: float
    mean_expected_margin_yuan: float
    strategy: dict[str, object] | None


def profiles(segments: pl.DataFrame, settings: SegmentSettings | None = None) -> list[SegmentProfile]:
    """Count, share, mean PD and mean expected margin per segment of each kind, with its strategy."""
    s = settings or load_segment_settings()
    n = segments.height
    out = []
    for kind in ("stage", "cell", "industry_section", "size_band", "data_richness"):
        table = segments.group_by(kind).agg(pl.len().alias("n"), pl.col("pd").mean().alias("pd"), pl.col("expected_margin_yuan").mean().alias("m")).sort(kind)
        for row in table.iter_rows(named=True):
            key = str(row[kind])
            strategy = s.stage_strategies.get(key) if kind == "stage" else s.grid_strategies.get(key) if kind == "cell" else None
            out.append(SegmentProfile(kind, key, row["n"], row["n"] / n, float(row["pd"]), float(row["m"]), strategy.model_dump() if strategy else None))
    return out


def value_risk_grid(segments: pl.DataFrame) -> list[dict[str, object]]:
    """Customers per value x risk cell (the segment map)."""
    table = segments.group_by("value_band", "risk_band").agg(pl.len().alias("customers"), pl.col("expected_margin_yuan").sum().alias("margin_yuan")).sort("value_band", "risk_band")
    return table.to_dicts()
