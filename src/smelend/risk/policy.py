"""Policy rules: knock-out and refer rules as GoRules JDM decision graphs, evaluated by zen-engine.

A rule set is one JDM file (edited with the GoRules editor or by hand) whose decision tables use the
``collect`` hit policy, so every rule that fires yields its reason code; tables write under the
output path ``decline`` or ``refer``. Each rule's outputs are ``code`` (a reason code) and ``text``
(what staff and borrowers read). The set's name and version come from the strategy that uses it; its
content hash is the SHA-256 of the file's bytes, so a decision records exactly which rules it saw.

No JavaScript: ``functionNode`` (and the custom-node escape hatch) is refused on load, so every rule
stays a table an analyst can read.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Mapping

from smelend.errors import Collector, InvalidInput

ACTIONS = ("decline", "refer")
FORBIDDEN_NODE_TYPES = frozenset({"functionNode", "customNode"})
MAX_RULE_FILE_BYTES = 1024 * 1024
MAX_RULES_PER_SET = 500


@dataclass(frozen=True)
class PolicyHit:
    """One rule that fired: its action, reason code, readable text, and where it lives."""

    action: str
    code: str
    text: str
    table: str


@dataclass(frozen=True)
class PolicyResult:
    hits: tuple[PolicyHit, ...]
    trace: dict[str, Any]

    def codes(self, action: str) -> tuple[str, ...]:
        return tuple(h.code for h in self.hits if h.action == action)


@dataclass(frozen=True)
class RuleSet:
    """A loaded, checked JDM graph with its identity (name, version, content hash)."""

    name: str
    version: str
    path: Path
    sha256: str
    graph: dict[str, Any]

    def identity(self) -> dict[str, str]:
        return {"name": self.name, "version": self.version, "file": self.path.name, "sha256": self.sha256}

    def evaluate(self, context: Mapping[str, Any]) -> PolicyResult:
        """Every rule that fires on ``context``, in table then rule order, with zen's trace."""
        response = _compiled(self.sha256, self.path).evaluate(dict(context), {"trace": True})
        result = response["result"]
        hits: list[PolicyHit] = []
        tables = {n["content"].get("outputPath"): n["name"] for n in self.graph["nodes"] if n["type"] == "decisionTableNode"}
        for action in ACTIONS:
            for row in result.get(action) or []:
                assert isinstance(row, dict) and "code" in row, f"{self.path.name}: a {action} rule must output a code"
                hits.append(PolicyHit(action, str(row["code"]), str(row.get("text", row["code"])), tables.get(action, action)))
        return PolicyResult(tuple(hits), _slim_trace(response.get("trace") or {}))


def _slim_trace(trace: Mapping[str, Any]) -> dict[str, Any]:
    """Which rules fired, per node, with the cells that matched; without zen's copies of the whole input
    on every node (the decision stores the input once) and without timings (they differ run to run)."""
    slim: dict[str, Any] = {}
    for node_id, node in trace.items():
        fired = []
        for data in node.get("traceData") or []:
            if isinstance(data, dict):
                rule = data.get("rule") or {}
                matched = {k: v for k, v in rule.items() if not k.startswith("_") and v not in ("", None)}
                fired.append({"rule_id": rule.get("_id"), "matched": matched})
        slim[node_id] = {"name": node.get("name"), "fired": fired}  # no timings: a replay must equal the original
    return slim


_ENGINE_CACHE: dict[str, Any] = {}


def _compiled(sha256: str, path: Path) -> Any:
    """One zen decision per distinct content, built once per process (building costs far more than evaluating)."""
    decision = _ENGINE_CACHE.get(sha256)
    if decision is None:
        import zen

        decision = zen.ZenEngine().create_decision(path.read_text(encoding="utf-8"))
        _ENGINE_CACHE[sha256] = decision
    return decision


def decision_tables(graph: Any, name: str, actions: tuple[str, ...], found: Collector, kind_of_rules: str,
                    tables_only: bool = False) -> list[tuple[str, dict[str, Any]]]:
    """The checks every rule file shares, added to ``found`` (JDM structure, no code nodes, collect tables
    writing under one of ``actions`` with ``code`` and ``text`` outputs, at most MAX_RULES_PER_SET rules):
    returns each decision table's (label, content) for a caller's own checks."""
    if not isinstance(graph, dict) or not isinstance(graph.get("nodes"), list) or not isinstance(graph.get("edges"), list):
        raise InvalidInput.one(name, "is not a JDM graph (needs 'nodes' and 'edges' lists)")
    types = [n.get("type") for n in graph["nodes"] if isinstance(n, dict)]
    if "inputNode" not in types or "outputNode" not in types:
        found.add(name, "needs an inputNode and an outputNode")
    tables: list[tuple[str, dict[str, Any]]] = []
    rules = 0
    for node in graph["nodes"]:
        kind = node.get("type")
        label = f"{name}: node {node.get('name', node.get('id'))!r}"
        if kind in FORBIDDEN_NODE_TYPES:
            found.add(label, f"{kind} is not allowed: {kind_of_rules}, not code")
        elif tables_only and kind not in ("inputNode", "outputNode", "decisionTableNode"):
            found.add(label, f"{kind} is not allowed: only decision tables between the input and the output")
        if kind != "decisionTableNode":
            continue
        content = node.get("content") or {}
        if content.get("hitPolicy") != "collect":
            found.add(label, "decision tables must use the 'collect' hit policy so every reason code is reported")
        if content.get("outputPath") not in actions:
            found.add(label, f"outputPath must be one of {', '.join(actions)}")
        fields = {o.get("field") for o in content.get("outputs") or []}
        if not {"code", "text"} <= fields:
            found.add(label, "outputs must include 'code' and 'text'")
        rules += len(content.get("rules") or [])
        tables.append((label, content))
    if rules > MAX_RULES_PER_SET:
        found.add(name, f"has {rules} rules; the limit is {MAX_RULES_PER_SET}")
    return tables


def check_graph(graph: Any, name: str) -> None:
    """Every problem with a policy graph as one :class:`InvalidInput` (structure, forbidden nodes, outputs)."""
    found = Collector()
    decision_tables(graph, name, ACTIONS, found, "policy rules are decision tables and expressions")
    found.raise_if_any()


def read_graph(path: Path, check: Callable[[Any, str], None]) -> tuple[dict[str, Any], str]:
    """A JDM file read, size-limited, parsed, checked by ``check(graph, label)`` and compiled once:
    ``(graph, sha256 of its bytes)``. Every rule file (policy, reassessment) is loaded through here."""
    label = path.name
    if not path.is_file():
        raise InvalidInput.one(label, f"no such rule file: {path}")
    raw = path.read_bytes()
    if len(raw) > MAX_RULE_FILE_BYTES:
        raise InvalidInput.one(label, f"is larger than {MAX_RULE_FILE_BYTES} bytes")
    try:
        graph = json.loads(raw)
    except ValueError as exc:
        raise InvalidInput.one(label, f"is not valid JSON: {exc}") from None
    check(graph, label)
    sha256 = hashlib.sha256(raw).hexdigest()
    try:
        _compiled(sha256, path)
    except Exception as exc:  # zen's own parse errors: report them as a bad file, not a crash
        raise InvalidInput.one(label, f"zen-engine rejects the graph: {exc}") from None
    return graph, sha256


def load_rule_set(path: Path, name: str, version: str) -> RuleSet:
    """Read, check and hash a JDM file; the decision itself is compiled once per process."""
    graph, sha256 = read_graph(path, check_graph)
    return RuleSet(name=name, version=version, path=path, sha256=sha256, graph=graph)
