"""Features: the raw facts flattened, and every feature defined ONCE for two paths.

``flatten(application, evidence)`` turns an application and its evidence into one flat record of raw
facts with stable snake_case names (:data:`FLAT_COLUMNS`; None where a source is not ok).
A feature is a :class:`Feature` whose ``expr`` is written once with a small set of operations
(:func:`col`, :func:`lit`, :func:`div`, :func:`log1p`, :func:`clip`, :func:`where`, :func:`min_`,
:func:`max_`, :func:`coalesce`, :func:`eq`, :func:`as_float`, ``+ - * /``, comparisons, ``& | ~``).
Each expression has two implementations:

* online: :func:`compute_features` over one flat ``dict`` in pure Python (compiled to closures once);
* batch: :func:`feature_frame` over a whole polars table (the same tree turned into polars expressions).

Missing values follow one rule in both paths: arithmetic, comparisons, ``log1p``, ``clip`` and ``where``
give None when an input is None; ``div`` also gives None for a zero denominator; ``min_`` / ``max_``
ignore None (None only when every input is); ``coalesce`` takes the first value present; ``&`` and ``|``
are three-valued (Kleene): ``False & None`` is False, ``True | None`` is True. NaN counts as None. Numbers
are computed as 64-bit floats in both paths (amounts in fen stay exact far beyond any loan), so the
paths agree exactly up to the last bit of ``log1p``.

>>> flat = dict.fromkeys(FLAT_NAMES)
>>> flat.update(tax_paid_12m_fen=600_000, tax_declared_sales_12m_fen=30_000_000, tax_grade="B")
>>> f = compute_features(flat)
>>> f["tax_to_sales"], f["tax_grade"], f["invoice_growth"], f["revenue_proxy"]
(0.02, 'B', None, 30000000.0)
>>> str(feature("tax_to_sales").expr)
'div(tax_paid_12m_fen, tax_declared_sales_12m_fen)'
"""

from __future__ import annotations

import math
import operator
import re
import types
import typing
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any

import polars as pl
from pydantic import BaseModel

from smelend.risk import schemas as S
from smelend.risk.schemas import Application, Evidence

Value = float | int | str | bool | None

# --- the flat record ---------------------------------------------------------------------------------

_DTYPES: dict[str, pl.DataType] = {"int": pl.Int64(), "float": pl.Float64(), "bool": pl.Boolean(), "str": pl.String()}


@dataclass(frozen=True)
class FlatColumn:
    """One column of the flat record: its name, type (int / float / bool / str), source and meaning."""

    name: str
    dtype: str
    source: str
    description: str
    get: Callable[[Application, Any], Value]

    @property
    def polars_dtype(self) -> pl.DataType:
        return _DTYPES[self.dtype]


def _base_type(annotation: Any) -> Any:
    """The plain type under Annotated / Optional wrappers."""
    while True:
        origin = typing.get_origin(annotation)
        if origin is typing.Annotated:
            annotation = typing.get_args(annotation)[0]
        elif origin in (typing.Union, types.UnionType):
            args = [a for a in typing.get_args(annotation) if a is not type(None)]
            annotation = args[0] if len(args) == 1 else annotation
            if len(args) != 1:
                return annotation
        else:
            return annotation


def _from(source: str, name: str, attr: str, dtype: str | None = None) -> FlatColumn:
    """A column copied from one field of a source's model; its description is the field's description."""
    model = S.SOURCE_MODELS[source]
    info = model.model_fields[attr]
    if dtype is None:
        base = _base_type(info.annotation)
        dtype = {int: "int", float: "float", bool: "bool", str: "str"}.get(base, "str")
    return FlatColumn(name, dtype, source, info.description or "", lambda app, data, _a=attr: getattr(data, _a))


def _derived(source: str, name: str, dtype: str, description: str, get: Callable[[Application, Any], Value]) -> FlatColumn:
    return FlatColumn(name, dtype, source, description, get)


def _days(later: date, earlier: date) -> int:
    return (later - earlier).days


