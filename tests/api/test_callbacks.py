"""Partner callbacks: written with the change (an outbox), delivered signed to a real local HTTP receiver
that verifies the signature, retried with back-off after a failure, bounded; on every backend."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest
from sqlalchemy import func, select
from sqlalchemy.engine import Engine

from smelend.api import signing
from smelend.api.callbacks import CALLBACK_ID_HEADER, deliver_pending
from smelend.errors import InvalidInput
from smelend.store import open_store
from smelend.store import callbacks as outbox
from smelend.store.access import create_partner, set_partner_active
from smelend.store.tables import callbacks


class Receiver:
    """A partner's callback endpoint on 127.0.0.1: verifies the bank's signature like a partner would,
    answers from a script of status codes (then 200), and keeps what it accepted."""

    def __init__(self, script: list[int]) -> None:
        self.script = list(script)
        self.secret = ""
        self.key_id = ""
        self.seen: list[tuple[int, str]] = []  # (answered status, reason)
        self.accepted: list[dict[str, object]] = []
        self.nonces: set[str] = set()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (http.server's name)
                body = self.rfile.read(int(self.headers["Content-Length"]))
                status, reason = receiver.verify(self.command, self.path, dict(self.headers.items()), body)
                if status == 200 and receiver.script:
                    status, reason = receiver.script.pop(0), "scripted failure"
                receiver.seen.append((status, reason))
                if status == 200:
                    receiver.accepted.append(json.loads(body))
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/hooks/smelend?v=1"

    def verify(self, method: str, path: str, headers: dict[str, str], body: bytes) -> tuple[int, str]:
        try:
            parts = signing.parse_headers(headers)
            signing.check_timestamp(parts.timestamp, time.time())
        except signing.SignatureError as exc:
            return 401, str(exc)
        if parts.key_id != self.key_id or parts.nonce in self.nonces:
            return 401, "key or nonce"
        if not signing.signature_matches(self.secret, method, path, parts, body):
            return 401, "signature"
        self.nonces.add(parts.nonce)
        if headers.get(CALLBACK_ID_HEADER) != str(json.loads(body)["id"]):
            return 400, "callback id"
        return 200, "ok"

    def __enter__(self) -> Receiver:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    store = open_store(db_url)
    yield store
    store.dispose()


def partner_for(engine: Engine, receiver: Receiver) -> int:
    with engine.begin() as conn:
        partner_id, key_id, secret = create_partner(conn, "Tax platform", callback_url=receiver.url)
    receiver.key_id, receiver.secret = key_id, secret
    return partner_id


def status_of(engine: Engine, callback_id: int) -> dict[str, object]:
    with engine.connect() as conn:
        return outbox.get_callback(conn, callback_id)


def test_a_failed_attempt_is_retried_after_back_off_and_then_delivered(engine):
    with Receiver([503]) as receiver:
        partner_id = partner_for(engine, receiver)
        now = datetime.now(UTC)
        with engine.begin() as conn:
            callback_id = outbox.enqueue(conn, partner_id, "application.decided", {"application": "APP-1", "outcome": "approve"}, now)
        assert callback_id is not None

        assert deliver_pending(engine, now) == {"delivered": 0, "retrying": 1, "failed": 0}
        assert receiver.seen == [(503, "scripted failure")]  # the signature was good; the partner failed
        assert status_of(engine, callback_id)["attempts"] == 1

        assert deliver_pending(engine, now + timedelta(seconds=10)) == {"delivered": 0, "retrying": 0, "failed": 0}  # not due yet
        assert deliver_pending(engine, now + outbox.backoff(1)) == {"delivered": 1, "retrying": 0, "failed": 0}
        assert [status for status, _ in receiver.seen] == [503, 200]
        assert deliver_pending(engine, now + timedelta(days=1)) == {"delivered": 0, "retrying": 0, "failed": 0}

    row = status_of(engine, callback_id)
    assert row["status"] == "delivered" and row["attempts"] == 2 and row["delivered_at"] is not None
    (accepted,) = receiver.accepted
    assert accepted["id"] == callback_id and accepted["event"] == "application.decided"
    assert accepted["data"] == {"application": "APP-1", "outcome": "approve"}


def test_a_wrongly_signed_callback_is_refused_by_the_partner_and_retried(engine):
    with Receiver([]) as receiver:
        partner_id = partner_for(engine, receiver)
        receiver.secret = "not-the-shared-secret-" + "x" * 20
        now = datetime.now(UTC)
        with engine.begin() as conn:
            outbox.enqueue(conn, partner_id, "line.opened", {"line": 1}, now)
        assert deliver_pending(engine, now) == {"delivered": 0, "retrying": 1, "failed": 0}
        assert receiver.seen == [(401, "signature")] and receiver.accepted == []


def test_delivery_gives_up_after_the_bounded_attempts(engine):
    with Receiver([503] * outbox.MAX_ATTEMPTS) as receiver:
        partner_id = partner_for(engine, receiver)
        at = datetime.now(UTC)
        with engine.begin() as conn:
            callback_id = outbox.enqueue(conn, partner_id, "loan.overdue", {"loan": 9}, at)
        totals = {"delivered": 0, "retrying": 0, "failed": 0}
        with httpx.Client(timeout=5) as client:
            for attempt in range(1, outbox.MAX_ATTEMPTS + 1):
                for name, count in deliver_pending(engine, at, client=client).items():
                    totals[name] += count
                at += outbox.backoff(attempt)
        assert totals == {"delivered": 0, "retrying": outbox.MAX_ATTEMPTS - 1, "failed": 1}
        assert len(receiver.seen) == outbox.MAX_ATTEMPTS
    row = status_of(engine, callback_id)
    assert row["status"] == "failed" and row["attempts"] == outbox.MAX_ATTEMPTS and row["next_attempt_at"] is None


def test_an_unreachable_partner_is_a_failed_attempt(engine):
    with Receiver([]) as receiver:
        partner_id = partner_for(engine, receiver)
    # the receiver is shut down: connection refused
    now = datetime.now(UTC)
    with engine.begin() as conn:
        callback_id = outbox.enqueue(conn, partner_id, "line.opened", {"line": 1}, now)
    assert deliver_pending(engine, now) == {"delivered": 0, "retrying": 1, "failed": 0}
    assert status_of(engine, callback_id)["attempts"] == 1


def test_the_outbox_is_written_in_the_callers_transaction(engine):
    with engine.begin() as conn:
        with_url, _, _ = create_partner(conn, "With", callback_url="https://partner.example/cb")
        without, _, _ = create_partner(conn, "Without")
    now = datetime.now(UTC)
    with pytest.raises(RuntimeError), engine.begin() as conn:
        outbox.enqueue(conn, with_url, "line.opened", {"line": 1}, now)
        raise RuntimeError("the change failed")
    with engine.begin() as conn:
        assert outbox.due(conn, now, 10) == []
        assert outbox.enqueue(conn, without, "line.opened", {"line": 1}, now) is None  # nowhere to send it
        for payload, event, field in [
            ({"mobile": "13800138000"}, "line.opened", "payload"),
            ({"note": "id 11010519491231002X"}, "line.opened", "payload"),
            ({"line": 1}, "Line Opened", "event"),
        ]:
            with pytest.raises(InvalidInput) as refused:
                outbox.enqueue(conn, with_url, event, payload, now)
            assert refused.value.first.field == field
        # partner ids come from the caller's own (foreign-keyed) rows: an unknown one has nowhere to be sent either
        assert outbox.enqueue(conn, 999, "line.opened", {"line": 1}, now) is None
        assert conn.scalar(select(func.count()).select_from(callbacks)) == 0


def test_an_inactive_partner_gets_nothing_and_a_leased_callback_is_sent_once(engine):
    with engine.begin() as conn:
        partner_id, _, _ = create_partner(conn, "Gone", callback_url="https://partner.example/cb")
    now = datetime.now(UTC)
    with engine.begin() as conn:
        first = outbox.enqueue(conn, partner_id, "line.opened", {"line": 1}, now)
        second = outbox.enqueue(conn, partner_id, "line.opened", {"line": 2}, now)
        assert outbox.lease(conn, second, now) and not outbox.lease(conn, second, now)  # another deliverer has it
        set_partner_active(conn, partner_id, False)
    assert deliver_pending(engine, now) == {"delivered": 0, "retrying": 0, "failed": 1}
    assert status_of(engine, first)["status"] == "failed" and status_of(engine, second)["status"] == "pending"


def test_back_off_grows_and_is_capped():
    waits = [outbox.backoff(n).total_seconds() for n in range(1, 10)]
    assert waits[:4] == [30, 60, 120, 240] and max(waits) == outbox.BACKOFF_MAX_SECONDS
    assert waits == sorted(waits)


def test_the_admin_command_delivers_what_is_due(engine, db_url, capsys):
    from smelend.cli import main

    with Receiver([]) as receiver:
        partner_id = partner_for(engine, receiver)
        with engine.begin() as conn:
            outbox.enqueue(conn, partner_id, "loan.disbursed", {"loan": 7}, datetime.now(UTC) - timedelta(seconds=1))
        with pytest.raises(SystemExit) as exited:
            main(["admin", "deliver-callbacks", "--json"])
        assert exited.value.code == 0
        assert json.loads(capsys.readouterr().out) == {"delivered": 1, "retrying": 0, "failed": 0}
        assert [a["data"] for a in receiver.accepted] == [{"loan": 7}]
