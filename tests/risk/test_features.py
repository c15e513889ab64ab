"""Features: one definition, two paths (online over a dict, batch over polars) that agree exactly."""

from __future__ import annotations

import math
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from smelend.risk import features as F
from smelend.risk.features import (
    FEATURE_NAMES,
    FEATURES,
    FLAT_COLUMNS,
    FLAT_NAMES,
    FLAT_SCHEMA,
    col,
    compute_features,
    describe,
    feature_descriptions,
    feature_frame,
    flat_frame,
    flatten,
)
from smelend.risk.providers import SimulatedProvider, gather, simulate_applications, simulate_table
from smelend.risk.schemas import SOURCES

DOC = Path(__file__).resolve().parents[2] / "docs" / "risk-data.md"


def same(a: Any, b: Any) -> bool:
    if a is None or b is None:
        return a is None and b is None
    if isinstance(a, str) or isinstance(b, str):
        return a == b
    return a == b or math.isclose(a, b, rel_tol=1e-12, abs_tol=1e-12)


def assert_paths_agree(table: pl.DataFrame) -> int:
    batch = feature_frame(table)
    assert batch.columns == list(FEATURE_NAMES)
    assert batch.height == table.height
    compared = 0
    for row, got in zip(table.to_dicts(), batch.to_dicts(), strict=True):
        online = compute_features(row)
        assert list(online) == list(FEATURE_NAMES)
        for name in FEATURE_NAMES:
            assert same(online[name], got[name]), (name, online[name], got[name], row)
            compared += 1
    return compared


def with_edge_cases(table: pl.DataFrame, seed: int) -> pl.DataFrame:
    """Zero denominators, every revenue source missing, random nulls and NaNs, negative ages."""
    rng = np.random.default_rng(seed)
    n = table.height
    pick = lambda share: pl.Series(rng.random(n) < share)  # noqa: E731
    zero = ["tax_declared_sales_12m_fen", "invoice_sales_prev_12m_fen", "bureau_card_limit_fen", "tax_paid_24m_fen", "cashflow_inflow_monthly_avg_fen", "invoice_sales_12m_fen", "registration_age_days", "tax_paid_12m_fen"]
    out = table.with_columns(pl.when(pick(0.05)).then(0).otherwise(pl.col(c)).alias(c) for c in zero)
    out = out.with_columns(pl.when(pick(0.02)).then(-30).otherwise(pl.col("registration_age_days")).alias("registration_age_days"))
    no_revenue = pick(0.03)
    out = out.with_columns(pl.when(no_revenue).then(None).otherwise(pl.col(c)).alias(c) for c in ("tax_declared_sales_12m_fen", "invoice_sales_12m_fen", "cashflow_inflow_monthly_avg_fen"))
    out = out.with_columns(pl.when(pick(0.03)).then(None).otherwise(pl.col(c)).alias(c) for c in FLAT_NAMES)
    floats = [c.name for c in FLAT_COLUMNS if c.dtype == "float"]
    return out.with_columns(pl.when(pick(0.02)).then(float("nan")).otherwise(pl.col(c)).alias(c) for c in floats)


def test_both_paths_agree_on_simulated_rows_with_edge_cases() -> None:
    table = with_edge_cases(simulate_table(2_500, seed=21), seed=1)
    assert table.select(pl.col("status_bureau") == "missing").to_series().any()
    assert (table["tax_declared_sales_12m_fen"] == 0).any()
    compared = assert_paths_agree(table.drop("latent_pd", "defaulted"))
    assert compared == 2_500 * len(FEATURES)
    frame = feature_frame(table)
    for name in ("tax_to_sales", "invoice_growth", "card_utilisation", "revenue_proxy", "debt_to_revenue", "years_in_business"):
        assert frame[name].null_count() > 0, name
        assert frame[name].drop_nulls().len() > 0, name
        assert not frame[name].drop_nulls().is_nan().any()


def test_both_paths_agree_on_gathered_evidence() -> None:
    sim = SimulatedProvider(seed=2)
    clock = lambda: datetime(2025, 12, 31, tzinfo=timezone.utc)  # noqa: E731
    flats = [flatten(app, gather(app, sim, clock=clock)) for app in simulate_applications(150, seed=3)]
    assert_paths_agree(flat_frame(flats))


