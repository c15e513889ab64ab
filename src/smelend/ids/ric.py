"""Resident identity card number (居民身份证号码, GB 11643): 17 digits and a check character 0-9 or X.

>>> validate("11010519491231002X")
'11010519491231002X'
>>> validate("110105194912310021", "applicant.resident_id")
Traceback (most recent call last):
...
smelend.errors.InvalidInput: applicant.resident_id: fails the check character: not a valid resident ID number
>>> mask("11010519491231002X")
'110***********002X'
"""

from __future__ import annotations

from functools import lru_cache

from stdnum.cn import ric as _ric
from stdnum.exceptions import InvalidChecksum, InvalidFormat, InvalidLength
from stdnum.util import isdigits

from smelend.ids._stdnum import checked

PLACE_CACHE_SIZE = 8_192  # (division code, birth year) pairs: about 3,500 codes, a few dozen birth years


def validate(value: object, field: str = "resident_id") -> str:
    return checked(_validate, value, field, "resident ID number")


def _validate(number: str) -> str:
    """python-stdnum's ``cn.ric.validate``, step for step, with the birth-place look-up (a scan of its
    division database, most of the cost) remembered per division and year: no person's number is kept."""
    number = _ric.compact(number)
    if len(number) != 18:
        raise InvalidLength()
    if not isdigits(number[:-1]):
        raise InvalidFormat()
    if number[-1] != _ric.calc_check_digit(number):
        raise InvalidChecksum()
    _known_place(number[:6], _ric.get_birth_date(number).year)
    return number


@lru_cache(maxsize=PLACE_CACHE_SIZE)
def _known_place(division: str, year: int) -> None:
    """Raises InvalidComponent unless ``division`` was a county code in ``year`` (failures are not cached)."""
    _ric.get_birth_place(f"{division}{year:04d}01010000")


def is_valid(value: object) -> bool:
    return isinstance(value, str) and _ric.is_valid(value)


def mask(value: str) -> str:
    return value[:3] + "*" * (len(value) - 7) + value[-4:]
