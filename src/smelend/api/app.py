"""The FastAPI application: ``create_app(engine=None)``.

Everything slow is loaded once, here: the store (``smelend.store.open_store()`` when no engine is given;
migrations applied either way), the servicing book (bank core, product catalogue, delinquency policy),
the risk strategy, the pricer and the provider (the simulated one by default; ``SMELEND_PROVIDER``
may name ``files:DIR`` or an http(s) base URL, as ``smelend risk decide --provider`` does).

Run it with ``smelend serve`` (uvicorn). The OpenAPI schema is at ``/openapi.json``, the docs at ``/docs``.
"""

from __future__ import annotations

import logging
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from sqlalchemy.engine import Engine

from smelend.api import errors
from smelend.api.routers import applications, decisions, health, lines, loans, marketing, offers, products, staff
from smelend.api.routers.common import Service
from smelend.api.routers.health import MetricsMiddleware

WORKERS_ENV = "SMELEND_SERVE_WORKERS"  # how many processes share the partners' rate limits
THREADS_ENV = "SMELEND_SERVE_THREADS"  # set by `smelend serve`: blocking calls at once per process (see api.serving)
PROVIDER_ENV = "SMELEND_PROVIDER"
PROVIDER_SEED_ENV = "SMELEND_PROVIDER_SEED"


class DropResultRows(logging.Filter):
    """SQLAlchemy logs result rows (decrypted PII) at DEBUG; the service never lets them through, whatever
    the log level. Statements are logged at INFO with their parameters hidden (``hide_parameters``)."""

    def filter(self, record: logging.LogRecord) -> bool:
        return record.levelno > logging.DEBUG


ROW_LOGGERS = ("sqlalchemy.engine.Engine", "sqlalchemy.engine.base.Engine")


def protect_logs() -> None:
    for name in ROW_LOGGERS:
        logger = logging.getLogger(name)
        if not any(isinstance(f, DropResultRows) for f in logger.filters):
            logger.addFilter(DropResultRows())


@asynccontextmanager
async def _serving(app: FastAPI) -> AsyncIterator[None]:
    """Under ``smelend serve`` (which sets :data:`THREADS_ENV`), ready the process before it takes traffic."""
    threads = os.environ.get(THREADS_ENV)
    if threads is not None:
        from smelend.api.serving import prepare_process

        await prepare_process(app.state.service, int(threads))
    yield


def make_provider(spec: str | None = None, seed: int | None = None) -> Any:
    from smelend.cli.decide import _provider

    spec = spec or os.environ.get(PROVIDER_ENV, "simulated")
    seed = seed if seed is not None else int(os.environ.get(PROVIDER_SEED_ENV, "0"))
    return _provider(spec, seed)


def create_app(engine: Engine | None = None, *, provider: Any = None, strategy: str | None = None) -> FastAPI:
    from smelend.operations.context import open_book
    from smelend.operations.lines import recover_pending
    from smelend.pricing.pricer import Pricer
    from smelend.risk.strategy import load_strategy
    from smelend.store import open_store, upgrade

    protect_logs()
    if engine is None:
        engine = open_store()
    else:
        upgrade(engine)
    book = open_book(engine)
    recover_pending(book)  # finish what a crash left half-done (pending draws, settled money) before serving
    loaded = load_strategy(strategy)
    if loaded.challenger.share > 0:  # load LightGBM now, not in the first request the challenger gets
        for bundle in loaded.models.values():
            bundle.challenger()
    svc = Service(
        engine=engine,
        book=book,
        strategy=loaded,
        pricer=Pricer.load(),
        catalogue=book.catalogue,
        provider=provider if provider is not None else make_provider(),
    )
    app = FastAPI(
        lifespan=_serving,
        title="smelend",
        version="1",
        summary="Online credit lines for small and micro enterprises: apply, decide, accept, draw, repay.",
        description="Money is a decimal string of yuan; rates are fraction strings. Errors name the field: "
        '`{"detail": [{"field": "applicant.id_number", "reason": "..."}]}`. Borrowers use a bearer token, partners sign '
        "their requests; every POST accepts an `Idempotency-Key`.",
    )
    app.state.engine = engine
    app.state.service = svc
    app.state.workers = int(os.environ.get(WORKERS_ENV, "1"))  # set by `smelend serve --workers N`
    app.state.metrics = health.Metrics()
    app.add_middleware(MetricsMiddleware, metrics=app.state.metrics)
    errors.install(app)
    for module in (health, products, applications, decisions, offers, lines, loans, staff, marketing):
        app.include_router(module.router)
    # --- the staff dashboard (smelend.web, issue 9): /dashboard pages, sessions and forms ---
    from smelend.web.routes import install as install_dashboard

    install_dashboard(app)
    # --- end of the staff dashboard ---
    return app
