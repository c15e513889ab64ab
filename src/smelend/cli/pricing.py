"""``smelend pricing breakeven | capital | optimize | grid``: risk-based prices from the command line.

Rates and probabilities are fractions in (0.03 for 3%); results are numbers at full precision, never
rounded for display. No cap applies unless ``--cap`` is given. The pricing modules are imported inside
each command, so ``smelend --help`` stays fast.
"""

from __future__ import annotations

import math
import sys
from pathlib import Path
from typing import Any, Optional

import typer

from smelend.cli.common import JSON_OPTION, emit_json, pricing_app, stdout
from smelend.errors import InvalidInput

PD_OPTION = typer.Option(..., "--pd", help="One-year probability of default, a fraction in (0, 1).")
LGD_OPTION = typer.Option(..., "--lgd", help="Loss given default, a fraction in [0, 1].")
FUNDS_OPTION = typer.Option(..., "--funds-rate", help="Cost of funds r_F (the FTP rate at the term), e.g. 0.02.")
COST_OPTION = typer.Option(..., "--cost-rate", help="Operating + acquisition cost c, a rate on the balance, e.g. 0.015.")
CAPITAL_OPTION = typer.Option(..., "--capital", help="Capital K per unit of exposure, e.g. 0.07875 (75% x 10.5%).")
HURDLE_OPTION = typer.Option(..., "--hurdle", help="Hurdle return h on that capital, e.g. 0.12.")
CAP_OPTION = typer.Option(None, "--cap", help="The highest rate allowed (none unless given).")
MAX_SAMPLE = 1_000_000
SAMPLE_MEDIAN_PD, SAMPLE_SIGMA = 0.015, 0.9  # synthetic applicants: log-normal PDs around 1.5%


def _economics(pd: float, lgd: float, funds_rate: float, cost_rate: float, capital: float, hurdle: float) -> dict[str, float]:
    from smelend.pricing.optimize import check_inputs

    check_inputs(pd, lgd, funds_rate, cost_rate, capital, hurdle)
    return dict(pd=pd, lgd=lgd, funds_rate=funds_rate, cost_rate=cost_rate, capital=capital, hurdle=hurdle)


def _takeup(a: float, b: float, slope: float = 0.0, reference_rate: Optional[float] = None) -> Any:
    from smelend.pricing.takeup import AdverseSelection, TakeupModel

    if not (math.isfinite(a) and abs(a) <= 50):
        raise InvalidInput.one("takeup_a", "must be a number between -50 and 50")
    if not (math.isfinite(b) and 0 < b <= 1000):
        raise InvalidInput.one("takeup_b", "must be positive (take-up falls as the rate rises) and at most 1000")
    if not (math.isfinite(slope) and abs(slope) <= 1000):
        raise InvalidInput.one("adverse_slope", "must be a number between -1000 and 1000")
    if slope == 0:
        return TakeupModel(a, b)
    if reference_rate is None:
        raise InvalidInput.one("reference_rate", "is needed with --adverse-slope: the rate at which --pd was assessed")
    if not (math.isfinite(reference_rate) and 0 <= reference_rate <= 1):
        raise InvalidInput.one("reference_rate", "must be a fraction between 0 and 1")
    return TakeupModel(a, b, AdverseSelection(slope, reference_rate))


@pricing_app.command("breakeven")
def breakeven_command(
    pd: float = PD_OPTION,
    lgd: float = LGD_OPTION,
    funds_rate: float = FUNDS_OPTION,
    cost_rate: float = COST_OPTION,
    capital: float = CAPITAL_OPTION,
    hurdle: float = HURDLE_OPTION,
    json_out: bool = JSON_OPTION,
) -> None:
    """The break-even rate of a one-year loan, exact and additive.

    Exact: 1 + r = [1 + r_F + c + K(h - r_F) - PD(1 - LGD)] / (1 - PD); additive approximation: r_F + PD·LGD + c + K(h - r_F). JSON: {"breakeven_rate", "additive_rate"}.
    """
    from smelend.pricing.breakeven import additive_breakeven_rate, breakeven_rate

    inputs = _economics(pd, lgd, funds_rate, cost_rate, capital, hurdle)
    document = {"breakeven_rate": float(breakeven_rate(**inputs)), "additive_rate": float(additive_breakeven_rate(**inputs))}
    if json_out:
        emit_json(document)
    else:
        stdout.print(f"break-even rate {document['breakeven_rate']!r} (additive approximation {document['additive_rate']!r})")


