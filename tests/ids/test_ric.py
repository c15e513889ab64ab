"""Our resident-ID check is python-stdnum's, with the birth-place look-up remembered: it must agree with
stdnum on every number, valid or not, and name the same kind of failure."""

from __future__ import annotations

import pytest
from hypothesis import given, settings, strategies as st
from stdnum.cn import ric as stdnum_ric
from stdnum.exceptions import ValidationError

from smelend.errors import InvalidInput
from smelend.ids import ric
from smelend.risk.providers.simulated import simulate_applications

DIVISIONS = ["110105", "310104", "440305", "510107", "999999", "110100", "130000"]


def stdnum_verdict(number: str) -> str:
    try:
        return stdnum_ric.validate(number)
    except ValidationError as exc:
        return type(exc).__name__


def our_verdict(number: str) -> str:
    try:
        return ric._validate(number)
    except ValidationError as exc:
        return type(exc).__name__


@settings(max_examples=400, deadline=None)
@given(
    division=st.sampled_from(DIVISIONS),
    year=st.integers(1900, 2030),
    month=st.integers(0, 13),
    day=st.integers(0, 32),
    serial=st.integers(0, 999),
    check=st.sampled_from(list("0123456789X")),
)
def test_agrees_with_stdnum_on_any_number(division, year, month, day, serial, check):
    number = f"{division}{year:04d}{month:02d}{day:02d}{serial:03d}{check}"
    assert our_verdict(number) == stdnum_verdict(number)


def test_agrees_with_stdnum_on_simulated_applicants_and_twice():
    numbers = [a.applicant.id_number for a in simulate_applications(300, seed=3)]
    for _ in range(2):  # the second pass is answered from the cache
        assert [our_verdict(n) for n in numbers] == [stdnum_verdict(n) for n in numbers]


def test_a_bad_place_is_still_refused_after_a_good_one_was_cached():
    good = "11010519491231002X"
    assert ric.validate(good) == good
    with pytest.raises(InvalidInput, match="impossible part"):
        ric.validate("999999194912310025")
