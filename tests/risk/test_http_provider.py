"""HttpProvider against a real HTTP server on 127.0.0.1 (http.server in a thread, port 0)."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections import Counter
from collections.abc import Iterator
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest

from smelend.risk.providers import HttpProvider, SimulatedProvider, gather, simulate_applications
from smelend.risk.providers.base import MalformedAnswer, ProviderUnavailable, SourceMissing

APP = simulate_applications(1, seed=5)[0]
SIM = SimulatedProvider(seed=1)
SLOW_S = 1.0


def clock() -> datetime:
    return datetime(2025, 6, 1, tzinfo=timezone.utc)


class Gateway:
    """A provider gateway: each source behaves in one way; it records every request."""

    def __init__(self) -> None:
        self.calls: Counter[str] = Counter()
        self.requests: list[tuple[str, dict[str, Any]]] = []
        self.lock = threading.Lock()

    def answer(self, source: str, body: dict[str, Any]) -> tuple[int, bytes]:
        with self.lock:
            self.calls[source] += 1
            n = self.calls[source]
            self.requests.append((source, body))
        good = json.dumps(SIM.fetch(source, APP)).encode() if source in ("tax", "cashflow", "identity", "exposure", "relationship") else b"{}"
        if source == "tax":
            return 200, good
        if source == "invoices":
            return 404, b'{"error": "not found"}'
        if source == "cashflow":
            return (503, b"busy") if n == 1 else (200, good)
        if source == "relationship":
            time.sleep(SLOW_S)  # slower than the client's time-out
            return 200, good
        if source == "registration":
            return 200, b'{"established_on": "2020-01-01", '
        if source == "bureau":
            return 200, json.dumps({"credit_history_months": -3}).encode()
        if source == "identity":
            return 403, b"forbidden"
        if source == "aml":
            return 500, b"error"
        return 200, good  # exposure


@pytest.fixture
def gateway() -> Iterator[tuple[str, Gateway]]:
    state = Gateway()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 - http.server's naming
            length = int(self.headers.get("Content-Length", 0))
            body = json.loads(self.rfile.read(length))
            status, payload = state.answer(self.path.rsplit("/", 1)[-1], body)
            try:
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client gave up (time-out test)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/v1/", state
    finally:
        server.shutdown()
        server.server_close()


def provider(base_url: str, sleeps: list[float], **kw: Any) -> HttpProvider:
    settings = {"timeout_s": 0.3, "retries": 2, "backoff_s": 0.01} | kw
    return HttpProvider(base_url, sleep=sleeps.append, **settings)


def test_success(gateway: tuple[str, Gateway]) -> None:
    url, state = gateway
    sleeps: list[float] = []
    with provider(url, sleeps) as http:
        assert http.fetch("tax", APP) == SIM.fetch("tax", APP)
    assert state.calls["tax"] == 1 and sleeps == []


def test_404_is_missing_and_not_retried(gateway: tuple[str, Gateway]) -> None:
    url, state = gateway
    with provider(url, []) as http, pytest.raises(SourceMissing, match="HTTP 404"):
        http.fetch("invoices", APP)
    assert state.calls["invoices"] == 1


def test_503_then_success_is_retried_with_backoff(gateway: tuple[str, Gateway]) -> None:
    url, state = gateway
    sleeps: list[float] = []
    with provider(url, sleeps) as http:
        assert http.fetch("cashflow", APP) == SIM.fetch("cashflow", APP)
    assert state.calls["cashflow"] == 2
    assert sleeps == [0.01]


def test_5xx_every_time_gives_up_after_the_retries(gateway: tuple[str, Gateway]) -> None:
    url, state = gateway
    sleeps: list[float] = []
    with provider(url, sleeps, retries=3) as http, pytest.raises(ProviderUnavailable, match=r"aml: provider error \(HTTP 500\), after 4 attempts"):
        http.fetch("aml", APP)
    assert state.calls["aml"] == 4
    assert sleeps == [0.01, 0.02, 0.04]


def test_other_4xx_is_refused_without_retry(gateway: tuple[str, Gateway]) -> None:
    url, state = gateway
    with provider(url, []) as http, pytest.raises(ProviderUnavailable, match=r"refused the request \(HTTP 403\)"):
        http.fetch("identity", APP)
    assert state.calls["identity"] == 1


def test_timeout_is_retried_then_unavailable(gateway: tuple[str, Gateway]) -> None:
    url, state = gateway
    sleeps: list[float] = []
    started = time.perf_counter()
    with provider(url, sleeps, timeout_s=0.2, retries=1) as http, pytest.raises(ProviderUnavailable, match=r"timed out after 0.2 s \(ReadTimeout\), after 2 attempts"):
        http.fetch("relationship", APP)
    assert time.perf_counter() - started < SLOW_S * 2
    assert sleeps == [0.01]


def test_malformed_json(gateway: tuple[str, Gateway]) -> None:
    url, _ = gateway
    with provider(url, []) as http, pytest.raises(MalformedAnswer, match="not valid JSON"):
        http.fetch("registration", APP)


def test_connection_refused_is_retried_then_unavailable() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    sleeps: list[float] = []
    with provider(f"http://127.0.0.1:{port}", sleeps, retries=2) as http, pytest.raises(ProviderUnavailable, match=r"transport error \(ConnectError.*after 3 attempts"):
        http.fetch("tax", APP)
    assert sleeps == [0.01, 0.02]


def test_gather_over_http_records_each_outcome(gateway: tuple[str, Gateway]) -> None:
    url, state = gateway
    with provider(url, [], timeout_s=0.2, retries=1) as http:
        evidence = gather(APP, http, clock=clock, concurrency=4)
    status = {s: (r.status, r.reason) for s, r in evidence.results.items()}
    assert status["tax"] == ("ok", "")
    assert status["cashflow"] == ("ok", "")
    assert status["exposure"] == ("ok", "")
    assert status["invoices"][0] == "missing"
    assert status["relationship"][0] == "unavailable" and "timed out" in status["relationship"][1]
    assert status["registration"][0] == "malformed" and "not valid JSON" in status["registration"][1]
    assert status["bureau"][0] == "malformed" and "bureau.credit_history_months: Input should be greater than or equal to 0" in status["bureau"][1]
    assert status["identity"][0] == "unavailable" and "HTTP 403" in status["identity"][1]
    assert status["aml"][0] == "unavailable"
    assert evidence.tax is not None and evidence.tax.model_dump(mode="json") == SIM.fetch("tax", APP)
    assert all(r.provider == "http" for r in evidence.results.values())
    # personal data travels in the body, never the URL, and each source gets only what it needs
    bodies = dict(state.requests)
    assert bodies["bureau"]["id_number"] == APP.applicant.id_number and "uscc" not in bodies["bureau"]
    assert bodies["tax"]["uscc"] == APP.enterprise.uscc and "id_number" not in bodies["tax"] and "mobile" not in bodies["tax"]
    assert bodies["tax"]["consent"]["text_version"] == APP.consent.text_version


def test_a_shared_client_is_not_closed() -> None:
    client = httpx.Client()
    with HttpProvider("http://127.0.0.1:9", client=client):
        pass
    assert not client.is_closed
    client.close()
