"""The strategy lab: simulation runs and their strategies' figures (issue 9).

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-28

``sim_runs`` keeps each ``smelend simulate`` / ``smelend compare`` run with its settings and its whole
metrics.json; ``sim_run_strategies`` one row per strategy or ablation variant with the headline figures as
columns (for a page that lists runs) and its part of the document. Written out in full (not imported from
smelend.store.tables).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = '0009'
down_revision: str | Sequence[str] | None = '0008'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('sim_runs',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('smes', sa.Integer(), nullable=False),
    sa.Column('months', sa.Integer(), nullable=False),
    sa.Column('seeds', sa.Integer(), nullable=False),
    sa.Column('shock', sa.Boolean(), nullable=False),
    sa.Column('baseline', sa.String(length=60), nullable=True),
    sa.Column('out_dir', sa.Text(), nullable=False),
    sa.Column('document', sa.Text(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.func.current_timestamp(), nullable=False),
    sa.CheckConstraint('smes > 0 AND months > 0 AND seeds > 0', name=op.f('ck_sim_runs_sizes_positive')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_sim_runs'))
    )
    op.create_table('sim_run_strategies',
    sa.Column('run_id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=60), nullable=False),
    sa.Column('role', sa.String(length=16), nullable=False),
    sa.Column('applications', sa.Float(), nullable=False),
    sa.Column('lines', sa.Float(), nullable=False),
    sa.Column('balance_end_fen', sa.BigInteger(), nullable=False),
    sa.Column('profit_fen', sa.BigInteger(), nullable=False),
    sa.Column('npl_ratio', sa.Float(), nullable=False),
    sa.Column('raroc', sa.Float(), nullable=False),
    sa.Column('ledger_balanced', sa.Boolean(), nullable=False),
    sa.Column('figures', sa.Text(), nullable=False),
    sa.ForeignKeyConstraint(['run_id'], ['sim_runs.id'], name=op.f('fk_sim_run_strategies_run_id_sim_runs')),
    sa.PrimaryKeyConstraint('run_id', 'name', name=op.f('pk_sim_run_strategies'))
    )


def downgrade() -> None:
    op.drop_table('sim_run_strategies')
    op.drop_table('sim_runs')
