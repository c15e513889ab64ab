"""Errors that name the field at fault, so every adapter (CLI, API) can report them the same way."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class FieldError:
    """One problem with one input field."""

    field: str
    reason: str

    def __str__(self) -> str:
        return f"{self.field}: {self.reason}"


class InvalidInput(ValueError):
    """Bad input, with every problem found (not just the first), each naming its field.

    >>> str(InvalidInput.one("principal", "must be greater than zero"))
    'principal: must be greater than zero'
    """

    def __init__(self, errors: list[FieldError] | tuple[FieldError, ...]):
        assert errors, "InvalidInput needs at least one FieldError"
        self.errors: tuple[FieldError, ...] = tuple(errors)
        super().__init__("; ".join(str(e) for e in self.errors))

    @classmethod
    def one(cls, field: str, reason: str) -> "InvalidInput":
        return cls([FieldError(field, reason)])

    @property
    def first(self) -> FieldError:
        return self.errors[0]


class Collector:
    """Gathers field errors so validation reports all of them at once (beancount style)."""

    def __init__(self) -> None:
        self.errors: list[FieldError] = []

    def add(self, field: str, reason: str) -> None:
        self.errors.append(FieldError(field, reason))

    def raise_if_any(self) -> None:
        if self.errors:
            raise InvalidInput(self.errors)