FLAT_COLUMNS: tuple[FlatColumn, ...] = (
    _derived("application", "requested_amount_fen", "int", "Credit line requested, in fen.", lambda app, _: app.requested_amount_fen),
    _derived("application", "owner_age", "int", "Owner's completed years of age at the application date, computed from the birth date in the resident ID.", lambda app, _: S.age_on(app.applicant.id_number, app.applied_on)),
    _from("identity", "identity_result", "result"),
    _from("aml", "aml_result", "result"),
    _from("bureau", "bureau_credit_history_months", "credit_history_months"),
    _from("bureau", "bureau_current_overdue_fen", "current_overdue_fen"),
    _from("bureau", "bureau_max_dpd_24m", "max_dpd_24m"),
    _from("bureau", "bureau_overdue_count_24m", "overdue_count_24m"),
    _from("bureau", "bureau_inquiries_1m", "inquiries_1m"),
    _from("bureau", "bureau_inquiries_3m", "inquiries_3m"),
    _from("bureau", "bureau_inquiries_6m", "inquiries_6m"),
    _from("bureau", "bureau_lenders_count", "lenders_count"),
    _from("bureau", "bureau_outstanding_loans_fen", "outstanding_loans_fen"),
    _from("bureau", "bureau_monthly_debt_service_fen", "monthly_debt_service_fen"),
    _from("bureau", "bureau_card_limit_fen", "card_limit_fen"),
    _from("bureau", "bureau_card_balance_fen", "card_balance_fen"),
    _from("bureau", "bureau_declared_income_monthly_fen", "declared_income_monthly_fen"),
    _derived("registration", "registration_age_days", "int", "Days from the date the enterprise was established to the application date.", lambda app, r: _days(app.applied_on, r.established_on)),
    _from("registration", "registered_capital_fen", "registered_capital_fen"),
    _from("registration", "industry_code", "industry_code", "str"),
    _derived("registration", "industry_section", "str", "GB/T 4754-2017 section letter (A-T) of the industry code.", lambda app, r: r.industry_code[0]),
    _derived("registration", "legal_rep_matches", "bool", "The legal representative's resident ID is the applicant's.", lambda app, r: r.legal_representative_id_number == app.applicant.id_number),
    _from("registration", "shareholder_changes_12m", "shareholder_changes_12m"),
    _from("registration", "admin_penalties_24m", "administrative_penalties_24m"),
    _from("registration", "court_judgements_24m", "court_judgements_24m"),
    _from("registration", "dishonest_debtor", "dishonest_debtor"),
    _from("registration", "registration_status", "status"),
    _from("tax", "tax_grade", "credit_grade"),
    _from("tax", "tax_paid_12m_fen", "tax_paid_12m_fen"),
    _from("tax", "tax_paid_24m_fen", "tax_paid_24m_fen"),
    _from("tax", "tax_filing_months_12m", "filing_months_12m"),
    _from("tax", "tax_declared_sales_12m_fen", "declared_sales_12m_fen"),
    _from("tax", "tax_arrears_fen", "arrears_fen"),
    _from("invoices", "invoice_sales_12m_fen", "sales_invoiced_12m_fen"),
    _from("invoices", "invoice_sales_prev_12m_fen", "sales_invoiced_prev_12m_fen"),
    _from("invoices", "invoice_buyers_count_12m", "buyers_count_12m"),
    _from("invoices", "invoice_top_buyer_share", "top_buyer_share"),
    _from("invoices", "invoice_monthly_volatility", "monthly_volatility"),
    _from("invoices", "invoice_cancelled_share", "cancelled_share"),
    _from("cashflow", "cashflow_inflow_monthly_avg_fen", "monthly_inflow_avg_fen"),
    _from("cashflow", "cashflow_inflow_stability", "inflow_stability"),
    _from("cashflow", "cashflow_months_observed", "months_observed"),
    _from("relationship", "relationship_deposits_avg_fen", "deposits_avg_fen"),
    _from("relationship", "relationship_payroll", "payroll"),
    _from("relationship", "relationship_settlement_account", "settlement_account"),
    _derived("relationship", "relationship_days", "int", "Days the enterprise has been the bank's customer at the application date (0 when it is not one).", lambda app, r: 0 if r.customer_since is None else _days(app.applied_on, r.customer_since)),
    _derived("exposure", "exposure_other_enterprises", "int", "Number of the owner's other enterprises with credit at the bank.", lambda app, e: len(e.other_enterprises)),
    _from("exposure", "exposure_bank_limits_fen", "bank_limits_fen"),
    _from("exposure", "exposure_bank_outstanding_fen", "bank_outstanding_fen"),
    *(
        _derived("status", f"status_{source}", "str", f"Status of the {source} source: " + ", ".join(S.STATUSES) + ".", lambda app, ev, _s=source: ev.results[_s].status)
        for source in S.SOURCES
    ),
)
"""Every column of the flat record, in order."""

FLAT_NAMES: tuple[str, ...] = tuple(c.name for c in FLAT_COLUMNS)
FLAT_SCHEMA: dict[str, pl.DataType] = {c.name: c.polars_dtype for c in FLAT_COLUMNS}
"""Polars schema of a table of flat records (:func:`flat_frame`, ``simulate_table``)."""
_FLAT_BY_NAME = {c.name: c for c in FLAT_COLUMNS}


def flatten(application: Application, evidence: Evidence) -> dict[str, Value]:
    """The raw facts of one application as a flat record (None for every column of a source not ok)."""
    flat: dict[str, Value] = {}
    for column in FLAT_COLUMNS:
        if column.source == "application":
            flat[column.name] = column.get(application, None)
        elif column.source == "status":
            flat[column.name] = column.get(application, evidence)
        else:
            data = evidence.data(column.source)
            flat[column.name] = None if data is None else column.get(application, data)
    return flat


def flat_frame(records: Iterable[Mapping[str, Value]]) -> pl.DataFrame:
    """Flat records as a polars table with :data:`FLAT_SCHEMA` (extra keys are ignored)."""
    return pl.DataFrame([{n: r.get(n) for n in FLAT_NAMES} for r in records], schema=FLAT_SCHEMA, orient="row")


# --- expressions: written once, evaluated by two backends --------------------------------------------


