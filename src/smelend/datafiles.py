"""Data files (products, policies, later rules and pricing grids): YAML validated by a pydantic model.

One loader for all of them, so every file reports its errors the same way: all at once, each named
``file: dotted.field``.
"""

from __future__ import annotations

from pathlib import Path
from typing import TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from smelend.errors import Collector, InvalidInput

MAX_FILE_BYTES = 256 * 1024
Model = TypeVar("Model", bound=BaseModel)


def load_yaml_model(path: Path, model: type[Model], what: str) -> Model:
    """The file at ``path`` as a ``model``, or :class:`InvalidInput` naming the file and every bad field."""
    name = path.name
    if not path.is_file():
        raise InvalidInput.one(name, f"no such {what} file: {path}")
    if path.stat().st_size > MAX_FILE_BYTES:
        raise InvalidInput.one(name, f"is larger than {MAX_FILE_BYTES} bytes")
    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise InvalidInput.one(name, f"is not valid YAML: {exc}".replace("\n", " ")) from None
    if not isinstance(document, dict):
        raise InvalidInput.one(name, f"must hold a mapping of {what} settings")
    try:
        return model.model_validate(document)
    except ValidationError as exc:
        found = Collector()
        for error in exc.errors():
            location = ".".join(str(part) for part in error["loc"]) or "(file)"
            found.add(f"{name}: {location}", error["msg"])
        found.raise_if_any()
        raise AssertionError("unreachable") from None


def read_bounded_text(path: Path, field: str, max_bytes: int, encoding: str = "utf-8") -> str:
    """A text file given as input, or :class:`InvalidInput` naming ``field``: missing, too large, unreadable."""
    if not path.is_file():
        raise InvalidInput.one(field, f"no such file: {path}")
    if path.stat().st_size > max_bytes:
        raise InvalidInput.one(field, f"is larger than {max_bytes} bytes")
    try:
        return path.read_text(encoding=encoding)
    except (OSError, UnicodeDecodeError) as exc:
        raise InvalidInput.one(field, f"cannot be read: {exc}") from None