@pricing_app.command("capital")
def capital_command(
    pd: float = PD_OPTION,
    lgd: float = LGD_OPTION,
    capital_ratio: Optional[float] = typer.Option(None, "--capital-ratio", help="Scale by this ratio / 8% (default: capital at the 8% minimum)."),
    json_out: bool = JSON_OPTION,
) -> None:
    """Basel IRB capital per unit of exposure, "other retail".

    K = LGD·[N((G(PD) + √R·G(0.999)) / √(1 - R)) - PD], correlation R from 16% (low PD) to 3%; at the 8% minimum unless --capital-ratio is given. JSON: {"capital"}.
    """
    from smelend.pricing.capital import IRB_MINIMUM_RATIO, irb_capital
    from smelend.pricing.optimize import check_inputs

    check_inputs(pd, lgd, 0, 0, 0, 0)
    if capital_ratio is not None and not (math.isfinite(capital_ratio) and IRB_MINIMUM_RATIO <= capital_ratio <= 1):
        raise InvalidInput.one("capital_ratio", f"must be a fraction between {IRB_MINIMUM_RATIO} and 1")
    document = {"capital": float(irb_capital(pd, lgd, capital_ratio))}
    if json_out:
        emit_json(document)
    else:
        stdout.print(f"IRB capital (other retail) {document['capital']!r} per unit of exposure")


@pricing_app.command("optimize")
def optimize_command(
    pd: float = PD_OPTION,
    lgd: float = LGD_OPTION,
    funds_rate: float = FUNDS_OPTION,
    cost_rate: float = COST_OPTION,
    capital: float = CAPITAL_OPTION,
    hurdle: float = HURDLE_OPTION,
    takeup_a: float = typer.Option(..., "--takeup-a", help="Take-up q(r) = 1 / (1 + exp(-a + b r)): a."),
    takeup_b: float = typer.Option(..., "--takeup-b", help="Take-up: b > 0, the price sensitivity."),
    cap: Optional[float] = CAP_OPTION,
    floor: Optional[float] = typer.Option(None, "--floor", help="The lowest rate allowed (default 0)."),
    floor_breakeven: bool = typer.Option(False, "--floor-breakeven", help="Never below the exact break-even rate."),
    adverse_slope: float = typer.Option(0.0, "--adverse-slope", help="Adverse selection: logit PD(r) = logit PD + slope (r - reference)."),
    reference_rate: Optional[float] = typer.Option(None, "--reference-rate", help="The rate at which --pd was assessed (with --adverse-slope)."),
    json_out: bool = JSON_OPTION,
) -> None:
    """The profit-optimal rate: maximises take-up x margin per unit offered.

    Take-up q(r) = 1 / (1 + exp(-a + b r)); margin m(r) = (1 - PD)(1 + r) + PD(1 - LGD) - (1 + r_F + c + K(h - r_F)). The rate stays within [floor, cap]; no cap unless --cap is given (rates are searched up to 100%). JSON: {"rate", "takeup", "expected_profit"} (profit per unit offered, a year).
    """
    from smelend.pricing.breakeven import breakeven_rate
    from smelend.pricing.optimize import check_inputs, optimal_rate

    inputs = _economics(pd, lgd, funds_rate, cost_rate, capital, hurdle)
    takeup = _takeup(takeup_a, takeup_b, adverse_slope, reference_rate)
    check_inputs(pd, lgd, funds_rate, cost_rate, capital, hurdle, floor, cap)
    low = floor
    if floor_breakeven:
        low = max(floor or 0.0, float(breakeven_rate(**inputs)))
    if cap is not None and low is not None and low > cap:
        raise InvalidInput.one("cap", f"is below the floor {low!r}" + (" (the break-even rate)" if floor_breakeven else ""))
    best = optimal_rate(**inputs, takeup=takeup, floor=low, cap=cap)
    document = {"rate": best.rate, "takeup": best.takeup, "expected_profit": best.expected_profit}
    if json_out:
        emit_json(document)
    else:
        bound = f" (bound: {best.bound})" if best.bound else ""
        stdout.print(f"optimal rate {best.rate!r}{bound}, take-up {best.takeup!r}, expected profit {best.expected_profit!r} per unit offered")


