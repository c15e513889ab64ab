"""PD -> risk grade, from a grade table in a file: each grade's PD ceiling, action and limit cap.

The table is ordered from the best grade to the worst; an applicant takes the first grade whose
``max_pd`` is at or above its PD. The last grade must cover PD 1, so every PD has a grade.
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from smelend.datafiles import load_yaml_model
from smelend.money import parse_yuan

MAX_GRADES = 30


class Grade(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    grade: str = Field(pattern=r"^[A-Z][A-Z0-9+-]{0,3}$", description="The grade's label, e.g. A1.")
    max_pd: float = Field(gt=0, le=1, description="The highest PD (one-year probability of default) in this grade.")
    action: Literal["approve", "refer", "decline"] = Field(description="What the score alone says for this grade.")
    limit_cap: Decimal | None = Field(default=None, ge=0, description="The largest line for this grade, in yuan; none = no grade cap.")
    text: str = Field(default="", description="What the grade means, for staff.")

    @property
    def limit_cap_fen(self) -> int | None:
        return None if self.limit_cap is None else parse_yuan(self.limit_cap, f"grade {self.grade}: limit_cap")


class GradeTable(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    grades: tuple[Grade, ...] = Field(min_length=2, max_length=MAX_GRADES)

    @model_validator(mode="after")
    def _ordered(self) -> "GradeTable":
        ceilings = [g.max_pd for g in self.grades]
        if ceilings != sorted(ceilings) or len(set(ceilings)) != len(ceilings):
            raise ValueError("grades must be ordered by strictly increasing max_pd")
        if ceilings[-1] != 1:
            raise ValueError("the last grade must have max_pd 1, so that every PD has a grade")
        if len({g.grade for g in self.grades}) != len(self.grades):
            raise ValueError("grade labels must be unique")
        return self

    def grade_for(self, pd: float) -> Grade:
        """The grade of ``pd``.

        >>> table = GradeTable(grades=[Grade(grade="A", max_pd=0.02, action="approve"),
        ...                            Grade(grade="B", max_pd=1, action="decline")])
        >>> table.grade_for(0.02).grade, table.grade_for(0.0201).grade
        ('A', 'B')
        """
        assert 0 <= pd <= 1, f"PD out of range: {pd}"
        for grade in self.grades:
            if pd <= grade.max_pd:
                return grade
        raise AssertionError("unreachable: the last grade covers PD 1")


def load_grade_table(path: Path) -> GradeTable:
    return load_yaml_model(path, GradeTable, "grade table")
