"""Validation results are remembered per process; the error still names each caller's field, and an
invalid number is refused every time."""

from __future__ import annotations

import pytest

from smelend.errors import InvalidInput
from smelend.ids import mobile, ric, uscc


@pytest.mark.parametrize(("module", "good", "bad"), [
    (mobile, "138 0013 8000", "010 1234 5678"),
    (ric, "11010519491231002X", "110105194912310021"),
    (uscc, "91350100M000100Y43", "91350100M000100Y44"),
])
def test_a_remembered_check_names_each_callers_field(module, good, bad):
    assert module.validate(good, "first") == module.validate(good, "second")
    for field in ("applicant.first", "applicant.second", "applicant.first"):
        with pytest.raises(InvalidInput) as refused:
            module.validate(bad, field)
        assert refused.value.errors[0].field == field
