"""``smelend marketing generate | channels | funnel | conversion | abtest | campaign | campaigns | segments | whitelist | retention``.

Figures are computed by :mod:`smelend.marketing` (pure) from the marketing data set in the database,
which ``generate`` fills with synthetic events made on the real engines (until the strategy lab
produces them). ``abtest`` needs no database. Modules are imported inside each command, so ``smelend
--help`` stays fast. With ``--json`` stdout holds exactly one JSON document (money as decimal yuan
strings, ratios as fractions at full precision); progress goes to stderr.
"""

from __future__ import annotations

import math
import sys
from datetime import date
from pathlib import Path
from typing import Any, Optional

import typer

from smelend.cli.common import JSON_OPTION, app, emit_json, parse_date, stdout
from smelend.errors import InvalidInput

marketing_app = typer.Typer(help="Marketing and customer operations: channels, funnel, campaigns, segments, pre-approved lists, retention.", no_args_is_help=True)
app.add_typer(marketing_app, name="marketing")

HTML_OPTION = typer.Option(None, "--html", help="Also write an offline HTML report (plotly.js embedded) to this file.")
MAX_PROSPECTS = 200_000
MAX_CUSTOMERS = 5_000_000


def _write_html(path: Optional[Path], page: Any) -> None:
    if path is None:
        return
    try:
        path.write_text(page.render(), encoding="utf-8")
    except OSError as exc:
        raise InvalidInput.one("html", f"cannot be written: {exc}") from None
    sys.stderr.write(f"wrote {path}\n")


def _check_html(path: Optional[Path]) -> None:
    if path is not None and (path.is_dir() or not path.parent.is_dir()):
        raise InvalidInput.one("html", f"is not a file in an existing folder: {path}")


def _data() -> Any:
    from smelend.store import open_store
    from smelend.store.marketing import load_data

    engine = open_store()
    try:
        with engine.connect() as conn:
            return load_data(conn)
    finally:
        engine.dispose()


def _count(value: int, field: str, low: int, high: int) -> int:
    if not low <= value <= high:
        raise InvalidInput.one(field, f"must be between {low:,} and {high:,}")
    return value


def _fraction(value: float, field: str, *, allow_zero: bool = False) -> float:
    if not (math.isfinite(value) and (0 <= value if allow_zero else 0 < value) and value <= 1):
        raise InvalidInput.one(field, "must be a fraction in " + ("[0, 1]" if allow_zero else "(0, 1]"))
    return value


@marketing_app.command("generate")
def generate_command(
    prospects: int = typer.Option(2000, "--prospects", help="Prospects to simulate (each a multi-touch journey)."),
    seed: int = typer.Option(0, "--seed", help="Random seed (non-negative)."),
    start: str = typer.Option("2026-01-01", "--start", help="First day of the period, YYYY-MM-DD."),
    days: int = typer.Option(180, "--days", help="Length of the period in days."),
    json_out: bool = JSON_OPTION,
) -> None:
    """Generate synthetic marketing events on the real engines and store them, replacing the stored set."""
    from smelend.marketing.events import generate

    _count(prospects, "prospects", 1, MAX_PROSPECTS)
    _count(seed, "seed", 0, 2**32 - 1)
    _count(days, "days", 1, 3660)
    first = parse_date(start, "start")
    from smelend.store import open_store
    from smelend.store.marketing import replace_data

    def progress(done: int, total: int) -> None:
        if done % 500 == 0 or done == total:
            sys.stderr.write(f"\r{done:,} / {total:,} prospects")
            if done == total:
                sys.stderr.write("\n")

    data = generate(prospects, seed, start=first, days=days, progress=progress)
    engine = open_store()
    try:
        with engine.begin() as conn:
            rows = replace_data(conn, data)
    finally:
        engine.dispose()
    document = {"prospects": data.prospects.height, "touches": data.touches.height, "applications": data.applications.height,
                "draws": data.draws.height, "event_rows": rows, "as_of": data.as_of.isoformat()}
    if json_out:
        emit_json(document)
    else:
        stdout.print(f"stored {rows:,} marketing event rows: " + ", ".join(f"{v:,} {k}" for k, v in document.items() if isinstance(v, int) and k != "event_rows"))


