"""Line changes and their notification outbox; the book-wide close of business's runs and progress (issue 7).

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-28

Written out in full (not imported from smelend.store.tables): a migration is frozen in time.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = '0006'
down_revision: str | Sequence[str] | None = '0005'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _created_at() -> sa.Column:
    return sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.current_timestamp())


def upgrade() -> None:
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
        _created_at(),
        sa.PrimaryKeyConstraint("id", name="pk_line_changes"),
        sa.ForeignKeyConstraint(["line_id"], ["credit_lines.id"], name="fk_line_changes_line_id_credit_lines"),
        sa.UniqueConstraint("line_id", "effective_date", name="uq_line_changes_line_id"),
        sa.CheckConstraint("limit_after_fen > 0 AND limit_after_fen >= used_fen", name=op.f("ck_line_changes_limit_covers_used")),
        sa.CheckConstraint("temp_limit_fen >= 0 AND temp_limit_fen <= limit_after_fen", name=op.f("ck_line_changes_temp_within_limit")),
    )
    op.create_index("ix_line_changes_run_id", "line_changes", ["run_id"])
    op.create_index("ix_line_changes_effective_date", "line_changes", ["effective_date"])
    op.create_table(
        "line_notifications",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("line_change_id", sa.Integer(), nullable=False),
        sa.Column("line_id", sa.Integer(), nullable=False),
        sa.Column("event", sa.String(128), nullable=False),
        sa.Column("payload", sa.Text(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        _created_at(),
        sa.PrimaryKeyConstraint("id", name="pk_line_notifications"),
        sa.ForeignKeyConstraint(["line_change_id"], ["line_changes.id"], name="fk_line_notifications_line_change_id_line_changes"),
        sa.ForeignKeyConstraint(["line_id"], ["credit_lines.id"], name="fk_line_notifications_line_id_credit_lines"),
        sa.UniqueConstraint("line_change_id", name="uq_line_notifications_line_change_id"),
    )
    op.create_index("ix_line_notifications_line_id", "line_notifications", ["line_id"])
    op.create_table(
        "cob_pipeline_runs",
        sa.Column("run_id", sa.String(40), nullable=False),
        sa.Column("business_date", sa.Date(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("summary", sa.Text(), nullable=True),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.current_timestamp()),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("run_id", name="pk_cob_pipeline_runs"),
        sa.UniqueConstraint("business_date", name="uq_cob_pipeline_runs_business_date"),
    )
    op.create_table(
        "cob_pipeline_progress",
        sa.Column("run_id", sa.String(40), nullable=False),
        sa.Column("stage", sa.String(24), nullable=False),
        sa.Column("chunk", sa.Integer(), nullable=False),
        sa.Column("rows", sa.Integer(), nullable=False),
        sa.Column("counts", sa.Text(), nullable=False),
        _created_at(),
        sa.PrimaryKeyConstraint("run_id", "stage", "chunk", name="pk_cob_pipeline_progress"),
        sa.ForeignKeyConstraint(["run_id"], ["cob_pipeline_runs.run_id"], name="fk_cob_pipeline_progress_run_id_cob_pipeline_runs"),
    )


def downgrade() -> None:
    op.drop_table("cob_pipeline_progress")
    op.drop_table("cob_pipeline_runs")
    op.drop_index("ix_line_notifications_line_id", table_name="line_notifications")
    op.drop_table("line_notifications")
    op.drop_index("ix_line_changes_effective_date", table_name="line_changes")
    op.drop_index("ix_line_changes_run_id", table_name="line_changes")
    op.drop_table("line_changes")
