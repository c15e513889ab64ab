"""The book snapshot: one row per credit line as of a business date, the input of every book-wide stage.

The close of business reads the book once into this shape (an Arrow table, written to Parquet), and
everything after it — the behaviour score, reassessment, collections — is a pure function over batches
of these rows. Keeping the schema in the pure core (not in ``store``) lets those stages, and the Ray and
process-pool workers that run them, agree on it without importing a database.

Column names are a contract with the reassessment and close-of-business stages: they do not change.
(Change log: 2026-11-29: ``owner_limits_fen`` added at the end — the owner's exposure across every
enterprise, for the owner-level cap in reassessment; derived from the other columns by
:func:`with_owner_limits`, so :func:`conform` fills it in for a frame that lacks it.)

Money is integer fen (int64); dates are ``date32``; trends are floats (ratios, not money). Columns are
nullable only where noted. The enterprise-data columns come from the latest refresh of provider data
(``enterprise_events`` rows and the simulated provider for generated books); the line-change columns
come from the line-change table when it exists, and are null otherwise.
"""

from __future__ import annotations

import polars as pl
import pyarrow as pa

# (name, type, nullable, meaning) -- the meaning is the documentation; SNAPSHOT_SCHEMA carries it as field metadata.
_COLUMNS: tuple[tuple[str, pa.DataType, bool, str], ...] = (
    ("as_of", pa.date32(), False, "the business date the snapshot describes (the same on every row)"),
    ("line_id", pa.int64(), False, "credit_lines.id"),
    ("enterprise_id", pa.int64(), False, "credit_lines.enterprise_id"),
    ("owner_person_id", pa.int64(), True, "enterprises.owner_person_id (null when the owner is not on file): for owner-level exposure"),
    ("product_id", pa.string(), False, "the product the line was opened under"),
    ("status", pa.string(), False, "line status: active, frozen or expired"),
    ("annual_rate", pa.string(), False, "the line's annual rate as exact decimal text"),
    ("limit_fen", pa.int64(), False, "the line's limit"),
    ("used_fen", pa.int64(), False, "principal reserved by the line's open loans (limit - used = available)"),
    ("start_date", pa.date32(), False, "first day of the line's validity"),
    ("end_date", pa.date32(), False, "last day of the line's validity"),
    ("months_on_book", pa.int32(), False, "whole months from start_date to as_of"),
    ("open_loans", pa.int32(), False, "loans with status active (not paid off, cancelled or written off)"),
    ("principal_outstanding_fen", pa.int64(), False, "principal outstanding over the open loans"),
    ("max_dpd", pa.int32(), False, "largest days past due over the open loans today"),
    ("max_dpd_365d", pa.int32(), False, "largest days past due any installment of the line reached in the 365 days to as_of (paid late or still unpaid)"),
    ("overdue_principal_fen", pa.int64(), False, "principal due before as_of and not paid (past due as the day opens), over the open loans"),
    ("worst_category", pa.string(), False, "worst five-category classification over the open loans (pass when none)"),
    ("on_time_streak", pa.int32(), False, "consecutive installments, most recent due first, paid in full by their due date"),
    ("late_payments_365d", pa.int32(), False, "installments due in the 365 days to as_of that were not paid in full by their due date"),
    ("draws_90d", pa.int32(), False, "loans drawn on the line in the 90 days to as_of"),
    ("drawn_fen_90d", pa.int64(), False, "principal drawn on the line in the 90 days to as_of"),
    ("next_due_date", pa.date32(), True, "earliest due date on or after as_of of an unpaid installment of an open loan (null: nothing due)"),
    ("next_due_fen", pa.int64(), True, "principal + interest + fee due on next_due_date, unpaid (null: nothing due)"),
    ("revenue_12m_fen", pa.int64(), True, "the enterprise's revenue over 12 months from its latest tax/invoice refresh (null: no data)"),
    ("revenue_trend", pa.float64(), True, "revenue growth over the year as a fraction (0.05 = +5%)"),
    ("invoice_trend", pa.float64(), True, "VAT-invoiced sales growth as a fraction (null: no invoice data)"),
    ("settlement_trend", pa.float64(), True, "settlement-inflow growth as a fraction (null: no settlement data)"),
    ("tax_grade", pa.string(), True, "the tax authority's credit grade A, B, M, C or D (null: no tax record)"),
    ("event_new_tax_record", pa.bool_(), False, "a new tax record arrived since the previous business date"),
    ("event_new_invoice", pa.bool_(), False, "a new invoice record arrived since the previous business date"),
    ("event_external_alert", pa.bool_(), False, "an external alert (court judgement, dishonest-debtor listing) arrived since the previous business date"),
    ("last_change_date", pa.date32(), True, "business date of the line's latest recorded change (null: none or no change table)"),
    ("last_change_action", pa.string(), True, "action of the line's latest recorded change (increase, decrease, freeze, ...)"),
    ("temp_limit_fen", pa.int64(), True, "a temporary limit in force on as_of (null: none)"),
    ("temp_limit_until", pa.date32(), True, "last day of the temporary limit (null: none)"),
    ("owner_limits_fen", pa.int64(), False, "the owner's exposure over every line in the snapshot of every enterprise of the same owner_person_id, this line included: the limit of a line not expired, what is used of an expired one (the line's own when the owner is not on file)"),
)

SNAPSHOT_SCHEMA: pa.Schema = pa.schema(
    [pa.field(name, kind, nullable=nullable, metadata={"doc": doc}) for name, kind, nullable, doc in _COLUMNS]
)
"""The book snapshot, one row per credit line (see each field's ``doc`` metadata)."""

SNAPSHOT_COLUMNS: tuple[str, ...] = tuple(name for name, *_ in _COLUMNS)

COLUMN_DOCS: dict[str, str] = {name: doc for name, _, _, doc in _COLUMNS}


def empty_snapshot() -> pa.Table:
    """A snapshot with no rows (a book without lines), typed like every other."""
    return SNAPSHOT_SCHEMA.empty_table()


def owner_exposure() -> pl.Expr:
    """A line's part of its owner's exposure: its limit, or what is still used once it has expired."""
    return pl.when(pl.col("status") == "expired").then(pl.col("used_fen")).otherwise(pl.col("limit_fen")).cast(pl.Int64)


def with_owner_limits(frame: pl.DataFrame) -> pl.DataFrame:
    """``frame`` (snapshot rows of the whole book, or of a book small enough to be one batch) with
    ``owner_limits_fen``: the sum of :func:`owner_exposure` over the lines of the same owner. Computed
    over the whole snapshot before it is cut into batches, so every batch sees the owner's full total."""
    own = owner_exposure()
    total = pl.when(pl.col("owner_person_id").is_null()).then(own).otherwise(own.sum().over("owner_person_id"))
    return frame.with_columns(total.cast(pl.Int64).alias("owner_limits_fen"))


def conform(table: pa.Table) -> pa.Table:
    """``table`` with the snapshot's columns in order and types cast to the schema; refuses missing
    columns (except ``owner_limits_fen``, derived from the others when missing)."""
    if "owner_limits_fen" not in table.column_names and {"owner_person_id", "status", "limit_fen", "used_fen"} <= set(table.column_names):
        frame = pl.from_arrow(table)
        assert isinstance(frame, pl.DataFrame)
        table = with_owner_limits(frame).to_arrow()
    missing = [name for name in SNAPSHOT_COLUMNS if name not in table.column_names]
    if missing:
        raise ValueError(f"snapshot is missing columns: {', '.join(missing)}")
    return table.select(list(SNAPSHOT_COLUMNS)).cast(SNAPSHOT_SCHEMA)
