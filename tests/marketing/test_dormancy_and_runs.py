"""The dormancy model against the synthetic book's known truth; recorded segmentation runs served by the API; the
commands and endpoints on the database's own book (SQLite and PostgreSQL)."""

from __future__ import annotations

import json
import subprocess
from datetime import date
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from smelend.marketing.customers import simulate_customers
from smelend.marketing.retention import dormancy, load_retention_settings
from smelend.marketing.scoring import score_table
from smelend.risk.strategy import load_strategy

AS_OF = date(2026, 6, 30)


@pytest.fixture(scope="module")
def synthetic():
    book = simulate_customers(8_000, 4)
    return book, score_table(book, load_strategy()).pd


def test_the_truth_column_is_what_its_table_says(synthetic) -> None:
    book, _ = synthetic
    dormant, lines, leaves = (book[c].to_numpy() for c in ("dormant_next_90d", "has_line", "attrites_90d"))
    assert not dormant[~lines].any() and dormant[leaves].all()  # only line holders; a leaver draws nothing
    assert 0.2 < dormant[lines].mean() < 0.9
    idle = book["days_since_last_draw"].fill_null(10_000).to_numpy()
    recent, stale = lines & (idle <= 15), lines & (idle > 120)
    assert dormant[stale].mean() > dormant[recent].mean() + 0.2  # idle lines stay idle: the e^(-idle / 240) term


def test_the_dormancy_model_beats_random_on_held_out_customers(synthetic) -> None:
    from sklearn.metrics import roc_auc_score

    book, pd = synthetic
    model = dormancy(book, pd, seed=0)
    assert model.auc > 0.65 and model.top_decile_lift > 1.2  # random: 0.5 and 1.0
    assert model.top_decile_rate == pytest.approx(model.base_rate * model.top_decile_lift)
    lines = book["has_line"].to_numpy()
    assert (model.probability[~lines] == 0).all()
    assert roc_auc_score(book["dormant_next_90d"].to_numpy()[lines], model.probability[lines]) > 0.65  # against the truth, whole book


def test_reactivation_offers_are_ranked_by_the_dormancy_model(synthetic) -> None:
    from smelend.marketing.documents import retention_document

    book, _ = synthetic
    document = retention_document(book, 0)
    listed = document["reactivation_list"]
    settings = load_retention_settings().reactivation
    assert 0 < len(listed) == min(settings.top, document["offers"]["reactivation"])
    assert all(r["stage"] in settings.stages and r["pd"] <= settings.max_pd for r in listed)
    ranks = [r["dormancy"] for r in listed]
    assert ranks == sorted(ranks, reverse=True)
    d = document["dormancy_model"]
    assert d["horizon_days"] == 90 and d["auc"] > 0.65 and d["top_decile_lift"] > 1.2 and set(d["coefficients"]) == set(document["attrition_model"]["coefficients"])


# --- the database: recorded runs, the stored book ---------------------------------------------------------------


@pytest.fixture
def cli(capsys):
    """``smelend marketing ...`` in this process (the command's own entry point: exit status, stdout, stderr)."""
    from smelend.cli import main

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        capsys.readouterr()
        with pytest.raises(SystemExit) as done:
            main(["marketing", *args])
        out = capsys.readouterr()
        return subprocess.CompletedProcess(args, int(done.value.code or 0), out.out, out.err)

    return run


@pytest.fixture
def api(db_url: str):
    from smelend.api.app import create_app
    from smelend.risk.providers.simulated import SimulatedProvider
    from smelend.store import open_store
    from smelend.store.access import create_user

    engine = open_store(db_url)
    app = create_app(engine, provider=SimulatedProvider(seed=0))
    with engine.begin() as conn:
        token = create_user(conn, "marketing", "marketing")[1]
    with TestClient(app) as client:
        yield client, {"authorization": f"Bearer {token}"}, engine
    engine.dispose()


def stored(engine) -> tuple[int, int]:
    """(segmentation runs, segment assignments) stored."""
    from smelend.store.tables import segment_assignments, segment_runs

    with engine.connect() as conn:
        return tuple(int(conn.scalar(select(func.count()).select_from(t))) for t in (segment_runs, segment_assignments))  # type: ignore[return-value]


