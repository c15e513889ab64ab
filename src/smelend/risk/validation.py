"""Model validation and monitoring as plain data: calibration, stability (PSI), IV, curves, alerts.

Everything here is pure and returns built-in Python types, so a report can go straight to ``json.dumps``
and to :func:`smelend.risk.report.render_html`. ``risk`` means higher is riskier (a PD, or minus a score);
``y_bad`` holds 1 for a bad and 0 for a good.

>>> import numpy as np
>>> psi_table([50, 50], [50, 50], ["low", "high"])["status"]
'stable'
>>> round(information_value([10, 30], [90, 70]), 4)
0.4219
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from scipy.stats import rankdata

from smelend.risk.metrics import discrimination

#: Defaults used by :func:`validation_report` to raise alerts; any of them can be overridden per call.
THRESHOLDS: dict[str, float] = {
    "psi_watch": 0.10,  # PSI at or above: the population moved, watch it
    "psi_shifted": 0.25,  # PSI at or above: the population shifted, the model may not apply
    "auc_min": 0.60,  # AUC below: the model barely ranks
    "ece_max": 0.05,  # expected calibration error above: PDs are off by more than 5 points on average
    "iv_suspicious": 0.50,  # IV at or above: too good to be true, look for leakage
}

#: IV strength labels by upper bound (the usual credit-scoring rule of thumb).
IV_STRENGTH: tuple[tuple[float, str], ...] = (
    (0.02, "useless"),
    (0.10, "weak"),
    (0.30, "medium"),
    (0.50, "strong"),
    (math.inf, "suspicious"),
)

PSI_FLOOR = 1e-4
SHARE_TOLERANCE = 1e-9
MAX_CURVE_POINTS = 10_000  # a report holds curves, not samples


# --- inputs -----------------------------------------------------------------------------------------


def _outcomes(y_bad: Any) -> np.ndarray:
    """0/1 outcomes as int8; anything else is a caller's mistake, not data to average."""
    y = np.asarray(y_bad)
    if y.ndim != 1 or y.size == 0:
        raise ValueError("y_bad must be a non-empty 1-d array")
    if not np.isin(y, (0, 1)).all():
        raise ValueError("y_bad must hold only 0 (good) and 1 (bad)")
    return y.astype(np.int8)


def _finite(values: Any, name: str, size: int | None = None) -> np.ndarray:
    """A 1-d float array without NaN or infinities (one NaN would poison every mean in the report)."""
    v = np.asarray(values, dtype=np.float64)
    if v.ndim != 1:
        raise ValueError(f"{name} must be a 1-d array")
    if size is not None and v.size != size:
        raise ValueError(f"{name} has {v.size} values, expected {size}")
    if not np.isfinite(v).all():
        raise ValueError(f"{name} holds NaN or infinite values")
    return v


def _probabilities(pd: Any, size: int) -> np.ndarray:
    p = _finite(pd, "pd", size)
    if ((p < 0) | (p > 1)).any():
        raise ValueError("pd must lie in [0, 1]")
    return p


def _counts(counts: Any, name: str) -> np.ndarray:
    c = _finite(counts, name)
    if c.size == 0 or (c < 0).any() or c.sum() <= 0:
        raise ValueError(f"{name} must be non-negative counts with a positive total")
    return c


def _both_classes(y: np.ndarray) -> bool:
    return 0 < int(y.sum()) < y.size


# --- calibration ------------------------------------------------------------------------------------


def quantile_groups(values: np.ndarray, bins: int = 10) -> np.ndarray:
    """Equal-count group index (0-based) per value; equal values always share a group.

    A tie block is placed by its average rank, so a large block lands where most of it would fall and
    the groups after it stay balanced; groups that end up empty are simply absent.

    >>> quantile_groups(np.array([0.3, 0.1, 0.2, 0.4]), bins=2).tolist()
    [1, 0, 0, 1]
    >>> quantile_groups(np.array([0.1, 0.1, 0.1, 0.9]), bins=2).tolist()
    [0, 0, 0, 1]
    """
    assert bins >= 1, "bins must be positive"
    v = np.asarray(values, dtype=np.float64)
    if v.size == 0:
        return np.zeros(0, dtype=np.int64)
    position = (rankdata(v, method="average") - 0.5) / v.size  # in (0, 1)
    groups = np.floor(position * bins).astype(np.int64)
    assert groups.min() >= 0 and groups.max() < bins
    return groups


