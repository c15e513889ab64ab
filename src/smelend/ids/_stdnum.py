"""Turns python-stdnum's exceptions into errors that name the field.

Valid numbers are remembered (:data:`CACHE_SIZE` per process): one application checks the same resident
ID and USCC five or six times on its way (the request body, the risk schema, exposure, registration),
and python-stdnum's region and date look-ups are a measurable share of a decision's CPU. Invalid input
is never cached: it raises every time.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache

from stdnum.exceptions import InvalidChecksum, InvalidComponent, InvalidFormat, InvalidLength, ValidationError

from smelend.errors import InvalidInput

_REASONS: dict[type[ValidationError], str] = {
    InvalidLength: "has the wrong length",
    InvalidFormat: "has characters not allowed in it",
    InvalidChecksum: "fails the check character",
    InvalidComponent: "has an impossible part (date or region)",
}


def checked(validator: Callable[[str], str], value: object, field: str, what: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise InvalidInput.one(field, f"a {what} is required")
    try:
        return _valid(validator, value)
    except ValidationError as exc:
        reason = next((r for kind, r in _REASONS.items() if isinstance(exc, kind)), "is not valid")
        raise InvalidInput.one(field, f"{reason}: not a valid {what}") from None


CACHE_SIZE = 8192


@lru_cache(maxsize=CACHE_SIZE)
def _valid(validator: Callable[[str], str], value: str) -> str:
    return validator(value)
