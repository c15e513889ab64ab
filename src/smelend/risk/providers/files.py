"""A provider that reads JSON files: fixtures, recorded answers for replays, offline demos.

Layout (one folder per key, one file per source)::

    <directory>/<applicant's resident ID>/identity.json
    <directory>/<applicant's resident ID>/aml.json
    <directory>/<applicant's resident ID>/bureau.json
    <directory>/<applicant's resident ID>/exposure.json
    <directory>/<enterprise's USCC>/registration.json
    <directory>/<enterprise's USCC>/tax.json
    <directory>/<enterprise's USCC>/invoices.json
    <directory>/<enterprise's USCC>/cashflow.json
    <directory>/<enterprise's USCC>/relationship.json

Keys are the compact, validated forms held by the application (upper-case), so they are safe file
names. Each file holds one JSON object, the provider's answer for that source (the same fields as the
source's schema, docs/risk-data.md). No file means ``missing``; a file that is not valid UTF-8 JSON means
``malformed``; a file that cannot be read means ``unavailable``. Files hold personal data: keep such a
folder encrypted and out of the repository.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from smelend.risk.providers.base import MalformedAnswer, ProviderUnavailable, SourceMissing
from smelend.risk.schemas import PERSON_SOURCES, SOURCES, Application


def source_key(source: str, application: Application) -> str:
    """The folder a source's answer lives in: the resident ID for person sources, else the USCC."""
    return application.applicant.id_number if source in PERSON_SOURCES else application.enterprise.uscc


class FileProvider:
    """Answers from ``<directory>/<key>/<source>.json`` (see the module doc for the layout)."""

    def __init__(self, directory: str | Path, name: str = "files"):
        self.directory = Path(directory)
        self.name = name

    def path(self, source: str, application: Application) -> Path:
        if source not in SOURCES:
            raise ValueError(f"unknown source {source!r}")
        return self.directory / source_key(source, application) / f"{source}.json"

    def fetch(self, source: str, application: Application) -> dict[str, Any]:
        path = self.path(source, application)
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            raise SourceMissing(f"{source}: no file {path.parent.name}/{path.name}") from None
        except UnicodeDecodeError as exc:
            raise MalformedAnswer(f"{source}: {path.name} is not UTF-8 text ({exc.reason})") from None
        except OSError as exc:
            raise ProviderUnavailable(f"{source}: cannot read {path.name}: {exc.strerror or exc}") from None
        try:
            return json.loads(text)  # type: ignore[no-any-return]
        except json.JSONDecodeError as exc:
            raise MalformedAnswer(f"{source}: {path.name} is not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}") from None

    def write(self, source: str, application: Application, answer: dict[str, Any]) -> Path:
        """Store one answer where :meth:`fetch` will find it (for fixtures and recorded replays)."""
        path = self.path(source, application)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(answer, ensure_ascii=False, indent=2, sort_keys=True) + "\n", encoding="utf-8")
        return path
