"""One synthetic marketing data set for the module's tests (generated once: it runs the real engines)."""

from __future__ import annotations

import pytest

from smelend.marketing.events import MarketingData, generate

PROSPECTS = 800
SEED = 5


@pytest.fixture(scope="session")
def data() -> MarketingData:
    return generate(PROSPECTS, SEED)
