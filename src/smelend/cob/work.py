"""The work of the close of business on one batch of snapshot rows: one pure function, any runner.

``BatchWork`` is built once per process (local runner) or per Ray actor: building it loads the
reassessment settings and rules (the zen decision is compiled once), the products, the capacity
model and the behaviour model. Calling it on a batch (an Arrow table of snapshot rows) returns the
batch's outputs as Arrow tables by name:

- ``changes``: the line changes of :func:`smelend.lines.reassess.reassess`;
- ``grades``: each line's behaviour grade (and score and PD when the behaviour model gives them),
  which the collections stage reads.

Nothing here reads or writes the database or the clock: the same batch gives the same outputs on
every runner, which is what lets the runners be compared row for row.
"""

from __future__ import annotations

import functools
import io
import sys
from datetime import date
from typing import Any

import polars as pl
import pyarrow as pa

from smelend.errors import InvalidInput
from smelend.lines.reassess import ReassessContext, build_context, reassess


@functools.cache
def _behaviour() -> tuple[Any, Any] | None:
    """The behaviour model and scorer (:mod:`smelend.lines.behaviour`), or None while it is not installed
    (the interim grade is used then, with a warning on stderr)."""
    try:
        from smelend.lines.behaviour import load_behaviour_model, score_behaviour
    except ImportError:
        model = None
    else:
        try:
            model = load_behaviour_model()
        except InvalidInput as missing:  # the module is there but its trained model is not (yet)
            sys.stderr.write(f"smelend: warning: behaviour model not installed ({missing}); using the interim days-past-due grade\n")
            return None
    if model is None:
        sys.stderr.write("smelend: warning: no behaviour model; using the interim days-past-due grade\n")
        return None
    return model, score_behaviour


def interim_grade() -> pl.Expr:
    """A stand-in behaviour grade from days past due alone, used only while ``smelend.lines.behaviour``
    (the trained behaviour scorecard, part A of the issue) is not installed: A when never late in the
    year, B when late at most 15 days, C up to 30, D when late now, E past 30 days now."""
    dpd, worst = pl.col("max_dpd"), pl.col("max_dpd_365d")
    return (
        pl.when(dpd > 30).then(pl.lit("E")).when(dpd > 0).then(pl.lit("D")).when(worst > 30).then(pl.lit("D"))
        .when(worst > 15).then(pl.lit("C")).when(worst > 0).then(pl.lit("B")).otherwise(pl.lit("A")).alias("behaviour_grade")
    )


@functools.cache
def shared_context() -> ReassessContext:
    """The shipped settings, rules, products and capacity model, loaded once per process."""
    return build_context()


class BatchWork:
    """The per-batch function with everything it needs, built once per process or actor."""

    def __init__(self, context: ReassessContext | None = None) -> None:
        self.context = context or shared_context()
        self.behaviour = _behaviour()

    @property
    def model_version(self) -> str:
        if self.behaviour is None:
            return "interim-dpd-grade"
        model = self.behaviour[0]
        return str(getattr(model, "version", None) or getattr(model, "name", "behaviour"))

    def __call__(self, batch: pa.Table, as_of: date) -> dict[str, pa.Table]:
        frame = pl.from_arrow(batch)
        assert isinstance(frame, pl.DataFrame)
        if "behaviour_grade" not in frame.columns:
            if self.behaviour is not None:
                model, score = self.behaviour
                frame = score(frame, model)
            else:
                frame = frame.with_columns(interim_grade())
        grades = [c for c in ("line_id", "behaviour_grade", "behaviour_score", "behaviour_pd") if c in frame.columns]
        return {"changes": reassess(frame, as_of, self.context).to_arrow(), "grades": frame.select(grades).to_arrow()}


def pack(outputs: dict[str, pa.Table]) -> pa.Table:
    """A batch's outputs as one Arrow table (name, Arrow IPC bytes): what a Ray batch may return."""
    names, blobs = [], []
    for name, table in outputs.items():
        sink = io.BytesIO()
        with pa.ipc.new_stream(sink, table.schema) as writer:
            writer.write_table(table)
        names.append(name)
        blobs.append(sink.getvalue())
    return pa.table({"output": pa.array(names, pa.string()), "ipc": pa.array(blobs, pa.binary())})


def unpack(table: pa.Table) -> list[dict[str, pa.Table]]:
    """The outputs of every batch :func:`pack`-ed into ``table`` (Ray may put several batches in one block)."""
    return [{name: pa.ipc.open_stream(blob).read_all()} for name, blob in zip(table.column("output").to_pylist(), table.column("ipc").to_pylist())]


def combine(parts: list[dict[str, pa.Table]]) -> dict[str, pa.Table]:
    """Every batch's outputs, concatenated by name and sorted by line (the runners' order may differ)."""
    names = dict.fromkeys(name for part in parts for name in part)
    combined: dict[str, pa.Table] = {}
    for name in names:
        tables = [part[name] for part in parts if name in part and part[name].num_rows]
        if not tables:
            tables = [next(part[name] for part in parts if name in part)]
        table = pa.concat_tables(tables, promote_options="permissive")
        keys = [c for c in ("line_id", "loan_id", "step") if c in table.column_names]
        combined[name] = table.sort_by([(k, "ascending") for k in keys]) if keys else table
    return combined
