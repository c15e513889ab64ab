"""``GET /healthz`` (no authentication: the database answers) and ``GET /metrics`` (Prometheus text format).

Metrics, in a registry of the app's own: ``smelend_http_requests_total`` (method, route template,
status), ``smelend_http_request_duration_seconds`` (a histogram by method and route template) and
``smelend_decisions_total`` (outcome). Routes are labelled by their template (``/v1/loans/{loan_id}``),
never by the path a caller sent, so ids never become labels.
"""

from __future__ import annotations

import time
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest
from sqlalchemy import text
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from smelend.api.routers.common import service
from smelend.store.db import reading

router = APIRouter(tags=["health"])

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter("smelend_http_requests", "HTTP requests answered", ("method", "route", "status"), registry=self.registry)
        self.latency = Histogram("smelend_http_request_duration_seconds", "Time to answer an HTTP request", ("method", "route"), buckets=LATENCY_BUCKETS, registry=self.registry)
        self.decisions = Counter("smelend_decisions", "Credit decisions made", ("outcome",), registry=self.registry)


class MetricsMiddleware:
    """Count and time every HTTP request: a plain ASGI wrapper (Starlette's ``BaseHTTPMiddleware`` costs
    a task and a stream per request). The route template is read from the scope once the router has
    matched it."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app, self.metrics = app, metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def send_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_status)
        finally:
            route = scope.get("route")
            template = getattr(route, "path", None) or "unmatched"
            self.metrics.requests.labels(scope["method"], template, str(status)).inc()
            self.metrics.latency.labels(scope["method"], template).observe(time.perf_counter() - started)


@router.get("/healthz")
def healthz(request: Request) -> Any:
    """200 ``{"status": "ok"}`` when the database answers; 503 otherwise."""
    try:
        with reading(service(request).engine) as conn:
            conn.execute(text("SELECT 1"))
    except Exception:  # noqa: BLE001 - any failure means not healthy
        return JSONResponse({"status": "unavailable"}, status_code=503)
    return {"status": "ok"}


@router.get("/metrics", response_class=Response)
def metrics(request: Request) -> Response:
    """Prometheus metrics (text exposition format)."""
    return Response(generate_latest(request.app.state.metrics.registry), media_type=CONTENT_TYPE_LATEST)
