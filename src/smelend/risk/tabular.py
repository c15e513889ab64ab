"""Any credit CSV as model input: typed feature columns plus a 0/1 bad flag, with clear errors.

Column types are detected, not declared, so the risk engine works on any file: integer and float
columns are numeric (float64, NaN when missing), everything else (strings, booleans) is categorical
(the raw text, ``None`` when missing). Empty strings count as missing. The target is read as text,
so ``--bad`` matches ``"bad"``, ``"Yes"`` or ``"1"`` alike.

Two column representations serve two speeds: plain numpy arrays (what a caller builds by hand), and
for categoricals read from a file a :class:`CodedColumn` (codes into a small category list, like an
Arrow dictionary) so scoring a million rows maps a dozen categories instead of a million strings.
"""

from __future__ import annotations

import hashlib
import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal, Union

import numpy as np

from smelend.errors import InvalidInput

if TYPE_CHECKING:  # pandas and polars are imported only where a function needs them
    import pandas as pd
    import polars as pl

NUMERIC: Literal["numeric"] = "numeric"
CATEGORICAL: Literal["categorical"] = "categorical"
Kind = Literal["numeric", "categorical"]

INFER_SCHEMA_ROWS = 10_000  # rows polars looks at to decide a column's type
MAX_FEATURES = 1_000
MAX_ROWS = 20_000_000
SHOWN = 8  # how many column names or values an error message lists


@dataclass(frozen=True)
class Feature:
    """One model input: its column name and whether it is numeric or categorical."""

    name: str
    kind: Kind

    def __post_init__(self) -> None:
        assert self.kind in (NUMERIC, CATEGORICAL), self.kind

    def to_dict(self) -> dict[str, str]:
        return {"name": self.name, "kind": self.kind}

    @classmethod
    def from_dict(cls, data: Mapping[str, str]) -> "Feature":
        return cls(str(data["name"]), data["kind"])  # type: ignore[arg-type]


@dataclass(frozen=True, eq=False)
class CodedColumn:
    """A categorical column as codes into ``categories`` (code -1: missing), like an Arrow dictionary."""

    codes: np.ndarray
    categories: tuple[str, ...]

    def __post_init__(self) -> None:
        assert self.codes.ndim == 1 and np.issubdtype(self.codes.dtype, np.integer)

    def __len__(self) -> int:
        return int(self.codes.shape[0])

    def decoded(self) -> np.ndarray:
        """The plain object array (``None`` for missing): slow, for checks and small data."""
        lookup = np.array([*self.categories, None], dtype=object)
        return lookup[self.codes]  # code -1 picks the trailing None


Column = Union[np.ndarray, CodedColumn]


def lookup_codes(column: Column, mapping: Mapping[str, int], missing: int, unseen: int) -> np.ndarray:
    """Each value of a categorical column through ``mapping``: ``missing`` for None/NaN, ``unseen`` otherwise."""
    if isinstance(column, CodedColumn):
        table = np.array([mapping.get(c, unseen) for c in column.categories] + [missing], dtype=np.int64)
        return table[column.codes]
    values = np.asarray(column, dtype=object)
    keyed = dict(mapping)
    keyed[None] = missing
    out = np.fromiter(map(keyed.get, values, itertools.repeat(unseen)), dtype=np.int64, count=values.shape[0])
    # NaN (a float) is missing too, as pandas.isnull says; only non-strings can be NaN
    odd = np.flatnonzero(out == unseen)
    for i in odd.tolist():
        v = values[i]
        if isinstance(v, float) and v != v:
            out[i] = missing
    return out


def is_missing(value: object) -> bool:
    """None or a float NaN: what pandas.isnull calls missing in a categorical column."""
    return value is None or (isinstance(value, float) and value != value)


