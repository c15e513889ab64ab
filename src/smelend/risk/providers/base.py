"""One provider interface, and :func:`gather`, the only way evidence is collected for a decision.

A provider answers ``fetch(source, application)`` with raw, untrusted JSON (a ``dict``) or raises:

* :class:`SourceMissing` — the provider has no record for this key (recorded as ``missing``);
* :class:`MalformedAnswer` — the answer could not be read as a JSON object (``malformed``);
* :class:`ProviderUnavailable` — transport problems, refusals, time-outs (``unavailable``).

:func:`gather` asks one provider for each requested source and turns every answer into a
:class:`~smelend.risk.schemas.SourceResult` plus the parsed data. It never lets an exception escape from
a provider or from a bad answer: each becomes a status with a reason (a malformed answer names the field
at fault, e.g. ``tax.credit_grade: Input should be 'A', 'B', 'M', 'C' or 'D'``).

Consent (the choice made here):

* without ``consent.data_use`` nothing is fetched at all: :func:`gather` raises :class:`ConsentMissing`
  (an :class:`~smelend.errors.InvalidInput` naming ``consent.data_use``) before any provider call;
* without ``consent.bureau_query`` the bureau source is recorded as ``not_requested`` with the reason,
  and the provider is never asked for it; the other sources are gathered as usual.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from typing import Any, Protocol, runtime_checkable

from pydantic import ValidationError

from smelend.errors import FieldError, InvalidInput
from smelend.risk.schemas import SOURCE_MODELS, SOURCES, Application, Evidence, Record, SourceResult, field_errors

ALL_SOURCES: tuple[str, ...] = SOURCES
"""Every source, in the order they are gathered."""

NO_BUREAU_CONSENT = "no authorisation to query the credit bureau (consent.bureau_query is false)"
NOT_REQUESTED = "not in the sources requested"
_MAX_REASON = 2000


class ProviderError(Exception):
    """Base of what a provider may raise from ``fetch``; the message is the reason recorded."""


class ProviderUnavailable(ProviderError):
    """The provider could not be reached, timed out, failed (5xx) or refused the request."""


class SourceMissing(ProviderError):
    """The provider has no record for this application's key (e.g. HTTP 404, no file)."""


class MalformedAnswer(ProviderError):
    """The provider answered, but not with a JSON object (invalid JSON, a list, text)."""


class ConsentMissing(InvalidInput):
    """The application's consent does not allow gathering; nothing was fetched."""


@runtime_checkable
class Provider(Protocol):
    """Anything that answers ``fetch(source, application)`` with raw JSON (a dict)."""

    name: str

    def fetch(self, source: str, application: Application) -> dict[str, Any]: ...


Clock = Callable[[], datetime]


def check_consent(application: Application) -> None:
    """Raise :class:`ConsentMissing` unless the application's consent allows using its data."""
    if not application.consent.data_use:
        raise ConsentMissing([FieldError("consent.data_use", "the applicant has not consented to the use of their data; nothing was fetched")])


def _reason(text: str) -> str:
    return text if len(text) <= _MAX_REASON else text[: _MAX_REASON - 3] + "..."


def validate_answer(source: str, raw: Any) -> tuple[Record | None, str]:
    """The parsed data of one raw answer, or None and a reason naming the field at fault."""
    if not isinstance(raw, dict):
        return None, f"{source}: the answer is not a JSON object (got {type(raw).__name__})"
    try:
        return SOURCE_MODELS[source].model_validate(raw), ""
    except ValidationError as exc:
        return None, "; ".join(str(e) for e in field_errors(exc, source))


