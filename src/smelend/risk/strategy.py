"""A decision strategy: the set of files a decision depends on, with a name, a version and a hash.

A strategy is a folder holding ``strategy.yaml``, which names the policy rule sets (JDM files), the
model for each customer group (a folder written by ``smelend risk train`` or the SME training
script), the grade table, the limit settings and the champion/challenger set-up. Its hash covers
every file it names, so two decisions with the same strategy hash saw byte-identical rules, models,
grades and limits. Loaded once, used for any number of decisions.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from smelend.datafiles import load_yaml_model
from smelend.errors import InvalidInput
from smelend.risk.grades import GradeTable, load_grade_table
from smelend.risk.limits import LimitSettings, load_limit_settings
from smelend.risk.policy import RuleSet, load_rule_set

SHIPPED_DIR = Path(__file__).resolve().parent / "strategies"
DEFAULT_STRATEGY = "sme-v1"
SOURCES_FOR_GROUPS = ("bureau", "registration", "tax", "invoices", "cashflow", "relationship")
MAX_GROUPS = 10


class _Strict(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class RuleSetRef(_Strict):
    name: str = Field(pattern=r"^[a-z][a-z0-9-]{1,39}$")
    version: str = Field(min_length=1, max_length=40)
    file: str = Field(description="Path of the JDM file, relative to the strategy folder.")


class GroupRef(_Strict):
    """A customer group with its own scorecard: the first group whose data needs are met is used."""

    name: str = Field(pattern=r"^[a-z][a-z0-9-]{1,39}$")
    model: str = Field(description="Model folder, relative to the strategy folder.")
    requires_any: tuple[str, ...] = Field(default=(), description="Sources of which at least one must be ok; empty = anyone.")


class ChallengerRef(_Strict):
    share: float = Field(ge=0, le=1, description="Share of applications (by a hash of their id) assigned to the challenger.")
    mode: Literal["shadow", "live"] = Field(description="shadow: recorded, never acted on; live: the challenger decides its share.")


class StrategyFile(_Strict):
    name: str = Field(pattern=r"^[a-z][a-z0-9-]{1,39}$")
    version: str = Field(min_length=1, max_length=40)
    description: str = ""
    rules: tuple[RuleSetRef, ...] = Field(min_length=1)
    groups: tuple[GroupRef, ...] = Field(min_length=1, max_length=MAX_GROUPS)
    grades: str
    limits: str
    challenger: ChallengerRef

    @model_validator(mode="after")
    def _groups(self) -> "StrategyFile":
        if self.groups[-1].requires_any:
            raise ValueError("the last group must require nothing, so every application has a group")
        for group in self.groups:
            unknown = set(group.requires_any) - set(SOURCES_FOR_GROUPS)
            if unknown:
                raise ValueError(f"group {group.name}: unknown sources {', '.join(sorted(unknown))}")
        return self


@dataclass(frozen=True)
class Strategy:
    name: str
    version: str
    folder: Path
    sha256: str
    rule_sets: tuple[RuleSet, ...]
    groups: tuple[GroupRef, ...]
    models: dict[str, object]  # group name -> ModelBundle
    model_ids: dict[str, str]  # group name -> sha256 of the model folder's files
    grades: GradeTable
    limits: LimitSettings
    challenger: ChallengerRef
    file_hashes: dict[str, str]

    def group_for(self, statuses: dict[str, str | None]) -> GroupRef:
        for group in self.groups:
            if not group.requires_any or any(statuses.get(s) == "ok" for s in group.requires_any):
                return group
        raise AssertionError("unreachable: the last group requires nothing")

    def versions(self) -> dict[str, object]:
        return {
            "strategy": {"name": self.name, "version": self.version, "sha256": self.sha256},
            "rules": [r.identity() for r in self.rule_sets],
            "models": dict(self.model_ids),
            "grades_sha256": self.file_hashes["grades"],
            "limits_sha256": self.file_hashes["limits"],
        }


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _folder_sha256(folder: Path) -> str:
    digest = hashlib.sha256()
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        digest.update(path.relative_to(folder).as_posix().encode() + b"\0" + _sha256(path).encode() + b"\n")
    return digest.hexdigest()


def resolve_strategy_dir(name_or_path: str | Path | None) -> Path:
    """A shipped strategy by name (``sme-v1``) or any folder holding a strategy.yaml."""
    if name_or_path is None:
        return SHIPPED_DIR / DEFAULT_STRATEGY
    candidate = Path(name_or_path)
    if (candidate / "strategy.yaml").is_file():
        return candidate
    shipped = SHIPPED_DIR / str(name_or_path)
    if (shipped / "strategy.yaml").is_file():
        return shipped
    raise InvalidInput.one("strategy", f"no strategy.yaml in {name_or_path} and no shipped strategy of that name")


_CACHE: dict[tuple[str, str], Strategy] = {}


def load_strategy(name_or_path: str | Path | None = None) -> Strategy:
    """Load and check every file of a strategy (cached per folder and content hash)."""
    from smelend.risk.modelstore import load_model

    folder = resolve_strategy_dir(name_or_path).resolve()
    manifest_path = folder / "strategy.yaml"
    spec = load_yaml_model(manifest_path, StrategyFile, "strategy")
    hashes = {"strategy.yaml": _sha256(manifest_path)}
    rule_sets = []
    for ref in spec.rules:
        rule_set = load_rule_set((folder / ref.file).resolve(), ref.name, ref.version)
        rule_sets.append(rule_set)
        hashes[f"rules:{ref.name}"] = rule_set.sha256
    model_ids = {}
    for group in spec.groups:
        model_dir = (folder / group.model).resolve()
        if not model_dir.is_dir():
            raise InvalidInput.one(f"strategy.yaml: groups.{group.name}.model", f"no model folder at {model_dir}")
        model_ids[group.name] = _folder_sha256(model_dir)
        hashes[f"model:{group.name}"] = model_ids[group.name]
    hashes["grades"] = _sha256(folder / spec.grades)
    hashes["limits"] = _sha256(folder / spec.limits)
    digest = hashlib.sha256("".join(f"{k}={v}\n" for k, v in sorted(hashes.items())).encode()).hexdigest()
    key = (str(folder), digest)
    if key in _CACHE:
        return _CACHE[key]
    models = {group.name: load_model((folder / group.model).resolve()) for group in spec.groups}
    strategy = Strategy(
        name=spec.name,
        version=spec.version,
        folder=folder,
        sha256=digest,
        rule_sets=tuple(rule_sets),
        groups=spec.groups,
        models=models,
        model_ids=model_ids,
        grades=load_grade_table(folder / spec.grades),
        limits=load_limit_settings(folder / spec.limits),
        challenger=spec.challenger,
        file_hashes=hashes,
    )
    _CACHE[key] = strategy
    return strategy