class Expr:
    """A node of a feature expression. Build with the functions below; evaluate with
    :meth:`scalar` (pure Python over a dict) or :meth:`polars` (a polars expression)."""

    def scalar(self) -> Callable[[Mapping[str, Value]], Value]:
        raise NotImplementedError

    def polars(self) -> pl.Expr:
        raise NotImplementedError

    def columns(self) -> set[str]:
        return set().union(*(c.columns() for c in self.children())) if self.children() else set()

    def children(self) -> tuple[Expr, ...]:
        return ()

    # arithmetic (None-propagating); ``/`` is :func:`div`
    def __add__(self, other: Any) -> Expr:
        return _Arith("+", self, lit(other))

    def __radd__(self, other: Any) -> Expr:
        return _Arith("+", lit(other), self)

    def __sub__(self, other: Any) -> Expr:
        return _Arith("-", self, lit(other))

    def __rsub__(self, other: Any) -> Expr:
        return _Arith("-", lit(other), self)

    def __mul__(self, other: Any) -> Expr:
        return _Arith("*", self, lit(other))

    def __rmul__(self, other: Any) -> Expr:
        return _Arith("*", lit(other), self)

    def __truediv__(self, other: Any) -> Expr:
        return div(self, other)

    def __rtruediv__(self, other: Any) -> Expr:
        return div(other, self)

    def __neg__(self) -> Expr:
        return _Arith("-", lit(0.0), self)

    # comparisons (None-propagating)
    def __gt__(self, other: Any) -> Expr:  # type: ignore[override]
        return _Cmp(">", self, lit(other))

    def __ge__(self, other: Any) -> Expr:  # type: ignore[override]
        return _Cmp(">=", self, lit(other))

    def __lt__(self, other: Any) -> Expr:  # type: ignore[override]
        return _Cmp("<", self, lit(other))

    def __le__(self, other: Any) -> Expr:  # type: ignore[override]
        return _Cmp("<=", self, lit(other))

    # three-valued logic
    def __and__(self, other: Any) -> Expr:
        return _Logic("&", self, lit(other))

    def __or__(self, other: Any) -> Expr:
        return _Logic("|", self, lit(other))

    def __invert__(self) -> Expr:
        return _Not(self)

    def __bool__(self) -> bool:
        raise TypeError("a feature expression has no truth value; use where(), & and |")


class _Col(Expr):
    def __init__(self, name: str):
        if name not in _FLAT_BY_NAME:
            raise KeyError(f"no flat column named {name!r}")
        self.name = name
        self.dtype = _FLAT_BY_NAME[name].dtype

    def scalar(self) -> Callable[[Mapping[str, Value]], Value]:
        name = self.name
        if self.dtype in ("int", "float"):

            def number(r: Mapping[str, Value]) -> Value:
                v = r[name]
                if v is None or v != v:  # None or NaN
                    return None
                return float(v)  # type: ignore[arg-type]

            return number
        if self.dtype == "bool":

            def flag(r: Mapping[str, Value]) -> Value:
                v = r[name]
                return None if v is None else bool(v)

            return flag
        return operator.itemgetter(name)

    def polars(self) -> pl.Expr:
        if self.dtype in ("int", "float"):
            return pl.col(self.name).cast(pl.Float64).fill_nan(None)
        return pl.col(self.name).cast(_DTYPES[self.dtype])

    def columns(self) -> set[str]:
        return {self.name}

    def __str__(self) -> str:
        return self.name


class _Lit(Expr):
    def __init__(self, value: Value):
        if isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        self.value = value

    def scalar(self) -> Callable[[Mapping[str, Value]], Value]:
        value = self.value
        return lambda r: value

    def polars(self) -> pl.Expr:
        return pl.lit(self.value)

    def __str__(self) -> str:
        v = self.value
        if isinstance(v, float) and v.is_integer():
            return str(int(v))
        return repr(v)


_ARITH = {"+": operator.add, "-": operator.sub, "*": operator.mul}


class _Arith(Expr):
    def __init__(self, op: str, a: Expr, b: Expr):
        self.op, self.a, self.b = op, a, b

    def children(self) -> tuple[Expr, ...]:
        return (self.a, self.b)

    def scalar(self) -> Callable[[Mapping[str, Value]], Value]:
        f, a, b = _ARITH[self.op], self.a.scalar(), self.b.scalar()

        def run(r: Mapping[str, Value]) -> Value:
            x = a(r)
            if x is None:
                return None
            y = b(r)
            return None if y is None else f(x, y)

        return run

    def polars(self) -> pl.Expr:
        return _ARITH[self.op](self.a.polars(), self.b.polars())

    def __str__(self) -> str:
        prec = _PREC[self.op]
        if self.op == "-" and isinstance(self.a, _Lit) and self.a.value == 0.0:
            return f"-{_wrap(self.b, 3)}"
        return f"{_wrap(self.a, prec)} {self.op} {_wrap(self.b, prec + (self.op == '-'))}"


_PREC = {"+": 1, "-": 1, "*": 2}


def _wrap(e: Expr, prec: int = 3) -> str:
    """e as text, in parentheses when it binds less tightly than ``prec``."""
    own = _PREC[e.op] if isinstance(e, _Arith) else 0 if isinstance(e, (_Cmp, _Logic)) else 9
    return f"({e})" if own < prec else str(e)