@marketing_app.command("channels")
def channels_command(json_out: bool = JSON_OPTION, html_file: Optional[Path] = HTML_OPTION) -> None:
    """Per channel: volume, conversion, approval rate, early delinquency, spend, cost per first draw, margin, return on spend, attribution."""
    from smelend.marketing.channel_figures import channel_figures
    from smelend.marketing.plain import jsonable

    _check_html(html_file)
    figures = jsonable(channel_figures(_data()))
    if html_file is not None:
        from smelend.marketing.report import Page, channel_return_chart, table

        page = Page("Channels: cost and return")
        page.chart(channel_return_chart(figures), "channel-return")
        page.html(table(["channel", "applications", "approval rate", "first draws", "early delinquency", "spend", "cost per first draw", "margin", "return on spend", "markov credit"],
                        [[f["channel"], f["applications"], f["approval_rate"], f["first_draws"], f["early_delinquency"], f["spend"], f["cost_per_first_draw"], f["margin"], f["return_on_spend"], f["attributed"]["markov"]] for f in figures]))
        _write_html(html_file, page)
    if json_out:
        emit_json({"channels": figures})
        return
    from rich.table import Table

    t = Table(title="channels")
    for h in ("channel", "visits", "applications", "approval", "first draws", "spend", "per first draw", "margin", "return on spend"):
        t.add_column(h, justify="right")
    fmt = lambda v: "" if v is None else (f"{v:.3f}" if isinstance(v, float) else str(v))  # noqa: E731
    for f in figures:
        t.add_row(f["channel"], fmt(f["visits"]), fmt(f["applications"]), fmt(f["approval_rate"]), fmt(f["first_draws"]), f["spend"], fmt(f["cost_per_first_draw"]), f["margin"], fmt(f["return_on_spend"]))
    stdout.print(t)


@marketing_app.command("funnel")
def funnel_command(
    by: Optional[str] = typer.Option(None, "--by", help="Break the funnel down by channel, product_id, size_band, industry_section or data_rich."),
    json_out: bool = JSON_OPTION,
    html_file: Optional[Path] = HTML_OPTION,
) -> None:
    """The funnel with conversion and hours between steps, the "310" standard, drop-offs and activation cohorts."""
    from smelend.marketing.funnel import GROUPS, activation_cohorts, drop_offs, funnel, standard_310
    from smelend.marketing.plain import jsonable

    if by is not None and by not in GROUPS:
        raise InvalidInput.one("by", f"must be one of {', '.join(GROUPS)}")
    _check_html(html_file)
    data = _data()
    document = {
        "funnel": jsonable(funnel(data, by)),
        "standard_310": jsonable(standard_310(data)),
        "drop_offs": jsonable(drop_offs(data)),
        "activation_cohorts": jsonable(activation_cohorts(data)),
    }
    if html_file is not None:
        from smelend.marketing.report import Page, cohort_chart, funnel_chart, table

        page = Page("Funnel and process")
        page.chart(funnel_chart(document["funnel"]), "funnel")
        s = document["standard_310"]
        page.heading("310: decision within 1 second, no person")
        page.html(table(list(s), [list(s.values())]))
        page.heading("Where the funnel leaks")
        page.html(table(["step", "group", "value", "reached previous", "conversion", "overall", "lost"], [list(d.values()) for d in document["drop_offs"]]))
        page.chart(cohort_chart(document["activation_cohorts"]), "cohorts")
        _write_html(html_file, page)
    if json_out:
        emit_json(document)
        return
    for f in document["funnel"]:
        stdout.print(f"[bold]{f['group']} = {f['value']}[/bold]")
        for s in f["steps"]:
            conv = "" if s["conversion"] is None else f"  {s['conversion']:.1%} of previous"
            hours = "" if s["median_hours"] is None else f", median {s['median_hours']:.1f} h"
            stdout.print(f"  {s['step']:<12} {s['count']:>8,}{conv}{hours}")
    s = document["standard_310"]
    share = "n/a" if s["share"] is None else f"{s['share']:.1%}"
    stdout.print(f"310: {s['within_one_second_no_person']:,} of {s['decisions']:,} decisions within 1 s with no person ({share}); human steps {s['human_steps']:,}")