@dataclass(frozen=True, eq=False)
class Table:
    """Feature columns (numpy, or CodedColumn for categoricals), the bad flag when known, and where they came from."""

    columns: Mapping[str, Column]
    features: tuple[Feature, ...]
    rows: int
    y_bad: np.ndarray | None = None
    target: str | None = None
    bad: str | None = None
    source: str = ""
    source_sha256: str = ""

    def __post_init__(self) -> None:
        for f in self.features:
            assert len(self.columns[f.name]) == self.rows, f.name
        assert self.y_bad is None or (self.y_bad.shape == (self.rows,) and self.y_bad.dtype == np.int8)

    @property
    def bad_rate(self) -> float:
        assert self.y_bad is not None
        return float(self.y_bad.mean())

    def plain_columns(self) -> dict[str, np.ndarray]:
        """Every feature as a plain numpy array (categoricals decoded to object arrays with None)."""
        return {f.name: (c.decoded() if isinstance(c := self.columns[f.name], CodedColumn) else c) for f in self.features}

    def frame(self) -> "pd.DataFrame":
        """The features as a pandas DataFrame (float64 numerics, object categoricals) for optbinning."""
        import pandas as pd

        return pd.DataFrame(self.plain_columns(), copy=False)

    def take(self, index: np.ndarray) -> "Table":
        """The rows at ``index`` (a cross-validation fold)."""
        cols: dict[str, Column] = {}
        for name, c in self.columns.items():
            cols[name] = CodedColumn(c.codes[index], c.categories) if isinstance(c, CodedColumn) else c[index]
        y = None if self.y_bad is None else self.y_bad[index]
        return Table(cols, self.features, int(len(index)), y, self.target, self.bad, self.source, self.source_sha256)


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _listed(values: Sequence[object]) -> str:
    shown = ", ".join(repr(v) for v in list(values)[:SHOWN])
    return shown + (f", ... ({len(values)} in all)" if len(values) > SHOWN else "")


def _schema(path: Path, field: str) -> dict[str, "pl.DataType"]:
    import polars as pl

    if not path.is_file():
        raise InvalidInput.one(field, f"no such file: {str(path)!r}")
    try:
        schema = dict(pl.scan_csv(path, infer_schema_length=INFER_SCHEMA_ROWS).collect_schema())
    except Exception as exc:  # polars raises several error types for unreadable files
        raise InvalidInput.one(field, f"cannot read {path.name!r} as CSV: {_first_line(exc)}") from None
    if not schema:
        raise InvalidInput.one(field, f"{path.name!r} has no columns")
    return schema


def _first_line(exc: Exception) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


def _is_numeric(dtype: "pl.DataType") -> bool:
    return dtype.is_numeric()


def _read(path: Path, field: str, overrides: Mapping[str, "pl.DataType"], columns: Sequence[str]) -> "pl.DataFrame":
    import polars as pl

    try:
        frame = pl.read_csv(path, infer_schema_length=INFER_SCHEMA_ROWS, schema_overrides=dict(overrides), columns=list(columns))
    except Exception as exc:
        raise InvalidInput.one(field, f"cannot read {path.name!r} as CSV: {_first_line(exc)}") from None
    if frame.height > MAX_ROWS:
        raise InvalidInput.one(field, f"{frame.height} rows is more than the limit of {MAX_ROWS}")
    text = [n for n, t in frame.schema.items() if t == pl.String]
    if text:  # an empty quoted field is missing, like an empty unquoted one
        frame = frame.with_columns(pl.when(pl.col(n) == "").then(None).otherwise(pl.col(n)).alias(n) for n in text)
    return frame


def _numeric_array(series: "pl.Series") -> np.ndarray:
    import polars as pl

    out = series.cast(pl.Float64).to_numpy()
    return np.ascontiguousarray(out, dtype=np.float64)


def _coded(series: "pl.Series") -> CodedColumn:
    import polars as pl

    categories = series.drop_nulls().unique(maintain_order=True).to_list()
    if not categories:
        return CodedColumn(np.full(series.len(), -1, dtype=np.int64), ())
    codes = series.cast(pl.Enum(categories)).to_physical().cast(pl.Int64).fill_null(-1).to_numpy()
    return CodedColumn(np.ascontiguousarray(codes), tuple(categories))


