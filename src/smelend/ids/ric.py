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

from stdnum.cn import ric as _ric

from smelend.ids._stdnum import checked


def validate(value: object, field: str = "resident_id") -> str:
    return checked(_ric.validate, value, field, "resident ID number")


def is_valid(value: object) -> bool:
    return isinstance(value, str) and _ric.is_valid(value)


def mask(value: str) -> str:
    return value[:3] + "*" * (len(value) - 7) + value[-4:]
