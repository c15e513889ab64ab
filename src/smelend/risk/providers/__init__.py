"""Data providers behind one interface (:class:`Provider`) and :func:`gather`, which collects the evidence.

* :class:`FileProvider` — JSON files in a folder (fixtures, replays, offline demos);
* :class:`HttpProvider` — a provider gateway over HTTP (httpx, time-outs, bounded retries);
* :class:`SimulatedProvider` — consistent, realistic records for any application, with a latent PD
  kept outside the evidence; :func:`simulate_table` and :func:`simulate_applications` share its sampling.
"""

from smelend.risk.providers.base import (
    ALL_SOURCES,
    ConsentMissing,
    MalformedAnswer,
    Provider,
    ProviderError,
    ProviderUnavailable,
    SourceMissing,
    gather,
    validate_answer,
    with_source,
)
from smelend.risk.providers.files import FileProvider
from smelend.risk.providers.http import HttpProvider
from smelend.risk.providers.simulated import SimulatedProvider, simulate_applications, simulate_table

__all__ = [
    "ALL_SOURCES",
    "ConsentMissing",
    "FileProvider",
    "HttpProvider",
    "MalformedAnswer",
    "Provider",
    "ProviderError",
    "ProviderUnavailable",
    "SimulatedProvider",
    "SourceMissing",
    "gather",
    "simulate_applications",
    "simulate_table",
    "validate_answer",
    "with_source",
]
