"""The simulated market: valid applications, consistent records, one parameterisation, a monotone latent PD."""

from __future__ import annotations

from datetime import datetime, timezone

import numpy as np
import polars as pl
import pytest

from smelend.ids import mobile, ric, uscc
from smelend.risk.features import FLAT_NAMES, FLAT_SCHEMA, flatten
from smelend.risk.providers import SimulatedProvider, SourceMissing, gather, simulate_applications, simulate_table
from smelend.risk.providers.base import ProviderUnavailable
from smelend.risk.providers.simulated import SimParams, risk_index, sample_facts
from smelend.risk.schemas import SOURCES, age_on


def clock() -> datetime:
    return datetime(2025, 12, 31, tzinfo=timezone.utc)


TABLE = simulate_table(30_000, seed=2)
APPS = simulate_applications(600, seed=4)
SIM = SimulatedProvider(seed=9)


def test_table_has_the_flat_columns_then_the_outcome() -> None:
    assert TABLE.columns == [*FLAT_NAMES, "latent_pd", "defaulted"]
    assert dict(TABLE.schema) == {**FLAT_SCHEMA, "latent_pd": pl.Float64, "defaulted": pl.Int8}
    assert TABLE.height == 30_000
    assert simulate_table(0, seed=1).columns == TABLE.columns


def test_table_is_reproducible() -> None:
    a, b, c = simulate_table(1000, seed=8), simulate_table(1000, seed=8), simulate_table(1000, seed=9)
    assert a.equals(b)
    assert not a.equals(c)


def test_missing_sources_are_null_and_marked() -> None:
    for source, prefix in (("bureau", "bureau_"), ("tax", "tax_"), ("invoices", "invoice_"), ("cashflow", "cashflow_")):
        missing = TABLE.filter(pl.col(f"status_{source}") == "missing")
        share = missing.height / TABLE.height
        assert 0.02 < share < 0.5, (source, share)
        cols = [c for c in FLAT_NAMES if c.startswith(prefix)]
        assert missing.select(pl.all_horizontal(pl.col(cols).is_null())).to_series().all()
        present = TABLE.filter(pl.col(f"status_{source}") == "ok")
        assert present.select(pl.col(cols).null_count()).sum_horizontal().item() == (0 if source != "bureau" else present["bureau_declared_income_monthly_fen"].null_count())


def test_realistic_distributions() -> None:
    t = TABLE
    yuan = pl.col("tax_declared_sales_12m_fen") / 100
    stats = t.select(
        yuan.median().alias("sales_median"),
        (pl.col("tax_paid_12m_fen") / pl.col("tax_declared_sales_12m_fen")).median().alias("burden"),
        pl.col("owner_age").min().alias("age_min"),
        pl.col("owner_age").max().alias("age_max"),
        pl.col("dishonest_debtor").mean().alias("dishonest"),
        (pl.col("bureau_current_overdue_fen") > 0).mean().alias("overdue_now"),
        (pl.col("court_judgements_24m") > 0).mean().alias("judged"),
        (pl.col("status_invoices") == "ok").mean().alias("invoices"),
        pl.col("latent_pd").mean().alias("pd"),
        pl.col("defaulted").cast(pl.Float64).mean().alias("default_rate"),
    ).row(0, named=True)
    assert 1_500_000 < stats["sales_median"] < 4_000_000
    assert 0.01 < stats["burden"] < 0.04
    assert (stats["age_min"], stats["age_max"]) == (22, 65)
    assert 0.002 < stats["dishonest"] < 0.03
    assert 0.005 < stats["overdue_now"] < 0.06
    assert 0.02 < stats["judged"] < 0.15
    assert 0.75 < stats["invoices"] < 0.92
    assert 0.02 <= stats["pd"] <= 0.05
    assert abs(stats["default_rate"] - stats["pd"]) < 0.005
    grades = dict(t.drop_nulls("tax_grade")["tax_grade"].value_counts(normalize=True).iter_rows())
    assert grades["B"] + grades["M"] > 0.65
    assert all(0.01 < grades[g] < 0.2 for g in "ACD")
    assert set(t["industry_section"].drop_nulls().unique()) <= set("ABCDEFGHIJKLMNOPQRST")


