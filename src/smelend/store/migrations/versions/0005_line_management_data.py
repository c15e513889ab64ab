"""Line management data: enterprise events, behaviour scores, collection actions, restructurings (issue 7).

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-28

Written out in full (not imported from smelend.store.tables): a migration is frozen in time.
The line changes and their outbox come in 0006.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0005'
down_revision: str | Sequence[str] | None = '0004'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _created_at() -> sa.Column:
    return sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.current_timestamp())


def upgrade() -> None:
    op.create_table(
        "enterprise_events",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("enterprise_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(24), nullable=False),
        sa.Column("event_date", sa.Date(), nullable=False),
        sa.Column("revenue_12m_fen", sa.BigInteger(), nullable=True),
        sa.Column("trend", sa.Float(), nullable=True),
        sa.Column("tax_grade", sa.String(2), nullable=True),
        sa.Column("detail", sa.Text(), nullable=True),
        _created_at(),
        sa.PrimaryKeyConstraint("id", name="pk_enterprise_events"),
        sa.ForeignKeyConstraint(["enterprise_id"], ["enterprises.id"], name="fk_enterprise_events_enterprise_id_enterprises"),
        sa.CheckConstraint("kind IN ('tax_record', 'invoice_record', 'settlement_record', 'external_alert')", name=op.f("ck_enterprise_events_kind_known")),
    )
    op.create_index("ix_enterprise_events_enterprise_id", "enterprise_events", ["enterprise_id"])
    op.create_index("ix_enterprise_events_event_date", "enterprise_events", ["event_date"])
    op.create_table(
        "behaviour_scores",
        sa.Column("line_id", sa.Integer(), nullable=False),
        sa.Column("business_date", sa.Date(), nullable=False),
        sa.Column("score", sa.Integer(), nullable=False),
        sa.Column("pd", sa.Float(), nullable=False),
        sa.Column("grade", sa.String(8), nullable=False),
        sa.Column("model_version", sa.String(40), nullable=False),
        sa.Column("reasons", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("line_id", "business_date", name="pk_behaviour_scores"),
        sa.ForeignKeyConstraint(["line_id"], ["credit_lines.id"], name="fk_behaviour_scores_line_id_credit_lines"),
    )
    op.create_table(
        "collection_actions",
        sa.Column("run_id", sa.String(64), nullable=False),
        sa.Column("loan_id", sa.Integer(), nullable=False),
        sa.Column("step", sa.String(40), nullable=False),
        sa.Column("business_date", sa.Date(), nullable=False),
        sa.Column("channel", sa.String(16), nullable=False),
        sa.Column("amount_due_fen", sa.BigInteger(), nullable=False),
        sa.Column("days_past_due", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("run_id", "loan_id", "step", name="pk_collection_actions"),
        sa.ForeignKeyConstraint(["loan_id"], ["loans.id"], name="fk_collection_actions_loan_id_loans"),
    )
    op.create_index("ix_collection_actions_business_date", "collection_actions", ["business_date"])
    op.create_table(
        "restructurings",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("loan_id", sa.Integer(), nullable=False),
        sa.Column("business_date", sa.Date(), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("old_term", sa.Integer(), nullable=False),
        sa.Column("new_term", sa.Integer(), nullable=False),
        sa.Column("new_method", sa.String(24), nullable=False),
        sa.Column("principal_fen", sa.BigInteger(), nullable=False),
        sa.Column("days_past_due", sa.Integer(), nullable=False),
        sa.Column("behaviour_grade", sa.String(8), nullable=True),
        sa.Column("rule", sa.String(40), nullable=False),
        _created_at(),
        sa.PrimaryKeyConstraint("id", name="pk_restructurings"),
        sa.ForeignKeyConstraint(["loan_id"], ["loans.id"], name="fk_restructurings_loan_id_loans"),
        sa.CheckConstraint("kind IN ('extension', 'restructuring')", name=op.f("ck_restructurings_kind_known")),
        sa.CheckConstraint("principal_fen > 0", name=op.f("ck_restructurings_principal_positive")),
    )
    op.create_index("ix_restructurings_loan_id", "restructurings", ["loan_id"])


def downgrade() -> None:
    op.drop_index("ix_restructurings_loan_id", table_name="restructurings")
    op.drop_table("restructurings")
    op.drop_index("ix_collection_actions_business_date", table_name="collection_actions")
    op.drop_table("collection_actions")
    op.drop_table("behaviour_scores")
    op.drop_index("ix_enterprise_events_event_date", table_name="enterprise_events")
    op.drop_index("ix_enterprise_events_enterprise_id", table_name="enterprise_events")
    op.drop_table("enterprise_events")
