"""The borrower-notification outbox: one notice per line change, written in the change's transaction.

Why an outbox: the notice must go out if and only if the change was committed; writing it with the
change and delivering it afterwards (a sender marks it ``sent``) gives exactly that, whatever
crashes in between. Delivery itself (SMS, the app's inbox) is the channel's job, not the batch's.
"""

from __future__ import annotations

import polars as pl
from sqlalchemy import func, select, update
from sqlalchemy.engine import Connection

from smelend.lines.changes import notifications
from smelend.store.db import driver_executemany
from smelend.store.tables import line_notifications

PENDING = "pending"
SENT = "sent"


def add_notifications(conn: Connection, changes: pl.DataFrame) -> int:
    """Queue a notice for each change (rows of ``CHANGE_SCHEMA`` with their ``line_change_id``)."""
    if changes.height == 0:
        return 0
    notices = notifications(changes).select("line_change_id", "line_id", "event", "payload", pl.lit(PENDING).alias("status"), pl.lit(0).alias("attempts"))
    sql = "INSERT INTO line_notifications (line_change_id, line_id, event, payload, status, attempts) VALUES (?, ?, ?, ?, ?, ?)"
    driver_executemany(conn, sql, notices.rows())
    return notices.height


def pending_notifications(conn: Connection, limit: int = 1000) -> list[dict]:
    query = select(line_notifications).where(line_notifications.c.status == PENDING).order_by(line_notifications.c.id).limit(limit)
    return [dict(r) for r in conn.execute(query).mappings()]


def mark_sent(conn: Connection, notification_id: int) -> bool:
    """Record a delivery (idempotent: a notice already sent stays as it was)."""
    done = conn.execute(
        update(line_notifications)
        .where(line_notifications.c.id == notification_id, line_notifications.c.status == PENDING)
        .values(status=SENT, attempts=line_notifications.c.attempts + 1, sent_at=func.current_timestamp())
    )
    return done.rowcount == 1
