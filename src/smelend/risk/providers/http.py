"""A provider gateway over HTTP (httpx): time-outs, bounded retries with exponential back-off.

Protocol (chosen so personal data never appears in a URL, where access logs and proxies would keep it):

* ``POST {base_url}/{source}`` with a JSON body; ``source`` is one of identity, aml, bureau,
  registration, tax, invoices, cashflow, relationship, exposure;
* the body carries only what the source needs: always ``application_id``, ``source``, ``applied_on``
  and the consent (``granted_at``, ``text_version``, ``bureau_query``); person sources (identity, aml,
  bureau, exposure) add ``name``, ``id_number`` and ``mobile``; enterprise sources add ``uscc`` and
  ``enterprise_name``;
* ``200`` (any 2xx) with a JSON object: the answer, validated by :func:`~smelend.risk.providers.gather`
  against the source's schema; a body that is not JSON is ``malformed``;
* ``404``: the provider has no record (``missing``), not retried;
* other ``4xx`` and ``3xx``: the request was refused (``unavailable``), not retried — retrying cannot help;
* ``5xx``, connection errors, time-outs and broken connections: retried up to ``retries`` more times,
  waiting ``backoff_s``, ``2 x backoff_s``, ``4 x backoff_s``... in between; then ``unavailable``.

``timeout_s`` bounds each attempt (connect, read, write and pool). Pass ``client`` to share a connection
pool (the provider then does not close it); otherwise the provider owns one (close it, or use ``with``).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import httpx

from smelend.risk.providers.base import MalformedAnswer, ProviderUnavailable, SourceMissing
from smelend.risk.schemas import PERSON_SOURCES, SOURCES, Application


def request_body(source: str, application: Application) -> dict[str, Any]:
    """The JSON body sent for one source (only the keys that source needs)."""
    consent = application.consent
    body: dict[str, Any] = {
        "application_id": application.id,
        "source": source,
        "applied_on": application.applied_on.isoformat(),
        "consent": {"granted_at": consent.granted_at.isoformat(), "text_version": consent.text_version, "bureau_query": consent.bureau_query},
    }
    if source in PERSON_SOURCES:
        body.update(name=application.applicant.name, id_number=application.applicant.id_number, mobile=application.applicant.mobile)
    else:
        body.update(uscc=application.enterprise.uscc, enterprise_name=application.enterprise.name)
    return body


class HttpProvider:
    """Fetch each source with ``POST {base_url}/{source}`` (see the module doc for the protocol)."""

    def __init__(
        self,
        base_url: str,
        timeout_s: float = 2.0,
        retries: int = 2,
        backoff_s: float = 0.2,
        client: httpx.Client | None = None,
        *,
        name: str = "http",
        headers: dict[str, str] | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ):
        if timeout_s <= 0 or retries < 0 or backoff_s < 0:
            raise ValueError("timeout_s must be > 0, retries and backoff_s >= 0")
        self.base_url = base_url.rstrip("/")
        self.timeout_s = timeout_s
        self.retries = retries
        self.backoff_s = backoff_s
        self.name = name
        self.headers = dict(headers or {})
        self._sleep = sleep
        self._owned = client is None
        self.client = client if client is not None else httpx.Client(timeout=httpx.Timeout(timeout_s))

    def close(self) -> None:
        if self._owned:
            self.client.close()

    def __enter__(self) -> HttpProvider:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def fetch(self, source: str, application: Application) -> dict[str, Any]:
        if source not in SOURCES:
            raise ValueError(f"unknown source {source!r}")
        url = f"{self.base_url}/{source}"
        body = request_body(source, application)
        problem = ""
        attempts = self.retries + 1
        for attempt in range(attempts):
            if attempt:
                self._sleep(self.backoff_s * 2 ** (attempt - 1))
            try:
                response = self.client.post(url, json=body, headers=self.headers, timeout=httpx.Timeout(self.timeout_s))
            except httpx.TimeoutException as exc:
                problem = f"timed out after {self.timeout_s:g} s ({type(exc).__name__})"
                continue
            except httpx.TransportError as exc:
                problem = f"transport error ({type(exc).__name__}: {exc})"
                continue
            status = response.status_code
            if status == 404:
                raise SourceMissing(f"{source}: the provider has no record (HTTP 404)")
            if status >= 500:
                problem = f"provider error (HTTP {status})"
                continue
            if not 200 <= status < 300:
                raise ProviderUnavailable(f"{source}: the provider refused the request (HTTP {status})")
            try:
                return response.json()  # type: ignore[no-any-return]
            except ValueError as exc:
                raise MalformedAnswer(f"{source}: the answer is not valid JSON ({exc})") from None
        raise ProviderUnavailable(f"{source}: {problem}, after {attempts} attempt{'s' if attempts > 1 else ''}")
