"""Line targets: a decrease capped at used steps down to its decided limit as the borrower repays.

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-29

``credit_lines`` gets the pending target of a decrease that was capped at used (``target_limit_fen``)
and the change that decided it (``target_change_id``); ``line_changes`` gets the decided target of a
change (``target_limit_fen``) and ``step``: 0 for the day's reassessment decision (still one a line a
day), 1, 2, ... for the step-downs recorded that day as principal is repaid, so the unique key becomes
(line, date, step). On SQLite the unique key is changed by copying the table (written out in full).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = '0010'
down_revision: str | Sequence[str] | None = '0009'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


_CHANGE_COLUMNS = (
    "id", "run_id", "line_id", "effective_date", "action", "reasons", "limit_before_fen", "limit_after_fen", "used_fen",
    "status_before", "status_after", "end_before", "end_after", "temp_limit_fen", "temp_limit_until", "rules_version",
    "settings_version", "strategy_version", "model_version", "created_at",
)


def _line_changes(unique: list[str], with_targets: bool) -> None:
    """``line_changes`` written out in full (as 0006 made it, plus 0010's columns when ``with_targets``)."""
    extra = [sa.Column("step", sa.Integer(), nullable=False, server_default="0"), sa.Column("target_limit_fen", sa.BigInteger(), nullable=True)] if with_targets else []
    op.create_table(
        "line_changes",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("run_id", sa.String(40), nullable=False),
        sa.Column("line_id", sa.Integer(), nullable=False),
        sa.Column("effective_date", sa.Date(), nullable=False),
        sa.Column("action", sa.String(16), nullable=False),
        sa.Column("reasons", sa.String(400), nullable=False),
        sa.Column("limit_before_fen", sa.BigInteger(), nullable=False),
        sa.Column("limit_after_fen", sa.BigInteger(), nullable=False),
        sa.Column("used_fen", sa.BigInteger(), nullable=False),
        sa.Column("status_before", sa.String(16), nullable=False),
        sa.Column("status_after", sa.String(16), nullable=False),
        sa.Column("end_before", sa.Date(), nullable=False),
        sa.Column("end_after", sa.Date(), nullable=False),
        sa.Column("temp_limit_fen", sa.BigInteger(), nullable=False, server_default="0"),
        sa.Column("temp_limit_until", sa.Date(), nullable=True),
        sa.Column("rules_version", sa.String(120), nullable=False),
        sa.Column("settings_version", sa.String(120), nullable=False),
        sa.Column("strategy_version", sa.String(120), nullable=False),
        sa.Column("model_version", sa.String(120), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.func.current_timestamp(), nullable=False),
        *extra,
        sa.PrimaryKeyConstraint("id", name="pk_line_changes"),
        sa.ForeignKeyConstraint(["line_id"], ["credit_lines.id"], name="fk_line_changes_line_id_credit_lines"),
        sa.UniqueConstraint(*unique, name="uq_line_changes_line_id"),
        sa.CheckConstraint("limit_after_fen > 0 AND limit_after_fen >= used_fen", name=op.f("ck_line_changes_limit_covers_used")),
        sa.CheckConstraint("temp_limit_fen >= 0 AND temp_limit_fen <= limit_after_fen", name=op.f("ck_line_changes_temp_within_limit")),
    )
    op.create_index("ix_line_changes_run_id", "line_changes", ["run_id"])
    op.create_index("ix_line_changes_effective_date", "line_changes", ["effective_date"])


_NOTICE_COLUMNS = ("id", "line_change_id", "line_id", "event", "payload", "status", "attempts", "sent_at", "created_at")


def _rebuild_line_changes_on_sqlite(unique: list[str], with_targets: bool) -> None:
    """SQLite cannot drop a unique constraint: the table is copied out, dropped, made again and
    filled. ``line_notifications`` refers to its rows, and foreign keys cannot be switched off inside
    the migration's transaction, so the notices are copied out and back too (same ids)."""
    changes, notices = ", ".join(_CHANGE_COLUMNS), ", ".join(_NOTICE_COLUMNS)
    op.execute(f"CREATE TEMP TABLE _line_changes_0010 AS SELECT {changes} FROM line_changes")
    op.execute(f"CREATE TEMP TABLE _line_notifications_0010 AS SELECT {notices} FROM line_notifications")
    op.execute("DELETE FROM line_notifications")
    op.execute("DROP TABLE line_changes")
    _line_changes(unique, with_targets)
    op.execute(f"INSERT INTO line_changes ({changes}) SELECT {changes} FROM _line_changes_0010")
    op.execute(f"INSERT INTO line_notifications ({notices}) SELECT {notices} FROM _line_notifications_0010")
    op.execute("DROP TABLE _line_changes_0010")
    op.execute("DROP TABLE _line_notifications_0010")


def upgrade() -> None:
    op.add_column("credit_lines", sa.Column("target_limit_fen", sa.BigInteger(), nullable=True))
    op.add_column("credit_lines", sa.Column("target_change_id", sa.Integer(), nullable=True))
    if op.get_bind().dialect.name == "sqlite":
        _rebuild_line_changes_on_sqlite(["line_id", "effective_date", "step"], with_targets=True)
        return
    op.add_column("line_changes", sa.Column("step", sa.Integer(), nullable=False, server_default="0"))
    op.add_column("line_changes", sa.Column("target_limit_fen", sa.BigInteger(), nullable=True))
    op.drop_constraint("uq_line_changes_line_id", "line_changes", type_="unique")
    op.create_unique_constraint("uq_line_changes_line_id", "line_changes", ["line_id", "effective_date", "step"])


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":  # step-downs (step > 0) cannot survive the old key: dropped with their notices
        op.execute("DELETE FROM line_notifications WHERE line_change_id IN (SELECT id FROM line_changes WHERE step > 0)")
        op.execute("DELETE FROM line_changes WHERE step > 0")
        _rebuild_line_changes_on_sqlite(["line_id", "effective_date"], with_targets=False)
    else:
        op.execute("DELETE FROM line_notifications WHERE line_change_id IN (SELECT id FROM line_changes WHERE step > 0)")
        op.execute("DELETE FROM line_changes WHERE step > 0")
        op.drop_constraint("uq_line_changes_line_id", "line_changes", type_="unique")
        op.create_unique_constraint("uq_line_changes_line_id", "line_changes", ["line_id", "effective_date"])
        op.drop_column("line_changes", "target_limit_fen")
        op.drop_column("line_changes", "step")
    for column in ("target_change_id", "target_limit_fen"):  # plain DROP COLUMN (SQLite 3.35+): no copy of a table loans refer to
        op.execute(f"ALTER TABLE credit_lines DROP COLUMN {column}")
