"""Attribution of conversions to channels over multi-touch journeys: first touch, last touch, Markov.

The Markov model (a first-order chain over start -> channels -> conversion | null, fitted from the
journeys' transitions) credits each channel with its *removal effect*: how much the chance of
converting from the start falls when the channel is removed (every step into it goes to null instead).
Effects are normalised to shares of the observed conversions. Unlike the one-touch rules it credits
channels that open journeys and channels that close them alike, in proportion to what the data shows
would be lost without them.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
import polars as pl

START, CONVERSION, NULL = "(start)", "(conversion)", "(null)"
MODELS = ("first_touch", "last_touch", "markov")


@dataclass(frozen=True)
class Journey:
    """A prospect's touches in time order and whether the journey ended in an application."""

    channels: tuple[str, ...]
    converted: bool


@dataclass(frozen=True)
class Attribution:
    conversions: int
    first_touch: dict[str, float]
    last_touch: dict[str, float]
    markov: dict[str, float]  # conversions credited (shares x conversions)
    removal_effects: dict[str, float]
    conversion_probability: float  # from the start, under the fitted chain


def journeys_from(touches: pl.DataFrame, applications: pl.DataFrame) -> list[Journey]:
    """One journey per prospect with touches; converted when the prospect applied."""
    applied = set(applications["prospect_id"].to_list())
    grouped = touches.sort(["prospect_id", "at"]).group_by("prospect_id", maintain_order=True).agg(pl.col("channel"))
    return [Journey(tuple(row["channel"]), row["prospect_id"] in applied) for row in grouped.iter_rows(named=True)]


def one_touch(journeys: Iterable[Journey], which: int) -> dict[str, float]:
    """Conversions credited wholly to the first (``which=0``) or last (``which=-1``) touch."""
    counts = Counter(j.channels[which] for j in journeys if j.converted and j.channels)
    return {c: float(n) for c, n in sorted(counts.items())}


def _chain(journeys: Sequence[Journey]) -> tuple[list[str], np.ndarray, np.ndarray]:
    """Transient states (start first), the transition matrix among them and the step-to-conversion vector."""
    channels = sorted({c for j in journeys for c in j.channels})
    states = [START, *channels]
    index = {s: i for i, s in enumerate(states)}
    counts = np.zeros((len(states), len(states) + 2))  # + conversion, null
    conv, null = len(states), len(states) + 1
    for j in journeys:
        if not j.channels:
            continue
        path = [START, *j.channels]
        for a, b in zip(path, path[1:]):
            counts[index[a], index[b]] += 1
        counts[index[path[-1]], conv if j.converted else null] += 1
    totals = counts.sum(axis=1, keepdims=True)
    probs = np.divide(counts, totals, out=np.zeros_like(counts), where=totals > 0)
    return states, probs[:, : len(states)], probs[:, conv]


def _absorb(q: np.ndarray, r: np.ndarray) -> float:
    """The chance of ending in conversion from the start: solve (I - Q) p = r."""
    p = np.linalg.solve(np.eye(len(q)) - q, r)
    return float(p[0])


def markov(journeys: Sequence[Journey]) -> tuple[float, dict[str, float]]:
    """(conversion probability from the start, removal effect per channel)."""
    states, q, r = _chain(journeys)
    base = _absorb(q, r) if len(states) > 1 else 0.0
    effects: dict[str, float] = {}
    for i, channel in enumerate(states[1:], start=1):
        q_removed = q.copy()
        q_removed[:, i] = 0.0  # steps into the channel now end in null
        r_removed = r.copy()
        r_removed[i] = 0.0
        effects[channel] = 1.0 - _absorb(q_removed, r_removed) / base if base > 0 else 0.0
    return base, effects


def attribute(journeys: Sequence[Journey]) -> Attribution:
    conversions = sum(j.converted for j in journeys)
    base, effects = markov(journeys)
    total = sum(effects.values())
    credited = {c: (e / total * conversions if total > 0 else 0.0) for c, e in effects.items()}
    return Attribution(conversions, one_touch(journeys, 0), one_touch(journeys, -1), credited, effects, base)
