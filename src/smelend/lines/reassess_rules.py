"""The reassessment rules: a JDM decision graph (zen-engine), evaluated for a whole batch of lines at once.

Why not ``zen`` once per line: evaluating the graph costs a few hundred microseconds a call (its
input crosses into Rust each time), a minute and more for a million lines. A decision table with
the ``collect`` hit policy is a conjunction per rule of unary tests, one per input column, so the
batch is evaluated cell by cell: each distinct test of a column is run by zen's own unary evaluator
(``zen.evaluate_unary_expression``, the same evaluator the graph uses) once per distinct value of
that column, and the results are spread over the rows with vectorised lookups. A rule fires on a
row when all its cells pass; the reason codes are the firing rules' codes in table order, exactly
what the graph gives (``tests/lines/test_reassess.py`` compares the two on random rows, and
``benchmarks/cob_pipeline.py`` times both).

The file is checked on load like the policy rules (:mod:`smelend.risk.policy`, whose compiled-graph
cache, trace and limits are reused): collect hit policy, no function or custom nodes, each table
writing under one of :data:`~smelend.lines.settings.ACTIONS`, outputs ``code`` and ``text``; and,
for the cell-wise evaluation to be exact, every input is a plain field path and every cell tests
only its own column (no other field names in it).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from smelend.errors import Collector, InvalidInput
from smelend.lines.settings import ACTIONS
from smelend.risk.policy import _compiled, _slim_trace, decision_tables, read_graph

_FIELD_PATH = re.compile(r"^[a-z_][a-z0-9_]*(\.[a-z_][a-z0-9_]*)+$")
_STRINGS = re.compile(r'"[^"]*"|\'[^\']*\'')
_NAMES = re.compile(r"[A-Za-z_][A-Za-z0-9_.]*")
_KEYWORDS = frozenset({"true", "false", "null", "and", "or", "not", "in"})


@dataclass(frozen=True)
class Rule:
    """One row of a decision table: its action, reason, and unary tests by field path."""

    action: str
    rule_id: str
    code: str
    text: str
    tests: tuple[tuple[str, str], ...]  # (field path, unary test), non-empty cells only


@dataclass(frozen=True)
class ReassessmentRules:
    name: str
    version: str
    path: Path
    sha256: str
    rules: tuple[Rule, ...]
    _cache: dict[tuple[str, Any], bool] = field(default_factory=dict, compare=False, repr=False)

    @property
    def fields(self) -> tuple[str, ...]:
        """Every field path a rule reads, in first-use order."""
        return tuple(dict.fromkeys(path for rule in self.rules for path, _ in rule.tests))

    def identity(self) -> dict[str, str]:
        return {"name": self.name, "version": self.version, "file": self.path.name, "sha256": self.sha256}

    def evaluate_row(self, context: Mapping[str, Any]) -> dict[str, list[str]]:
        """The reference: the whole graph by zen for one line; reason codes by action."""
        result = _compiled(self.sha256, self.path).evaluate(dict(context))["result"]
        return {action: [str(row["code"]) for row in result.get(action) or []] for action in ACTIONS}

    def trace_row(self, context: Mapping[str, Any]) -> dict[str, Any]:
        """Which rules fired for one line, per table (for an analyst replaying a change)."""
        response = _compiled(self.sha256, self.path).evaluate(dict(context), {"trace": True})
        return _slim_trace(response.get("trace") or {})

    def fire(self, inputs: pl.DataFrame) -> dict[str, list[tuple[str, np.ndarray]]]:
        """Per action, each rule's (code, boolean mask over the rows), in rule order.

        ``inputs`` has one column per field path (named by the path). Each distinct cell is run by
        zen once per distinct value of its column (cached for the life of this object).
        """
        masks: dict[tuple[str, str], np.ndarray] = {}
        for path, test in dict.fromkeys(t for rule in self.rules for t in rule.tests):
            masks[(path, test)] = self._cell(inputs.get_column(path), test)
        rows = inputs.height
        fired: dict[str, list[tuple[str, np.ndarray]]] = {action: [] for action in ACTIONS}
        for rule in self.rules:
            mask = np.ones(rows, dtype=bool)
            for cell in rule.tests:
                mask &= masks[cell]
            fired[rule.action].append((rule.code, mask))
        return fired

    def _cell(self, column: pl.Series, test: str) -> np.ndarray:
        import zen

        passing = []
        null_passes = False
        for value in column.unique().to_list():
            key = (test, value)
            passes = self._cache.get(key)
            if passes is None:
                try:
                    passes = bool(zen.evaluate_unary_expression(test, {"$": value}))
                except Exception:  # zen refuses e.g. comparing a null: the rule does not fire, as in the graph
                    passes = False
                self._cache[key] = passes
            if passes:
                if value is None:
                    null_passes = True
                else:
                    passing.append(value)
        mask = column.is_in(pl.Series(passing, dtype=column.dtype).implode()) if passing else pl.Series([False] * column.len())
        if null_passes:
            mask = mask | column.is_null()
        return mask.fill_null(False).to_numpy().astype(bool, copy=False)


def check_rules_graph(graph: Any, name: str) -> None:
    """Every problem with a reassessment graph as one :class:`InvalidInput`: the policy rules' checks, only
    decision tables, and (for the cell-wise evaluation to be exact) plain field paths and cells that test
    only their own column."""
    found = Collector()
    for label, content in decision_tables(graph, name, ACTIONS, found, "reassessment rules are decision tables", tables_only=True):
        for column in content.get("inputs") or []:
            if not _FIELD_PATH.match(str(column.get("field", ""))):
                found.add(label, f"input {column.get('name')!r} must read a plain field path like 'line.status', not an expression")
        input_ids = {c.get("id") for c in content.get("inputs") or []}
        for rule in content.get("rules") or []:
            for key, cell in rule.items():
                if key in input_ids and isinstance(cell, str) and cell.strip():
                    names = set(_NAMES.findall(_STRINGS.sub("", cell))) - _KEYWORDS
                    if names:
                        found.add(f"{label}: rule {rule.get('_id')!r}", f"a cell may test only its own column; it names {', '.join(sorted(names))}")
    found.raise_if_any()


def _literal(cell: str) -> str:
    """An output cell is a zen expression; ours are string literals."""
    text = cell.strip()
    return json.loads(text) if text.startswith('"') else text


def load_rules(path: Path, name: str, version: str) -> ReassessmentRules:
    """Read, check, hash and compile the graph (once per process: the compiled graph is cached)."""
    graph, sha256 = read_graph(path, check_rules_graph)
    rules: list[Rule] = []
    for node in graph["nodes"]:
        if node["type"] != "decisionTableNode":
            continue
        content = node["content"]
        by_id = {c["id"]: c["field"] for c in content["inputs"]}
        outputs = {o["id"]: o["field"] for o in content["outputs"]}
        for row in content["rules"]:
            tests = tuple((by_id[k], v.strip()) for k, v in row.items() if k in by_id and isinstance(v, str) and v.strip())
            out = {outputs[k]: _literal(v) for k, v in row.items() if k in outputs}
            rules.append(Rule(content["outputPath"], str(row.get("_id")), str(out["code"]), str(out.get("text", out["code"])), tests))
    return ReassessmentRules(name, version, path, sha256, tuple(rules))