def test_latent_pd_is_monotone_in_the_data() -> None:
    t = TABLE
    by_grade = dict(t.drop_nulls("tax_grade").group_by("tax_grade").agg(pl.col("latent_pd").mean()).iter_rows())
    assert by_grade["A"] < by_grade["B"] < by_grade["M"] < by_grade["C"] < by_grade["D"]

    def mean_pd(condition: pl.Expr) -> float:
        return float(t.filter(condition)["latent_pd"].mean())  # type: ignore[arg-type]

    assert mean_pd(pl.col("bureau_current_overdue_fen") > 0) > 2 * mean_pd(pl.col("bureau_current_overdue_fen") == 0)
    assert mean_pd(pl.col("dishonest_debtor")) > 3 * mean_pd(~pl.col("dishonest_debtor"))
    assert mean_pd(pl.col("bureau_inquiries_3m") >= 3) > mean_pd(pl.col("bureau_inquiries_3m") == 0)
    assert mean_pd(pl.col("registration_age_days") < 365) > mean_pd(pl.col("registration_age_days") > 5 * 365)
    assert mean_pd(pl.col("invoice_monthly_volatility") > 0.6) > mean_pd(pl.col("invoice_monthly_volatility") < 0.25)


@pytest.mark.parametrize(
    ("column", "step"),
    [
        ("bureau_current_overdue_fen", 100_000),
        ("bureau_max_dpd_24m", 30),
        ("bureau_overdue_count_24m", 1),
        ("bureau_inquiries_3m", 1),
        ("bureau_card_balance_fen", 500_000),
        ("bureau_outstanding_loans_fen", 10_000_000),
        ("exposure_bank_outstanding_fen", 10_000_000),
        ("invoice_monthly_volatility", 0.2),
        ("invoice_top_buyer_share", 0.1),
        ("court_judgements_24m", 1),
        ("admin_penalties_24m", 1),
        ("registration_age_days", -200),
        ("tax_filing_months_12m", -1),
        ("tax_arrears_fen", 100_000),
    ],
)
def test_risk_index_never_falls_when_a_fact_gets_worse(column: str, step: float) -> None:
    rng = [np.random.default_rng(s) for s in (1, 2, 3)]
    facts, present, _ = sample_facts(*rng, 5_000)
    before = risk_index(facts, present)
    worse = dict(facts)
    worse[column] = facts[column] + step
    if column == "registration_age_days":
        worse[column] = np.maximum(worse[column], 1)
    if column == "tax_filing_months_12m":
        worse[column] = np.maximum(worse[column], 0)
    after = risk_index(worse, present)
    assert (after >= before - 1e-12).all()
    assert (after > before).any()
    grades = ["A", "B", "M", "C", "D"]
    for better, worse_grade in zip(grades, grades[1:]):
        g = dict(facts)
        g["tax_grade"] = np.full(5_000, better)
        h = dict(facts)
        h["tax_grade"] = np.full(5_000, worse_grade)
        assert (risk_index(h, present) >= risk_index(g, present)).all()


def test_applications_are_valid_and_some_owners_have_several_enterprises() -> None:
    assert len({a.id for a in APPS}) == len(APPS)
    assert len({a.enterprise.uscc for a in APPS}) == len(APPS)
    for app in APPS:
        assert ric.validate(app.applicant.id_number) == app.applicant.id_number
        assert uscc.validate(app.enterprise.uscc) == app.enterprise.uscc
        assert mobile.validate(app.applicant.mobile) == app.applicant.mobile
        assert 21 <= age_on(app.applicant.id_number, app.applied_on) <= 66
        assert app.requested_amount_fen > 0 and app.consent.data_use
    owners: dict[str, int] = {}
    for app in APPS:
        owners[app.applicant.id_number] = owners.get(app.applicant.id_number, 0) + 1
    assert 10 < sum(n > 1 for n in owners.values()) < 100
    assert 0 < sum(not a.consent.bureau_query for a in APPS) < 60
    assert simulate_applications(50, seed=4) == APPS[:50]


