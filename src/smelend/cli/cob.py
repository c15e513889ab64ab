"""`smelend cob`: the close of business for a business date, over the whole book, on one machine or on Ray.

Contract (issue 7): ``smelend cob --date YYYY-MM-DD [--runner local|ray] [--workers N]
[--ray-address ADDR] [--json]``; a progress bar on stderr; the summary ``{"date", "accounts",
"changes": {...}, "buckets": {...}, "accrued_interest", "ledger_balanced", "timings": {...}, ...}``
with counts as integers, money as yuan strings, and everything that depends on the machine (seconds
per stage, runner, workers, run ids) only under ``"timings"``.
"""

from __future__ import annotations

import os
from datetime import date
from typing import Any, Optional

import typer
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from smelend.cli.common import JSON_OPTION, app, emit_json, parse_date, stderr, stdout
from smelend.errors import Collector
from smelend.money import format_yuan

RUNNERS = ("local", "ray")
MAX_WORKERS = 256


@app.command("cob")
def cob(
    date_: str = typer.Option(..., "--date", help="Close business through this date, YYYY-MM-DD (earlier open days are closed first, day by day)."),
    runner: str = typer.Option("local", "--runner", help="Where the per-batch work runs: local (a process pool) or ray."),
    workers: Optional[int] = typer.Option(None, "--workers", help="Processes (local) or Ray actors; default: the CPUs of this machine."),
    ray_address: Optional[str] = typer.Option(None, "--ray-address", help="A Ray cluster's address (with --runner ray); default: a local Ray instance."),
    batch: bool = typer.Option(True, "--batch/--per-loan", help="Close loans with the vectorised path (default) or loan by loan (the reference); the results are the same."),
    json_out: bool = JSON_OPTION,
) -> None:
    """Close of business: accrual, penalties, days past due, buckets, behaviour score, line reassessment, collections."""
    through = parse_date(date_, "date")
    found = Collector()
    if runner not in RUNNERS:
        found.add("runner", f"must be one of {', '.join(RUNNERS)}")
    if workers is not None and not 1 <= workers <= MAX_WORKERS:
        found.add("workers", f"must be 1 to {MAX_WORKERS}")
    if ray_address is not None and runner != "ray":
        found.add("ray_address", "is only used with --runner ray")
    if ray_address is not None and not ray_address.strip():
        found.add("ray_address", "must not be empty")
    found.raise_if_any()
    document = run(through, runner, workers or (os.cpu_count() or 1), ray_address, batch)
    emit_json(document) if json_out else stdout.print(document)


def run(through: date, runner_name: str, workers: int, ray_address: str | None, batch: bool = True) -> dict[str, Any]:
    from smelend.cli.servicing import book
    from smelend.cob.pipeline import run_close_of_business
    from smelend.cob.runners import make_runner
    from smelend.operations import lines as line_ops
    from smelend.settings import data_dir

    the_book = book()
    line_ops.recover_pending(the_book)
    runner = make_runner(runner_name, workers, ray_address)
    with Progress(TextColumn("{task.description}"), BarColumn(), TextColumn("{task.completed}/{task.total}"), TimeElapsedColumn(), console=stderr, transient=True) as bar:
        task = bar.add_task("close of business", total=None)

        def progress(stage: str, day: date, done: int, total: int) -> None:
            bar.update(task, description=f"close of business {day}: {stage}", completed=done, total=total or None)

        result = run_close_of_business(the_book, through, runner, data_dir(), progress, batch)
    return summary(the_book, through, result, runner_name, workers)


def summary(the_book, through: date, result, runner_name: str, workers: int) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    from smelend.cob.pipeline import summary_counts
    from smelend.operations import cob as cob_ops
    from smelend.operations.reconcile import trial_balance

    totals = result.totals
    kept, recomputed = trial_balance(the_book)
    standing = cob_ops.book_buckets(the_book)
    collections = {k.split(".", 1)[1]: int(v) for k, v in sorted(result.changes.items()) if k.startswith("collections.")}
    return {
        "date": through.isoformat(),
        "days_closed": len(result.days),
        "first_day_closed": result.days[0].isoformat() if result.days else None,
        "accounts": result.lines,
        "loans": sum(b["loans"] for b in standing["buckets"].values()),
        "loan_days": totals.loan_days,
        "changes": summary_counts(result),
        "collection_actions": collections,
        "accrued_interest": format_yuan(totals.interest_fen),
        "suspended_interest": format_yuan(totals.suspended_interest_fen),
        "accrued_penalty": format_yuan(totals.penalty_fen + totals.suspended_penalty_fen),
        "provision_change": format_yuan(totals.provision_change_fen),
        "collections": totals.collections,
        "buckets": {name: {"loans": b["loans"], "principal": format_yuan(b["principal_fen"])} for name, b in standing["buckets"].items()},
        "classification": standing["classification"],
        "ledger_balanced": kept.balanced and kept == recomputed,
        "timings": {
            "runner": runner_name,
            "workers": workers,
            "run_ids": result.run_ids,
            "seconds": {stage: round(seconds, 3) for stage, seconds in result.seconds.items()},
        },
    }