class _Div(Expr):
    def __init__(self, a: Expr, b: Expr):
        self.a, self.b = a, b

    def children(self) -> tuple[Expr, ...]:
        return (self.a, self.b)

    def scalar(self) -> Callable[[Mapping[str, Value]], Value]:
        a, b = self.a.scalar(), self.b.scalar()

        def run(r: Mapping[str, Value]) -> Value:
            y = b(r)
            if y is None or y == 0:
                return None
            x = a(r)
            return None if x is None else x / y  # type: ignore[operator]

        return run

    def polars(self) -> pl.Expr:
        b = self.b.polars()
        return pl.when(b != 0).then(self.a.polars() / b).otherwise(None)

    def __str__(self) -> str:
        return f"div({self.a}, {self.b})"


class _Log1p(Expr):
    def __init__(self, a: Expr):
        self.a = a

    def children(self) -> tuple[Expr, ...]:
        return (self.a,)

    def scalar(self) -> Callable[[Mapping[str, Value]], Value]:
        a, log1p_ = self.a.scalar(), math.log1p

        def run(r: Mapping[str, Value]) -> Value:
            x = a(r)
            return None if x is None or x <= -1 else log1p_(x)  # type: ignore[operator,arg-type]

        return run

    def polars(self) -> pl.Expr:
        a = self.a.polars()
        return pl.when(a > -1).then(a.log1p()).otherwise(None)

    def __str__(self) -> str:
        return f"log1p({self.a})"


class _Clip(Expr):
    def __init__(self, a: Expr, lo: float, hi: float):
        assert lo <= hi, (lo, hi)
        self.a, self.lo, self.hi = a, float(lo), float(hi)

    def children(self) -> tuple[Expr, ...]:
        return (self.a,)

    def scalar(self) -> Callable[[Mapping[str, Value]], Value]:
        a, lo, hi = self.a.scalar(), self.lo, self.hi

        def run(r: Mapping[str, Value]) -> Value:
            x = a(r)
            if x is None:
                return None
            return lo if x < lo else hi if x > hi else x  # type: ignore[operator]

        return run

    def polars(self) -> pl.Expr:
        return self.a.polars().cast(pl.Float64).clip(self.lo, self.hi)

    def __str__(self) -> str:
        return f"clip({self.a}, {_Lit(self.lo)}, {_Lit(self.hi)})"


class _Where(Expr):
    def __init__(self, cond: Expr, a: Expr, b: Expr):
        self.cond, self.a, self.b = cond, a, b

    def children(self) -> tuple[Expr, ...]:
        return (self.cond, self.a, self.b)

    def scalar(self) -> Callable[[Mapping[str, Value]], Value]:
        c, a, b = self.cond.scalar(), self.a.scalar(), self.b.scalar()

        def run(r: Mapping[str, Value]) -> Value:
            t = c(r)
            if t is None:
                return None
            return a(r) if t else b(r)

        return run

    def polars(self) -> pl.Expr:
        c = self.cond.polars()
        return pl.when(c.is_null()).then(None).when(c).then(self.a.polars()).otherwise(self.b.polars())

    def __str__(self) -> str:
        return f"where({self.cond}, {self.a}, {self.b})"


class _Fold(Expr):
    """min_, max_ (ignoring None) and coalesce (first present)."""

    def __init__(self, kind: str, args: tuple[Expr, ...]):
        assert args
        self.kind, self.args = kind, args

    def children(self) -> tuple[Expr, ...]:
        return self.args

    def scalar(self) -> Callable[[Mapping[str, Value]], Value]:
        fs = tuple(a.scalar() for a in self.args)
        if self.kind == "coalesce":

            def first(r: Mapping[str, Value]) -> Value:
                for f in fs:
                    v = f(r)
                    if v is not None:
                        return v
                return None

            return first
        pick = min if self.kind == "min" else max

        def fold(r: Mapping[str, Value]) -> Value:
            vs = [v for v in (f(r) for f in fs) if v is not None]
            return pick(vs) if vs else None  # type: ignore[type-var]

        return fold

    def polars(self) -> pl.Expr:
        args = [a.polars() for a in self.args]
        if self.kind == "coalesce":
            return pl.coalesce(args)
        return pl.min_horizontal(args) if self.kind == "min" else pl.max_horizontal(args)

    def __str__(self) -> str:
        return f"{self.kind}(" + ", ".join(str(a) for a in self.args) + ")"


_CMP = {">": operator.gt, ">=": operator.ge, "<": operator.lt, "<=": operator.le, "==": operator.eq, "!=": operator.ne}


class _Cmp(Expr):
    def __init__(self, op: str, a: Expr, b: Expr):
        self.op, self.a, self.b = op, a, b

    def children(self) -> tuple[Expr, ...]:
        return (self.a, self.b)

    def scalar(self) -> Callable[[Mapping[str, Value]], Value]:
        f, a, b = _CMP[self.op], self.a.scalar(), self.b.scalar()

        def run(r: Mapping[str, Value]) -> Value:
            x, y = a(r), b(r)
            return None if x is None or y is None else f(x, y)

        return run

    def polars(self) -> pl.Expr:
        return _CMP[self.op](self.a.polars(), self.b.polars())

    def __str__(self) -> str:
        return f"{_wrap(self.a)} {self.op} {_wrap(self.b)}"


