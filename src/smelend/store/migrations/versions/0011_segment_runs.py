"""Recorded segmentation runs: when, on which book, with which parameters, and the profile document (issue 8).

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-29

``segment_runs`` keeps one row per ``smelend marketing segments --record RUN``: the run's name (the
``run`` of its rows in ``segment_assignments``), the customer book it read (``db`` or ``synthetic``),
the parameters as JSON and the whole profile document ``--json`` prints, which
``GET /v1/marketing/segments`` serves. Written out in full (not imported from smelend.store.tables).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = '0011'
down_revision: str | Sequence[str] | None = '0010'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('segment_runs',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('name', sa.String(length=80), nullable=False),
    sa.Column('source', sa.String(length=16), nullable=False),
    sa.Column('customers', sa.Integer(), nullable=False),
    sa.Column('parameters', sa.Text(), nullable=False),
    sa.Column('document', sa.Text(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.func.current_timestamp(), nullable=False),
    sa.CheckConstraint("source IN ('db', 'synthetic')", name=op.f('ck_segment_runs_source_known')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_segment_runs'))
    )
    op.create_index(op.f('ix_segment_runs_name'), 'segment_runs', ['name'], unique=False)


def downgrade() -> None:
    op.drop_index(op.f('ix_segment_runs_name'), table_name='segment_runs')
    op.drop_table('segment_runs')