@marketing_app.command("abtest")
def abtest_command(
    control: str = typer.Option(..., "--control", help="Control arm as N:CONVERSIONS, e.g. 1000:100."),
    treatment: str = typer.Option(..., "--treatment", help="Treatment arm as N:CONVERSIONS, e.g. 1000:130."),
    alpha: float = typer.Option(0.05, "--alpha", help="Significance level; the interval is at 1 - alpha."),
    json_out: bool = JSON_OPTION,
) -> None:
    """Difference in conversion rates: lift, two-sided pooled z-test p-value, unpooled Wald interval.

    JSON: {"control_rate", "treatment_rate", "lift", "p_value", "ci_low", "ci_high"}.
    """
    from smelend.marketing.abtest import check_alpha, parse_arm
    from smelend.marketing.documents import abtest_document

    c, t = parse_arm(control, "control"), parse_arm(treatment, "treatment")
    document = abtest_document(c, t, check_alpha(alpha))
    if json_out:
        emit_json(document)
        return
    d = document
    stdout.print(f"control {d['control_rate']:.4%}, treatment {d['treatment_rate']:.4%}: lift {d['lift']:+.4%}, "
                 f"p = {d['p_value']:.4g}, {1 - alpha:.0%} CI [{d['ci_low']:+.4%}, {d['ci_high']:+.4%}]")


@marketing_app.command("sample-size")
def sample_size_command(
    control_rate: float = typer.Option(..., "--control-rate", help="Expected conversion of the control arm, a fraction."),
    lift: float = typer.Option(..., "--lift", help="Smallest difference worth detecting (treatment - control), a fraction."),
    alpha: float = typer.Option(0.05, "--alpha", help="Significance level (two-sided)."),
    power: float = typer.Option(0.8, "--power", help="Chance of detecting the lift when it is there."),
    json_out: bool = JSON_OPTION,
) -> None:
    """Customers per arm an A/B test needs (two-sided, Cohen's h, statsmodels). JSON: {"per_arm"}."""
    from smelend.marketing.abtest import sample_size_per_arm

    for value, field in ((control_rate, "control_rate"), (lift, "lift"), (power, "power")):
        if not math.isfinite(value):
            raise InvalidInput.one(field, "must be a number")
    n = sample_size_per_arm(control_rate, lift, alpha, power)
    if json_out:
        emit_json({"per_arm": n})
    else:
        stdout.print(f"{n:,} customers per arm to detect {lift:+.2%} on {control_rate:.2%} (alpha {alpha}, power {power})")


