"""The staff dashboard: password logins and web sessions (issue 9).

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-28

``web_logins`` gives a staff API user a login name and an scrypt password hash, with the count of
consecutive failed logins and a lock-out time; ``web_sessions`` holds the SHA-256 of each session
cookie (never the cookie itself), its CSRF token and its idle and absolute expiry. Written out in full
(not imported from smelend.store.tables).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = '0008'
down_revision: str | Sequence[str] | None = '0007'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('web_logins',
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('login', sa.String(length=100), nullable=False),
    sa.Column('password_hash', sa.String(length=200), nullable=False),
    sa.Column('failed_attempts', sa.Integer(), server_default='0', nullable=False),
    sa.Column('locked_until', sa.DateTime(timezone=True), nullable=True),
    sa.Column('password_set_at', sa.DateTime(timezone=True), server_default=sa.func.current_timestamp(), nullable=False),
    sa.CheckConstraint('failed_attempts >= 0', name=op.f('ck_web_logins_failed_attempts_nonnegative')),
    sa.ForeignKeyConstraint(['user_id'], ['api_users.id'], name=op.f('fk_web_logins_user_id_api_users')),
    sa.PrimaryKeyConstraint('user_id', name=op.f('pk_web_logins')),
    sa.UniqueConstraint('login', name=op.f('uq_web_logins_login'))
    )
    op.create_table('web_sessions',
    sa.Column('id_hash', sa.String(length=64), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('csrf_token', sa.String(length=64), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.func.current_timestamp(), nullable=False),
    sa.Column('last_seen_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['user_id'], ['api_users.id'], name=op.f('fk_web_sessions_user_id_api_users')),
    sa.PrimaryKeyConstraint('id_hash', name=op.f('pk_web_sessions'))
    )
    with op.batch_alter_table('web_sessions', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_web_sessions_user_id'), ['user_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_web_sessions_expires_at'), ['expires_at'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('web_sessions', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_web_sessions_expires_at'))
        batch_op.drop_index(batch_op.f('ix_web_sessions_user_id'))
    op.drop_table('web_sessions')
    op.drop_table('web_logins')