def read_training_table(path: str | Path, target: str, bad: str, exclude: Sequence[str] = ()) -> Table:
    """The development sample: every column but the target (and ``exclude``) is a feature; y = target == bad."""
    import polars as pl

    path = Path(path)
    schema = _schema(path, "data")
    if target not in schema:
        raise InvalidInput.one("target", f"no column {target!r} in {path.name!r}; columns: {_listed(list(schema))}")
    unknown = [c for c in exclude if c not in schema]
    if unknown:
        raise InvalidInput.one("exclude", f"no column {unknown[0]!r} in {path.name!r}")
    names = [n for n in schema if n != target and n not in exclude]
    if not names:
        raise InvalidInput.one("data", f"{path.name!r} has no feature columns besides the target")
    if len(names) > MAX_FEATURES:
        raise InvalidInput.one("data", f"{len(names)} feature columns is more than the limit of {MAX_FEATURES}")
    overrides = {n: (pl.Float64 if _is_numeric(schema[n]) else pl.String) for n in names}
    overrides[target] = pl.String
    frame = _read(path, "data", overrides, [*names, target])

    y_text = frame[target]
    if y_text.null_count():
        raise InvalidInput.one("target", f"column {target!r} is empty in {y_text.null_count()} rows")
    seen = sorted(y_text.unique().to_list())
    if len(seen) < 2:
        raise InvalidInput.one("target", f"column {target!r} has one class only ({_listed(seen)}); a model needs goods and bads")
    if len(seen) > 2:
        raise InvalidInput.one("target", f"column {target!r} has {len(seen)} classes ({_listed(seen)}); a model needs exactly two")
    if bad not in seen:
        raise InvalidInput.one("bad", f"{bad!r} is not a value of {target!r}; values seen: {_listed(seen)}")
    y_bad = (y_text == bad).to_numpy().astype(np.int8)

    columns: dict[str, Column] = {}
    features: list[Feature] = []
    for name in names:
        series = frame[name]
        if series.null_count() == series.len():
            continue  # a column with no values carries no information and cannot be binned
        if overrides[name] == pl.Float64:
            columns[name] = _numeric_array(series)
            features.append(Feature(name, NUMERIC))
        else:
            columns[name] = _coded(series)
            features.append(Feature(name, CATEGORICAL))
    if not features:
        raise InvalidInput.one("data", f"every feature column of {path.name!r} is empty")
    return Table(columns, tuple(features), frame.height, y_bad, target, bad, path.name, file_sha256(path))


@dataclass(frozen=True, eq=False)
class ScoringInput:
    """What ``risk score`` and ``risk report`` read: the model's features, the id column, the target when present."""

    table: Table
    ids: "pl.Series | None"


def read_scoring_table(path: str | Path, features: Sequence[Feature], id_column: str | None = None,
                       target: str | None = None, bad: str | None = None) -> ScoringInput:
    """The model's feature columns of a file to score (the target may be absent; other columns are ignored)."""
    import polars as pl

    path = Path(path)
    schema = _schema(path, "data")
    missing = [f.name for f in features if f.name not in schema]
    if missing:
        raise InvalidInput.one("data", f"{path.name!r} lacks the model's columns {_listed(missing)}")
    if id_column is not None and id_column not in schema:
        raise InvalidInput.one("id", f"no column {id_column!r} in {path.name!r}; columns: {_listed(list(schema))}")
    has_target = target is not None and target in schema
    overrides: dict[str, pl.DataType] = {f.name: (pl.Float64 if f.kind == NUMERIC else pl.String) for f in features}
    if has_target:
        overrides[target] = pl.String  # type: ignore[index]
    wanted = list(dict.fromkeys([*(f.name for f in features), *([id_column] if id_column else []), *([target] if has_target else [])]))
    frame = _read(path, "data", overrides, wanted)
    columns: dict[str, Column] = {}
    for f in features:
        columns[f.name] = _numeric_array(frame[f.name]) if f.kind == NUMERIC else _coded(frame[f.name])
    y_bad = None
    if has_target and bad is not None:
        y_text = frame[target]  # type: ignore[index]
        if y_text.null_count() == 0 and bad in set(y_text.unique().to_list()):
            y_bad = (y_text == bad).to_numpy().astype(np.int8)
    ids = frame[id_column] if id_column else None
    table = Table(columns, tuple(features), frame.height, y_bad, target if y_bad is not None else None, bad, path.name)
    return ScoringInput(table, ids)
