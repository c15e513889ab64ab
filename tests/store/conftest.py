"""Store fixtures: an up-to-date database on each backend, opened the way the CLI opens it."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from sqlalchemy.engine import Engine
from stdnum.cn import ric

from smelend.store import open_store



def _resident_id(sequence: int) -> str:
    assert 1 <= sequence <= 999, sequence
    body = f"11010219800101{sequence:03d}"
    return body + ric.calc_check_digit(body + "0")  # the argument includes a placeholder check character


@pytest.fixture
def resident_id() -> Callable[[int], str]:
    """A distinct valid resident ID number (Beijing Xicheng, born 1980-01-01) for each sequence 1..999."""
    return _resident_id


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    store = open_store(db_url)
    yield store
    store.dispose()