@marketing_app.command("campaign")
def campaign_command(
    name: str = typer.Option(..., "--name", help="Campaign name (unique when recorded)."),
    history: int = typer.Option(20_000, "--history", help="Customers in the past randomised test the uplift models learn from."),
    audience: int = typer.Option(10_000, "--audience", help="Customers the campaign may target."),
    target_share: float = typer.Option(0.2, "--target-share", help="Share of the audience to target, best predicted uplift first."),
    coupon_bp: int = typer.Option(100, "--coupon-bp", help="Interest discount in basis points off the annual rate of one draw."),
    coupon_cap: str = typer.Option("2000", "--coupon-cap", help="Most a coupon may be worth, in yuan."),
    draw: str = typer.Option("100000", "--draw", help="Typical draw the coupon is used on, in yuan."),
    rate: str = typer.Option("0.10", "--rate", help="Typical annual rate of that draw, a fraction."),
    term: int = typer.Option(12, "--term", help="Typical term of that draw in months."),
    method: str = typer.Option("equal-installment", "--method", help="Repayment method of that draw."),
    start: str = typer.Option("2026-01-01", "--start", help="Campaign date (coupons redeemed on it), YYYY-MM-DD."),
    seed: int = typer.Option(0, "--seed", help="Random seed (non-negative)."),
    record: bool = typer.Option(False, "--record", help="Store the campaign and its coupon grants; simulate redemptions and post their cost to the ledger."),
    json_out: bool = JSON_OPTION,
    html_file: Optional[Path] = HTML_OPTION,
) -> None:
    """Plan a coupon campaign by predicted uplift (T- and X-learners, the better validation Qini wins).

    Runs on synthetic customers with a known true uplift until the strategy lab provides real tests.
    """
    from smelend.marketing.campaign import plan
    from smelend.marketing.coupons import Coupon, coupon_cost
    from smelend.marketing.plain import jsonable
    from smelend.marketing.uplift import make_uplift_data, qini_curve
    from smelend.money import parse_rate, parse_yuan
    from smelend.servicing import Method

    name = name.strip()
    if not 0 < len(name) <= 100:
        raise InvalidInput.one("name", "must be 1 to 100 characters")
    _count(history, "history", 1_000, 2_000_000)
    _count(audience, "audience", 10, 5_000_000)
    _fraction(target_share, "target_share")
    _count(seed, "seed", 0, 2**32 - 1)
    _count(term, "term", 1, 360)
    _check_html(html_file)
    try:
        repayment = Method(method)
    except ValueError:
        raise InvalidInput.one("method", f"must be one of {', '.join(m.value for m in Method if m is not Method.FLAT)}") from None
    coupon = Coupon(coupon_bp, parse_yuan(coupon_cap, "coupon_cap"))
    each = coupon_cost(coupon, parse_yuan(draw, "draw"), parse_rate(rate, "rate"), term, repayment, parse_date(start, "start"))
    if record:
        from sqlalchemy import select

        from smelend.store import open_store
        from smelend.store.tables import marketing_campaigns

        engine = open_store()
        with engine.connect() as conn:
            taken = conn.scalar(select(marketing_campaigns.c.id).where(marketing_campaigns.c.name == name)) is not None
        engine.dispose()
        if taken:
            raise InvalidInput.one("name", f"a campaign named {name!r} already exists")

    past = make_uplift_data(history, seed)
    crowd = make_uplift_data(audience, seed + 1)
    result = plan(past, crowd.x, target_share, each.cost_fen, seed)
    document: dict[str, Any] = {
        "name": name, "audience": result.audience, "targeted": result.targeted, "chosen_learner": result.chosen_learner,
        "validation": jsonable(result.comparison.validation), "expected_incremental": result.expected_incremental,
        "expected_redemptions": result.expected_redemptions, "coupon": {"discount_bp": coupon_bp, "max_discount_fen": coupon.max_discount_fen, **jsonable(each)},
        "expected_cost_fen": result.expected_cost_fen, "cost_per_incremental_fen": result.cost_per_incremental_fen,
        "true_incremental_of_targeted": float(crowd.true_uplift[result.targeted_index].sum()),
    }
    if record:
        import numpy as np

        from smelend.store import open_store
        from smelend.store.marketing import Grant, create_campaign, redeem

        from smelend.marketing.uplift import treated_probability

        rng = np.random.default_rng(seed + 2)  # who redeems: each targeted customer's true response when treated
        respond = rng.random(len(result.targeted_index)) < treated_probability(crowd.x[result.targeted_index])
        import hashlib

        prefix = hashlib.sha256(name.encode("utf-8")).hexdigest()[:16]  # grant ids stay unique across campaigns whatever their names
        grants = [Grant(f"{prefix}:{int(i)}", f"C{seed}-{int(i)}", coupon_bp, coupon.max_discount_fen) for i in result.targeted_index]
        engine = open_store()
        try:
            with engine.begin() as conn:
                summary = {k: v for k, v in document.items() if k != "validation"}
                campaign_id = create_campaign(conn, name, result.chosen_learner, jsonable(summary), grants)
                redeemed = 0
                for grant, responds in zip(grants, respond):
                    if responds and redeem(conn, grant.id, each.cost_fen, parse_date(start, "start")):
                        redeemed += 1
        finally:
            engine.dispose()
        document["recorded"] = {"campaign_id": campaign_id, "grants": len(grants), "redeemed": redeemed, "coupon_cost_posted_fen": redeemed * each.cost_fen}
    if html_file is not None:
        from smelend.marketing.report import Page, qini_chart, table

        page = Page(f"Campaign {name}: targeting by uplift")
        hold = result.validation_data
        curves = {}
        for label, score in ((f"chosen: {result.chosen_learner}-learner", result.validation_score), ("true uplift (oracle)", hold.true_uplift)):
            c = qini_curve(score, hold.treatment, hold.y)
            step = max(1, len(c.fraction) // 400)
            curves[label] = (c.fraction[::step], c.qini[::step])
        curves["random"] = ([0.0, 1.0], [0.0, float(qini_curve(hold.true_uplift, hold.treatment, hold.y).qini[-1])])
        page.chart(qini_chart(curves), "qini")
        page.html(table(["learner", "qini", "auuc"], [[k, v["qini"], v["auuc"]] for k, v in document["validation"].items()]))
        _write_html(html_file, page)
    document = jsonable(document)
    if json_out:
        emit_json(document)
        return
    stdout.print(f"campaign {name}: target {document['targeted']:,} of {document['audience']:,} ({document['chosen_learner']}-learner); "
                 f"expected +{document['expected_incremental']:.1f} responders, coupon cost {document['expected_cost']} yuan "
                 f"({document['cost_per_incremental']} per incremental responder)")
    if "recorded" in document:
        r = document["recorded"]
        stdout.print(f"recorded campaign {r['campaign_id']}: {r['grants']:,} coupons granted, {r['redeemed']:,} redeemed, {r['coupon_cost_posted']} yuan posted to marketing_expense")


@marketing_app.command("campaigns")
def campaigns_command(json_out: bool = JSON_OPTION) -> None:
    """Recorded campaigns: coupons granted and redeemed, coupon cost posted so far."""
    from smelend.marketing.plain import jsonable
    from smelend.store import open_store
    from smelend.store.marketing import campaigns

    engine = open_store()
    try:
        with engine.connect() as conn:
            rows = jsonable(campaigns(conn))
    finally:
        engine.dispose()
    if json_out:
        emit_json({"campaigns": rows})
        return
    for r in rows:
        stdout.print(f"{r['id']}: {r['name']} ({r['learner']}-learner) {r['grants']:,} granted, {r['redeemed']:,} redeemed, cost {r['coupon_cost']} yuan")


SOURCE_OPTION = typer.Option(None, "--source", help="Customer book: db (the database's own customers) or synthetic. Default: synthetic when --customers is given, "
                             "else db when the database holds credit lines, else synthetic (with a note on stderr).")
SYNTHETIC_CUSTOMERS = 20_000


def _customers(customers: int, seed: int) -> Any:
    from smelend.marketing.customers import simulate_customers

    _count(customers, "customers", 10, MAX_CUSTOMERS)
    _count(seed, "seed", 0, 2**32 - 1)
    return simulate_customers(customers, seed)


def _book(source: Optional[str], customers: Optional[int], seed: int, *, history: bool = False) -> Any:
    """The customer book by the rule of :func:`smelend.store.customer_book.resolve_source` (bad input first, nothing read)."""
    from smelend.store.customer_book import ChosenBook, read_book, resolve_source

    _count(seed, "seed", 0, 2**32 - 1)
    if customers is not None:
        _count(customers, "customers", 10, MAX_CUSTOMERS)
    engines: list[Any] = []

    def lines_held() -> bool:
        from smelend.store import open_store
        from smelend.store.customer_book import holds_lines

        engines.append(open_store())
        with engines[0].connect() as conn:
            return holds_lines(conn)

    try:
        chosen, note = resolve_source(source, customers, lines_held)
        if chosen == "synthetic":
            if note:
                sys.stderr.write(f"note: {note}\n")
            return ChosenBook("synthetic", _customers(customers or SYNTHETIC_CUSTOMERS, seed), None, note)
        if not engines:
            from smelend.store import open_store

            engines.append(open_store())
        with engines[0].connect() as conn:
            return read_book(conn, history=history)
    finally:
        for engine in engines:
            engine.dispose()


@marketing_app.command("segments")
def segments_command(
    customers: Optional[int] = typer.Option(None, "--customers", help="Synthetic customers to segment (10 to 5 million; 20,000 when the synthetic book is used without it)."),
    seed: int = typer.Option(0, "--seed", help="Random seed (non-negative)."),
    clusters: int = typer.Option(5, "--clusters", help="k-means clusters (2-20)."),
    record: Optional[str] = typer.Option(None, "--record", help="Record the run under this name: every customer's segment and cluster, and the profile document the API serves."),
    source: Optional[str] = SOURCE_OPTION,
    json_out: bool = JSON_OPTION,
    html_file: Optional[Path] = HTML_OPTION,
) -> None:
    """Rule segments (industry, size, data richness, life cycle), the value x risk grid with strategies, and k-means clusters with profiles."""
    from smelend.marketing.documents import segments_run, sourced

    _count(clusters, "clusters", 2, 20)
    if record is not None and not 0 < len(record.strip()) <= 80:
        raise InvalidInput.one("record", "must be a run name of 1 to 80 characters")
    _check_html(html_file)
    chosen = _book(source, customers, seed)
    run = segments_run(chosen.book, clusters, seed)
    document, segments = sourced(run.document, chosen.source, chosen.as_of), run.segments
    if record is not None:
        from smelend.store import open_store
        from smelend.store.marketing import record_segment_run, save_segments

        parameters = {"source": chosen.source, "customers": customers if chosen.source == "synthetic" else None, "seed": seed, "clusters": clusters,
                      "as_of": None if chosen.as_of is None else chosen.as_of.isoformat()}
        if chosen.source == "synthetic":
            parameters["customers"] = chosen.book.height
        engine = open_store()
        try:
            with engine.begin() as conn:
                recorded = save_segments(conn, record.strip(), zip(segments["customer_id"].to_list(), (segments["stage"] + "/" + segments["cell"]).to_list(), (int(c) for c in run.labels)))
                run_id = record_segment_run(conn, record.strip(), chosen.source, parameters, document)
        finally:
            engine.dispose()
        document["recorded"], document["run_id"] = recorded, run_id
    if html_file is not None:
        from smelend.marketing.report import Page, segment_map_chart, table

        page = Page("Segments")
        from smelend.marketing.segments import load_segment_settings

        bands = load_segment_settings()
        page.chart(segment_map_chart(document["value_risk_grid"], [b.band for b in bands.value_bands], [b.band for b in bands.risk_bands]), "segment-map")
        page.html(table(["kind", "segment", "customers", "share", "mean PD", "mean expected margin (yuan)", "strategy"],
                        [[p["kind"], p["segment"], p["customers"], p["share"], p["mean_pd"], p["mean_expected_margin_yuan"], "" if p["strategy"] is None else p["strategy"]["message"]] for p in document["segments"]]))
        page.heading("Clusters")
        page.html(table(["cluster", "customers", "share", "profile"], [[c["cluster"], c["customers"], c["share"], c["description"]] for c in document["clusters"]]))
        _write_html(html_file, page)
    if json_out:
        emit_json(document)
        return
    for p in document["segments"]:
        hint = "" if p["strategy"] is None else f"  -> {p['strategy']['channel']}: {p['strategy']['message']}"
        stdout.print(f"{p['kind']:<15} {p['segment']:<20} {p['customers']:>9,} ({p['share']:.1%}) PD {p['mean_pd']:.2%}{hint}")
    for c in document["clusters"]:
        stdout.print(f"cluster {c['cluster']}: {c['customers']:,} customers, {c['description']}")


@marketing_app.command("whitelist")
def whitelist_command(
    customers: Optional[int] = typer.Option(None, "--customers", help="Synthetic existing customers to screen (20,000 when the synthetic book is used without it)."),
    size: int = typer.Option(500, "--size", help="How many of the best-scored go through the real decide and pricing."),
    seed: int = typer.Option(0, "--seed", help="Random seed (non-negative)."),
    on: str = typer.Option("2026-07-01", "--on", help="Screening date, YYYY-MM-DD."),
    workers: int = typer.Option(1, "--workers", help="Processes for the decide stage."),
    out: Optional[Path] = typer.Option(None, "--out", help="Write the pre-approved list as CSV for a campaign."),
    source: Optional[str] = SOURCE_OPTION,
    json_out: bool = JSON_OPTION,
) -> None:
    """Pre-approved list: base (relationships, tax authorisations) -> real scorecards in batch -> real decide + pricing for the best."""
    from smelend.marketing.documents import check_day, sourced, whitelist_document
    from smelend.marketing.whitelist import screen

    _count(size, "size", 1, 1_000_000)
    _count(workers, "workers", 1, 64)
    day = check_day(parse_date(on, "on"), "on")
    if out is not None and (out.is_dir() or not out.parent.is_dir()):
        raise InvalidInput.one("out", f"is not a file in an existing folder: {out}")
    chosen = _book(source, customers, seed)
    result = screen(chosen.book, size, on=day, seed=seed, workers=workers)
    if out is not None:
        import polars as pl

        from smelend.money import yuan

        pl.DataFrame([{"customer_id": e.customer_id, "product_id": e.product_id, "limit": str(yuan(e.limit_fen)), "rate": e.rate, "apr": e.apr,
                       "pd": e.pd, "grade": e.grade, "reasons": ";".join(e.reasons)} for e in result.entries],
                     schema={"customer_id": pl.String, "product_id": pl.String, "limit": pl.String, "rate": pl.Float64, "apr": pl.Float64, "pd": pl.Float64, "grade": pl.String, "reasons": pl.String}).write_csv(out)
        sys.stderr.write(f"wrote {len(result.entries):,} pre-approved customers to {out}\n")
    document = sourced(whitelist_document(result), chosen.source, chosen.as_of)
    if json_out:
        emit_json(document)
        return
    s = result.seconds
    stdout.print(f"{result.customers:,} customers -> base {result.base:,} ({s['base']:.2f} s) -> scorecard approve {result.score_approved:,} ({s['score']:.2f} s) "
                 f"-> decided {result.decided:,} ({s['decide']:.2f} s): {result.approved:,} approved, {result.referred:,} referred, {result.declined:,} declined")


@marketing_app.command("retention")
def retention_command(
    customers: Optional[int] = typer.Option(None, "--customers", help="Synthetic customers in the book (20,000 when the synthetic book is used without it)."),
    seed: int = typer.Option(0, "--seed", help="Random seed (non-negative)."),
    on: str = typer.Option("2026-07-01", "--on", help="Review date of the lines (limit increases by the line-management rules), YYYY-MM-DD."),
    source: Optional[str] = SOURCE_OPTION,
    json_out: bool = JSON_OPTION,
) -> None:
    """Attrition and dormancy models (held-out AUC, top decile), reactivation (ranked by dormancy), renewal, limit-increase (line-management rules) and reminder offers, CLV by segment, the save list.

    On the database's book the models learn from what line holders did in the 90 days before the business date."""
    from smelend.marketing.documents import check_day, retention_document, sourced

    day = check_day(parse_date(on, "on"), "on")
    chosen = _book(source, customers, seed, history=True)
    document = sourced(retention_document(chosen.book, seed, day, chosen.history), chosen.source, chosen.as_of)
    if json_out:
        emit_json(document)
        return
    m = document["attrition_model"]
    stdout.print(f"attrition model: AUC {m['auc']:.3f} on held-out lines; top decile leaves at {m['top_decile_rate']:.1%} against {m['base_rate']:.1%}")
    d = document["dormancy_model"]
    stdout.print(f"dormancy model: AUC {d['auc']:.3f} on held-out lines; top decile idle at {d['top_decile_rate']:.1%} against {d['base_rate']:.1%} (lift {d['top_decile_lift']:.2f})")
    o = document["offers"]
    stdout.print(f"offers: {o['reactivation']:,} reactivation, {o['renewal']:,} renewal ({o['renewal_without_repaying_principal']:,} without repaying principal first), "
                 f"{o['limit_increase']:,} limit increases by the line rules (+{o['limit_increase_total']} yuan; "
                 + ", ".join(f"{code} {n:,}" for code, n in o["limit_increase_reasons"].items()) + f"), {o['reminders']:,} repayment reminders")
    for row in document["clv_by_stage"]:
        stdout.print(f"  CLV {row['segment']:<20} {row['customers']:>9,} customers, mean {row['clv_mean_yuan']:,.0f} yuan")


@marketing_app.command("conversion")
def conversion_command(json_out: bool = JSON_OPTION) -> None:
    """Approved lines never drawn (by age, largest first) and declined applicants another product would approve."""
    from smelend.marketing.conversion import conversion
    from smelend.marketing.plain import jsonable

    document = jsonable(conversion(_data()))
    if json_out:
        emit_json(document)
        return
    stdout.print(f"{document['approved_not_drawn']:,} of {document['approved']:,} approved lines never drawn ({document['not_drawn_limit']} yuan unused): {document['not_drawn_by_age_days']}")
    stdout.print(f"{document['declined_eligible_elsewhere']:,} of {document['declined']:,} declined applicants would be approved for another product")
    for move in document["eligible_elsewhere"]:
        stdout.print(f"  {move['from_product']} -> {move['to_product']}: {move['applicants']:,} ({move['limit']} yuan)")