def _terms(text: Optional[str], product: Any) -> list[int]:
    """The grid's terms: those given (each allowed by the product), else whichever of 3, 6, 12 it allows."""
    allowed = lambda t: any(terms.allows(t) for terms in product.repayment_methods.values())  # noqa: E731
    if text is None:
        terms = [t for t in (3, 6, 12) if allowed(t)]
        if not terms:
            raise InvalidInput.one("terms", f"product {product.id} allows none of 3, 6, 12 months: give --terms")
        return terms
    try:
        terms = [int(part) for part in text.split(",")]
    except ValueError:
        raise InvalidInput.one("terms", f"must be whole months separated by commas, e.g. 3,6,12; got {text!r}") from None
    if not 1 <= len(terms) <= 24 or len(set(terms)) != len(terms):
        raise InvalidInput.one("terms", "give between 1 and 24 distinct terms")
    refused = [t for t in terms if not allowed(t)]
    if refused:
        raise InvalidInput.one("terms", f"product {product.id} does not allow {', '.join(map(str, refused))} months")
    return terms


def _applicants(path: Optional[Path], sample: int, seed: int) -> tuple[Any, Any, str]:
    """Applicant PDs (and amounts) from a CSV/Parquet file, or a synthetic log-normal sample."""
    import numpy as np

    if path is None:
        if not 0 <= sample <= MAX_SAMPLE:
            raise InvalidInput.one("sample", f"must be between 0 and {MAX_SAMPLE}")
        rng = np.random.default_rng(seed)
        pds = np.exp(rng.normal(np.log(SAMPLE_MEDIAN_PD), SAMPLE_SIGMA, sample)).clip(1e-4, 0.99)
        return pds, None, f"synthetic: {sample} log-normal PDs, median {SAMPLE_MEDIAN_PD}, sigma {SAMPLE_SIGMA}, seed {seed}"
    import polars as pl

    try:
        frame = pl.read_parquet(path) if path.suffix.lower() == ".parquet" else pl.read_csv(path)
    except (OSError, pl.exceptions.PolarsError) as exc:
        raise InvalidInput.one("applicants", f"cannot read {str(path)!r}: {exc}".replace("\n", " ")) from None
    if "pd" not in frame.columns:
        raise InvalidInput.one("applicants", f"{path.name} has no 'pd' column")
    try:
        pds = frame["pd"].cast(pl.Float64).to_numpy()
        amounts = frame["amount"].cast(pl.Float64).to_numpy() if "amount" in frame.columns else None
    except pl.exceptions.PolarsError:
        raise InvalidInput.one("applicants", f"{path.name}: 'pd' and 'amount' must be numbers") from None
    return pds, amounts, str(path)