def calibration(y_bad: np.ndarray, pd: np.ndarray, bins: int = 10) -> dict:
    """Brier score, ECE and the predicted-versus-observed table by deciles of predicted PD.

    Deciles are equal-count with ties kept together (:func:`quantile_groups`), numbered 1..k in order of
    PD (k < ``bins`` when ties leave groups empty). ECE is the count-weighted mean of
    ``|mean_pd − bad_rate|`` over those groups, so it lies in [0, 1].

    >>> c = calibration(np.array([0, 1, 0, 1]), np.array([0.2, 0.2, 0.6, 0.6]), bins=2)
    >>> round(c["brier"], 12), round(c["ece"], 12), [d["bad_rate"] for d in c["deciles"]]
    (0.3, 0.2, [0.5, 0.5])
    """
    y = _outcomes(y_bad)
    p = _probabilities(pd, y.size)
    groups = quantile_groups(p, bins)
    deciles = []
    for number, group in enumerate(np.unique(groups), start=1):
        member = groups == group
        deciles.append(
            {
                "decile": number,
                "count": int(member.sum()),
                "mean_pd": float(p[member].mean()),
                "bad_rate": float(y[member].mean()),
                "pd_min": float(p[member].min()),
                "pd_max": float(p[member].max()),
            }
        )
    ece = sum(d["count"] * abs(d["mean_pd"] - d["bad_rate"]) for d in deciles) / y.size
    assert sum(d["count"] for d in deciles) == y.size
    assert -1e-12 <= ece <= 1 + 1e-12
    return {"brier": float(np.mean((p - y) ** 2)), "ece": float(min(max(ece, 0.0), 1.0)), "deciles": deciles}


# --- stability --------------------------------------------------------------------------------------


def _shares(counts: np.ndarray) -> np.ndarray:
    return counts / counts.sum()


def _psi_terms(expected_share: Any, actual_share: Any, floor: float) -> np.ndarray:
    """Per-bin (a − e)·ln(a / e) with both shares floored; each term is ≥ 0 whatever the floor."""
    e = _finite(expected_share, "expected_share")
    a = _finite(actual_share, "actual_share", e.size)
    assert e.size > 0, "PSI needs at least one bin"
    assert floor > 0, "the floor must be positive to keep the logarithm finite"
    for name, share in (("expected_share", e), ("actual_share", a)):
        assert (share >= 0).all(), f"{name} must not be negative"
        assert abs(share.sum() - 1.0) <= SHARE_TOLERANCE, f"{name} must sum to 1, got {share.sum()!r}"
    e, a = np.maximum(e, floor), np.maximum(a, floor)
    terms = (a - e) * np.log(a / e)
    assert (terms >= 0).all()
    return terms


def psi(expected_share: np.ndarray, actual_share: np.ndarray, floor: float = PSI_FLOOR) -> float:
    """Population stability index Σ (a − e)·ln(a / e): how far today's mix moved from the reference.

    Shares are floored at ``floor`` so an empty bin costs a large but finite amount.

    >>> round(psi(np.array([0.5, 0.5]), np.array([0.6, 0.4])), 6)
    0.040547
    >>> psi(np.array([0.2, 0.8]), np.array([0.2, 0.8]))
    0.0
    """
    return float(_psi_terms(expected_share, actual_share, floor).sum())


def psi_status(value: float, thresholds: Mapping[str, float] = THRESHOLDS) -> str:
    """``stable`` below 0.1, ``watch`` below 0.25, ``shifted`` from there (the industry rule of thumb)."""
    if value < thresholds["psi_watch"]:
        return "stable"
    return "watch" if value < thresholds["psi_shifted"] else "shifted"


