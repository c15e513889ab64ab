"""Line reassessment for a batch of lines: who is reviewed, which change the rules choose, and its amounts.

One pure function, :func:`reassess`, over a batch of the book snapshot (one row per line, with the
behaviour score's ``behaviour_grade``), for one business date. It is what the close of business
runs on every batch, on any runner, so it is vectorised (polars and numpy) end to end:

1. **review**: a line is reviewed on a scheduled day of the frequency (daily, weekly, monthly,
   renewal-only: only in the renewal window) or, on any day, when an event trigger is set (a new
   tax or invoice record, an overdue, an external alert);
2. **rules**: the JDM tables (:mod:`smelend.lines.reassess_rules`) fire their reason codes per
   action on the rule inputs of :func:`rule_inputs` (clipped and rounded so that a column has few
   distinct values);
3. **amounts**: increases (+ ``increase_step``, capped by the product's maximum and the capacity
   model's debt-to-revenue and owner caps on refreshed revenue, rounded down to the capacity model's
   unit, and by the line's share of the room its owner has left under the owner cap over every
   enterprise, reason ``CAP_OWNER`` when that share is what limited it), decreases (-
   ``decrease_step``, never below the product's minimum nor below what is used: a line drawn past
   its new limit is capped at used, so nothing is available, and keeps the decided
   limit as its target, stepped down to as principal is repaid), seasonal temporary
   limits (``uplift`` of the limit, within the product's maximum, until the season's last day),
   renewals (another ``line_validity_months``), freeze and unfreeze;
4. **choice**: an action is allowed when its rule fired, its amounts change something and the
   minimum interval since the line's last change has passed; the first allowed action in
   ``precedence`` wins (one change a line a day). A temporary limit whose season is over is taken
   back whatever else happens (``temporary-end``, or folded into the day's change).

Amounts are integer fen, ratios exact (Decimal steps as integer fractions), rounding down.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from fractions import Fraction
from pathlib import Path

import numpy as np
import polars as pl
from dateutil.relativedelta import relativedelta

from smelend.lines.reassess_rules import ReassessmentRules, load_rules
from smelend.lines.settings import TEMPORARY_END, ReassessmentSettings, load_settings
from smelend.money import parse_yuan
from smelend.products import Catalogue, load_catalogue
from smelend.risk.limits import LimitSettings, load_limit_settings

INPUT_COLUMNS = (
    "line_id", "product_id", "status", "limit_fen", "used_fen", "end_date", "months_on_book", "max_dpd",
    "max_dpd_365d", "on_time_streak", "late_payments_365d", "revenue_12m_fen", "revenue_trend", "tax_grade",
    "event_new_tax_record", "event_new_invoice", "event_external_alert", "last_change_date",
    "temp_limit_fen", "temp_limit_until", "behaviour_grade",
)
"""The snapshot columns (part of SNAPSHOT_SCHEMA) plus the behaviour grade that reassessment reads."""

CHANGE_SCHEMA = {
    "line_id": pl.Int64,
    "action": pl.Utf8,
    "reasons": pl.Utf8,  # reason codes, comma-separated, in rule order
    "limit_before_fen": pl.Int64,
    "limit_after_fen": pl.Int64,
    "used_fen": pl.Int64,
    "status_before": pl.Utf8,
    "status_after": pl.Utf8,
    "end_before": pl.Date,
    "end_after": pl.Date,
    "temp_limit_fen": pl.Int64,  # after the change (0: none)
    "temp_limit_until": pl.Date,
    "effective_date": pl.Date,
    "target_limit_fen": pl.Int64,  # the decided limit when it was capped at used (null: not capped)
}
"""One row per line that changes: the decision :mod:`smelend.lines.changes` posts to the line.