class _Logic(Expr):
    def __init__(self, op: str, a: Expr, b: Expr):
        self.op, self.a, self.b = op, a, b

    def children(self) -> tuple[Expr, ...]:
        return (self.a, self.b)

    def scalar(self) -> Callable[[Mapping[str, Value]], Value]:
        a, b = self.a.scalar(), self.b.scalar()
        if self.op == "&":

            def both(r: Mapping[str, Value]) -> Value:
                x, y = a(r), b(r)
                if x is False or y is False:
                    return False
                return None if x is None or y is None else True

            return both

        def either(r: Mapping[str, Value]) -> Value:
            x, y = a(r), b(r)
            if x is True or y is True:
                return True
            return None if x is None or y is None else False

        return either

    def polars(self) -> pl.Expr:
        a, b = self.a.polars(), self.b.polars()
        return (a & b) if self.op == "&" else (a | b)

    def __str__(self) -> str:
        return f"{_wrap(self.a)} {self.op} {_wrap(self.b)}"


class _Not(Expr):
    def __init__(self, a: Expr):
        self.a = a

    def children(self) -> tuple[Expr, ...]:
        return (self.a,)

    def scalar(self) -> Callable[[Mapping[str, Value]], Value]:
        a = self.a.scalar()

        def run(r: Mapping[str, Value]) -> Value:
            x = a(r)
            return None if x is None else not x

        return run

    def polars(self) -> pl.Expr:
        return ~self.a.polars()

    def __str__(self) -> str:
        return f"not {_wrap(self.a)}"


class _AsFloat(Expr):
    def __init__(self, a: Expr):
        self.a = a

    def children(self) -> tuple[Expr, ...]:
        return (self.a,)

    def scalar(self) -> Callable[[Mapping[str, Value]], Value]:
        a = self.a.scalar()

        def run(r: Mapping[str, Value]) -> Value:
            x = a(r)
            return None if x is None else (1.0 if x else 0.0)

        return run

    def polars(self) -> pl.Expr:
        return self.a.polars().cast(pl.Float64)

    def __str__(self) -> str:
        return f"as_float({self.a})"


# the namespace features are written in


def col(name: str) -> Expr:
    """A column of the flat record (numbers as floats, NaN as None)."""
    return _Col(name)


def lit(value: Any) -> Expr:
    """A constant (numbers, text, True/False); expressions pass through."""
    return value if isinstance(value, Expr) else _Lit(value)


def div(a: Any, b: Any) -> Expr:
    """a / b; None when either is None or b is zero."""
    return _Div(lit(a), lit(b))


def log1p(a: Any) -> Expr:
    """ln(1 + a); None when a is None or a <= -1."""
    return _Log1p(lit(a))


def clip(a: Any, lo: float, hi: float) -> Expr:
    """a bounded to [lo, hi]; None stays None."""
    return _Clip(lit(a), lo, hi)


def where(cond: Any, a: Any, b: Any) -> Expr:
    """a where cond is true, b where it is false, None where cond is None."""
    return _Where(lit(cond), lit(a), lit(b))


def min_(*args: Any) -> Expr:
    """The smallest of the values present (None only when all are None)."""
    return _Fold("min", tuple(lit(a) for a in args))


def max_(*args: Any) -> Expr:
    """The largest of the values present (None only when all are None)."""
    return _Fold("max", tuple(lit(a) for a in args))


def coalesce(*args: Any) -> Expr:
    """The first value present."""
    return _Fold("coalesce", tuple(lit(a) for a in args))


def eq(a: Any, b: Any) -> Expr:
    """a == b (text or numbers); None when either is None."""
    return _Cmp("==", lit(a), lit(b))


def ne(a: Any, b: Any) -> Expr:
    """a != b; None when either is None."""
    return _Cmp("!=", lit(a), lit(b))


def as_float(a: Any) -> Expr:
    """A flag as 1.0 / 0.0 (None stays None)."""
    return _AsFloat(lit(a))


# --- the features ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Feature:
    """One feature: its name, a readable description (used for reason codes), its unit and its expression.

    ``kind`` is "numeric" (a float, or None) or "categorical" (text passed through, or None).
    """

    name: str
    description: str
    unit: str
    expr: Expr
    kind: str = "numeric"

    def __post_init__(self) -> None:
        assert self.kind in ("numeric", "categorical"), self.kind


REVENUE = max_(col("tax_declared_sales_12m_fen"), col("invoice_sales_12m_fen"), 12 * col("cashflow_inflow_monthly_avg_fen"))
"""Annual revenue proxy: the largest of declared sales, invoiced sales and 12 x the average monthly
settlement inflow. Each source under-counts in its own way (sales under-declared to the tax bureau, sales
without VAT invoices, flows through other banks), so the largest present is the least biased; sources
not ok are skipped, and it is None only when all three are missing."""

_DEBT = col("bureau_outstanding_loans_fen") + coalesce(col("exposure_bank_outstanding_fen"), 0)

