"""PostgreSQL connections are pinged before use only when they have been idle (``PING_IF_IDLE_S``):
a connection the database dropped while it sat in the pool is replaced, and one handed back a moment
ago is used without a round trip."""

from __future__ import annotations

import time

import pytest
from sqlalchemy import text

from smelend.store import db


@pytest.mark.postgresql
@pytest.mark.db
def test_a_dropped_idle_connection_is_replaced_and_a_fresh_one_is_not_pinged(postgres_admin, monkeypatch):
    db_url = postgres_admin.url.render_as_string(hide_password=False)
    monkeypatch.setattr(db, "PING_IF_IDLE_S", 0.2)
    pings: list[object] = []
    real_ping = db._ping
    monkeypatch.setattr(db, "_ping", lambda connection: (pings.append(connection), real_ping(connection)))
    engine = db.make_engine(db_url, pool_size=1, max_overflow=0)
    try:
        with engine.connect() as conn:
            first_pid = conn.execute(text("SELECT pg_backend_pid()")).scalar_one()
        with engine.connect() as conn:  # handed back a moment ago: used as it is, no round trip first
            assert conn.execute(text("SELECT pg_backend_pid()")).scalar_one() == first_pid
        assert pings == []
        with postgres_admin.connect() as other:  # the database drops the pooled connection while it is idle
            assert other.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": first_pid}).scalar_one() is True
        time.sleep(0.3)
        with engine.connect() as conn:  # idle long enough to be pinged: the dead one is replaced, no error
            assert conn.execute(text("SELECT pg_backend_pid()")).scalar_one() != first_pid
        assert len(pings) == 1  # the dead one's failed ping; its replacement is new, so not pinged
    finally:
        engine.dispose()
