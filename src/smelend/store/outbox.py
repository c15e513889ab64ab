"""The borrower-notification outbox: one notice per line change, written in the change's transaction.

Why an outbox: the notice must go out if and only if the change was committed; writing it with the
change and delivering it afterwards (a sender marks it ``sent``) gives exactly that, whatever
crashes in between. Delivery itself (SMS, the app's inbox) is the channel's job, not the batch's.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import func, select, update
from sqlalchemy.engine import Connection

from smelend.lines.changes import LineChange
from smelend.store.tables import line_notifications

PENDING = "pending"
SENT = "sent"


def add_notifications(conn: Connection, changes: Sequence[tuple[int, LineChange]]) -> int:
    """Queue a notice for each (line change id, change)."""
    if not changes:
        return 0
    rows = []
    for change_id, change in changes:
        event, payload = change.notification()
        rows.append({"line_change_id": change_id, "line_id": change.line_id, "event": event, "payload": payload, "status": PENDING, "attempts": 0})
    conn.execute(line_notifications.insert(), rows)
    return len(rows)


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