FEATURES: tuple[Feature, ...] = (
    # size and capacity
    Feature("revenue_proxy", "Annual revenue proxy: the largest of tax-declared sales, invoiced sales and 12 x the average monthly settlement inflow", "fen/year", REVENUE),
    Feature("requested_to_revenue", "Credit line requested relative to annual revenue", "ratio", div(col("requested_amount_fen"), REVENUE)),
    Feature("debt_to_revenue", "Owner's debt (credit-report loans plus the bank's outstanding across the owner's enterprises) relative to annual revenue", "ratio", div(_DEBT, REVENUE)),
    Feature("debt_service_ratio", "Owner's annual scheduled loan repayments relative to annual revenue", "ratio", div(12 * col("bureau_monthly_debt_service_fen"), REVENUE)),
    # tax
    Feature("tax_grade", "Tax credit grade (A best, B, M new, C, D worst)", "category", col("tax_grade"), "categorical"),
    Feature("tax_to_sales", "Taxes paid relative to declared sales over 12 months (tax burden)", "ratio", div(col("tax_paid_12m_fen"), col("tax_declared_sales_12m_fen"))),
    Feature("tax_growth", "Growth of taxes paid: last 12 months over the 12 months before, minus 1 (bounded to -1..5)", "ratio", clip(div(col("tax_paid_12m_fen"), col("tax_paid_24m_fen") - col("tax_paid_12m_fen")) - 1, -1, 5)),
    Feature("filing_completeness", "Share of the last 12 months with a tax return filed on time", "share", col("tax_filing_months_12m") / 12),
    Feature("tax_arrears", "Tax owed and overdue today", "flag", as_float(col("tax_arrears_fen") > 0)),
    # invoices
    Feature("invoice_growth", "Growth of invoiced sales: last 12 months over the 12 months before, minus 1 (bounded to -1..5)", "ratio", clip(div(col("invoice_sales_12m_fen"), col("invoice_sales_prev_12m_fen")) - 1, -1, 5)),
    Feature("invoice_volatility", "Month-to-month volatility of invoiced sales (coefficient of variation)", "ratio", col("invoice_monthly_volatility")),
    Feature("buyer_concentration", "Share of invoiced sales going to the largest buyer", "share", col("invoice_top_buyer_share")),
    Feature("buyers_count_log", "Number of buyers invoiced in 12 months (log of 1 + count)", "log count", log1p(col("invoice_buyers_count_12m"))),
    Feature("cancelled_invoice_share", "Share of invoices cancelled or reversed", "share", col("invoice_cancelled_share")),
    Feature("invoice_coverage", "Invoiced sales relative to tax-declared sales (bounded to 0..3)", "ratio", clip(div(col("invoice_sales_12m_fen"), col("tax_declared_sales_12m_fen")), 0, 3)),
    # flows and the bank relationship
    Feature("cashflow_stability", "Steadiness of monthly settlement inflows (1 - coefficient of variation)", "share", col("cashflow_inflow_stability")),
    Feature("settlement_coverage", "Annual settlement inflows relative to tax-declared sales (bounded to 0..3)", "ratio", clip(div(12 * col("cashflow_inflow_monthly_avg_fen"), col("tax_declared_sales_12m_fen")), 0, 3)),
    Feature(
        "bank_relationship_strength",
        "Strength of the relationship with the bank: 0.35 settlement account + 0.15 payroll + 0.25 tenure (up to 5 years) + 0.25 deposits (up to one month of revenue)",
        "score 0..1",
        0.35 * as_float(col("relationship_settlement_account"))
        + 0.15 * as_float(col("relationship_payroll"))
        + 0.25 * clip(col("relationship_days") / 1826.25, 0, 1)
        + 0.25 * coalesce(clip(div(col("relationship_deposits_avg_fen"), REVENUE / 12), 0, 1), 0),
    ),
    # the owner's credit
    Feature("owner_age", "Owner's age", "years", col("owner_age")),
    Feature("credit_history_years", "Length of the owner's credit history", "years", col("bureau_credit_history_months") / 12),
    Feature("max_dpd_24m", "Owner's worst days past due in 24 months", "days", col("bureau_max_dpd_24m")),
    Feature("overdue_count_24m", "Owner's overdue records in 24 months", "count", col("bureau_overdue_count_24m")),
    Feature("current_overdue", "Owner has an amount overdue today", "flag", as_float(col("bureau_current_overdue_fen") > 0)),
    Feature(
        "inquiry_intensity",
        "Recent credit inquiries on the owner, weighted by recency: last month 1, months 2-3 0.5, months 4-6 0.25",
        "weighted count",
        col("bureau_inquiries_1m") + 0.5 * (col("bureau_inquiries_3m") - col("bureau_inquiries_1m")) + 0.25 * (col("bureau_inquiries_6m") - col("bureau_inquiries_3m")),
    ),
    Feature("lenders_count", "Institutions with an open loan to the owner", "count", col("bureau_lenders_count")),
    Feature("card_utilisation", "Owner's credit-card balance relative to the card limit (bounded to 0..2)", "ratio", clip(div(col("bureau_card_balance_fen"), col("bureau_card_limit_fen")), 0, 2)),
    # the enterprise's record
    Feature("years_in_business", "Age of the enterprise", "years", clip(col("registration_age_days") / 365.25, 0, 200)),
    Feature("registered_capital_log", "Registered capital (log of 1 + yuan)", "log yuan", log1p(col("registered_capital_fen") / 100)),
    Feature("industry_section", "Industry section (GB/T 4754-2017 letter)", "category", col("industry_section"), "categorical"),
    Feature("legal_rep_matches", "The applicant is the enterprise's legal representative", "flag", as_float(col("legal_rep_matches"))),
    Feature("registration_active", "The enterprise's registration is active", "flag", as_float(eq(col("registration_status"), "active"))),
    Feature("dishonest_debtor", "Enterprise listed as a dishonest judgement debtor", "flag", as_float(col("dishonest_debtor"))),
    Feature("court_judgements_24m", "Court judgements against the enterprise in 24 months", "count", col("court_judgements_24m")),
    Feature("admin_penalties_24m", "Administrative penalties on the enterprise in 24 months", "count", col("admin_penalties_24m")),
    Feature("shareholder_changes_12m", "Shareholder changes in 12 months", "count", col("shareholder_changes_12m")),
    # verification
    Feature("identity_mismatch", "Name, resident ID and mobile do not belong together", "flag", as_float(eq(col("identity_result"), "mismatch"))),
    Feature("aml_hit", "AML screening found a possible match", "flag", as_float(eq(col("aml_result"), "hit"))),
)
"""Every feature, in order."""

