"""Stored idempotent responses are encoded without ``jsonable_encoder`` where ``json`` can take the content:
the bytes must be exactly what encoding through ``jsonable_encoder`` gave (a replay is byte for byte the same)."""

from __future__ import annotations

import enum
import json
from datetime import date, datetime, timezone
from decimal import Decimal

from fastapi.encoders import jsonable_encoder
from hypothesis import given, settings
from hypothesis import strategies as st

from smelend.api.idempotency import _encode


class Colour(str, enum.Enum):
    RED = "red"


class Size(enum.IntEnum):
    SMALL = 1


def reference(content: object) -> str:
    return json.dumps(jsonable_encoder(content), ensure_ascii=False, allow_nan=False, separators=(",", ":"))


leaves = st.one_of(
    st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False, allow_infinity=False), st.text(),
    st.decimals(allow_nan=False, allow_infinity=False, places=4), st.dates(),
    st.datetimes(timezones=st.just(timezone.utc)), st.just(Colour.RED), st.just(Size.SMALL),
)
keys = st.one_of(st.text(max_size=8), st.integers(), st.just(Colour.RED), st.dates())
documents = st.recursive(leaves, lambda inner: st.one_of(st.lists(inner, max_size=4), st.tuples(inner, inner),
                                                         st.dictionaries(keys, inner, max_size=4)), max_leaves=25)


@settings(max_examples=300, deadline=None)
@given(documents)
def test_the_text_is_what_jsonable_encoder_gave(content: object) -> None:
    assert _encode(201, content) == (201, reference(content))


def test_a_typical_response() -> None:
    content = {"id": "APP-1", "amount": Decimal("12.50"), "on": date(2026, 3, 1), "at": datetime(2026, 3, 1, tzinfo=timezone.utc),
               "methods": ("bullet", Colour.RED), "pd": 0.0123, "名称": "企业"}
    assert _encode(200, content) == (200, reference(content))