@pricing_app.command("grid")
def grid_command(
    product: str = typer.Option(..., "--product", help="The product id (see 'smelend products list')."),
    terms: Optional[str] = typer.Option(None, "--terms", help="Terms in months, e.g. 3,6,12 (default: those of 3, 6, 12 the product allows)."),
    channel: Optional[str] = typer.Option(None, "--channel", help="Acquisition channel (default: the pricing settings' default channel)."),
    lgd: Optional[float] = typer.Option(None, "--lgd", help="Loss given default (default: the product's)."),
    cap: Optional[float] = CAP_OPTION,
    product_cap: bool = typer.Option(False, "--product-cap", help="Apply the product's own cap (pricing.cap)."),
    takeup_a: Optional[float] = typer.Option(None, "--takeup-a", help="Take-up a (default: the product's)."),
    takeup_b: Optional[float] = typer.Option(None, "--takeup-b", help="Take-up b (default: the product's)."),
    model: Optional[str] = typer.Option(None, "--model", help="optimal or breakeven-plus-margin (default: the product's)."),
    strategy: Optional[str] = typer.Option(None, "--strategy", help="Risk strategy whose grade table gives the grades (default: the shipped one)."),
    settings_file: Optional[Path] = typer.Option(None, "--settings", help="A pricing settings YAML file (default: the shipped one)."),
    applicants: Optional[Path] = typer.Option(None, "--applicants", help="CSV or Parquet with a 'pd' column (and optionally 'amount') for the flat-price comparison."),
    sample: int = typer.Option(10_000, "--sample", help="Without --applicants: this many synthetic applicants (0: no comparison)."),
    seed: int = typer.Option(0, "--seed", help="Seed of the synthetic applicants."),
    compare_term: Optional[int] = typer.Option(None, "--compare-term", help="The term of the flat-price comparison (default: the longest)."),
    html: Optional[Path] = typer.Option(None, "--html", help="Also write an offline HTML chart (expected profit against take-up) here."),
    json_out: bool = JSON_OPTION,
) -> None:
    """A product's pricing grid (grade x term), and the grid against one flat rate.

    For each approvable grade of the risk strategy, priced at the geometric midpoint of its PD band, and each term: the contract rate, expected take-up, expected profit per unit offered, RAROC and break-even. Then the grid against the single flat rate that maximises total expected profit on the same applicants (--applicants, or a synthetic sample). The product file gives the model, floor, margin, take-up and LGD (options override them); the pricing settings file gives FTP, costs, capital, hurdle, LPR floor and rounding. No cap applies unless --cap or --product-cap is given.

    JSON: {"product", "settings_version", "channel", "lgd", "model", "floor", "takeup", "cap", "terms", "grades", "cells": [{"grade", "pd", "term_months", "rate", "takeup", "expected_profit", "raroc", "breakeven_rate", "funds_rate", "capital", "bound"}], "comparison": {"term_months", "flat_rate", "declined", "grid", "flat", "profit_uplift"}, "applicants": {"source", "n"}}.
    """
    from smelend.pricing.grid import build_grid, compare_flat, representative_pds
    from smelend.pricing.optimize import check_inputs
    from smelend.pricing.quote import MODELS
    from smelend.pricing.settings import load_pricing_settings
    from smelend.products import load_catalogue
    from smelend.risk.strategy import load_strategy

    the_product = load_catalogue().get_or_error(product, "product")
    own = the_product.pricing
    settings = load_pricing_settings(settings_file)
    own_model = getattr(own.model, "value", own.model)
    model = model or own_model
    if model not in MODELS:
        raise InvalidInput.one("model", f"must be one of {', '.join(MODELS)}, got {model!r}")
    check_inputs(0.5, 0.5 if lgd is None else lgd, 0, 0, 0, 0, None, cap)
    if cap is not None and product_cap:
        raise InvalidInput.one("product_cap", "give --cap or --product-cap, not both")
    grid_terms = _terms(terms, the_product)
    if compare_term is not None and compare_term not in grid_terms:
        raise InvalidInput.one("compare_term", f"must be one of the grid's terms ({', '.join(map(str, grid_terms))})")
    if channel is not None:
        settings.channel(channel)
    if (takeup_a is None) != (takeup_b is None):
        raise InvalidInput.one("takeup_b" if takeup_b is None else "takeup_a", "give --takeup-a and --takeup-b together")
    takeup = _takeup(float(own.takeup.a) if takeup_a is None else takeup_a, float(own.takeup.b) if takeup_b is None else takeup_b)
    grades = representative_pds(load_strategy(strategy).grades.grades)

    grid = build_grid(
        product, grades, grid_terms, settings, takeup,
        lgd=float(own.lgd) if lgd is None else lgd,
        channel=channel,
        cap=own.cap if product_cap else cap,
        model=model,  # type: ignore[arg-type]
        margin=own.margin if model == own_model == "breakeven-plus-margin" else None,
        floor=own.floor,
    )
    document = grid.to_dict()
    document["floor"] = own.floor if isinstance(own.floor, str) else float(own.floor)
    pds, amounts, source = _applicants(applicants, sample, seed)
    comparison = None
    if len(pds):
        comparison = compare_flat(grid, pds, compare_term or max(grid_terms), settings, amounts)
    document["comparison"] = None if comparison is None else comparison.to_dict()
    document["applicants"] = {"source": source, "n": int(len(pds))}
    if html is not None:
        grid.write_html(html, settings, compare_term)
        sys.stderr.write(f"smelend: wrote {html}\n")
    if json_out:
        emit_json(document)
        return
    stdout.print(grid.table())
    if comparison is not None:
        for name, outcome in (("grid", comparison.grid), (f"flat {comparison.flat_rate}", comparison.flat)):
            stdout.print(
                f"{name}: {outcome.applicants} applicants, take-up {outcome.takeup:.2%}, volume {outcome.volume:,.0f}, "
                f"expected profit {outcome.expected_profit:,.2f}, mean rate {outcome.mean_rate:.2%}"
            )
        stdout.print(f"({source}; {comparison.declined} above the worst priced grade left out)")