def psi_table(
    expected_counts: Any,
    actual_counts: Any,
    labels: Sequence[str],
    *,
    floor: float = PSI_FLOOR,
    thresholds: Mapping[str, float] = THRESHOLDS,
) -> dict:
    """PSI from bin counts, with each bin's share and contribution so a reader sees which bin moved.

    >>> t = psi_table([50, 50], [60, 40], ["low", "high"])
    >>> round(t["psi"], 6), t["status"], round(t["bins"][0]["contribution"], 6)
    (0.040547, 'stable', 0.018232)
    """
    e = _shares(_counts(expected_counts, "expected_counts"))
    a = _shares(_counts(actual_counts, "actual_counts"))
    if not (e.size == a.size == len(labels)):
        sizes = f"{e.size}, {a.size}, {len(labels)}"
        raise ValueError(f"expected_counts, actual_counts and labels differ in length ({sizes})")
    terms = _psi_terms(e, a, floor)
    value = float(terms.sum())
    rows = [
        {"label": str(label), "expected_share": float(es), "actual_share": float(as_), "contribution": float(t)}
        for label, es, as_, t in zip(labels, e, a, terms, strict=True)
    ]
    return {"psi": value, "bins": rows, "status": psi_status(value, thresholds)}


def quantile_edges(values: np.ndarray, bins: int = 10) -> np.ndarray:
    """Inner edges (at most ``bins − 1``, strictly increasing) cutting the reference sample in equal counts.

    Freeze them on the development sample and reuse them on every later sample; NaN is ignored here and
    gets its own bin in :func:`bin_counts`.

    >>> quantile_edges(np.array([1.0, 2, 3, 4, 5, 6, 7, 8]), bins=4).tolist()
    [2.75, 4.5, 6.25]
    >>> quantile_edges(np.array([1.0, 1, 1, 1, 2, 3]), bins=2).tolist()
    [1.0]
    """
    assert bins >= 1, "bins must be positive"
    v = np.asarray(values, dtype=np.float64)
    v = v[np.isfinite(v)]
    if v.size == 0 or bins == 1:
        return np.zeros(0)
    edges = np.unique(np.quantile(v, np.arange(1, bins) / bins))
    edges = edges[edges < v.max()]  # a bin above the maximum would be empty in the reference
    assert np.all(np.diff(edges) > 0)
    return edges