def _value(dtype: str) -> st.SearchStrategy[Any]:
    if dtype == "int":
        return st.none() | st.sampled_from([0, 1, -1, 12]) | st.integers(-(10**6), 10**14)
    if dtype == "float":
        return st.none() | st.just(float("nan")) | st.sampled_from([0.0, 1.0, -1.0]) | st.floats(-1e9, 1e9, allow_nan=False, allow_infinity=False)
    if dtype == "bool":
        return st.none() | st.booleans()
    return st.none() | st.sampled_from(["A", "B", "M", "C", "D", "F", "active", "revoked", "match", "mismatch", "hit", "clear", "ok", "missing", "F51"]) | st.text(max_size=5)


RECORD = st.fixed_dictionaries({c.name: _value(c.dtype) for c in FLAT_COLUMNS})


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(RECORD, min_size=1, max_size=8))
def test_both_paths_agree_on_random_records(records: list[dict[str, Any]]) -> None:
    assert_paths_agree(flat_frame(records))


@pytest.mark.parametrize(
    ("expr", "row", "expected"),
    [
        (F.div(col("tax_paid_12m_fen"), col("tax_declared_sales_12m_fen")), {"tax_paid_12m_fen": 5, "tax_declared_sales_12m_fen": 0}, None),
        (F.div(col("tax_paid_12m_fen"), col("tax_declared_sales_12m_fen")), {"tax_paid_12m_fen": None, "tax_declared_sales_12m_fen": 4}, None),
        (F.div(col("tax_paid_12m_fen"), col("tax_declared_sales_12m_fen")), {"tax_paid_12m_fen": 1, "tax_declared_sales_12m_fen": 4}, 0.25),
        (F.max_(col("tax_paid_12m_fen"), col("tax_declared_sales_12m_fen")), {"tax_paid_12m_fen": None, "tax_declared_sales_12m_fen": 4}, 4.0),
        (F.max_(col("tax_paid_12m_fen"), col("tax_declared_sales_12m_fen")), {"tax_paid_12m_fen": None, "tax_declared_sales_12m_fen": None}, None),
        (F.min_(col("invoice_top_buyer_share"), col("invoice_cancelled_share")), {"invoice_top_buyer_share": 0.5, "invoice_cancelled_share": float("nan")}, 0.5),
        (F.max_(col("invoice_top_buyer_share"), col("tax_paid_12m_fen")), {"invoice_top_buyer_share": float("nan"), "tax_paid_12m_fen": None}, None),
        (col("tax_paid_12m_fen") + col("tax_declared_sales_12m_fen"), {"tax_paid_12m_fen": 3, "tax_declared_sales_12m_fen": None}, None),
        (F.coalesce(col("tax_paid_12m_fen"), 7), {"tax_paid_12m_fen": None}, 7.0),
        (F.log1p(col("tax_paid_12m_fen")), {"tax_paid_12m_fen": -1}, None),
        (F.clip(col("tax_paid_12m_fen"), 0, 1.5), {"tax_paid_12m_fen": 9}, 1.5),
        (F.where(col("dishonest_debtor"), 1.0, 2.0), {"dishonest_debtor": None}, None),
        (F.where(col("dishonest_debtor"), 1.0, 2.0), {"dishonest_debtor": False}, 2.0),
        (F.as_float(col("dishonest_debtor") & col("legal_rep_matches")), {"dishonest_debtor": False, "legal_rep_matches": None}, 0.0),
        (F.as_float(col("dishonest_debtor") & col("legal_rep_matches")), {"dishonest_debtor": True, "legal_rep_matches": None}, None),
        (F.as_float(col("dishonest_debtor") | col("legal_rep_matches")), {"dishonest_debtor": True, "legal_rep_matches": None}, 1.0),
        (F.as_float(~col("dishonest_debtor")), {"dishonest_debtor": True}, 0.0),
        (F.as_float(F.eq(col("tax_grade"), "A")), {"tax_grade": None}, None),
        (F.as_float(F.ne(col("tax_grade"), "A")), {"tax_grade": "B"}, 1.0),
        (-col("tax_paid_12m_fen") * 2 - 1, {"tax_paid_12m_fen": 3}, -7.0),
        (1 / col("tax_paid_12m_fen"), {"tax_paid_12m_fen": 4}, 0.25),
    ],
)
def test_operations_mean_the_same_in_both_paths(expr: F.Expr, row: dict[str, Any], expected: Any) -> None:
    full = dict.fromkeys(FLAT_NAMES) | row
    online = expr.scalar()(full)
    online = None if online is None else float(online)
    batch = flat_frame([full]).select(expr.polars().cast(pl.Float64).alias("x")).item()
    assert same(online, expected) and same(batch, expected), (online, batch)


