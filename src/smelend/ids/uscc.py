"""Unified social credit code (统一社会信用代码, GB 32100): 18 characters with a check character.

>>> validate("91310000MA1FL8T5X3")
'91310000MA1FL8T5X3'
>>> validate("91310000MA1FL8T5X4", "enterprise.uscc")
Traceback (most recent call last):
...
smelend.errors.InvalidInput: enterprise.uscc: fails the check character: not a valid unified social credit code
>>> mask("91310000MA1FL8T5X3")
'91310000MA1FL8T5X3'
"""

from __future__ import annotations

from stdnum.cn import uscc as _uscc

from smelend.ids._stdnum import checked


def validate(value: object, field: str = "uscc") -> str:
    return checked(_uscc.validate, value, field, "unified social credit code")


def is_valid(value: object) -> bool:
    return isinstance(value, str) and _uscc.is_valid(value)


def mask(value: str) -> str:
    """A USCC is public registration data, so it is shown whole."""
    return value