def test_same_application_same_records_and_one_owner_one_report() -> None:
    again = SimulatedProvider(seed=9)
    other_seed = SimulatedProvider(seed=10)
    differs = 0
    for app in APPS[:100]:
        for source in SOURCES:
            try:
                answer = SIM.fetch(source, app)
            except SourceMissing:
                with pytest.raises(SourceMissing):
                    again.fetch(source, app)
                continue
            assert again.fetch(source, app) == answer
        assert again.latent_pd(app) == SIM.latent_pd(app)
        differs += other_seed.latent_pd(app) != SIM.latent_pd(app)
    assert differs == 100
    by_owner: dict[str, list] = {}
    for app in APPS:
        by_owner.setdefault(app.applicant.id_number, []).append(app)
    shared = [apps for apps in by_owner.values() if len(apps) > 1]
    assert shared
    owner_columns = [c for c in FLAT_NAMES if c.startswith(("bureau_", "identity_", "aml_", "exposure_"))]
    for first, *rest in shared:
        for app in rest:
            a, b = SIM.flat(first), SIM.flat(app)
            assert a["industry_code"] != b["industry_code"] or a["registration_age_days"] != b["registration_age_days"]  # different enterprises
            if a["owner_age"] == b["owner_age"]:  # the owner's records depend on the owner alone (and the age)
                assert {c: a[c] for c in owner_columns} == {c: b[c] for c in owner_columns}


def test_the_provider_is_the_one_row_case_of_the_table() -> None:
    """gather + flatten over the provider gives exactly the simulated flat record; statistics match the table."""
    flats = []
    for app in APPS[:300]:
        evidence = gather(app, SIM, clock=clock)
        flat = flatten(app, evidence)
        expected = SIM.flat(app)
        if not app.consent.bureau_query:
            expected = {k: (None if k.startswith("bureau_") else v) for k, v in expected.items()} | {"status_bureau": "not_requested"}
        assert flat == expected
        flats.append(SIM.flat(app))
    pds = np.array([SIM.latent_pd(a) for a in APPS])
    assert 0.015 < pds.mean() < 0.06
    frame = pl.DataFrame(flats, schema=FLAT_SCHEMA, orient="row")
    for column in ("tax_declared_sales_12m_fen", "invoice_buyers_count_12m", "bureau_lenders_count"):
        ratio = frame[column].median() / TABLE[column].median()  # type: ignore[operator]
        assert 0.6 < ratio < 1.6, column


def test_latent_pd_is_not_in_the_evidence() -> None:
    evidence = gather(APPS[0], SIM, clock=clock)
    text = evidence.model_dump_json()
    assert "latent" not in text and "pd" not in evidence.model_dump()
    assert str(SIM.latent_pd(APPS[0]))[:8] not in text


def test_mismatch_and_aml_shares_are_settings() -> None:
    all_bad = SimulatedProvider(seed=9, mismatch_share=1.0, aml_hit_share=1.0)
    for app in APPS[:20]:
        assert all_bad.fetch("identity", app)["result"] == "mismatch"
        assert all_bad.fetch("aml", app)["result"] == "hit"
    none_bad = SimulatedProvider(seed=9, mismatch_share=0.0, aml_hit_share=0.0, params=SimParams(identity_unknown_share=0.0))
    assert {none_bad.fetch("identity", a)["result"] for a in APPS} == {"match"}
    results = [SIM.fetch("identity", a)["result"] for a in APPS]
    assert results.count("match") > 0.95 * len(APPS)


def test_outages_are_deterministic() -> None:
    flaky = SimulatedProvider(seed=9, params=SimParams(unavailable_share=0.5))
    outcomes = []
    for app in APPS[:20]:
        try:
            flaky.fetch("tax", app)
            outcomes.append("ok")
        except ProviderUnavailable:
            outcomes.append("down")
        except SourceMissing:
            outcomes.append("missing")
    assert "down" in outcomes and "ok" in outcomes
    again = SimulatedProvider(seed=9, params=SimParams(unavailable_share=0.5))
    for app, outcome in zip(APPS[:20], outcomes):
        if outcome == "down":
            with pytest.raises(ProviderUnavailable):
                again.fetch("tax", app)
