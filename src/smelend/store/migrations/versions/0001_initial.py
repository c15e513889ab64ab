"""Persons (PII encrypted, keyed-hash look-ups) and enterprises.

Revision ID: 0001
Revises:
Create Date: 2025-11-28

Written out in full (not imported from smelend.store.tables): a migration is frozen in time.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "persons",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("name", sa.Text(), nullable=False),  # the four PII columns hold v1:<key_id>:<base64> ciphertext
        sa.Column("resident_id", sa.Text(), nullable=False),
        sa.Column("resident_id_hash", sa.String(64), nullable=False),
        sa.Column("mobile", sa.Text(), nullable=False),
        sa.Column("mobile_hash", sa.String(64), nullable=False),
        sa.Column("bank_account", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.current_timestamp()),
        sa.PrimaryKeyConstraint("id", name="pk_persons"),
        sa.UniqueConstraint("resident_id_hash", name="uq_persons_resident_id_hash"),
    )
    op.create_index("ix_persons_mobile_hash", "persons", ["mobile_hash"])
    op.create_table(
        "enterprises",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("uscc", sa.Text(), nullable=False),  # public registration data: stored plain
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("owner_person_id", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.current_timestamp()),
        sa.PrimaryKeyConstraint("id", name="pk_enterprises"),
        sa.UniqueConstraint("uscc", name="uq_enterprises_uscc"),
        sa.ForeignKeyConstraint(["owner_person_id"], ["persons.id"], name="fk_enterprises_owner_person_id_persons"),
    )
    op.create_index("ix_enterprises_owner_person_id", "enterprises", ["owner_person_id"])


def downgrade() -> None:
    op.drop_index("ix_enterprises_owner_person_id", table_name="enterprises")
    op.drop_table("enterprises")
    op.drop_index("ix_persons_mobile_hash", table_name="persons")
    op.drop_table("persons")
