"""The business date: it only moves forward, and a dated operation first brings the book up to its day."""

from __future__ import annotations

from datetime import date, timedelta

from sqlalchemy.engine import Connection

from smelend.errors import InvalidInput
from smelend.store.lending import BusinessDay, get_business_day, set_business_day


def refuse_if_past(conn: Connection, day: date, field: str = "date") -> BusinessDay:
    """An operation dated before the current business date is refused (it would rewrite history)."""
    return refuse_if_before(get_business_day(conn), day, field)


def refuse_if_before(current: BusinessDay, day: date, field: str = "date") -> BusinessDay:
    """:func:`refuse_if_past` on a business day the caller has just read."""
    if current.business_date is not None and day < current.business_date:
        raise InvalidInput.one(field, f"{day} is before the current business date {current.business_date}")
    return current


def start_calendar_if_new(conn: Connection, day: date) -> None:
    """A new database has no business date until the first dated operation sets it."""
    if get_business_day(conn).business_date is None:
        set_business_day(conn, BusinessDay(day, None))


def days_to_close(current: BusinessDay, through: date) -> list[date]:
    if current.business_date is None or through < current.business_date:
        return []
    count = (through - current.business_date).days + 1
    return [current.business_date + timedelta(days=k) for k in range(count)]