def _fetch_one(source: str, application: Application, provider: Provider, clock: Clock) -> tuple[SourceResult, Record | None]:
    name = str(getattr(provider, "name", type(provider).__name__))
    started = time.perf_counter()
    data: Record | None = None
    try:
        raw = provider.fetch(source, application)
    except SourceMissing as exc:
        status, reason = "missing", str(exc) or f"{source}: the provider has no record"
    except MalformedAnswer as exc:
        status, reason = "malformed", str(exc) or f"{source}: the answer could not be read"
    except ProviderUnavailable as exc:
        status, reason = "unavailable", str(exc) or f"{source}: the provider is unavailable"
    except Exception as exc:  # noqa: BLE001 - a failing provider must never break the decision
        status, reason = "unavailable", f"{source}: the provider failed: {type(exc).__name__}: {exc}"
    else:
        data, reason = validate_answer(source, raw)
        status = "ok" if data is not None else "malformed"
    latency_ms = (time.perf_counter() - started) * 1000.0
    result = SourceResult(source=source, status=status, reason=_reason(reason), provider=name[:200], latency_ms=latency_ms, fetched_at=clock())  # type: ignore[arg-type]
    return result, data


def gather(
    application: Application,
    provider: Provider,
    sources: Iterable[str] = ALL_SOURCES,
    *,
    clock: Clock,
    concurrency: int = 1,
) -> Evidence:
    """Ask ``provider`` for every requested source and return the evidence, one result per source.

    Sources not requested are ``not_requested``; the bureau is ``not_requested`` without
    ``consent.bureau_query``; without ``consent.data_use`` this raises :class:`ConsentMissing` and calls
    nothing. ``clock`` gives the (time-zone aware) time stamps; latencies are measured with a monotonic
    timer. ``concurrency`` > 1 fetches that many sources at once on threads (providers must then be
    thread-safe; the ones in this package are).
    """
    wanted = tuple(dict.fromkeys(sources))
    unknown = [s for s in wanted if s not in SOURCES]
    if unknown:
        raise ValueError(f"unknown sources: {', '.join(unknown)} (known: {', '.join(SOURCES)})")
    check_consent(application)
    gathered_at = clock()
    if gathered_at.tzinfo is None or gathered_at.utcoffset() is None:
        raise ValueError("clock must return time-zone aware datetimes")
    results: dict[str, SourceResult] = {}
    data: dict[str, Record | None] = dict.fromkeys(SOURCES)
    to_fetch = []
    for source in SOURCES:
        if source not in wanted:
            results[source] = _skipped(source, NOT_REQUESTED)
        elif source == "bureau" and not application.consent.bureau_query:
            results[source] = _skipped(source, NO_BUREAU_CONSENT)
        else:
            to_fetch.append(source)
    if concurrency > 1 and len(to_fetch) > 1:
        with ThreadPoolExecutor(max_workers=min(concurrency, len(to_fetch))) as pool:
            answers = list(pool.map(lambda s: _fetch_one(s, application, provider, clock), to_fetch))
    else:
        answers = [_fetch_one(s, application, provider, clock) for s in to_fetch]
    for source, (result, parsed) in zip(to_fetch, answers, strict=True):
        results[source], data[source] = result, parsed
    return Evidence(application_id=application.id, gathered_at=gathered_at, results={s: results[s] for s in SOURCES}, **data)  # type: ignore[arg-type]


def _skipped(source: str, reason: str) -> SourceResult:
    return SourceResult(source=source, status="not_requested", reason=reason, provider="", latency_ms=0.0, fetched_at=None)  # type: ignore[arg-type]


def with_source(evidence: Evidence, source: str, raw: dict[str, Any] | Record, *, provider: str, clock: Clock) -> Evidence:
    """The evidence with one source replaced by data from elsewhere (e.g. the store's exposure for the owner).

    ``raw`` is validated like any provider answer; a bad one raises :class:`~smelend.errors.InvalidInput`.
    """
    from smelend.risk.schemas import parse

    model = SOURCE_MODELS[source]
    parsed = raw if isinstance(raw, model) else parse(model, raw.model_dump(mode="json") if isinstance(raw, Record) else raw, source)
    result = SourceResult(source=source, status="ok", reason="", provider=provider, latency_ms=0.0, fetched_at=clock())  # type: ignore[arg-type]
    return evidence.model_copy(update={"results": {**evidence.results, source: result}, source: parsed})


__all__ = [
    "ALL_SOURCES",
    "Clock",
    "ConsentMissing",
    "MalformedAnswer",
    "NO_BUREAU_CONSENT",
    "Provider",
    "ProviderError",
    "ProviderUnavailable",
    "SourceMissing",
    "check_consent",
    "gather",
    "validate_answer",
    "with_source",
]