def test_segments_serves_recorded_runs(api, cli) -> None:
    client, h, engine = api
    assert client.get("/v1/marketing/segments", headers=h).status_code == 404
    printed: dict[str, Any] = {}
    for name, clusters in (("spring", "3"), ("summer", "2")):
        done = cli("segments", "--customers", "300", "--clusters", clusters, "--record", name, "--json")
        assert done.returncode == 0, done.stderr
        printed[name] = json.loads(done.stdout)
    assert printed["summer"]["run_id"] > printed["spring"]["run_id"] and printed["spring"]["recorded"] == 300
    latest = client.get("/v1/marketing/segments", headers=h)
    assert latest.status_code == 200, latest.text
    body = latest.json()
    run = body.pop("run")
    assert body == {k: v for k, v in printed["summer"].items() if k not in ("recorded", "run_id")}
    assert (run["id"], run["name"], run["source"]) == (printed["summer"]["run_id"], "summer", "synthetic")
    assert run["parameters"] == {"source": "synthetic", "customers": 300, "seed": 0, "clusters": 2, "as_of": None} and run["created_at"]
    first = client.get("/v1/marketing/segments", params={"run": printed["spring"]["run_id"]}, headers=h).json()
    assert first["run"]["name"] == "spring" and len(first["clusters"]) == 3
    assert client.get("/v1/marketing/segments", params={"run": 9_999}, headers=h).status_code == 404
    bad = client.get("/v1/marketing/segments", params={"run": 0}, headers=h)
    assert bad.status_code == 422 and [e["field"] for e in bad.json()["detail"]] == ["run"]
    computed = client.get("/v1/marketing/segments", params={"customers": 300, "clusters": 3}, headers=h)  # computing stays available
    assert computed.status_code == 200 and computed.json() == {k: v for k, v in printed["spring"].items() if k not in ("recorded", "run_id")}
    assert stored(engine) == (2, 600)  # a run row each, and each name's assignments


def test_the_database_book_without_lines(smelend_env, cli) -> None:
    """(Once, on a fresh SQLite database: the rule itself is tested in test_customer_book.)"""
    done = cli("retention", "--source", "db", "--json")
    assert done.returncode == 2 and "--source" in done.stderr and "no credit lines" in done.stderr and done.stdout == ""
    fallback = cli("segments", "--clusters", "2", "--json")
    assert fallback.returncode == 0, fallback.stderr
    assert "no credit lines" in fallback.stderr and json.loads(fallback.stdout)["source"] == "synthetic"


def test_commands_and_endpoints_on_a_generated_book(api, cli) -> None:
    from smelend.products.loader import load_catalogue
    from smelend.servicing.delinquency import load_policy
    from smelend.store.book_generator import generate_book

    client, h, engine = api
    generate_book(engine, 250, 5, AS_OF, load_catalogue(), load_policy())
    done = cli("retention", "--json")
    assert done.returncode == 0, done.stderr
    printed = json.loads(done.stdout)
    assert printed["source"] == "db" and printed["as_of"] == AS_OF.isoformat() and printed["customers"] == 250
    served = client.get("/v1/marketing/retention", headers=h)
    assert served.status_code == 200 and served.json() == printed
    listed = client.get("/v1/marketing/whitelist", params={"size": 5}, headers=h).json()
    assert listed["source"] == "db" and listed["customers"] == 250 and listed["base"] == 0  # every generated enterprise has a line already
    recorded = cli("segments", "--clusters", "3", "--record", "book", "--json")
    assert recorded.returncode == 0, recorded.stderr
    run = client.get("/v1/marketing/segments", headers=h).json()["run"]
    assert run["source"] == "db" and run["parameters"]["as_of"] == AS_OF.isoformat() and run["parameters"]["customers"] is None
    from smelend.web.segments import runs

    (page_run,) = runs(engine)  # the dashboard's segments page names the book the run read
    assert (page_run.name, page_run.customers, page_run.source, page_run.as_of) == ("book", 250, "db", AS_OF.isoformat())
    assert np.isclose(sum(p["share"] for p in json.loads(recorded.stdout)["segments"] if p["kind"] == "stage"), 1.0)
