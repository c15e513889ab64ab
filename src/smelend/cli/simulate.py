"""`smelend simulate` and `smelend compare`: the strategy lab (issue 9).

Every input is checked before anything runs or is written (bad input: one line naming the option, exit 2,
nothing changed). A run writes ``DIR/metrics.json`` and ``DIR/report.html``, each run's ledger database in
``DIR/ledgers/`` (the entries through the ledger store's bulk writer, read back for the check), and records
the run in the bank's database for the dashboard. Progress goes to stderr; with ``--json`` stdout holds one
JSON document.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any, Optional

import typer
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.table import Table

from smelend.cli.common import JSON_OPTION, app, emit_json, stderr, stdout
from smelend.errors import Collector, InvalidInput

MAX_SMES = 1_000_000
MAX_MONTHS = 120
MAX_SEEDS = 20
MAX_WORKERS = 16
HEADLINE = ("applications", "approvals", "approval_rate", "lines", "customers_drawn", "balance_end", "npl_ratio", "interest_income",
            "credit_losses", "acquisition_cost", "profit", "raroc", "ledger_balanced")

SMES_OPTION = typer.Option(20_000, "--smes", help="Businesses in the simulated market.")
MONTHS_OPTION = typer.Option(24, "--months", help="Months to simulate.")
SEEDS_OPTION = typer.Option(1, "--seeds", help="Seeds (independent markets); figures are means with 95% intervals.")
OUT_OPTION = typer.Option(..., "--out", help="Folder for metrics.json, report.html and the runs' ledgers.")
WORKERS_OPTION = typer.Option(None, "--workers", help="Processes to run strategies and seeds in (default: up to 2).")
SHOCK_OPTION = typer.Option(True, "--shock/--no-shock", help="Apply the macro shock of market.yaml (2020-2022-like).")
EVENTS_OPTION = typer.Option(False, "--marketing-events", help="Store the run's marketing events (prospects, touches, applications, draws; all seeds) "
                             "as the database's marketing data set, replacing it, for `smelend marketing funnel|channels`. "
                             "On compare: the --strategy's events.")


def check_sizes(found: Collector, smes: int, months: int, seeds: int, workers: Optional[int]) -> int:
    for value, field, high in ((smes, "smes", MAX_SMES), (months, "months", MAX_MONTHS), (seeds, "seeds", MAX_SEEDS)):
        if not 1 <= value <= high:
            found.add(field, f"must be between 1 and {high:,}, got {value}")
    from smelend.sim.compare import default_workers

    if workers is not None and not 1 <= workers <= MAX_WORKERS:
        found.add("workers", f"must be between 1 and {MAX_WORKERS}, got {workers}")
    return default_workers() if workers is None else workers


def check_out(found: Collector, out: Path) -> None:
    if out.exists() and not out.is_dir():
        found.add("out", f"is a file, not a folder: {out}")
    elif not out.exists() and out.parent.exists() and not out.parent.is_dir():
        found.add("out", f"cannot be created under {out.parent}")


def load_strategies(found: Collector, files: list[tuple[Path, str]]) -> list[Any]:
    from smelend.sim.strategy import load_strategy_file

    loaded = []
    for path, field in files:
        try:
            loaded.append(load_strategy_file(path, field))
        except InvalidInput as exc:
            for e in exc.errors:
                found.add(e.field, e.reason)
    return loaded


def execute(kind: str, strategies: list[Any], *, baseline: Optional[str], ablation_names: tuple[str, ...], smes: int, months: int, seeds: int,
            shock: bool, workers: int, out: Path, quiet: bool = False, database_url: Optional[str] = None,
            events_of: Optional[str] = None) -> tuple[dict[str, Any], int]:
    """Run, write the ledgers, metrics.json and report.html, record the run (and, for ``events_of``, store that
    strategy's marketing events as the marketing data set); the document and the run id."""
    from smelend.sim.compare import merged_events, metrics_document, run_all
    from smelend.sim.report import render
    from smelend.store import open_store
    from functools import partial

    from smelend.store.sim_runs import record_run, write_run_ledger_in

    began = time.perf_counter()
    columns = (TextColumn("{task.description}"), BarColumn(), TextColumn("{task.completed}/{task.total} strategy-months"), TimeElapsedColumn(), TimeRemainingColumn())
    with Progress(*columns, console=stderr, transient=not stderr.is_terminal, disable=quiet) as bar:
        task = bar.add_task(f"{len(strategies)} strateg{'y' if len(strategies) == 1 else 'ies'} x {seeds} seed(s), {smes:,} businesses", total=len(strategies) * seeds * months)
        results = run_all(strategies, smes=smes, months=months, seeds=seeds, shock=shock, workers=workers,
                          progress=lambda done, total: bar.update(task, completed=done), marketing_events=(events_of,) if events_of else (),
                          ledger_writer=partial(write_run_ledger_in, out.resolve() / "ledgers"))
    out.mkdir(parents=True, exist_ok=True)
    checks = {name: [r.ledger_check for r in runs] for name, runs in results.items()}
    doc = metrics_document(results, smes=smes, months=months, seeds=seeds, shock=shock, baseline=baseline, checks=checks,
                           ablation=ablation_names, elapsed_s=round(time.perf_counter() - began, 3))
    (out / "metrics.json").write_text(json.dumps(doc, ensure_ascii=False, indent=1), encoding="utf-8")
    (out / "report.html").write_text(render(doc), encoding="utf-8")
    engine = open_store(database_url)
    try:
        with engine.begin() as conn:
            run_id = record_run(conn, kind, doc, out.resolve())
            if events_of:
                from smelend.store.marketing import replace_data

                doc["marketing_events"] = {"strategy": events_of, "rows": replace_data(conn, merged_events(results[events_of]))}
    finally:
        engine.dispose()
    return doc, run_id


def summary_table(doc: dict[str, Any]) -> Table:
    from smelend.sim.report import SUMMARY_ROWS, format_value

    table = Table(title=f"Strategy lab: {doc['smes']:,} businesses x {doc['months']} months, {doc['seeds']} seed(s)")
    table.add_column("figure")
    for name in doc["strategies"]:
        table.add_column(name, justify="right")
    for key, label, kind in SUMMARY_ROWS:
        table.add_row(label, *[format_value(s.get(key), kind) for s in doc["strategies"].values()])
    return table


def headline(doc: dict[str, Any], run_id: int, out: Path) -> dict[str, Any]:
    return {
        "run_id": run_id, "out": str(out), "metrics": str(out / "metrics.json"), "report": str(out / "report.html"), "currency_unit": "fen",
        "strategies": {name: {k: s[k] for k in HEADLINE} for name, s in doc["strategies"].items()},
        **({"marketing_events": doc["marketing_events"]} if "marketing_events" in doc else {}),
    }


def show(doc: dict[str, Any], run_id: int, out: Path, json_out: bool) -> None:
    if json_out:
        emit_json(headline(doc, run_id, out))
        return
    stdout.print(summary_table(doc))
    stdout.print(f"run {run_id}: {out / 'metrics.json'}, {out / 'report.html'}")
    if "marketing_events" in doc:
        stdout.print(f"marketing events of {doc['marketing_events']['strategy']}: {doc['marketing_events']['rows']:,} rows stored (smelend marketing funnel|channels)")


@app.command("simulate")
def simulate_command(
    strategy: Path = typer.Option(..., "--strategy", help="Strategy file (YAML), e.g. strategies/baseline.yaml."),
    smes: int = SMES_OPTION, months: int = MONTHS_OPTION, seeds: int = SEEDS_OPTION, out: Path = OUT_OPTION,
    workers: Optional[int] = WORKERS_OPTION, shock: bool = SHOCK_OPTION, marketing_events: bool = EVENTS_OPTION, json_out: bool = JSON_OPTION,
) -> None:
    """Run one strategy in the simulated SME market on the real engines; write metrics.json and report.html."""
    found = Collector()
    processes = check_sizes(found, smes, months, seeds, workers)
    check_out(found, out)
    loaded = load_strategies(found, [(strategy, "strategy")])
    found.raise_if_any()
    doc, run_id = execute("simulate", loaded, baseline=None, ablation_names=(), smes=smes, months=months, seeds=seeds, shock=shock, workers=processes, out=out,
                          events_of=loaded[0].name if marketing_events else None)
    show(doc, run_id, out, json_out)


@app.command("compare")
def compare_command(
    baseline: Path = typer.Option(..., "--baseline", help="The baseline strategy file, e.g. strategies/baseline.yaml."),
    strategy: Path = typer.Option(..., "--strategy", help="The strategy to compare, e.g. strategies/optimized.yaml."),
    smes: int = SMES_OPTION, months: int = MONTHS_OPTION, seeds: int = SEEDS_OPTION, out: Path = OUT_OPTION,
    ablation: bool = typer.Option(False, "--ablation", help="Also run each lever alone and all levers but one."),
    workers: Optional[int] = WORKERS_OPTION, shock: bool = SHOCK_OPTION, marketing_events: bool = EVENTS_OPTION, json_out: bool = JSON_OPTION,
) -> None:
    """Compare a strategy with the baseline on the same simulated markets (same businesses, same draws)."""
    from smelend.sim.strategy import ablation as variants

    found = Collector()
    processes = check_sizes(found, smes, months, seeds, workers)
    check_out(found, out)
    loaded = load_strategies(found, [(baseline, "baseline"), (strategy, "strategy")])
    if len(loaded) == 2 and loaded[0].name == loaded[1].name:
        found.add("strategy", f"has the same name as the baseline ({loaded[0].name!r}): give each strategy its own name")
    found.raise_if_any()
    extra = variants(loaded[0], loaded[1]) if ablation else []
    doc, run_id = execute("compare", loaded + extra, baseline=loaded[0].name, ablation_names=tuple(s.name for s in extra),
                          smes=smes, months=months, seeds=seeds, shock=shock, workers=processes, out=out,
                          events_of=loaded[1].name if marketing_events else None)
    show(doc, run_id, out, json_out)
