"""The loan book: business day, credit lines, loans, installments, repayments, close-of-business runs.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-28

Enterprises may now exist before their owner is on file (the operator opens a line by USCC).
Written out in full (not imported from smelend.store.tables): a migration is frozen in time.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | Sequence[str] | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _created_at() -> sa.Column:
    return sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.current_timestamp())


def upgrade() -> None:
    with op.batch_alter_table("enterprises") as batch:
        batch.alter_column("owner_person_id", existing_type=sa.Integer(), nullable=True)

    op.create_table(
        "business_day",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("business_date", sa.Date(), nullable=False),
        sa.Column("last_closed", sa.Date(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_business_day"),
        sa.CheckConstraint("id = 1", name=op.f("ck_business_day_single_row")),
    )
    op.create_table(
        "credit_lines",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("enterprise_id", sa.Integer(), nullable=False),
        sa.Column("product_id", sa.String(40), nullable=False),
        sa.Column("limit_fen", sa.BigInteger(), nullable=False),
        sa.Column("used_fen", sa.BigInteger(), nullable=False, server_default="0"),
        sa.Column("annual_rate", sa.String(24), nullable=False),
        sa.Column("start_date", sa.Date(), nullable=False),
        sa.Column("end_date", sa.Date(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False, server_default="1"),
        _created_at(),
        sa.PrimaryKeyConstraint("id", name="pk_credit_lines"),
        sa.ForeignKeyConstraint(["enterprise_id"], ["enterprises.id"], name="fk_credit_lines_enterprise_id_enterprises"),
        sa.CheckConstraint("limit_fen > 0", name=op.f("ck_credit_lines_limit_positive")),
        sa.CheckConstraint("used_fen >= 0 AND used_fen <= limit_fen", name=op.f("ck_credit_lines_used_within_limit")),
        sa.CheckConstraint("status IN ('active', 'frozen', 'expired')", name=op.f("ck_credit_lines_status_known")),
        sa.CheckConstraint("start_date < end_date", name=op.f("ck_credit_lines_dates_ordered")),
    )
    op.create_index("ix_credit_lines_enterprise_id", "credit_lines", ["enterprise_id"])
    op.create_table(
        "loans",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("line_id", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("method", sa.String(24), nullable=False),
        sa.Column("term", sa.Integer(), nullable=False),
        sa.Column("principal_fen", sa.BigInteger(), nullable=False),
        sa.Column("annual_rate", sa.String(24), nullable=False),
        sa.Column("penalty_rate", sa.String(24), nullable=False),
        sa.Column("compound_overdue_interest", sa.Boolean(), nullable=False),
        sa.Column("grace_days", sa.Integer(), nullable=False),
        sa.Column("prepayment", sa.String(24), nullable=False),
        sa.Column("conventions", sa.Text(), nullable=False),
        sa.Column("start_date", sa.Date(), nullable=False),
        sa.Column("auto_debit", sa.Boolean(), nullable=False, server_default=sa.false()),
        sa.Column("closed_through", sa.Date(), nullable=True),
        sa.Column("principal_outstanding_fen", sa.BigInteger(), nullable=False),
        sa.Column("interest_receivable_fen", sa.BigInteger(), nullable=False, server_default="0"),
        sa.Column("suspended_interest_fen", sa.BigInteger(), nullable=False, server_default="0"),
        sa.Column("penalty_receivable_fen", sa.BigInteger(), nullable=False, server_default="0"),
        sa.Column("suspended_penalty_fen", sa.BigInteger(), nullable=False, server_default="0"),
        sa.Column("interest_carry", sa.BigInteger(), nullable=False, server_default="0"),
        sa.Column("penalty_carry", sa.BigInteger(), nullable=False, server_default="0"),
        sa.Column("days_past_due", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("category", sa.String(16), nullable=False, server_default="pass"),
        sa.Column("flags", sa.Text(), nullable=False),
        sa.Column("provision_fen", sa.BigInteger(), nullable=False, server_default="0"),
        sa.Column("credit_balance_fen", sa.BigInteger(), nullable=False, server_default="0"),
        sa.Column("written_off_fen", sa.BigInteger(), nullable=False, server_default="0"),
        sa.Column("version", sa.Integer(), nullable=False, server_default="1"),
        _created_at(),
        sa.PrimaryKeyConstraint("id", name="pk_loans"),
        sa.ForeignKeyConstraint(["line_id"], ["credit_lines.id"], name="fk_loans_line_id_credit_lines"),
        sa.CheckConstraint("principal_fen > 0", name=op.f("ck_loans_principal_positive")),
        sa.CheckConstraint(
            "principal_outstanding_fen >= 0 AND principal_outstanding_fen <= principal_fen", name=op.f("ck_loans_outstanding_within_principal")
        ),
        sa.CheckConstraint("credit_balance_fen >= 0", name=op.f("ck_loans_credit_balance_nonnegative")),
    )
    op.create_index("ix_loans_line_id", "loans", ["line_id"])
    op.create_index("ix_loans_status", "loans", ["status"])
    op.create_table(
        "installments",
        sa.Column("loan_id", sa.Integer(), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("period_start", sa.Date(), nullable=False),
        sa.Column("due_date", sa.Date(), nullable=False),
        sa.Column("principal_fen", sa.BigInteger(), nullable=False),
        sa.Column("interest_fen", sa.BigInteger(), nullable=False),
        sa.Column("fee_fen", sa.BigInteger(), nullable=False),
        sa.Column("accrued_interest_fen", sa.BigInteger(), nullable=False),
        sa.Column("paid_principal_fen", sa.BigInteger(), nullable=False),
        sa.Column("paid_interest_fen", sa.BigInteger(), nullable=False),
        sa.Column("paid_fee_fen", sa.BigInteger(), nullable=False),
        sa.Column("accrual_start", sa.Date(), nullable=True),
        sa.Column("accrued_at_start_fen", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("loan_id", "number", name="pk_installments"),
        sa.ForeignKeyConstraint(["loan_id"], ["loans.id"], name="fk_installments_loan_id_loans"),
        sa.CheckConstraint("paid_principal_fen >= 0 AND paid_principal_fen <= principal_fen", name=op.f("ck_installments_principal_paid_within")),
    )
    op.create_index("ix_installments_due_date", "installments", ["due_date"])
    op.create_table(
        "repayments",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("loan_id", sa.Integer(), nullable=False),
        sa.Column("instruction_id", sa.String(200), nullable=False),
        sa.Column("business_date", sa.Date(), nullable=False),
        sa.Column("channel", sa.String(16), nullable=False),
        sa.Column("amount_fen", sa.BigInteger(), nullable=False),
        sa.Column("penalty_fen", sa.BigInteger(), nullable=False),
        sa.Column("interest_fen", sa.BigInteger(), nullable=False),
        sa.Column("fee_fen", sa.BigInteger(), nullable=False),
        sa.Column("principal_fen", sa.BigInteger(), nullable=False),
        sa.Column("credit_balance_fen", sa.BigInteger(), nullable=False),
        sa.Column("recovery_fen", sa.BigInteger(), nullable=False),
        _created_at(),
        sa.PrimaryKeyConstraint("id", name="pk_repayments"),
        sa.ForeignKeyConstraint(["loan_id"], ["loans.id"], name="fk_repayments_loan_id_loans"),
        sa.UniqueConstraint("instruction_id", name="uq_repayments_instruction_id"),
        sa.CheckConstraint("amount_fen > 0", name=op.f("ck_repayments_amount_positive")),
        sa.CheckConstraint(
            "amount_fen = penalty_fen + interest_fen + fee_fen + principal_fen + credit_balance_fen + recovery_fen", name=op.f("ck_repayments_parts_sum")
        ),
    )
    op.create_index("ix_repayments_loan_id", "repayments", ["loan_id"])
    op.create_table(
        "cob_runs",
        sa.Column("business_date", sa.Date(), nullable=False),
        sa.Column("loans_closed", sa.Integer(), nullable=False),
        sa.Column("accrued_interest_fen", sa.BigInteger(), nullable=False),
        sa.Column("accrued_penalty_fen", sa.BigInteger(), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.current_timestamp()),
        sa.PrimaryKeyConstraint("business_date", name="pk_cob_runs"),
    )


def downgrade() -> None:
    for table in ("cob_runs", "repayments", "installments", "loans", "credit_lines", "business_day"):
        op.drop_table(table)
    with op.batch_alter_table("enterprises") as batch:
        batch.alter_column("owner_person_id", existing_type=sa.Integer(), nullable=False)
