"""Mainland China mobile numbers, checked with Google's libphonenumber metadata (``phonenumbers``).

>>> validate("138 0013 8000")
'+8613800138000'
>>> validate("010 1234 5678", "applicant.mobile")
Traceback (most recent call last):
...
smelend.errors.InvalidInput: applicant.mobile: is not a mainland mobile number
>>> mask("+8613800138000")
'+86138****8000'
"""

from __future__ import annotations

from functools import lru_cache

import phonenumbers
from phonenumbers import PhoneNumberFormat, PhoneNumberType

from smelend.errors import InvalidInput

_MOBILE_TYPES = {PhoneNumberType.MOBILE, PhoneNumberType.FIXED_LINE_OR_MOBILE}


CACHE_SIZE = 8192  # numbers checked per process, remembered: an application checks its mobile three times


def validate(value: object, field: str = "mobile") -> str:
    """The number in E.164 form (+86...), or an error naming the field."""
    if not isinstance(value, str) or not value.strip():
        raise InvalidInput.one(field, "a mobile number is required")
    e164, reason = _checked(value)
    if reason is not None:
        raise InvalidInput.one(field, reason)
    return e164


@lru_cache(maxsize=CACHE_SIZE)
def _checked(value: str) -> tuple[str, str | None]:
    """(E.164 form, None) or ("", why not): libphonenumber's parse is the costly part of an application's checks."""
    try:
        number = phonenumbers.parse(value, "CN")
    except phonenumbers.NumberParseException:
        return "", "is not a phone number"
    if number.country_code != 86 or not phonenumbers.is_valid_number(number):
        return "", "is not a mainland mobile number"
    if phonenumbers.number_type(number) not in _MOBILE_TYPES:
        return "", "is not a mainland mobile number"
    return phonenumbers.format_number(number, PhoneNumberFormat.E164), None


def is_valid(value: object) -> bool:
    try:
        validate(value)
    except InvalidInput:
        return False
    return True


def mask(value: str) -> str:
    return value[:6] + "****" + value[-4:]
