"""The funnel exposure -> visit -> application -> approval -> acceptance -> first draw -> repeat draw.

Per group (all, a channel, a product, a segment): how many prospects reached each step, the conversion
from the step before, and the median hours between the two steps. Alongside: the "310" standard
(MYbank: a decision within 1 second with no person involved) with every human step counted; drop-off
diagnostics (the step and group where the funnel leaks most against the whole); cohort curves of
activation (the share of approved lines drawn within N days, per month of approval).
"""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

from smelend.marketing.events import MarketingData

STEPS = ("exposure", "visit", "application", "approval", "acceptance", "first_draw", "repeat_draw")
GROUPS = ("channel", "product_id", "size_band", "industry_section", "data_rich")
DECISION_SECONDS_310 = 1.0
COHORT_DAYS = (1, 7, 14, 30, 60, 90)
MIN_GROUP = 20  # prospects a group needs before its drop-off is reported


@dataclass(frozen=True)
class Step:
    step: str
    count: int
    conversion: float | None  # from the previous step
    median_hours: float | None  # from the previous step


@dataclass(frozen=True)
class Funnel:
    group: str
    value: str
    steps: tuple[Step, ...]


def step_times(data: MarketingData) -> pl.DataFrame:
    """One row per prospect: when it reached each step (null: not reached), and its grouping columns."""
    t = data.touches.sort("at")
    exposure = t.group_by("prospect_id").agg(pl.col("at").min().alias("exposure"), pl.col("channel").last().alias("last_channel"))
    visit = t.filter(pl.col("visit")).group_by("prospect_id").agg(pl.col("at").min().alias("visit"))
    a = data.applications.select(
        "prospect_id", "product_id", pl.col("channel").alias("applied_channel"), pl.col("applied_at").alias("application"),
        pl.when(pl.col("outcome") == "approve").then(pl.col("decided_at")).alias("approval"), pl.col("accepted_at").alias("acceptance"),
    )
    d = data.draws.group_by("prospect_id").agg(
        pl.col("at").filter(pl.col("draw_number") == 1).min().alias("first_draw"), pl.col("at").filter(pl.col("draw_number") == 2).min().alias("repeat_draw")
    )
    frame = (
        data.prospects.select("prospect_id", "size_band", "industry_section", "data_rich")
        .join(exposure, on="prospect_id", how="left").join(visit, on="prospect_id", how="left")
        .join(a, on="prospect_id", how="left").join(d, on="prospect_id", how="left")
    )
    return frame.with_columns(
        pl.coalesce("applied_channel", "last_channel").alias("channel"),
        pl.col("data_rich").cast(pl.String),
        pl.col("product_id").fill_null("(none)"),
    ).filter(pl.col("exposure").is_not_null())


def _funnel(frame: pl.DataFrame, group: str, value: str) -> Funnel:
    steps = []
    previous = None
    for step in STEPS:
        count = int(frame[step].is_not_null().sum())
        conversion = hours = None
        if previous is not None:
            before = int(frame[previous].is_not_null().sum())
            conversion = count / before if before else None
            gaps = frame.filter(pl.col(step).is_not_null()).select(((pl.col(step) - pl.col(previous)).dt.total_microseconds() / 3.6e9).alias("h"))["h"]
            hours = float(gaps.median()) if gaps.len() else None  # type: ignore[arg-type]
        steps.append(Step(step, count, conversion, hours))
        previous = step
    return Funnel(group, value, tuple(steps))


def funnel(data: MarketingData, by: str | None = None) -> list[Funnel]:
    """The whole funnel (``by=None``) or one per value of ``by`` (one of :data:`GROUPS`)."""
    frame = step_times(data)
    if by is None:
        return [_funnel(frame, "all", "all")]
    if by not in GROUPS:
        raise ValueError(f"by must be one of {', '.join(GROUPS)}")
    return [_funnel(part, by, str(key[0])) for key, part in sorted(frame.group_by(by), key=lambda kv: str(kv[0][0]))]


@dataclass(frozen=True)
class Standard310:
    decisions: int
    within_one_second_no_person: int
    share: float | None
    human_steps: int
    applications_with_human_steps: int
    engine_p50_ms: float | None
    engine_p99_ms: float | None
    decision_p50_seconds: float | None
    decision_p99_seconds: float | None


def standard_310(data: MarketingData) -> Standard310:
    """Decisions made within 1 second of the application with no human step, and every human step counted."""
    a = data.applications.with_columns(((pl.col("decided_at") - pl.col("applied_at")).dt.total_microseconds() / 1e6).alias("seconds"))
    n = a.height
    fast = int(a.filter((pl.col("seconds") <= DECISION_SECONDS_310) & (pl.col("human_steps") == 0)).height)

    def q(col: str, p: float) -> float | None:
        return float(a[col].quantile(p, "linear")) if n else None  # type: ignore[arg-type]

    return Standard310(n, fast, fast / n if n else None, int(a["human_steps"].sum()), int((a["human_steps"] > 0).sum()),
                       q("engine_ms", 0.5), q("engine_ms", 0.99), q("seconds", 0.5), q("seconds", 0.99))


@dataclass(frozen=True)
class DropOff:
    step: str  # the step not reached
    group: str
    value: str
    reached_previous: int
    conversion: float
    overall_conversion: float
    lost: int  # how many more would have gone on at the overall conversion


def drop_offs(data: MarketingData, top: int = 10) -> list[DropOff]:
    """Where and for whom the funnel leaks: groups converting worst against the whole, by prospects lost."""
    overall = {s.step: s.conversion for s in funnel(data)[0].steps}
    found = []
    for by in GROUPS:
        for f in funnel(data, by):
            prev = None
            for s in f.steps:
                if f.value == "(none)":
                    break  # no product chosen before an application: nothing to diagnose
                if prev is not None and s.conversion is not None and overall[s.step] is not None and prev.count >= MIN_GROUP:
                    expected = prev.count * overall[s.step]  # type: ignore[operator]
                    lost = int(round(expected - s.count))
                    if lost > 0:
                        found.append(DropOff(s.step, by, f.value, prev.count, s.conversion, overall[s.step], lost))  # type: ignore[arg-type]
                prev = s
    found.sort(key=lambda d: (-d.lost, d.step, d.group, d.value))
    return found[:top]


@dataclass(frozen=True)
class Cohort:
    month: str  # month of approval
    approved: int
    drawn_within: dict[int, float]  # days -> share of the cohort drawn by then (only days fully observed)


def activation_cohorts(data: MarketingData) -> list[Cohort]:
    """Per month of approval, the share of approved lines with a first draw within 1, 7, 14, 30, 60, 90 days."""
    frame = step_times(data).filter(pl.col("approval").is_not_null()).with_columns(
        pl.col("approval").dt.strftime("%Y-%m").alias("month"),
        ((pl.col("first_draw") - pl.col("approval")).dt.total_microseconds() / 8.64e10).alias("days"),
        ((pl.lit(data.as_of) - pl.col("approval")).dt.total_microseconds() / 8.64e10).alias("observed"),
    )
    out = []
    for (month,), part in sorted(frame.group_by("month"), key=lambda kv: kv[0][0]):
        shares = {}
        for days in COHORT_DAYS:
            if part["observed"].min() < days:  # type: ignore[operator]
                break  # not every line of the cohort has been open that long
            shares[days] = float((part["days"] <= days).sum()) / part.height
        out.append(Cohort(str(month), part.height, shares))
    return out
