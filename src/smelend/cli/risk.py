"""``smelend risk benchmark | train | score | report``: credit models on any CSV.

Imports of the model libraries happen inside each command, so ``smelend --help`` stays as fast as
before, and ``risk score`` (the compiled scorecard on polars columns) never imports optbinning,
scikit-learn or pandas. Progress goes to stderr; with ``--json`` stdout holds one JSON document.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any, Optional

import typer

from smelend.cli.common import JSON_OPTION, emit_json, risk_app, stdout
from smelend.errors import InvalidInput

DATA_OPTION = typer.Option(..., "--data", help="A CSV file with a header row.")
TARGET_OPTION = typer.Option(..., "--target", help="The column holding the outcome.")
BAD_OPTION = typer.Option(..., "--bad", help="The target's value that means bad (compared as text: 'bad', 'Yes', '1').")
EXCLUDE_OPTION = typer.Option([], "--exclude", help="A column that is not a feature (an id, a date); repeatable.")
MODEL_OPTION = typer.Option(..., "--model", help="A model directory written by 'smelend risk train'.")


def _progress(message: str) -> None:
    sys.stderr.write(f"smelend: {message}\n")
    sys.stderr.flush()


def _descriptions(path: Optional[Path]) -> dict[str, str]:
    if path is None:
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise InvalidInput.one("descriptions", f"cannot read {str(path)!r} as JSON: {exc}") from None
    if not isinstance(data, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in data.items()):
        raise InvalidInput.one("descriptions", "must be a JSON object of feature name -> text")
    return data


@risk_app.command("benchmark")
def benchmark_command(
    data: Path = DATA_OPTION,
    target: str = TARGET_OPTION,
    bad: str = BAD_OPTION,
    folds: int = typer.Option(5, "--folds", help="Stratified cross-validation folds."),
    seed: int = typer.Option(0, "--seed", help="Seed of the fold shuffle and of the challenger."),
    exclude: list[str] = EXCLUDE_OPTION,
    as_json: bool = JSON_OPTION,
) -> None:
    """Cross-validated AUC, KS and Gini of the scorecard and the challenger on the same folds."""
    from dataclasses import replace

    from smelend.risk.challenger import ChallengerSettings
    from smelend.risk.crossval import cross_validate, stratified_folds
    from smelend.risk.tabular import read_training_table

    table = read_training_table(data, target, bad, exclude)
    assert table.y_bad is not None
    stratified_folds(table.y_bad, folds, seed)  # check --folds before minutes of training
    _progress(f"{table.rows} rows, {len(table.features)} features, bad rate {table.bad_rate:.4f}; {folds}-fold cross-validation")
    result = cross_validate(table, folds, seed, challenger_settings=replace(ChallengerSettings(), seed=seed), progress=_progress)
    document = result.to_dict()
    if as_json:
        emit_json(document)
        return
    from rich.table import Table

    shown = Table(title=f"{data.name}: {table.rows} rows, bad rate {table.bad_rate:.2%}, {folds}-fold CV (means)")
    for column in ("model", "AUC", "AUC std", "KS", "Gini"):
        shown.add_column(column, justify="left" if column == "model" else "right")
    for name, m in document["models"].items():  # type: ignore[union-attr]
        shown.add_row(name, f"{m['auc']:.4f}", f"{m['auc_std']:.4f}", f"{m['ks']:.4f}", f"{m['gini']:.4f}")
    stdout.print(shown)


@risk_app.command("train")
def train_command(
    data: Path = DATA_OPTION,
    target: str = TARGET_OPTION,
    bad: str = BAD_OPTION,
    out: Path = typer.Option(..., "--out", help="The model directory to write (created if missing)."),
    exclude: list[str] = EXCLUDE_OPTION,
    descriptions: Optional[Path] = typer.Option(None, "--descriptions", help="JSON object: feature -> reason text."),
    as_json: bool = JSON_OPTION,
) -> None:
    """Train the scorecard and the challenger on the whole file and save the model directory."""
    from smelend.risk.modelstore import save_model, train_bundle
    from smelend.risk.tabular import read_training_table

    texts = _descriptions(descriptions)
    table = read_training_table(data, target, bad, exclude)
    _progress(f"{table.rows} rows, {len(table.features)} features, bad rate {table.bad_rate:.4f}")
    bundle = train_bundle(table, descriptions=texts, progress=_progress)
    save_model(bundle, out)
    summary = {"model": str(out), "rows": table.rows, "bad_rate": table.bad_rate, "features": len(table.features),
               "metrics": {k: v for k, v in bundle.metrics.items() if k != "sample"}}
    if as_json:
        emit_json(summary)
        return
    m = summary["metrics"]
    stdout.print(f"model written to {out}: scorecard AUC {m['scorecard']['auc']:.4f}, challenger AUC {m['challenger']['auc']:.4f} (in-sample)")


@risk_app.command("score")
def score_command(
    model: Path = MODEL_OPTION,
    data: Path = DATA_OPTION,
    out: Path = typer.Option(..., "--out", help="The CSV to write: the --id column if given, score, pd, and challenger_pd with --challenger."),
    id_column: Optional[str] = typer.Option(None, "--id", help="A column copied to the output to identify rows."),
    challenger: bool = typer.Option(False, "--challenger", help="Also write the challenger's PD (loads LightGBM)."),
    as_json: bool = JSON_OPTION,
) -> None:
    """Score a file with the compiled scorecard (and the challenger): one output row per input row, same order."""
    import polars as pl

    from smelend.risk.modelstore import load_model
    from smelend.risk.tabular import read_scoring_table

    bundle = load_model(model)
    read = read_scoring_table(data, bundle.features, id_column)
    columns = read.table.columns
    score = bundle.scorecard.score_columns(columns)
    output: dict[str, Any] = {}
    if read.ids is not None:
        output[id_column] = read.ids  # type: ignore[index]
    output["score"] = score
    output["pd"] = bundle.scorecard.pd_from_score(score)
    if challenger:
        output["challenger_pd"] = bundle.challenger().predict_pd(columns)
    try:
        pl.DataFrame(output).write_csv(out)
    except OSError as exc:
        raise InvalidInput.one("out", f"cannot write {str(out)!r}: {exc.strerror or exc}") from None
    if as_json:
        emit_json({"rows": read.table.rows, "out": str(out)})
    else:
        _progress(f"{read.table.rows} rows scored to {out}")


def report_document(bundle: Any, data: Path) -> dict[str, Any]:
    """The validation report's inputs from a model and a monitoring (or outcome) sample."""
    import numpy as np

    from smelend.risk.tabular import read_scoring_table
    from smelend.risk.validation import bin_counts, edge_labels, validation_report

    read = read_scoring_table(data, bundle.features, None, bundle.source.target, bundle.source.bad)
    table = read.table
    compiled = bundle.scorecard
    score = compiled.score_columns(table.columns)
    models = {
        "scorecard": {"pd": compiled.pd_from_score(score), "score": score},
        "challenger": {"pd": bundle.challenger().predict_pd(table.columns), "score": None},
    }
    feature_psi = {}
    for feature, slots in zip(compiled.features, compiled.bin_indices(table.columns).values()):
        expected = np.add(feature.events, feature.non_events)
        actual = np.bincount(slots, minlength=len(feature.points))
        keep = (expected > 0) | (actual > 0)  # drop slots empty on both sides (no special codes, no unseen)
        feature_psi[feature.name] = {"expected_counts": expected[keep], "actual_counts": actual[keep],
                                     "labels": [label for label, k in zip(feature.labels, keep) if k]}
    dist = bundle.score_distribution
    edges = np.asarray(dist.edges)
    score_psi = {"expected_counts": np.asarray(dist.counts), "actual_counts": bin_counts(score, edges), "labels": edge_labels(edges)}
    meta = {"model_created_at": bundle.created_at, "development_file": bundle.source.file, "development_rows": bundle.source.rows,
            "development_bad_rate": bundle.source.bad_rate, "sample_file": data.name, "sample_rows": table.rows,
            "target": bundle.source.target if table.y_bad is not None else None}
    return validation_report(models=models, y_bad=table.y_bad, feature_psi=feature_psi, score_psi=score_psi,
                             information_values=compiled.iv, meta=meta)


@risk_app.command("report")
def report_command(
    model: Path = MODEL_OPTION,
    data: Path = DATA_OPTION,
    out: Path = typer.Option(..., "--out", help="The HTML file to write."),
    as_json: bool = JSON_OPTION,
) -> None:
    """Validation report (one offline HTML page): discrimination and calibration when the target is present, PSI and IV always."""
    from smelend.risk.modelstore import load_model
    from smelend.risk.report import render_html

    bundle = load_model(model)
    document = report_document(bundle, data)
    try:
        out.write_text(render_html(document, title=f"Model validation: {data.name}"), encoding="utf-8")
    except OSError as exc:
        raise InvalidInput.one("out", f"cannot write {str(out)!r}: {exc.strerror or exc}") from None
    if as_json:
        emit_json(document)
    else:
        _progress(f"report on {document['sample']['n']} rows written to {out} ({len(document['alerts'])} alerts)")