A decision whose limit would fall below what is used (a decrease, or a season's end on a line drawn
into its temporary part) posts ``limit_after_fen = used_fen`` and keeps the decided limit as
``target_limit_fen``: the line steps down to it as principal is repaid (:func:`smelend.store.line_changes.step_down`)."""

_OWNER_BASIS = "owner_income_monthly"


@dataclass(frozen=True)
class ReassessContext:
    """Everything reassessment reads besides the batch: built once per process or Ray actor."""

    settings: ReassessmentSettings
    rules: ReassessmentRules
    product_min_fen: dict[str, int]
    product_max_fen: dict[str, int]
    validity_months: dict[str, int]
    revenue_capped: dict[str, bool]  # product -> does the debt-to-revenue cap apply (enterprise bases)
    max_debt_to_revenue: Fraction
    owner_cap_fen: int
    unit_fen: int
    strategy_version: str

    def versions(self) -> dict[str, str]:
        return {"rules": f"{self.rules.name}@{self.rules.version}:{self.rules.sha256[:12]}", "settings": self.settings.version, "strategy": self.strategy_version}


def build_context(settings: ReassessmentSettings | None = None, catalogue: Catalogue | None = None) -> ReassessContext:
    """Load the settings, the rules, the products' ranges and the strategy's capacity model."""
    import yaml

    from smelend.risk.strategy import SHIPPED_DIR

    settings = settings or load_settings()
    catalogue = catalogue or load_catalogue()
    rules = load_rules(settings.rules_path, settings.rules.name, settings.rules.version)
    folder = Path(SHIPPED_DIR) / settings.strategy
    limits: LimitSettings = load_limit_settings(folder / "limits.yaml")  # the capacity model alone: no models loaded
    strategy_version = str((yaml.safe_load((folder / "strategy.yaml").read_text(encoding="utf-8")) or {}).get("version", ""))
    products = {pid: catalogue[pid] for pid in catalogue}
    revenue_capped = {pid: limits.bases[limits.products[pid]].source != _OWNER_BASIS if pid in limits.products else False for pid in products}
    return ReassessContext(
        settings=settings,
        rules=rules,
        product_min_fen={pid: p.limit.min_fen for pid, p in products.items()},
        product_max_fen={pid: p.limit.max_fen for pid, p in products.items()},
        validity_months={pid: p.line_validity_months for pid, p in products.items()},
        revenue_capped=revenue_capped,
        max_debt_to_revenue=Fraction(limits.max_debt_to_revenue),
        owner_cap_fen=parse_yuan(limits.owner_cap, "owner_cap"),
        unit_fen=parse_yuan(limits.rounding_unit, "rounding_unit"),
        strategy_version=f"{settings.strategy}@{strategy_version}",
    )


def _rounded(expr: pl.Expr, step: Decimal) -> pl.Expr:
    """Round a ratio to ``step`` (the rules' resolution), so the column has few distinct values."""
    decimals = max(0, -step.normalize().as_tuple().exponent)  # type: ignore[operator]
    return ((expr / float(step)).round(0) * float(step)).round(decimals)


def rule_inputs(frame: pl.DataFrame, as_of: date, context: ReassessContext) -> pl.DataFrame:
    """The rules' inputs, one column per field path, clipped and rounded as the settings say."""
    s = context.settings
    days, months, count = s.clip.days, s.clip.months, s.clip.count
    to_expiry = (pl.col("end_date") - pl.lit(as_of)).dt.total_days()
    temp_live = (pl.col("temp_limit_fen").fill_null(0) > 0) & (pl.col("temp_limit_until").fill_null(as_of) >= pl.lit(as_of))
    season = s.season_on(as_of) is not None
    return frame.select(
        pl.col("status").alias("line.status"),
        _rounded(pl.col("used_fen") / pl.col("limit_fen"), s.resolution.utilisation).alias("line.utilisation"),
        pl.col("months_on_book").clip(0, months).alias("line.months_on_book"),
        ((to_expiry >= 0) & (to_expiry < s.renewal_window_days)).alias("line.in_renewal_window"),
        (pl.col("used_fen") > 0).alias("line.has_principal"),
        temp_live.alias("line.has_temp_limit"),
        pl.col("behaviour_grade").alias("behaviour.grade"),
        pl.col("max_dpd").clip(0, days).alias("repay.dpd"),
        pl.col("max_dpd_365d").clip(0, days).alias("repay.max_dpd_365d"),
        pl.col("on_time_streak").clip(0, count).alias("repay.on_time_streak"),
        pl.col("late_payments_365d").clip(0, count).alias("repay.late_payments_365d"),
        _rounded(pl.col("revenue_trend").clip(-1.0, 10.0), s.resolution.revenue_trend).alias("enterprise.revenue_trend"),
        pl.col("tax_grade").alias("enterprise.tax_grade"),
        pl.col("event_external_alert").fill_null(False).alias("event.external_alert"),
        pl.lit(season).alias("season.active"),
    )


def row_context(inputs: pl.DataFrame, row: int) -> dict[str, dict[str, object]]:
    """One row of :func:`rule_inputs` as the nested context the JDM graph reads (for zen per row)."""
    nested: dict[str, dict[str, object]] = {}
    for path, value in inputs.row(row, named=True).items():
        head, tail = path.split(".", 1)
        nested.setdefault(head, {})[tail] = value
    return nested


def review_mask(frame: pl.DataFrame, as_of: date, settings: ReassessmentSettings) -> np.ndarray:
    """Lines reviewed today: a scheduled day (or the renewal window, renewal-only), or an event."""
    triggers = {
        "new_tax_record": pl.col("event_new_tax_record").fill_null(False),
        "new_invoice": pl.col("event_new_invoice").fill_null(False),
        "overdue": pl.col("max_dpd").fill_null(0) > 0,
        "external_alert": pl.col("event_external_alert").fill_null(False),
    }
    expr = pl.lit(settings.scheduled(as_of))
    if settings.frequency == "renewal-only":
        to_expiry = (pl.col("end_date") - pl.lit(as_of)).dt.total_days()
        expr = expr | ((to_expiry >= 0) & (to_expiry < settings.renewal_window_days))
    for name in settings.event_triggers:
        expr = expr | triggers[name]
    return frame.select(expr.alias("r")).to_series().to_numpy().astype(bool, copy=False)


def _times(values: np.ndarray, ratio: Fraction) -> np.ndarray:
    """values x ratio, rounded down, exactly (int64; amounts are at most 10^14 fen, ratios small fractions)."""
    assert ratio.denominator <= 10**4 and abs(ratio.numerator) <= 10**5, ratio
    return values * ratio.numerator // ratio.denominator


def _floor_unit(values: np.ndarray, unit: int) -> np.ndarray:
    return values // unit * unit


OWNER_CAP_REASON = "CAP_OWNER"
"""Added to an increase's (or temporary limit's) reason codes when the owner-level cap made it smaller."""


def owner_share(frame: pl.DataFrame, limit: np.ndarray, owner_cap_fen: int, unit: int) -> np.ndarray:
    """How much each line may add to its limit under the owner-level cap: the room left under the cap
    by the owner's exposure over every enterprise (``owner_limits_fen``, from the whole snapshot;
    summed over this batch when a frame lacks it; the line alone when the owner is unknown), shared
    between the owner's lines in proportion to their limits and rounded down to the unit — so even if
    every line of the owner grows the same day, in any batches, the total stays within the cap."""
    from smelend.lines.snapshot import owner_exposure, with_owner_limits

    if "owner_limits_fen" in frame.columns:
        total = frame.select(pl.col("owner_limits_fen").fill_null(owner_exposure())).to_series()
    elif "owner_person_id" in frame.columns:
        total = with_owner_limits(frame).get_column("owner_limits_fen")
    else:
        total = frame.select(owner_exposure()).to_series()
    owner_total = np.maximum(total.to_numpy().astype(np.int64), limit)
    room_units = np.maximum(owner_cap_fen - owner_total, 0) // unit
    return room_units * limit // np.maximum(owner_total, 1) * unit  # at most 10^6 units x 10^12 fen: no overflow


def reassess(frame: pl.DataFrame, as_of: date, context: ReassessContext) -> pl.DataFrame:
    """The changes for ``as_of`` (rows of :data:`CHANGE_SCHEMA`, in the batch's line order)."""
    if frame.height == 0:
        return pl.DataFrame(schema=CHANGE_SCHEMA)
    s = context.settings
    inputs = rule_inputs(frame, as_of, context)
    fired = context.rules.fire(inputs)
    n = frame.height

    limit = frame.get_column("limit_fen").to_numpy().astype(np.int64)
    used = frame.get_column("used_fen").to_numpy().astype(np.int64)
    status = frame.get_column("status").to_numpy()
    products = frame.get_column("product_id")
    pmin = products.replace_strict(context.product_min_fen, default=0, return_dtype=pl.Int64).to_numpy()
    pmax = products.replace_strict(context.product_max_fen, default=0, return_dtype=pl.Int64).to_numpy()
    known = pmax > 0
    temp = frame.get_column("temp_limit_fen").fill_null(0).to_numpy().astype(np.int64)
    temp_until = frame.get_column("temp_limit_until")
    expired = ((temp > 0) & temp_until.fill_null(as_of).lt(as_of).to_numpy()) if n else np.zeros(0, bool)
    live_temp = np.where(expired, 0, temp)
    base = limit - temp  # the line's own limit, without its temporary part (live or ended)
    unit = context.unit_fen

    # capacity: debt-to-revenue on refreshed revenue (enterprise bases), the owner cap, the product's maximum
    revenue = frame.get_column("revenue_12m_fen").fill_null(0).to_numpy().astype(np.int64)
    capped = products.replace_strict(context.revenue_capped, default=False, return_dtype=pl.Boolean).to_numpy()
    capacity = np.minimum(pmax, context.owner_cap_fen)
    capacity = np.where(capped, np.minimum(capacity, _floor_unit(_times(revenue, context.max_debt_to_revenue), unit)), capacity)

    increase_to = np.minimum(_floor_unit(_times(base, 1 + Fraction(s.increase_step)), unit), capacity)
    # the owner-level cap across every enterprise of the same owner: each line may take its share of the room
    share = owner_share(frame, limit, context.owner_cap_fen, unit)
    owner_capped = increase_to > base + share
    increase_to = np.minimum(increase_to, base + share)
    decrease_to = np.maximum(np.maximum(_floor_unit(_times(base, 1 - Fraction(s.decrease_step)), unit), pmin), 1)
    season = s.season_on(as_of)
    if season is not None:
        uplift = _floor_unit(_times(base, Fraction(season[0].uplift)), unit)
        temporary = np.minimum(uplift, np.maximum(pmax - base, 0))
        owner_capped_temp = temporary > share
        temporary = np.minimum(temporary, share)
    else:
        owner_capped_temp = np.zeros(n, dtype=bool)
        temporary = np.zeros(n, dtype=np.int64)

    # what each action would make of the line: (limit after, temp after)
    after = {
        "freeze": (base + live_temp, live_temp),
        "unfreeze": (base + live_temp, live_temp),
        "renew": (base + live_temp, live_temp),
        "increase": (increase_to + live_temp, live_temp),
        "decrease": (decrease_to, np.zeros(n, dtype=np.int64)),  # a decrease also ends a temporary limit
        "temporary": (base + temporary, temporary),
    }
    effective = {
        "freeze": status == "active",
        "unfreeze": status == "frozen",
        "renew": status == "active",
        "increase": increase_to > base,
        "decrease": np.maximum(decrease_to, used) < limit,
        "temporary": (temporary > 0) & (live_temp == 0),
    }
    days_since = frame.select((pl.lit(as_of) - pl.col("last_change_date")).dt.total_days().fill_null(10**6)).to_series().to_numpy()
    reviewed = review_mask(frame, as_of, s) & known

    chosen = np.full(n, -1, dtype=np.int64)
    reasons = np.full(n, None, dtype=object)
    for rank, action in enumerate(s.precedence):
        rules = fired[action]
        if not rules:
            continue
        any_fired = np.zeros(n, dtype=bool)
        for _, mask in rules:
            any_fired |= mask
        allowed = any_fired & effective[action] & reviewed & (days_since >= s.min_interval_days[action]) & (chosen < 0)
        if not allowed.any():
            continue
        chosen[allowed] = rank
        rows = np.flatnonzero(allowed)
        codes = [[code for code, mask in rules if mask[i]] for i in rows.tolist()]
        if action in ("increase", "temporary"):  # say so when the owner's other lines took some of the room
            bound = owner_capped if action == "increase" else owner_capped_temp
            codes = [c + [OWNER_CAP_REASON] if bound[i] else c for c, i in zip(codes, rows.tolist())]
        reasons[rows] = [",".join(c) for c in codes]

    changed = (chosen >= 0) | expired
    rows = np.flatnonzero(changed)
    if rows.size == 0:
        return pl.DataFrame(schema=CHANGE_SCHEMA)
    names = np.array([*s.precedence, TEMPORARY_END], dtype=object)
    action = names[np.where(chosen[rows] >= 0, chosen[rows], len(s.precedence))]
    limit_after = np.empty(rows.size, dtype=np.int64)
    temp_after = np.empty(rows.size, dtype=np.int64)
    for k, name in enumerate(names.tolist()):
        pick = action == name
        if not pick.any():
            continue
        if name == TEMPORARY_END:
            limit_after[pick] = base[rows[pick]]
            temp_after[pick] = 0
        else:
            limit_after[pick] = after[name][0][rows[pick]]
            temp_after[pick] = after[name][1][rows[pick]]
    decided = limit_after.copy()
    limit_after = np.maximum(limit_after, used[rows])  # never below used: the rest is not available
    target = np.where(decided < limit_after, decided, -1)  # capped at used: the limit to step down to
    status_before = status[rows]
    status_after = np.where(action == "freeze", "frozen", np.where(action == "unfreeze", "active", status_before))
    end_before = frame.get_column("end_date").gather(rows).to_list()
    product_rows = products.gather(rows).to_list()
    end_after = [end + relativedelta(months=context.validity_months[p]) if a == "renew" else end for end, p, a in zip(end_before, product_rows, action.tolist())]
    until_before = temp_until.gather(rows).to_list()
    season_end = season[1] if season is not None else None
    until_after = [
        season_end if a == "temporary" else (None if t == 0 else u)
        for a, t, u in zip(action.tolist(), temp_after.tolist(), until_before)
    ]
    reason_rows = [r if r is not None else "TMP_SEASON_END" for r in reasons[rows].tolist()]
    return pl.DataFrame(
        {
            "line_id": frame.get_column("line_id").gather(rows),
            "action": action.tolist(),
            "reasons": reason_rows,
            "limit_before_fen": limit[rows],
            "limit_after_fen": limit_after,
            "used_fen": used[rows],
            "status_before": status_before.tolist(),
            "status_after": status_after.tolist(),
            "end_before": end_before,
            "end_after": end_after,
            "temp_limit_fen": temp_after,
            "temp_limit_until": until_after,
            "effective_date": [as_of] * rows.size,
            "target_limit_fen": [None if t < 0 else t for t in target.tolist()],
        },
        schema=CHANGE_SCHEMA,
    )