FEATURE_NAMES: tuple[str, ...] = tuple(f.name for f in FEATURES)
_BY_NAME = {f.name: f for f in FEATURES}
assert len(_BY_NAME) == len(FEATURES), "feature names must be unique"


def feature(name: str) -> Feature:
    return _BY_NAME[name]


def feature_descriptions() -> dict[str, str]:
    """Readable text of every feature, by name (used for reason codes)."""
    return {f.name: f.description for f in FEATURES}


def _compile() -> tuple[tuple[str, bool, Callable[[Mapping[str, Value]], Value]], ...]:
    return tuple((f.name, f.kind == "numeric", f.expr.scalar()) for f in FEATURES)


_COMPILED = _compile()


def compute_features(flat: Mapping[str, Value]) -> dict[str, float | str | None]:
    """Every feature of one flat record (online path: pure Python). Numbers are floats, None when missing."""
    out: dict[str, float | str | None] = {}
    for name, numeric, run in _COMPILED:
        v = run(flat)
        if numeric and v is not None:
            v = float(v)  # type: ignore[arg-type]
            if v != v:
                v = None
        out[name] = v  # type: ignore[assignment]
    return out


def _feature_exprs() -> tuple[pl.Expr, ...]:
    exprs = []
    for f in FEATURES:
        e = f.expr.polars()
        e = e.cast(pl.Float64).fill_nan(None) if f.kind == "numeric" else e.cast(pl.String)
        exprs.append(e.alias(f.name))
    return tuple(exprs)


_POLARS = _feature_exprs()


def feature_exprs() -> list[pl.Expr]:
    """The polars expressions of every feature, named (batch path; built once)."""
    return list(_POLARS)


def feature_frame(table: pl.DataFrame) -> pl.DataFrame:
    """Every feature for every row of a table of flat records (batch path); one column per feature, rows kept in order."""
    missing = [c for c in sorted(set().union(*(f.expr.columns() for f in FEATURES))) if c not in table.columns]
    if missing:
        raise KeyError("table lacks flat columns: " + ", ".join(missing))
    return table.select(feature_exprs())


# --- documentation -----------------------------------------------------------------------------------


def _constraints(metadata: Iterable[Any]) -> list[str]:
    out = []
    for m in metadata:
        for attr, sign in (("ge", ">="), ("gt", ">"), ("le", "<="), ("lt", "<")):
            v = getattr(m, attr, None)
            if v is not None and not (attr == "le" and v >= 10**6):
                out.append(f"{sign} {v}")
        inner = getattr(m, "metadata", None)
        if inner:
            out.extend(_constraints(inner))
    return out


def _type_text(annotation: Any, metadata: Iterable[Any] = ()) -> str:
    cons = list(_constraints(metadata))
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        base, *extra = typing.get_args(annotation)
        return _type_text(base, [*metadata, *extra])
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        text = " or ".join(_type_text(a) for a in args)
        return text + " or null" + (f" ({', '.join(cons)})" if cons else "")
    if origin is typing.Literal:
        return "one of " + ", ".join(f"`{a}`" for a in typing.get_args(annotation))
    if origin is tuple:
        return "list of " + _type_text(typing.get_args(annotation)[0])
    if origin is dict:
        k, v = typing.get_args(annotation)
        return f"map of source to {_type_text(v)}"
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return f"[{annotation.__name__}](#{annotation.__name__.lower()})"
    name = getattr(annotation, "__name__", str(annotation))
    name = {"str": "text", "AwareDatetime": "timestamp with UTC offset", "datetime": "timestamp", "date": "date", "int": "integer", "float": "number", "bool": "true/false"}.get(name, name)
    return name + (f" ({', '.join(cons)})" if cons else "")


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _model_table(model: type[BaseModel]) -> list[str]:
    doc = (model.__doc__ or "").strip().split("\n\n")[0].replace("\n", " ")
    lines = [f"### {model.__name__}", "", doc, "", "| field | type | description |", "| --- | --- | --- |"]
    for name, info in model.model_fields.items():
        lines.append(f"| `{name}` | {_cell(_type_text(info.annotation, info.metadata))} | {_cell(info.description or '')} |")
    return [*lines, ""]


