"""Shared fixtures for line management: a small generated book on each backend.

Stable for the reassessment and close-of-business tests too: ``generated_book`` is a database (SQLite
and PostgreSQL, through ``db_url``) holding ``BOOK_ACCOUNTS`` lines generated with ``BOOK_SEED`` at
business date ``BOOK_AS_OF`` by the code behind ``smelend book generate``.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date

import pytest
from sqlalchemy.engine import Engine

from smelend.products.loader import load_catalogue
from smelend.servicing import delinquency
from smelend.store import open_store
from smelend.store.book_generator import GenerationResult, generate_book

BOOK_ACCOUNTS = 300
BOOK_SEED = 11
BOOK_AS_OF = date(2026, 6, 30)


@dataclass(frozen=True)
class GeneratedBook:
    engine: Engine
    result: GenerationResult
    as_of: date


@pytest.fixture
def generated_book(db_url: str) -> Iterator[GeneratedBook]:
    """A migrated database on each backend with a generated book of BOOK_ACCOUNTS lines (truth kept)."""
    engine = open_store(db_url)
    result = generate_book(engine, BOOK_ACCOUNTS, BOOK_SEED, BOOK_AS_OF, load_catalogue(), delinquency.load_policy(), keep_truth=True)
    yield GeneratedBook(engine, result, BOOK_AS_OF)
    engine.dispose()
