"""Shared fixtures: every database test runs on each backend, real SQLite and real PostgreSQL.

``db_url`` is parametrised over the backends (test ids ``[sqlite]`` / ``[postgresql]``, markers ``db``
plus ``sqlite`` / ``postgresql``, so ``-m postgresql`` selects one). PostgreSQL comes from
``SMELEND_TEST_POSTGRES_URL``; without it those tests skip, except under ``CI=true`` where they fail:
CI must never pass by skipping the production database. Each PostgreSQL test gets its own schema,
dropped afterwards. The run ends with one line per backend counting passed, failed and skipped tests.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from datetime import date, datetime, timezone
from pathlib import Path
from typing import Any

import pytest
from hypothesis import settings
from sqlalchemy import create_engine, make_url, text
from sqlalchemy.engine import Engine

BACKENDS = ("sqlite", "postgresql")
POSTGRES_URL_ENV = "SMELEND_TEST_POSTGRES_URL"
SMELEND_ENV = ("SMELEND_DATA_DIR", "SMELEND_DATABASE_URL", "SMELEND_PII_KEY", "SMELEND_PII_KEY_FILE")


def _in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in ("true", "1", "yes")


# CI explores the same examples on every run (reproducible, never flaky); locally hypothesis varies them.
settings.register_profile("ci", derandomize=True, print_blob=True)
if _in_ci():
    settings.load_profile("ci")


def pytest_configure(config: pytest.Config) -> None:
    for backend in BACKENDS:
        config.addinivalue_line("markers", f"{backend}: runs against the {backend} backend (db_url parameter)")
    _outcomes.clear()


# --- environment and databases ------------------------------------------------------------------------


@pytest.fixture
def smelend_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """SMELEND_* settings pointed into a temporary folder, so tests never touch the user's data or keys.

    Returns the data folder; the PII key file is ``<data>/pii-keyring.json``. The store's keyring is
    cleared afterwards so no test inherits another's keys.
    """
    for name in SMELEND_ENV:
        monkeypatch.delenv(name, raising=False)
    data = tmp_path / "data"
    monkeypatch.setenv("SMELEND_DATA_DIR", str(data))
    monkeypatch.setenv("SMELEND_PII_KEY_FILE", str(data / "pii-keyring.json"))
    yield data
    from smelend.store import pii

    pii.configure(None)


@pytest.fixture(scope="session")
def postgres_admin() -> Iterator[Engine]:
    """An autocommit engine on the test PostgreSQL server, for creating and dropping per-test schemas."""
    raw = os.environ.get(POSTGRES_URL_ENV, "").strip()
    if not raw:
        message = f"{POSTGRES_URL_ENV} is not set"
        if _in_ci():
            pytest.fail(f"{message}, but CI=true: PostgreSQL tests must run in CI, not skip", pytrace=False)
        pytest.skip(f"{message} (set it to run the PostgreSQL backend)")
    from smelend.store.db import normalise_url

    engine = create_engine(normalise_url(raw), isolation_level="AUTOCOMMIT", hide_parameters=True)
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
    except Exception as exc:  # an unreachable server the user asked for is a failure, never a skip
        engine.dispose()
        pytest.fail(f"cannot connect to {POSTGRES_URL_ENV}: {type(exc).__name__}: {exc}", pytrace=False)
    yield engine
    engine.dispose()


@pytest.fixture(
    params=[pytest.param(backend, id=backend, marks=[pytest.mark.db, getattr(pytest.mark, backend)]) for backend in BACKENDS]
)
def db_backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def db_url(
    db_backend: str, smelend_env: Path, request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> Iterator[str]:
    """A URL to an empty database on each backend (also exported as SMELEND_DATABASE_URL for CLI tests)."""
    if db_backend == "sqlite":
        url = f"sqlite:///{smelend_env.parent / 'test.db'}"
        monkeypatch.setenv("SMELEND_DATABASE_URL", url)
        yield url
        return
    admin: Engine = request.getfixturevalue("postgres_admin")
    schema = f"t_{secrets.token_hex(6)}"
    with admin.connect() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    url = (
        make_url(str(admin.url.render_as_string(hide_password=False)))
        .update_query_dict({"options": f"-csearch_path={schema}"})
        .render_as_string(hide_password=False)
    )
    monkeypatch.setenv("SMELEND_DATABASE_URL", url)
    try:
        yield url
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))


# --- per-backend counts -------------------------------------------------------------------------------

_outcomes: dict[str, tuple[str, str]] = {}  # nodeid -> (backend, worst outcome so far)
_RANK = {"": -1, "passed": 0, "skipped": 1, "failed": 2}


def _backend_of(item: pytest.Item) -> str | None:
    callspec = getattr(item, "callspec", None)
    backend = callspec.params.get("db_backend") if callspec is not None else None
    return backend if backend in BACKENDS else None


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        backend = _backend_of(item)
        if backend is not None:
            _outcomes[item.nodeid] = (backend, "")


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if report.nodeid not in _outcomes:
        return
    if report.failed:
        outcome = "failed"  # in set-up, call or tear-down
    elif report.skipped:
        outcome = "skipped"
    elif report.when == "call":
        outcome = "passed"
    else:
        return
    backend, current = _outcomes[report.nodeid]
    if _RANK[outcome] > _RANK[current]:
        _outcomes[report.nodeid] = (backend, outcome)


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter, exitstatus: int, config: pytest.Config) -> None:
    if not _outcomes:
        return
    terminalreporter.section("database backends")
    for backend in BACKENDS:
        counts = {"passed": 0, "failed": 0, "skipped": 0}
        for name, outcome in _outcomes.values():
            if name == backend and outcome:
                counts[outcome] += 1
        terminalreporter.write_line(
            f"backend {backend}: {counts['passed']} passed, {counts['failed']} failed, {counts['skipped']} skipped"
        )


# --- simulated applicants (the API's and the dashboard's tests) -----------------------------------------

APPLICANT_PRODUCT = "tax-data-loan"


def bank_today() -> date:
    from smelend.api.routers.common import BANK_TIME_ZONE

    return datetime.now(BANK_TIME_ZONE).date()


@pytest.fixture(scope="session")
def applicants() -> dict[str, list[dict[str, Any]]]:
    """Simulated applicants by what the engine decides for ``APPLICANT_PRODUCT`` through the own app
    today (at least 8 approvals, 2 referrals with an offer, 1 decline), so flows are not luck."""
    from smelend.pricing.pricer import Pricer
    from smelend.products import load_catalogue
    from smelend.risk.decision import decide
    from smelend.risk.providers.base import gather
    from smelend.risk.providers.simulated import SimulatedProvider, simulate_applications
    from smelend.risk.strategy import load_strategy

    strategy, pricer, product = load_strategy(), Pricer.load(), load_catalogue()[APPLICANT_PRODUCT]
    provider = SimulatedProvider(seed=0)
    found: dict[str, list[dict[str, Any]]] = {"approve": [], "refer": [], "decline": []}
    seen: set[str] = set()
    for app in simulate_applications(400, seed=11):
        if app.applicant.id_number in seen:
            continue
        seen.add(app.applicant.id_number)
        app = app.model_copy(update={"product_id": APPLICANT_PRODUCT, "channel": "own-app", "applied_on": bank_today()})
        evidence = gather(app, provider, clock=lambda: datetime.now(timezone.utc))
        decision = decide(app, evidence, strategy, product, pricer)
        if decision.outcome == "refer" and decision.offer is None:
            continue
        found[decision.outcome].append({
            "applicant": {"name": app.applicant.name, "id_number": app.applicant.id_number, "mobile": "1" + app.applicant.mobile[-10:]},
            "enterprise": {"name": app.enterprise.name, "uscc": app.enterprise.uscc},
            "requested_amount": f"{app.requested_amount_fen // 100}.00",
        })
        if len(found["approve"]) >= 8 and len(found["refer"]) >= 2 and found["decline"]:
            break
    assert len(found["approve"]) >= 8 and len(found["refer"]) >= 2 and found["decline"], {k: len(v) for k, v in found.items()}
    return found
