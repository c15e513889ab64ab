"""Identifiers, one module each with the same small API (python-stdnum style).

Every module has ``validate(value, field) -> str`` (the compact, checked form, or
:class:`~smelend.errors.InvalidInput` naming the field and the reason), ``is_valid(value) -> bool``
and ``mask(value) -> str`` for display. The checks themselves come from maintained libraries:
python-stdnum (GB 11643, GB 32100) and phonenumbers. A valid check digit is not a verified
identity; verification is a provider call recorded with the decision.
"""

from smelend.ids import mobile, ric, uscc

__all__ = ["mobile", "ric", "uscc"]