_DOC_MODELS: tuple[tuple[str, tuple[type[BaseModel], ...]], ...] = (
    ("The application", (S.Application, S.Applicant, S.EnterpriseRef, S.Consent)),
    ("Evidence", (S.Evidence, S.SourceResult)),
    ("Provider data, by source", (S.IdentityCheck, S.AmlScreening, S.CreditReport, S.Registration, S.Tax, S.Invoices, S.CashFlow, S.BankRelationship, S.Exposure)),
    ("Derived", (S.Owner,)),
)


def describe() -> str:
    """The field-by-field documentation of the schemas, the flat record and the features (docs/risk-data.md).

    Generated from the pydantic field descriptions and the feature definitions, so the document and the
    code cannot drift apart; ``python -m smelend.risk.features > docs/risk-data.md`` regenerates it.
    """
    out = [
        "# Risk data: schemas, the flat record and features",
        "",
        "<!-- Generated by smelend.risk.features.describe(); do not edit by hand. -->",
        "<!-- Regenerate: .venv/bin/python -m smelend.risk.features > docs/risk-data.md -->",
        "",
        "What a credit decision uses, field by field. Amounts are integer fen (1 yuan = 100 fen); shares and",
        "ratios are fractions; counts are non-negative integers. Models are strict: unknown fields are rejected,",
        "numbers, flags and text are not coerced from other JSON types, dates are ISO 8601 and timestamps carry",
        "a UTC offset. Everything serialises to JSON and back exactly.",
        "",
        "Sources and where they are keyed: " + ", ".join(f"`{s}` ({'applicant' if s in S.PERSON_SOURCES else 'enterprise'})" for s in S.SOURCES) + ".",
        "",
    ]
    for title, models in _DOC_MODELS:
        out += [f"## {title}", ""]
        for model in models:
            out += _model_table(model)
    out += [
        "## The flat record (`flatten`)",
        "",
        "One record per application; a column is null (None) when its source is not `ok`.",
        "`simulate_table` has the same columns plus `latent_pd` and `defaulted`.",
        "",
        "| column | type | source | description |",
        "| --- | --- | --- | --- |",
    ]
    for c in FLAT_COLUMNS:
        out.append(f"| `{c.name}` | {c.dtype} | {c.source} | {_cell(c.description)} |")
    out += [
        "",
        "## Features (`compute_features`, `feature_frame`)",
        "",
        "Each feature is one expression evaluated by two paths (online over one record, batch over a polars",
        "table) with one rule for missing values: arithmetic, comparisons, `log1p`, `clip` and `where` give",
        "null when an input is null; `div` also gives null for a zero denominator; `max`/`min` skip nulls;",
        "`coalesce` takes the first value present. Numeric features are floats; categorical ones pass text through.",
        "",
        "| feature | unit | definition | description |",
        "| --- | --- | --- | --- |",
    ]
    for f in FEATURES:
        out.append(f"| `{f.name}` | {f.unit} | `{_cell(str(f.expr))}` | {_cell(f.description)} |")
    out.append("")
    from smelend.risk.providers import base, files, http, simulated

    for title, module in (
        ("Gathering and consent (`smelend.risk.providers.base`)", base),
        ("File provider (`smelend.risk.providers.files`)", files),
        ("HTTP provider (`smelend.risk.providers.http`)", http),
        ("Simulated provider and market (`smelend.risk.providers.simulated`)", simulated),
    ):
        out += [f"## {title}", "", _rst_to_markdown(module.__doc__ or ""), ""]
    return "\n".join(out)


def _rst_to_markdown(doc: str) -> str:
    """A module docstring as Markdown: roles and double back-quotes as code, literal blocks and tables fenced."""
    text = re.sub(r":\w+:`~?(?:[\w.]+\.)?([^`.]+)`", r"`\1`", doc.strip())
    text = text.replace("``", "`")
    lines, out, i = text.split("\n"), [], 0
    while i < len(lines):
        line = lines[i]
        if re.fullmatch(r"=+( +=+)+", line.strip()):  # a simple table: fence it up to its closing rule
            end = max(j for j in range(i + 1, len(lines)) if re.fullmatch(r"=+( +=+)+", lines[j].strip()))
            out += ["```text", *lines[i + 1 : end], "```"]
            i = end + 1
            continue
        if line.endswith("::"):
            out.append(line[:-1])
            block, i = [], i + 1
            while i < len(lines) and (not lines[i].strip() or lines[i].startswith("    ")):
                block.append(lines[i][4:])
                i += 1
            while block and not block[0].strip():
                block.pop(0)
            while block and not block[-1].strip():
                block.pop()
            out += ["", "```text", *block, "```", ""]
            continue
        out.append(line)
        i += 1
    return "\n".join(out).rstrip()


if __name__ == "__main__":
    print(describe(), end="")


__all__ = [
    "FEATURES",
    "FEATURE_NAMES",
    "FLAT_COLUMNS",
    "FLAT_NAMES",
    "FLAT_SCHEMA",
    "REVENUE",
    "Expr",
    "Feature",
    "FlatColumn",
    "as_float",
    "clip",
    "coalesce",
    "col",
    "compute_features",
    "describe",
    "div",
    "eq",
    "feature",
    "feature_descriptions",
    "feature_exprs",
    "feature_frame",
    "flat_frame",
    "flatten",
    "lit",
    "log1p",
    "max_",
    "min_",
    "ne",
    "where",
]