def test_expressions_have_no_truth_value_and_unknown_columns_fail() -> None:
    with pytest.raises(TypeError):
        bool(col("owner_age") > 3)
    with pytest.raises(KeyError, match="no flat column named 'age'"):
        col("age")
    with pytest.raises(KeyError, match="table lacks flat columns: .*tax_grade"):
        feature_frame(flat_frame([{}]).drop("tax_grade"))


def test_feature_definitions() -> None:
    assert len(FEATURES) >= 25
    required = {
        "tax_to_sales", "invoice_growth", "invoice_volatility", "buyer_concentration", "buyers_count_log", "debt_to_revenue", "debt_service_ratio",
        "inquiry_intensity", "years_in_business", "card_utilisation", "revenue_proxy", "filing_completeness", "cancelled_invoice_share", "tax_grade",
        "industry_section", "bank_relationship_strength", "owner_age", "credit_history_years", "max_dpd_24m", "overdue_count_24m", "current_overdue",
        "court_judgements_24m", "admin_penalties_24m", "shareholder_changes_12m",
    }
    assert required <= set(FEATURE_NAMES)
    texts = feature_descriptions()
    assert list(texts) == list(FEATURE_NAMES)
    assert all(len(t) > 10 and f.unit for t, f in zip(texts.values(), FEATURES))
    assert {f.name for f in FEATURES if f.kind == "categorical"} == {"tax_grade", "industry_section"}
    assert str(F.feature("inquiry_intensity").expr) == "bureau_inquiries_1m + 0.5 * (bureau_inquiries_3m - bureau_inquiries_1m) + 0.25 * (bureau_inquiries_6m - bureau_inquiries_3m)"
    assert str(col("owner_age") - (col("owner_age") - 1)) == "owner_age - (owner_age - 1)"


def test_flatten_names_types_and_missing_sources() -> None:
    app = simulate_applications(1, seed=8)[0]
    sim = SimulatedProvider(seed=1)
    clock = lambda: datetime(2025, 12, 31, tzinfo=timezone.utc)  # noqa: E731
    flat = flatten(app, gather(app, sim, clock=clock))
    assert list(flat) == list(FLAT_NAMES)
    kinds = {"int": int, "float": float, "bool": bool, "str": str}
    for column in FLAT_COLUMNS:
        value = flat[column.name]
        assert value is None or type(value) is kinds[column.dtype] or (column.dtype == "float" and type(value) is int), column.name
    nothing = flatten(app, gather(app, sim, sources=(), clock=clock))
    assert nothing["requested_amount_fen"] == app.requested_amount_fen and nothing["owner_age"] is not None
    assert all(nothing[f"status_{s}"] == "not_requested" for s in SOURCES)
    assert all(v is None for k, v in nothing.items() if k not in ("requested_amount_fen", "owner_age") and not k.startswith("status_"))
    features = compute_features(nothing)
    assert features["revenue_proxy"] is None and features["owner_age"] == float(nothing["owner_age"])  # type: ignore[arg-type]
    assert FLAT_SCHEMA == dict(flat_frame([flat]).schema)


def test_docs_are_generated_from_the_code() -> None:
    text = describe()
    for name in (*FLAT_NAMES, *FEATURE_NAMES, "credit_grade", "legal_representative_id_number", "bureau_query"):
        assert f"`{name}`" in text, name
    assert DOC.read_text(encoding="utf-8") == text, "docs/risk-data.md is out of date: run .venv/bin/python -m smelend.risk.features > docs/risk-data.md"


def test_flags_given_as_numbers_mean_the_same_in_both_paths() -> None:
    row = dict.fromkeys(FLAT_NAMES) | {"dishonest_debtor": 0, "legal_rep_matches": 1, "relationship_payroll": 1, "relationship_settlement_account": 0, "relationship_days": 10}
    online = compute_features(row)
    assert online["dishonest_debtor"] == 0.0 and online["legal_rep_matches"] == 1.0
    assert online["bank_relationship_strength"] == pytest.approx(0.15 + 0.25 * 10 / 1826.25)
