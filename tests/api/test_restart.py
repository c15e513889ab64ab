"""Kill -9 the running server during a burst of draws and repayments, restart it: every acknowledged
request is there, nothing is half-written, a retried in-flight request takes effect at most once, and
the ledger still balances and reconciles."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.api.conftest import application_body

pytestmark = pytest.mark.db

STARTUP_TIMEOUT_S = 90
BURST_REQUESTS = 400  # an upper bound: the server is killed long before
KILL_AFTER_ACKNOWLEDGED = 12


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _start(port: int, log: Path) -> subprocess.Popen[bytes]:
    handle = log.open("ab")
    server = subprocess.Popen([sys.executable, "-m", "smelend", "serve", "--port", str(port)], stdout=handle, stderr=handle, env=os.environ.copy())
    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    while time.monotonic() < deadline:
        assert server.poll() is None, log.read_text()[-3000:]
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                return server
        except httpx.HTTPError:
            time.sleep(0.2)
    server.kill()
    raise AssertionError("the server did not start:\n" + log.read_text()[-3000:])


class Partner:
    def __init__(self, port: int, key_id: str, secret: str):
        self.base, self.key_id, self.secret = f"http://127.0.0.1:{port}", key_id, secret

    def post(self, path: str, body: dict[str, Any], key: str | None = None) -> httpx.Response:
        from smelend.api.signing import signed_headers

        content = json.dumps(body).encode()
        headers = signed_headers(self.key_id, self.secret, "POST", path, content) | {"Content-Type": "application/json"}
        if key:
            headers["Idempotency-Key"] = key
        return httpx.post(self.base + path, content=content, headers=headers, timeout=30)

    def get(self, path: str) -> httpx.Response:
        from smelend.api.signing import signed_headers

        return httpx.get(self.base + path, headers=signed_headers(self.key_id, self.secret, "GET", path, b""), timeout=30)


def test_sigkill_during_a_burst_loses_nothing_acknowledged(db_url: str, applicants: dict[str, list[dict[str, Any]]], tmp_path: Path) -> None:
    from smelend.operations.context import open_book
    from smelend.operations.reconcile import reconcile, trial_balance
    from smelend.store import open_store
    from smelend.store.access import create_partner
    from smelend.store.lending import get_line
    from smelend.store.tables import loans, repayments

    engine = open_store(db_url)
    with engine.begin() as conn:
        _, key_id, secret = create_partner(conn, "burst partner", rate_limit_per_minute=100_000)
    port, log = _free_port(), tmp_path / "server.log"
    server = _start(port, log)
    partner = Partner(port, key_id, secret)
    try:
        applied = partner.post("/v1/applications", application_body(applicants["approve"][1], channel="partner"))
        assert applied.status_code == 201, applied.text
        offer = applied.json()["offer"]
        assert offer is not None, applied.json()["decision"]
        accepted = partner.post(f"/v1/offers/{offer['id']}/accept", {})
        assert accepted.status_code == 201, accepted.text
        line_id = accepted.json()["id"]

        acknowledged: list[tuple[str, str, dict[str, Any], dict[str, Any]]] = []
        in_flight: list[tuple[str, str, dict[str, Any]]] = []

        def burst() -> None:
            loans_seen: list[int] = []
            for i in range(BURST_REQUESTS):
                key = str(uuid.uuid4())
                if loans_seen and i % 2:
                    kind, path, body = "repayment", f"/v1/loans/{loans_seen[-1]}/repayments", {"amount": "100.00"}
                else:
                    kind, path, body = "draw", f"/v1/lines/{line_id}/draws", {"amount": "1000.00", "method": "equal-installment", "term": 3}
                in_flight[:] = [(kind, key, body)]
                try:
                    response = partner.post(path, body, key)
                except httpx.HTTPError:
                    return  # the server died under this request
                assert response.status_code == 201, response.text
                acknowledged.append((kind, key, body, response.json()))
                if kind == "draw":
                    loans_seen.append(response.json()["id"])
                in_flight.clear()

        worker = threading.Thread(target=burst)
        worker.start()
        while len(acknowledged) < KILL_AFTER_ACKNOWLEDGED and worker.is_alive():
            time.sleep(0.01)
        os.kill(server.pid, signal.SIGKILL)
        server.wait(timeout=30)
        worker.join(timeout=60)
        assert len(acknowledged) >= KILL_AFTER_ACKNOWLEDGED

        server = _start(port, log)
        draws = [a for a in acknowledged if a[0] == "draw"]
        for _, _, body, response in draws:
            loan = partner.get(f"/v1/loans/{response['id']}")
            assert loan.status_code == 200 and loan.json()["principal"] == body["amount"]
        expected_repayments: dict[int, int] = {}
        for _, _, _, response in (a for a in acknowledged if a[0] == "repayment"):
            loan_id = response["loan"]["id"]
            expected_repayments[loan_id] = expected_repayments.get(loan_id, 0) + 1

        # The request the kill interrupted: retried with its key, it takes effect once at most.
        expected_draws = len(draws)
        if in_flight:
            kind, key, body = in_flight[0]
            last_loan = draws[-1][3]["id"]
            path = f"/v1/lines/{line_id}/draws" if kind == "draw" else f"/v1/loans/{last_loan}/repayments"
            retried = partner.post(path, body, key)
            assert retried.status_code == 201, retried.text
            again = partner.post(path, body, key)
            assert again.status_code == 201 and again.json() == retried.json()
            if kind == "draw":
                expected_draws += 1
            else:
                expected_repayments[last_loan] = expected_repayments.get(last_loan, 0) + 1
        with engine.connect() as conn:
            on_line = conn.execute(loans.select().where(loans.c.line_id == line_id)).all()
            paid_in = conn.execute(repayments.select().where(repayments.c.channel == "paid-in")).all()
            line = get_line(conn, line_id)
        assert len(on_line) == expected_draws
        counted: dict[int, int] = {}
        for row in paid_in:
            counted[row.loan_id] = counted.get(row.loan_id, 0) + 1
        assert counted == expected_repayments
        assert line.used_fen + line.available_fen == line.limit_fen
        book = open_book(engine)
        kept, recomputed = trial_balance(book)
        assert kept.balanced and kept == recomputed
        assert reconcile(book) == []
    finally:
        server.kill()
        server.wait(timeout=30)
        engine.dispose()
