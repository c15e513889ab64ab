"""Marketing: the marketing event data set, campaigns, coupon grants, segment assignments (issue 8).

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-28

Written out in full (not imported from smelend.store.tables). Coupon costs post to the ledger's
marketing_expense / coupon_payable accounts, which need no schema change (accounts are strings).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = '0007'
down_revision: str | Sequence[str] | None = '0006'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('marketing_events',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('key', sa.String(length=80), nullable=False),
    sa.Column('document', sa.Text(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.func.current_timestamp(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_marketing_events')),
    sa.UniqueConstraint('kind', 'key', name=op.f('uq_marketing_events_kind'))
    )
    op.create_table('marketing_campaigns',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('learner', sa.String(length=16), nullable=False),
    sa.Column('document', sa.Text(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.func.current_timestamp(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_marketing_campaigns')),
    sa.UniqueConstraint('name', name=op.f('uq_marketing_campaigns_name'))
    )
    op.create_table('coupon_grants',
    sa.Column('id', sa.String(length=80), nullable=False),
    sa.Column('campaign_id', sa.Integer(), nullable=False),
    sa.Column('customer_ref', sa.String(length=80), nullable=False),
    sa.Column('discount_bp', sa.Integer(), nullable=False),
    sa.Column('max_discount_fen', sa.BigInteger(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('cost_fen', sa.BigInteger(), nullable=True),
    sa.Column('redeemed_on', sa.Date(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.func.current_timestamp(), nullable=False),
    sa.CheckConstraint('discount_bp > 0', name=op.f('ck_coupon_grants_discount_positive')),
    sa.CheckConstraint('cost_fen IS NULL OR cost_fen >= 0', name=op.f('ck_coupon_grants_cost_not_negative')),
    sa.ForeignKeyConstraint(['campaign_id'], ['marketing_campaigns.id'], name=op.f('fk_coupon_grants_campaign_id_marketing_campaigns')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_coupon_grants')),
    sa.UniqueConstraint('campaign_id', 'customer_ref', name=op.f('uq_coupon_grants_campaign_id'))
    )
    with op.batch_alter_table('coupon_grants', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_coupon_grants_campaign_id'), ['campaign_id'], unique=False)

    op.create_table('segment_assignments',
    sa.Column('run', sa.String(length=80), nullable=False),
    sa.Column('customer_ref', sa.String(length=80), nullable=False),
    sa.Column('segment', sa.String(length=100), nullable=False),
    sa.Column('cluster', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.func.current_timestamp(), nullable=False),
    sa.PrimaryKeyConstraint('run', 'customer_ref', name=op.f('pk_segment_assignments'))
    )


def downgrade() -> None:
    op.drop_table('segment_assignments')
    with op.batch_alter_table('coupon_grants', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_coupon_grants_campaign_id'))

    op.drop_table('coupon_grants')
    op.drop_table('marketing_campaigns')
    op.drop_table('marketing_events')
