"""Reassessment settings: the review frequency, event triggers, minimum intervals, steps and seasons.

Why a file: how often lines are reviewed and how far a change may go are business choices that
change without a release; ``reassessment.yaml`` beside this module is validated on load (every error
at once, named by field) like the other data files. The rules that pick a change live in the JDM
file the settings name (``rules/reassessment.json``).
"""

from __future__ import annotations

import calendar
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, field_validator, model_validator

from smelend.datafiles import load_yaml_model

SETTINGS_FILE = Path(__file__).with_name("reassessment.yaml")
ACTIONS = ("freeze", "decrease", "unfreeze", "renew", "increase", "temporary")
"""The changes the rules may choose (each a decision table's outputPath in the JDM file)."""
TEMPORARY_END = "temporary-end"
"""A contractual change, not a rule's: a seasonal limit whose season is over is taken back."""
CHANGE_KINDS = (*ACTIONS, TEMPORARY_END)
Frequency = Literal["daily", "weekly", "monthly", "renewal-only"]
EventTrigger = Literal["new_tax_record", "new_invoice", "overdue", "external_alert"]


class _Strict(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class RulesRef(_Strict):
    name: str = Field(min_length=1, max_length=64)
    version: str = Field(min_length=1, max_length=32)
    file: str = Field(min_length=1, description="JDM file, relative to this settings file.")


class Clip(_Strict):
    days: int = Field(ge=1, le=3660)
    months: int = Field(ge=1, le=600)
    count: int = Field(ge=1, le=1000)


class Resolution(_Strict):
    utilisation: Decimal = Field(gt=0, le=Decimal("0.1"))
    revenue_trend: Decimal = Field(gt=0, le=Decimal("0.1"))


class Season(_Strict):
    name: str = Field(min_length=1, max_length=40)
    start: str = Field(pattern=r"^\d\d-\d\d$", description="MM-DD, first day of the window.")
    end: str = Field(pattern=r"^\d\d-\d\d$", description="MM-DD, last day of the window (may be before start: wraps the year end).")
    uplift: Decimal = Field(gt=0, le=1, description="Temporary limit = uplift x the line's limit (then capped).")

    @field_validator("start", "end")
    @classmethod
    def _real_day(cls, text: str) -> str:
        month, day = int(text[:2]), int(text[3:])
        if not 1 <= month <= 12 or not 1 <= day <= calendar.monthrange(2024, month)[1]:
            raise ValueError(f"{text} is not a day of the year")
        return text

    def window_containing(self, day: date) -> tuple[date, date] | None:
        """The season's window that holds ``day`` (start, last day), or None."""
        for year in (day.year - 1, day.year):
            start = _month_day(year, self.start)
            end = _month_day(year if self.end >= self.start else year + 1, self.end)
            if start <= day <= end:
                return start, end
        return None


def _month_day(year: int, text: str) -> date:
    month, day = int(text[:2]), int(text[3:])
    return date(year, month, min(day, calendar.monthrange(year, month)[1]))


class ReassessmentSettings(_Strict):
    version: str = Field(min_length=1, max_length=32)
    rules: RulesRef
    strategy: str = Field(pattern=r"^[a-z0-9][a-z0-9-]{0,39}$", description="Strategy folder whose limits.yaml caps increases.")
    frequency: Frequency
    weekday: int = Field(ge=1, le=7)
    month_day: int = Field(ge=1, le=31)
    event_triggers: tuple[EventTrigger, ...]
    renewal_window_days: int = Field(ge=0, le=366)
    precedence: tuple[str, ...]
    min_interval_days: dict[str, int]
    increase_step: Decimal = Field(gt=0, le=1)
    decrease_step: Decimal = Field(gt=0, lt=1)
    clip: Clip
    resolution: Resolution
    seasons: tuple[Season, ...] = ()

    @model_validator(mode="after")
    def _complete(self) -> "ReassessmentSettings":
        if sorted(self.precedence) != sorted(ACTIONS):
            raise ValueError(f"precedence must name each of {', '.join(ACTIONS)} once")
        if sorted(self.min_interval_days) != sorted(ACTIONS):
            raise ValueError(f"min_interval_days must give each of {', '.join(ACTIONS)}")
        if any(not 0 <= v <= 3660 for v in self.min_interval_days.values()):
            raise ValueError("min_interval_days must be 0 to 3660 days")
        return self

    def scheduled(self, day: date) -> bool:
        """Is ``day`` a scheduled review day for every line (renewal-only: never; the window decides)?"""
        if self.frequency == "daily":
            return True
        if self.frequency == "weekly":
            return day.isoweekday() == self.weekday
        if self.frequency == "monthly":
            return day.day == min(self.month_day, calendar.monthrange(day.year, day.month)[1])
        return False

    def season_on(self, day: date) -> tuple[Season, date] | None:
        """The first season whose window holds ``day``, with the window's last day."""
        for season in self.seasons:
            window = season.window_containing(day)
            if window is not None:
                return season, window[1]
        return None

    @property
    def rules_path(self) -> Path:
        return self._folder / self.rules.file

    _folder: Path = PrivateAttr(default=SETTINGS_FILE.parent)


def load_settings(path: Path = SETTINGS_FILE) -> ReassessmentSettings:
    """The settings file, validated; its rules file is found beside it."""
    settings = load_yaml_model(path, ReassessmentSettings, "reassessment settings")
    settings._folder = path.parent
    return settings