def bin_counts(values: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """Counts in ``(-inf, e0], (e0, e1], …, (e_last, inf)`` and a last bin for NaN (always present).

    The result has ``len(edges) + 2`` entries, so two samples binned with the same edges line up.

    >>> bin_counts(np.array([1.0, 2, 3, np.nan]), np.array([2.0])).tolist()
    [2, 1, 1]
    """
    e = np.asarray(edges, dtype=np.float64)
    assert e.ndim == 1 and np.all(np.diff(e) > 0), "edges must be strictly increasing"
    v = np.asarray(values, dtype=np.float64).ravel()
    missing = np.isnan(v)
    index = np.searchsorted(e, v[~missing], side="left")
    counts = np.bincount(index, minlength=e.size + 1)
    return np.append(counts, int(missing.sum())).astype(np.int64)


def edge_labels(edges: np.ndarray, digits: int = 4) -> list[str]:
    """Labels matching :func:`bin_counts` (one per bin, the last for missing values).

    >>> edge_labels(np.array([500.0, 600.0]))
    ['≤ 500', '(500, 600]', '> 600', 'missing']
    """
    text = [f"{x:.{digits}g}" for x in np.asarray(edges, dtype=np.float64)]
    if not text:
        return ["all", "missing"]
    inner = [f"({lo}, {hi}]" for lo, hi in zip(text[:-1], text[1:], strict=True)]
    return [f"≤ {text[0]}", *inner, f"> {text[-1]}", "missing"]


# --- information value ------------------------------------------------------------------------------


def information_value(event_counts: Any, nonevent_counts: Any, floor: float | None = None) -> float:
    """IV = Σ (dist_nonevent − dist_event)·ln(dist_nonevent / dist_event), a variable's separating power.

    With ``floor=None`` a bin without events or without non-events adds nothing, exactly as optbinning's
    binning table does; with a float both distributions are floored there instead, so such a bin counts.

    >>> round(information_value([10, 30], [90, 70]), 6)
    0.421852
    >>> round(information_value([0, 10], [50, 50]), 6)  # only the second bin counts: 0.5·ln 2
    0.346574
    """
    ev = _counts(event_counts, "event_counts")
    ne = _counts(nonevent_counts, "nonevent_counts")
    if ev.size != ne.size:
        raise ValueError(f"event_counts and nonevent_counts differ in length ({ev.size}, {ne.size})")
    p_ev, p_ne = _shares(ev), _shares(ne)
    if floor is None:
        keep = (ev > 0) & (ne > 0)
        p_ev, p_ne = p_ev[keep], p_ne[keep]
    else:
        assert floor > 0, "the floor must be positive"
        p_ev, p_ne = np.maximum(p_ev, floor), np.maximum(p_ne, floor)
    value = float(np.sum((p_ne - p_ev) * np.log(p_ne / p_ev)))
    assert value >= 0
    return value


def iv_strength(value: float) -> str:
    """Rule-of-thumb label: <0.02 useless, <0.1 weak, <0.3 medium, <0.5 strong, else suspicious.

    >>> [iv_strength(v) for v in (0.01, 0.05, 0.2, 0.4, 0.7)]
    ['useless', 'weak', 'medium', 'strong', 'suspicious']
    """
    return next(label for bound, label in IV_STRENGTH if value < bound)


# --- curves -----------------------------------------------------------------------------------------


def thin(n: int, max_points: int, keep: Sequence[int] = ()) -> np.ndarray:
    """At most ``max_points`` sorted indices into ``n`` points, evenly spread, first, last and ``keep`` kept.

    >>> thin(10, 4).tolist()
    [0, 3, 6, 9]
    >>> thin(10, 4, keep=[5]).tolist()
    [0, 4, 5, 9]
    """
    assert n >= 1
    extra = sorted({int(k) for k in keep} - {0, n - 1})
    least = 2 + len(extra)
    assert least <= max_points <= MAX_CURVE_POINTS, f"max_points must be in [{least}, {MAX_CURVE_POINTS}]"
    assert all(0 < k < n - 1 for k in extra), "keep must index into the points"
    if n <= max_points:
        return np.arange(n)
    chosen = set(np.round(np.linspace(0, n - 1, max_points - len(extra))).astype(np.int64).tolist())
    chosen |= set(extra)
    while len(chosen) > max_points:  # a kept point took a slot: drop the even points nearest to it
        spare = sorted(chosen - set(extra) - {0, n - 1}, key=lambda i: min(abs(i - k) for k in extra))
        chosen.discard(spare[0])
    indices = np.array(sorted(chosen), dtype=np.int64)
    assert indices[0] == 0 and indices[-1] == n - 1 and indices.size <= max_points
    return indices


def _cumulative(y_bad: Any, risk: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Counts of bads and goods at or above each distinct risk, riskiest first, starting from (0, 0)."""
    y = _outcomes(y_bad)
    r = _finite(risk, "risk", y.size)
    if not _both_classes(y):
        raise ValueError("curves need both goods and bads")
    order = np.argsort(-r, kind="mergesort")
    r_sorted, y_sorted = r[order], y[order]
    last_of_tie = np.r_[r_sorted[1:] != r_sorted[:-1], True]
    bads = np.r_[0, np.cumsum(y_sorted)[last_of_tie]]
    goods = np.r_[0, np.cumsum(1 - y_sorted)[last_of_tie]]
    thresholds = np.r_[np.inf, r_sorted[last_of_tie]]
    return bads, goods, thresholds, y


def roc_points(y_bad: np.ndarray, risk: np.ndarray, max_points: int = 200) -> dict:
    """ROC curve (false-positive rate, true-positive rate) at each distinct risk, thinned to ``max_points``.

    Before thinning the points are scikit-learn's ``roc_curve(..., drop_intermediate=False)``.

    >>> roc_points(np.array([0, 0, 1, 1]), np.array([0.1, 0.4, 0.35, 0.8]))
    {'fpr': [0.0, 0.0, 0.5, 0.5, 1.0], 'tpr': [0.0, 0.5, 0.5, 1.0, 1.0]}
    """
    bads, goods, _, _ = _cumulative(y_bad, risk)
    fpr, tpr = goods / goods[-1], bads / bads[-1]
    keep = thin(fpr.size, max_points)
    return {"fpr": fpr[keep].tolist(), "tpr": tpr[keep].tolist()}


def ks_curve(y_bad: np.ndarray, risk: np.ndarray, max_points: int = 200) -> dict:
    """Cumulative shares of bads and goods as the riskiest share of the population is taken, and the KS.

    ``population`` is that share (0 to 1); ``ks`` is the largest gap and ``ks_population`` where it
    occurs — that point is always kept when thinning, so a chart shows the true KS.

    >>> k = ks_curve(np.array([0, 0, 1, 1]), np.array([0.1, 0.4, 0.35, 0.8]))
    >>> k["population"], k["cum_bad"], k["ks"], k["ks_population"]
    ([0.0, 0.25, 0.5, 0.75, 1.0], [0.0, 0.5, 0.5, 1.0, 1.0], 0.5, 0.25)
    """
    bads, goods, _, y = _cumulative(y_bad, risk)
    population = (bads + goods) / y.size
    cum_bad, cum_good = bads / bads[-1], goods / goods[-1]
    gap = np.abs(cum_bad - cum_good)
    at = int(np.argmax(gap))
    keep = thin(population.size, max_points, keep=[at] if 0 < at < population.size - 1 else [])
    return {
        "population": population[keep].tolist(),
        "cum_bad": cum_bad[keep].tolist(),
        "cum_good": cum_good[keep].tolist(),
        "ks": float(gap[at]),
        "ks_population": float(population[at]),
    }


# --- the report -------------------------------------------------------------------------------------


def _summary(values: np.ndarray) -> dict:
    q = np.quantile(values, [0.0, 0.1, 0.5, 0.9, 1.0])
    return {
        "count": int(values.size),
        "mean": float(values.mean()),
        "min": float(q[0]),
        "p10": float(q[1]),
        "median": float(q[2]),
        "p90": float(q[3]),
        "max": float(q[4]),
    }


def _alert(level: str, subject: str, metric: str, value: float, threshold: float, message: str) -> dict:
    return {
        "level": level,
        "subject": subject,
        "metric": metric,
        "value": float(value),
        "threshold": float(threshold),
        "message": message,
    }


def _model_section(
    name: str, model: Mapping[str, Any], y: np.ndarray | None, n: int, *, bins: int, max_points: int
) -> dict:
    """One model's numbers: PD (and score) summaries always; performance only when outcomes exist."""
    if "pd" not in model:
        raise ValueError(f"model {name!r} has no 'pd'")
    if n == 0:
        raise ValueError("the sample is empty")
    p = _probabilities(model["pd"], n)
    section: dict[str, Any] = {"name": name, "pd_summary": _summary(p), "score_summary": None}
    if model.get("score") is not None:
        section["score_summary"] = _summary(_finite(model["score"], f"score of model {name!r}", n))
    section.update(discrimination=None, calibration=None, roc_points=None, ks_curve=None)
    if y is not None:
        section["calibration"] = calibration(y, p, bins)
        if _both_classes(y):
            section["discrimination"] = discrimination(y, p)
            section["roc_points"] = roc_points(y, p, max_points)
            section["ks_curve"] = ks_curve(y, p, max_points)
    return section


def _model_alerts(section: dict, limits: Mapping[str, float]) -> list[dict]:
    name, found = section["name"], []
    disc, cal = section["discrimination"], section["calibration"]
    if disc is not None and disc["auc"] < (least := limits["auc_min"]):
        why = f"AUC {disc['auc']:.3f} is below {least:.2f}: the model barely ranks"
        found.append(_alert("critical", name, "auc", disc["auc"], least, why))
    if cal is not None and cal["ece"] > (most := limits["ece_max"]):
        why = f"calibration error {cal['ece']:.3f} is above {most:.2f}: PDs and bad rates disagree"
        found.append(_alert("warning", name, "ece", cal["ece"], most, why))
    return found


def _psi_alert(subject: str, table: dict, limits: Mapping[str, float]) -> list[dict]:
    if table["status"] == "stable":
        return []
    shifted = table["status"] == "shifted"
    threshold = limits["psi_shifted"] if shifted else limits["psi_watch"]
    why = f"PSI {table['psi']:.3f}: {subject} has " + ("shifted" if shifted else "moved, watch it")
    return [_alert("critical" if shifted else "warning", subject, "psi", table["psi"], threshold, why)]


def _psi_spec(spec: Mapping[str, Any], floor: float, limits: Mapping[str, float]) -> dict:
    """A PSI table from ``{"expected_counts", "actual_counts", "labels"}``."""
    return psi_table(spec["expected_counts"], spec["actual_counts"], spec["labels"], floor=floor, thresholds=limits)


def _feature_psi(feature_psi: Mapping[str, Mapping[str, Any]], floor: float, limits: Mapping[str, float]) -> list[dict]:
    tables = [{"feature": str(name), **_psi_spec(spec, floor, limits)} for name, spec in feature_psi.items()]
    return sorted(tables, key=lambda t: (-t["psi"], t["feature"]))


def _information_values(values: Mapping[str, float]) -> list[dict]:
    rows = []
    for name, value in values.items():
        v = float(value)
        if not (math.isfinite(v) and v >= 0):
            raise ValueError(f"information value of {name!r} must be a finite non-negative number")
        rows.append({"feature": str(name), "iv": v, "strength": iv_strength(v)})
    return sorted(rows, key=lambda r: (-r["iv"], r["feature"]))


def _iv_alerts(rows: list[dict], limits: Mapping[str, float]) -> list[dict]:
    most = limits["iv_suspicious"]
    suspicious = [r for r in rows if r["iv"] >= most]
    why = "IV {:.3f} is too high to trust: check the feature for leakage of the outcome"
    return [_alert("warning", r["feature"], "iv", r["iv"], most, why.format(r["iv"])) for r in suspicious]


def _sample(y: np.ndarray | None, n: int) -> dict:
    if y is None:
        return {"n": n, "has_outcomes": False, "n_bad": None, "bad_rate": None}
    return {"n": n, "has_outcomes": True, "n_bad": int(y.sum()), "bad_rate": float(y.mean())}


_LEVEL_ORDER = {"critical": 0, "warning": 1, "info": 2}


def validation_report(
    *,
    models: dict[str, dict],
    y_bad: np.ndarray | None,
    feature_psi: dict[str, dict] | None = None,
    score_psi: dict | None = None,
    information_values: dict[str, float] | None = None,
    meta: dict | None = None,
    bins: int = 10,
    max_points: int = 200,
    psi_floor: float = PSI_FLOOR,
    thresholds: Mapping[str, float] | None = None,
) -> dict:
    """Every number a validator asks for, as one JSON-serialisable, NaN-free document.

    ``models``: name -> ``{"pd": array, "score": array | None}``, all on the sample ``y_bad`` describes
    (``y_bad=None`` when outcomes are not known yet: monitoring only). ``feature_psi`` and ``score_psi``
    give bin counts of a reference and a current sample; ``information_values``: feature -> IV.
    Alerts come first by severity: critical, then warning, then info.
    """
    limits = {**THRESHOLDS, **(thresholds or {})}
    if not models:
        raise ValueError("models must name at least one model")
    y = _outcomes(y_bad) if y_bad is not None else None
    n = y.size if y is not None else int(np.asarray(next(iter(models.values())).get("pd", [])).size)
    sections = [_model_section(str(k), m, y, n, bins=bins, max_points=max_points) for k, m in models.items()]
    alerts = [a for s in sections for a in _model_alerts(s, limits)]
    if y is not None and not _both_classes(y):
        why = "outcomes hold only one class: discrimination, ROC and KS are not computed"
        alerts.append(_alert("info", "sample", "bad_rate", float(y.mean()), 0.0, why))
    score_table = None if score_psi is None else _psi_spec(score_psi, psi_floor, limits)
    if score_table is not None:
        alerts += _psi_alert("score", score_table, limits)
    features = _feature_psi(feature_psi or {}, psi_floor, limits)
    alerts += [a for t in features for a in _psi_alert(t["feature"], t, limits)]
    ivs = _information_values(information_values or {})
    alerts += _iv_alerts(ivs, limits)
    report = {
        "meta": dict(meta or {}),
        "sample": _sample(y, n),
        "thresholds": {k: float(v) for k, v in limits.items()},
        "alerts": sorted(alerts, key=lambda a: _LEVEL_ORDER[a["level"]]),
        "models": sections,
        "score_psi": score_table,
        "feature_psi": features,
        "information_values": ivs,
    }
    try:
        json.dumps(report, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"the report is not plain JSON (check meta): {exc}") from exc
    return report
